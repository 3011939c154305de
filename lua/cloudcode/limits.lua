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
}

return limits
