; C has no classes: struct/union/enum/typedef names play the class role.
(struct_specifier name: (type_identifier) @definition.class)
(union_specifier name: (type_identifier) @definition.class)
(enum_specifier name: (type_identifier) @definition.class)
(type_definition declarator: (type_identifier) @definition.class)

(function_declarator declarator: (identifier) @definition.function)

(parameter_declaration declarator: (identifier) @definition.variable)
(parameter_declaration declarator: (pointer_declarator declarator: (identifier) @definition.variable))
(parameter_declaration declarator: (pointer_declarator declarator: (pointer_declarator declarator: (identifier) @definition.variable)))
(parameter_declaration declarator: (array_declarator declarator: (identifier) @definition.variable))
(declaration declarator: (identifier) @definition.variable)
(init_declarator declarator: (identifier) @definition.variable)
(init_declarator declarator: (pointer_declarator declarator: (identifier) @definition.variable))
(init_declarator declarator: (array_declarator declarator: (identifier) @definition.variable))
(declaration declarator: (pointer_declarator declarator: (identifier) @definition.variable))
(declaration declarator: (array_declarator declarator: (identifier) @definition.variable))
(field_declaration declarator: (field_identifier) @definition.variable)
(field_declaration declarator: (pointer_declarator declarator: (field_identifier) @definition.variable))
(enumerator name: (identifier) @definition.variable)


(string_literal) @exclude
(char_literal) @exclude
(system_lib_string) @exclude
(comment) @exclude
