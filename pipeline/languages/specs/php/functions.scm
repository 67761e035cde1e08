; Functions, methods, and closures / arrow functions assigned to a variable or property.
(function_definition name: (name) @name body: (compound_statement) @body) @function
(method_declaration name: (name) @name body: (compound_statement) @body) @function
(expression_statement
  (assignment_expression
    left: [(variable_name (name) @name)
           (member_access_expression name: (name) @name)]
    right: [(anonymous_function body: (_) @body)
            (arrow_function body: (_) @body)])) @function
