; Functions and methods (nested ones included); lambdas assigned to a name.
; Captures: @function (the definition), @name, @body.
(function_definition
  name: (identifier) @name
  body: (block) @body) @function

(assignment
  left: (identifier) @name
  right: (lambda body: (_) @body)) @function
