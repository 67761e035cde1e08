(class_declaration name: (identifier) @name) @scope
(struct_declaration name: (identifier) @name) @scope
(interface_declaration name: (identifier) @name) @scope
(record_declaration name: (identifier) @name) @scope
