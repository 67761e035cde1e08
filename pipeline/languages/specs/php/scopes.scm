(class_declaration name: (name) @name) @scope
(interface_declaration name: (name) @name) @scope
(trait_declaration name: (name) @name) @scope
(enum_declaration name: (name) @name) @scope
