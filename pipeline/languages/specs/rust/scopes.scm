(impl_item type: (type_identifier) @name) @scope
(impl_item type: (generic_type type: (type_identifier) @name)) @scope
(impl_item type: (scoped_type_identifier name: (type_identifier) @name)) @scope
(trait_item name: (type_identifier) @name) @scope
(mod_item name: (identifier) @name) @scope
