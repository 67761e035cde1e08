; Definitions decide the role of a name; every occurrence of a defined name (found by the
; spec.toml [identifiers] token regex outside @exclude regions) gets that role.
(class_definition name: (identifier) @definition.class)
(function_definition name: (identifier) @definition.function)
(assignment left: (identifier) @definition.function right: (lambda))

(parameters (identifier) @definition.variable)
(lambda_parameters (identifier) @definition.variable)
(default_parameter name: (identifier) @definition.variable)
(typed_parameter (identifier) @definition.variable)
(typed_default_parameter name: (identifier) @definition.variable)
(list_splat_pattern (identifier) @definition.variable)
(dictionary_splat_pattern (identifier) @definition.variable)
(assignment left: (identifier) @definition.variable)
(assignment left: (attribute attribute: (identifier) @definition.variable))
(augmented_assignment left: (identifier) @definition.variable)
(pattern_list (identifier) @definition.variable)
(tuple_pattern (identifier) @definition.variable)
(list_pattern (identifier) @definition.variable)
(for_statement left: (identifier) @definition.variable)
(for_in_clause left: (identifier) @definition.variable)
(as_pattern_target (identifier) @definition.variable)
(named_expression name: (identifier) @definition.variable)


; never inside strings (f-string fields included) or comments
(string) @exclude
(comment) @exclude
