; Function declarations, generators, class/object methods, and function or arrow
; expressions assigned to a name (variable, property, object key).
; Captures: @function (the definition; its range and the doc anchor), @name, @body.
(function_declaration name: (identifier) @name body: (statement_block) @body) @function
(generator_function_declaration name: (identifier) @name body: (statement_block) @body) @function
(method_definition name: (_) @name body: (statement_block) @body) @function

(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function body: (_) @body)
            (function_expression body: (_) @body)
            (generator_function body: (_) @body)])) @function
(variable_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function body: (_) @body)
            (function_expression body: (_) @body)
            (generator_function body: (_) @body)])) @function
(expression_statement
  (assignment_expression
    left: (member_expression property: (property_identifier) @name)
    right: [(arrow_function body: (_) @body)
            (function_expression body: (_) @body)])) @function
(pair
  key: (property_identifier) @name
  value: [(arrow_function body: (_) @body)
          (function_expression body: (_) @body)]) @function
