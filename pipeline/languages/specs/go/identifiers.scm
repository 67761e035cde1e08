(type_spec name: (type_identifier) @definition.class)
(type_parameter_declaration name: (identifier) @definition.class)

(function_declaration name: (identifier) @definition.function)
(method_declaration name: (field_identifier) @definition.function)
(method_elem name: (field_identifier) @definition.function)
(short_var_declaration left: (expression_list . (identifier) @definition.function)
                       right: (expression_list . (func_literal)))

(parameter_declaration name: (identifier) @definition.variable)
(variadic_parameter_declaration name: (identifier) @definition.variable)
(short_var_declaration left: (expression_list (identifier) @definition.variable))
(var_spec name: (identifier) @definition.variable)
(const_spec name: (identifier) @definition.variable)
(range_clause left: (expression_list (identifier) @definition.variable))
(field_declaration name: (field_identifier) @definition.variable)
(assignment_statement left: (expression_list (selector_expression field: (field_identifier) @definition.variable)))


(interpreted_string_literal) @exclude
(raw_string_literal) @exclude
(rune_literal) @exclude
(comment) @exclude
