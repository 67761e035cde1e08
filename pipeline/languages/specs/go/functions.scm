; Functions, methods (qualified by their receiver type: List.Push) and function literals
; assigned to a name.  Captures: @function, @name, @body, optional @qualifier.
(function_declaration name: (identifier) @name body: (block) @body) @function
(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [(type_identifier) @qualifier
             (pointer_type (type_identifier) @qualifier)
             (generic_type type: (type_identifier) @qualifier)
             (pointer_type (generic_type type: (type_identifier) @qualifier))]))
  name: (field_identifier) @name
  body: (block) @body) @function
(short_var_declaration
  left: (expression_list . (identifier) @name)
  right: (expression_list . (func_literal body: (block) @body))) @function
(var_declaration
  (var_spec
    name: (identifier) @name
    value: (expression_list . (func_literal body: (block) @body)))) @function
