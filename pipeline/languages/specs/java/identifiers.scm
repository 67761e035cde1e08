(class_declaration name: (identifier) @definition.class)
(interface_declaration name: (identifier) @definition.class)
(enum_declaration name: (identifier) @definition.class)
(record_declaration name: (identifier) @definition.class)
(annotation_type_declaration name: (identifier) @definition.class)
(type_parameter (type_identifier) @definition.class)

(method_declaration name: (identifier) @definition.function)
(variable_declarator name: (identifier) @definition.function value: (lambda_expression))

(formal_parameter name: (identifier) @definition.variable)
(spread_parameter (variable_declarator name: (identifier) @definition.variable))
(inferred_parameters (identifier) @definition.variable)
(lambda_expression parameters: (identifier) @definition.variable)
(catch_formal_parameter name: (identifier) @definition.variable)
(variable_declarator name: (identifier) @definition.variable)
(enhanced_for_statement name: (identifier) @definition.variable)
(resource name: (identifier) @definition.variable)
(enum_constant name: (identifier) @definition.variable)


(string_literal) @exclude
(character_literal) @exclude
(line_comment) @exclude
(block_comment) @exclude
