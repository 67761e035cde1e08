(return) @return
; `return x if c`: the whole statement goes (removing only the return would leave ` if c`)
(if_modifier body: (return)) @return
(unless_modifier body: (return)) @return
(while_modifier body: (return)) @return
(until_modifier body: (return)) @return
