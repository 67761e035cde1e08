(class name: (constant) @definition.class)
(module name: (constant) @definition.class)

(method name: (identifier) @definition.function)
(singleton_method name: (identifier) @definition.function)
(assignment left: (identifier) @definition.function right: (lambda))
(assignment
  left: (identifier) @definition.function
  right: (call method: (identifier) @_m block: [(block) (do_block)])
  (#any-of? @_m "lambda" "proc"))

(method_parameters (identifier) @definition.variable)
(lambda_parameters (identifier) @definition.variable)
(block_parameters (identifier) @definition.variable)
(optional_parameter name: (identifier) @definition.variable)
(keyword_parameter name: (identifier) @definition.variable)
(splat_parameter name: (identifier) @definition.variable)
(hash_splat_parameter name: (identifier) @definition.variable)
(block_parameter name: (identifier) @definition.variable)
(assignment left: (identifier) @definition.variable)
(operator_assignment left: (identifier) @definition.variable)
(left_assignment_list (identifier) @definition.variable)
(assignment left: (instance_variable) @definition.variable)
(for pattern: (identifier) @definition.variable)


(string) @exclude
(heredoc_body) @exclude
(regex) @exclude
(comment) @exclude
