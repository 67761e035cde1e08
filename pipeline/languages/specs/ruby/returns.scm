(return) @return
