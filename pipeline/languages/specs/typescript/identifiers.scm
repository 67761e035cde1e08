(class_declaration name: (type_identifier) @definition.class)
(class name: (type_identifier) @definition.class)

(function_declaration name: (identifier) @definition.function)
(generator_function_declaration name: (identifier) @definition.function)
(method_definition name: (property_identifier) @definition.function)
(variable_declarator name: (identifier) @definition.function value: [(arrow_function) (function_expression)])
(assignment_expression
  left: (member_expression property: (property_identifier) @definition.function)
  right: [(arrow_function) (function_expression)])

(required_parameter pattern: (identifier) @definition.variable)
(optional_parameter pattern: (identifier) @definition.variable)

(required_parameter pattern: (rest_pattern (identifier) @definition.variable))
(arrow_function parameter: (identifier) @definition.variable)
(variable_declarator name: (identifier) @definition.variable)
(object_pattern (shorthand_property_identifier_pattern) @definition.variable)
(array_pattern (identifier) @definition.variable)
(assignment_expression left: (identifier) @definition.variable)
(assignment_expression left: (member_expression property: (property_identifier) @definition.variable))
(catch_clause parameter: (identifier) @definition.variable)
(public_field_definition name: (property_identifier) @definition.variable)


(string) @exclude
(template_string) @exclude
(regex) @exclude
(comment) @exclude
(abstract_class_declaration name: (type_identifier) @definition.class)
(interface_declaration name: (type_identifier) @definition.class)
(type_alias_declaration name: (type_identifier) @definition.class)
(enum_declaration name: (identifier) @definition.class)
(type_parameter name: (type_identifier) @definition.class)
(augmented_assignment_expression left: (identifier) @definition.variable)
(augmented_assignment_expression left: (member_expression property: (property_identifier) @definition.variable))
