(class_declaration name: (type_identifier) @name) @scope
(class name: (type_identifier) @name) @scope
(abstract_class_declaration name: (type_identifier) @name) @scope
(interface_declaration name: (type_identifier) @name) @scope
(internal_module name: (_) @name) @scope
