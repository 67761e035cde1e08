(class name: (_) @name) @scope
(module name: (_) @name) @scope
(singleton_class value: (_) @name) @scope
