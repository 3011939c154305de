-- cloudcode.admit: the default admission hook.
local A = require "testlib"
local T = {}

local function req(server, key, capacity, per_key)
  return { kind = "run", language = "python", key = "abc",
           limits = { timeout_ms = 1000, memory_mb = 256 },
           counts = { server = server, key = key }, capacity = capacity or 50, per_key = per_key or 10 }
end

function T.admits_below_caps()
  local admit = require "cloudcode.admit"
  local r = req(0, 0)
  local limits, reason = admit.caps(r)
  A.same(limits, { timeout_ms = 1000, memory_mb = 256 })
  A.eq(reason, nil)
  A.same(admit.caps(req(49, 9)), { timeout_ms = 1000, memory_mb = 256 })
end

function T.server_full()
  local admit = require "cloudcode.admit"
  local limits, reason, code, scope = admit.caps(req(50, 0))
  A.eq(limits, nil)
  A.truthy(reason:find("50", 1, true), "reason names the capacity")
  A.eq(code, "too_many_sessions")
  A.eq(scope, "server")
  A.eq(select(4, admit.caps(req(51, 0))), "server")
end

function T.key_full()
  local admit = require "cloudcode.admit"
  local limits, reason, code, scope = admit.caps(req(3, 10))
  A.eq(limits, nil)
  A.truthy(reason:find("10", 1, true), "reason names the per-key cap")
  A.eq(code, "too_many_sessions")
  A.eq(scope, "key")
end

function T.server_checked_before_key()
  local admit = require "cloudcode.admit"
  A.eq(select(4, admit.caps(req(50, 10))), "server")
end

function T.zero_capacity_refuses()
  local admit = require "cloudcode.admit"
  A.eq(select(4, admit.caps(req(0, 0, 0, 10))), "server")
  A.eq(select(4, admit.caps(req(0, 0, 10, 0))), "key")
end

function T.within_caps_only_what_is_above()
  local admit = require "cloudcode.admit"
  local got = admit.within({ timeout_ms = 10000, memory_mb = 128, cpus = 1.0 },
                           { timeout_ms = 5000, memory_mb = 256, pids = 8 })
  A.same(got, { timeout_ms = 5000, memory_mb = 128, cpus = 1.0 })
end

return T
