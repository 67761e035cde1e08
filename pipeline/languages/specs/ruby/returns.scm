(return) @return
; `return x if c`: the whole statement goes (removing only the return would leave ` if c`)
(if_modifier body: (return)) @return
(unless_modifier body: (return)) @return
(while_modifier body: (return)) @return
(until_modifier body: (return)) @return
; `return x if a unless b`: modifiers nest; the outer statement goes too (overlapping spans merge)
(if_modifier body: [(if_modifier body: (return)) (unless_modifier body: (return)) (while_modifier body: (return)) (until_modifier body: (return))]) @return
(unless_modifier body: [(if_modifier body: (return)) (unless_modifier body: (return)) (while_modifier body: (return)) (until_modifier body: (return))]) @return
(while_modifier body: [(if_modifier body: (return)) (unless_modifier body: (return)) (while_modifier body: (return)) (until_modifier body: (return))]) @return
(until_modifier body: [(if_modifier body: (return)) (unless_modifier body: (return)) (while_modifier body: (return)) (until_modifier body: (return))]) @return
