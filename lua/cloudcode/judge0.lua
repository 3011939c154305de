-- cloudcode.judge0 — the Judge0 CE dialect's settings (docs/compat.md).
--
-- languages: Judge0 CE 1.13.1's ids for the languages we run.  `names` are
-- our image map's names or aliases, the first one the image map knows wins,
-- so an id is listed only when its language is in the map (and its image
-- is available); `name` is Judge0's display name with %s replaced by the
-- image entry's real `version`.  Judge0 has no ids for awk, nim, racket,
-- scheme, tcl or ipython: they are served by /v1 and Piston only.
local judge0 = {}

judge0.languages = {
  { id = 45, names = { "nasm64", "nasm", "asm" },        name = "Assembly (NASM %s)" },
  { id = 46, names = { "bash", "sh" },                   name = "Bash (%s)" },
  { id = 50, names = { "c", "gcc" },                     name = "C (GCC %s)" },
  { id = 51, names = { "csharp", "c#", "mono", "cs" },   name = "C# (Mono %s)" },
  { id = 54, names = { "c++", "cpp", "g++" },            name = "C++ (GCC %s)" },
  { id = 55, names = { "lisp", "commonlisp", "sbcl" },   name = "Common Lisp (SBCL %s)" },
  { id = 56, names = { "d", "gdc" },                     name = "D (GDC %s)" },
  { id = 57, names = { "elixir", "exs" },                name = "Elixir (%s)" },
  { id = 58, names = { "erlang", "erl" },                name = "Erlang (OTP %s)" },
  { id = 59, names = { "fortran", "gfortran" },          name = "Fortran (GFortran %s)" },
  { id = 60, names = { "go", "golang" },                 name = "Go (%s)" },
  { id = 61, names = { "haskell", "hs", "ghc" },         name = "Haskell (GHC %s)" },
  { id = 62, names = { "java" },                         name = "Java (OpenJDK %s)" },
  { id = 63, names = { "javascript", "node", "js" },     name = "JavaScript (Node.js %s)" },
  { id = 64, names = { "lua" },                          name = "Lua (%s)" },
  { id = 65, names = { "ocaml", "ml" },                  name = "OCaml (%s)" },
  { id = 66, names = { "octave", "matlab" },             name = "Octave (%s)" },
  { id = 67, names = { "pascal", "fpc" },                name = "Pascal (FPC %s)" },
  { id = 68, names = { "php" },                          name = "PHP (%s)" },
  { id = 69, names = { "prolog", "swipl" },              name = "Prolog (SWI-Prolog %s)" },
  { id = 71, names = { "python", "python3", "py" },      name = "Python (%s)" },
  { id = 72, names = { "ruby", "rb" },                   name = "Ruby (%s)" },
  { id = 73, names = { "rust", "rs" },                   name = "Rust (%s)" },
  { id = 74, names = { "typescript", "ts" },             name = "TypeScript (%s)" },
  { id = 78, names = { "kotlin", "kt" },                 name = "Kotlin (%s)" },
  { id = 80, names = { "rscript", "r" },                 name = "R (%s)" },
  { id = 81, names = { "scala" },                        name = "Scala (%s)" },
  { id = 82, names = { "sqlite3", "sql", "sqlite" },     name = "SQL (SQLite %s)" },
  { id = 85, names = { "perl", "pl" },                   name = "Perl (%s)" },
  { id = 86, names = { "clojure", "clj" },               name = "Clojure (%s)" },
  { id = 88, names = { "groovy" },                       name = "Groovy (%s)" },
}

-- Judge0's configuration variables (judge0.conf): defaults and bounds of a
-- submission's fields, in Judge0's units (seconds, KB).  GET /config_info
-- shows them.  Options we cannot honour are off: network (containers have
-- none), per-process time and memory limits.  compiler_options go where an
-- image entry's compile argv has "{options}".  additional_files' files must be UTF-8 text.
judge0.config = {
  enable_wait_result = true,
  enable_compiler_options = true,
  enable_command_line_arguments = true,
  enable_submission_delete = true,
  enable_callbacks = true,
  callbacks_max_tries = 3,
  callbacks_timeout = 5,
  enable_additional_files = true,
  max_queue_size = 100,
  cpu_time_limit = 5,      max_cpu_time_limit = 15,
  cpu_extra_time = 1,      max_cpu_extra_time = 5,
  wall_time_limit = 10,    max_wall_time_limit = 20,
  memory_limit = 128000,   max_memory_limit = 512000,
  stack_limit = 64000,     max_stack_limit = 128000,
  max_processes_and_or_threads = 60, max_max_processes_and_or_threads = 120,
  enable_per_process_and_thread_time_limit = false,
  allow_enable_per_process_and_thread_time_limit = false,
  enable_per_process_and_thread_memory_limit = false,
  allow_enable_per_process_and_thread_memory_limit = false,
  max_file_size = 1024,    max_max_file_size = 4096,
  number_of_runs = 1,      max_number_of_runs = 20,
  redirect_stderr_to_stdout = false,
  max_extract_size = 10240,
  enable_batched_submissions = true,
  max_submission_batch_size = 20,
  allow_enable_network = false,
  enable_network = false,
}

judge0.default = {
  languages = judge0.languages,
  config = judge0.config,
  retention_s = 3600,      -- how long a finished submission can be read
  workers = 2,             -- queued submissions run at most this many at a time (per server)
  callback_hosts = {},     -- hosts a callback_url may name (as file_url_hosts)
  max_additional_files = 100, -- files in additional_files' zip (its bytes: config.max_extract_size KB)
}

return judge0
