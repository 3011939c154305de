-- cloudcode.limits: the default limits are consistent.
local A = require "testlib"
local T = {}

function T.defaults_within_bounds()
  local limits = require "cloudcode.limits"
  for _, name in ipairs({ "timeout_ms", "memory_mb", "cpus", "pids", "output_bytes",
                          "idle_timeout_s", "lifetime_s" }) do
    local l = limits.default[name]
    A.truthy(l, name)
    A.truthy(l.min <= l.default and l.default <= l.max, name .. " default within min..max")
  end
end

function T.seed_values()
  local limits = require "cloudcode.limits"
  A.eq(limits.default.idle_timeout_s.default, 60)
  A.eq(limits.default.lifetime_s.default, 600)
  A.eq(limits.default.idle_timeout_s.min, 1)
  A.eq(limits.default.lifetime_s.min, 1)
end

return T
