print_string "OK\n";
