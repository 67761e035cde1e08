(return_statement) @return
