; `return x;` as a statement goes whole (with its semicolon); other returns (match arms) alone
(expression_statement (return_expression)) @return
(return_expression) @return
