(class_declaration name: (identifier) @definition.class)
(struct_declaration name: (identifier) @definition.class)
(interface_declaration name: (identifier) @definition.class)
(record_declaration name: (identifier) @definition.class)
(enum_declaration name: (identifier) @definition.class)
(type_parameter name: (identifier) @definition.class)

(method_declaration name: (identifier) @definition.function)
(local_function_statement name: (identifier) @definition.function)
(variable_declarator name: (identifier) @definition.function (lambda_expression))

(parameter name: (identifier) @definition.variable)
(implicit_parameter) @definition.variable
(variable_declarator name: (identifier) @definition.variable)
(property_declaration name: (identifier) @definition.variable)
(foreach_statement left: (identifier) @definition.variable)
(catch_declaration name: (identifier) @definition.variable)
(enum_member_declaration name: (identifier) @definition.variable)


(string_literal) @exclude
(verbatim_string_literal) @exclude
(raw_string_literal) @exclude
(interpolated_string_expression) @exclude
(character_literal) @exclude
(comment) @exclude
