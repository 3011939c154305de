.( OK) bye
