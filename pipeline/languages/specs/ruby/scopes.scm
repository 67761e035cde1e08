(class name: (_) @name) @scope
(module name: (_) @name) @scope
; `class << obj` qualifies its methods with obj; `class << self` opens the enclosing class itself, so
; it is no scope of its own (its methods read `Class.method`, not `Class.self.method`)
(singleton_class value: [(identifier) (constant) (scope_resolution) (instance_variable) (class_variable) (global_variable)] @name) @scope
