(class_declaration name: (identifier) @definition.class)
(class name: (identifier) @definition.class)

(function_declaration name: (identifier) @definition.function)
(generator_function_declaration name: (identifier) @definition.function)
(method_definition name: (property_identifier) @definition.function)
(variable_declarator name: (identifier) @definition.function value: [(arrow_function) (function_expression)])
(assignment_expression
  left: (member_expression property: (property_identifier) @definition.function)
  right: [(arrow_function) (function_expression)])

(formal_parameters (identifier) @definition.variable)
(formal_parameters (assignment_pattern left: (identifier) @definition.variable))
(formal_parameters (rest_pattern (identifier) @definition.variable))
(arrow_function parameter: (identifier) @definition.variable)
(variable_declarator name: (identifier) @definition.variable)
(object_pattern (shorthand_property_identifier_pattern) @definition.variable)
(array_pattern (identifier) @definition.variable)
(assignment_expression left: (identifier) @definition.variable)
(assignment_expression left: (member_expression property: (property_identifier) @definition.variable))
(catch_clause parameter: (identifier) @definition.variable)
(field_definition property: (property_identifier) @definition.variable)


(string) @exclude
(template_string) @exclude
(regex) @exclude
(comment) @exclude
(augmented_assignment_expression left: (identifier) @definition.variable)
(augmented_assignment_expression left: (member_expression property: (property_identifier) @definition.variable))
