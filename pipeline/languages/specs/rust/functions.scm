; Free functions, methods in impl/trait blocks (qualified by the impl type), closures bound by let.
(function_item name: (identifier) @name body: (block) @body) @function
(let_declaration
  pattern: (identifier) @name
  value: (closure_expression body: (_) @body)) @function
