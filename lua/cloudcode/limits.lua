-- cloudcode.limits — the default limits: { default, min, max } per limit.
--
-- The core refuses a request outside min..max with 400 naming the bound and
-- fills in the default of every limit the request leaves out.
local limits = {}

limits.default = {
  timeout_ms     = { default = 10000,   min = 100,   max = 600000 },
  memory_mb      = { default = 512,     min = 32,    max = 2048 },   -- the seed's 512 MiB
  cpus           = { default = 1.0,     min = 0.05,  max = 2.0 },    -- the seed's 1 CPU
  pids           = { default = 64,      min = 8,     max = 1024 },
  output_bytes   = { default = 1048576, min = 1024,  max = 16777216 },
  idle_timeout_s = { default = 60,      min = 1,     max = 86400 },  -- the seed's 60 s
  lifetime_s     = { default = 600,     min = 1,     max = 86400 },  -- the seed's 600 s
  -- No default: without it timeout_ms bounds the compile step too (Piston's compile_timeout).
  compile_timeout_ms = {             min = 100,   max = 600000 },
  -- Per-run resource limits the launcher applies to the program (0: none).
  -- CPU time is measured over every process of the run; past cpu_time_ms +
  -- cpu_extra_ms the run is killed, and one that ends past cpu_time_ms is a
  -- timeout too.  The compile step has its own compile_cpu_time_ms.
  cpu_time_ms         = { default = 0, min = 0, max = 600000 },
  cpu_extra_ms        = { default = 0, min = 0, max = 60000 },
  compile_cpu_time_ms = { default = 0, min = 0, max = 600000 },
  file_size_bytes     = { default = 0, min = 0, max = 1073741824 }, -- one file; SIGXFSZ past it
  stack_kb            = { default = 0, min = 0, max = 1048576 },
  processes           = { default = 0, min = 0, max = 1024 },       -- processes and threads
}

return limits
