; Named containers that qualify the functions inside them (Class.method).
(class_definition name: (identifier) @name) @scope
