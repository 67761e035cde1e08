; Methods, constructors, destructors and local functions, with a block body or an expression
; body (`=> expr`: the expression is the body); lambdas assigned to a local variable or field.
; Accessors and operators are not extracted.  Captures: @function, @name, @body.
(method_declaration name: (identifier) @name body: (block) @body) @function
(method_declaration name: (identifier) @name body: (arrow_expression_clause (_) @body)) @function
(constructor_declaration name: (identifier) @name body: (block) @body) @function
(constructor_declaration name: (identifier) @name body: (arrow_expression_clause (_) @body)) @function
(destructor_declaration name: (identifier) @name body: (block) @body) @function
(local_function_statement name: (identifier) @name body: (block) @body) @function
(local_function_statement name: (identifier) @name body: (arrow_expression_clause (_) @body)) @function
(local_declaration_statement
  (variable_declaration
    (variable_declarator name: (identifier) @name (lambda_expression body: (_) @body)))) @function
(field_declaration
  (variable_declaration
    (variable_declarator name: (identifier) @name (lambda_expression body: (_) @body)))) @function
