-- examples/policies/peak_hours.lua — a backend policy whose limits depend on the time
-- of day: during peak hours each key may hold fewer sessions and its programs get less
-- memory and time, so that more people share the machine; off-peak the default policy
-- applies unchanged.
--
--   CODECLOUD_PEAK_HOURS=9-18 ./cloudcode examples/policies/peak_hours.lua
--
-- CODECLOUD_PEAK_HOURS: the first and last peak hour (local time, 0-23; TZ sets the
-- zone), default 9-18; "22-6" wraps around midnight.
-- CODECLOUD_HOUR: act as if it were this hour (0-23) — to try the policy out (the
-- tests use it); leave it unset in production.
local env    = require "cloudcode.env"
local admit  = require "cloudcode.admit"
local policy = require "policies.backend"

local first, last = env.str("CODECLOUD_PEAK_HOURS", "9-18"):match("^(%d+)-(%d+)$")
first, last = tonumber(first), tonumber(last)
if not first or first > 23 or last > 23 then error("CODECLOUD_PEAK_HOURS must be like 9-18") end
local fixed_hour = env.int("CODECLOUD_HOUR", nil)

-- What a key gets at peak: sessions and runs at once, and the most of each limit.
local peak = { sessions = 2, most = { memory_mb = 128, cpus = 0.5, timeout_ms = 3000 } }

local function is_peak()
  local hour = fixed_hour or os.date("*t").hour
  if first <= last then return hour >= first and hour <= last end
  return hour >= first or hour <= last
end

function policy.admit(req)
  if not is_peak() then return admit.caps(req) end
  req.per_key = math.min(req.per_key, peak.sessions)
  local limits, why, code, scope = admit.caps(req)
  if not limits then return nil, why .. " during peak hours", code, scope end
  return admit.within(limits, peak.most)
end

return policy
