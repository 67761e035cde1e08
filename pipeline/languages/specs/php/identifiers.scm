(class_declaration name: (name) @definition.class)
(interface_declaration name: (name) @definition.class)
(trait_declaration name: (name) @definition.class)
(enum_declaration name: (name) @definition.class)

(function_definition name: (name) @definition.function)
(method_declaration name: (name) @definition.function)
(assignment_expression left: (variable_name (name) @definition.function)
                       right: [(anonymous_function) (arrow_function)])

(simple_parameter name: (variable_name (name) @definition.variable))
(variadic_parameter name: (variable_name (name) @definition.variable))
(property_promotion_parameter name: (variable_name (name) @definition.variable))
(assignment_expression left: (variable_name (name) @definition.variable))
(augmented_assignment_expression left: (variable_name (name) @definition.variable))
(assignment_expression left: (member_access_expression name: (name) @definition.variable))
(property_element (variable_name (name) @definition.variable))
(foreach_statement (variable_name (name) @definition.variable))
(foreach_statement (pair (variable_name (name) @definition.variable)))
(catch_clause name: (variable_name (name) @definition.variable))
(anonymous_function_use_clause (variable_name (name) @definition.variable))


(string) @exclude
(encapsed_string) @exclude
(heredoc) @exclude
(nowdoc) @exclude
(comment) @exclude
