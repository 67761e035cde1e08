; Methods (instance and singleton: `def self.x`) and lambdas/procs assigned to a name.
; Ruby bodies have no delimiters: the body_statement excludes `def ...` and `end`.
(method name: (_) @name body: (body_statement) @body) @function
(singleton_method name: (_) @name body: (body_statement) @body) @function
(assignment
  left: (identifier) @name
  right: (lambda body: [(block body: (_) @body) (do_block body: (_) @body)])) @function
(assignment
  left: (identifier) @name
  right: (call method: (identifier) @_m block: [(block body: (_) @body) (do_block body: (_) @body)])
  (#any-of? @_m "lambda" "proc")) @function
