; Methods and constructors with a body (interface/abstract methods have none); lambdas
; assigned to a local variable or a field.  Captures: @function, @name, @body.
(method_declaration name: (identifier) @name body: (block) @body) @function
(constructor_declaration name: (identifier) @name body: (constructor_body) @body) @function
(compact_constructor_declaration name: (identifier) @name body: (block) @body) @function
(local_variable_declaration
  declarator: (variable_declarator
    name: (identifier) @name
    value: (lambda_expression body: (_) @body))) @function
(field_declaration
  declarator: (variable_declarator
    name: (identifier) @name
    value: (lambda_expression body: (_) @body))) @function
