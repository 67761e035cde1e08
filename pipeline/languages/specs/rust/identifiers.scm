(struct_item name: (type_identifier) @definition.class)
(enum_item name: (type_identifier) @definition.class)
(trait_item name: (type_identifier) @definition.class)
(union_item name: (type_identifier) @definition.class)
(type_item name: (type_identifier) @definition.class)
(type_parameter name: (type_identifier) @definition.class)

(function_item name: (identifier) @definition.function)
(function_signature_item name: (identifier) @definition.function)
(let_declaration pattern: (identifier) @definition.function value: (closure_expression))

(parameter pattern: (identifier) @definition.variable)
(parameter pattern: (mut_pattern (identifier) @definition.variable))
(closure_parameters (identifier) @definition.variable)
(let_declaration pattern: (identifier) @definition.variable)
(let_declaration pattern: (mut_pattern (identifier) @definition.variable))
(tuple_pattern (identifier) @definition.variable)
(for_expression pattern: (identifier) @definition.variable)
(field_declaration name: (field_identifier) @definition.variable)
(enum_variant name: (identifier) @definition.variable)
(self_parameter (self) @definition.variable)

(identifier) @reference
(type_identifier) @reference
(field_identifier) @reference
(self) @reference

(string_literal) @exclude
(raw_string_literal) @exclude
(char_literal) @exclude
(line_comment) @exclude
(block_comment) @exclude
