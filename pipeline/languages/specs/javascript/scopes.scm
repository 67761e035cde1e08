(class_declaration name: (identifier) @name) @scope
(class name: (identifier) @name) @scope
