-- examples/policies/maintenance.lua — a balancer policy that keeps backends out of
-- placement for maintenance: no new session or run goes to a backend listed below,
-- while the sessions it already holds keep being served (routed to it) until they end.
--
--   1. add the backend's URL (exactly as the balancer knows it) to `maintenance`;
--   2. kill -HUP <balancer pid> (a broken file keeps the old policy in force);
--   3. wait until GET /v1/backends (admin) shows it with "sessions": 0, then stop it;
--   4. after the work, remove the line and kill -HUP again.
--
-- Every balancer of the fleet must load the same file.  The admin route
-- DELETE /v1/backends?url=... drains fleet-wide through Redis instead, and removes the
-- backend from the set once it is empty (docs/balancer.md, "Draining"); this policy keeps
-- the backend in the set, health-checked, so it is back in service as soon as its line
-- is removed, and the list lives in version control with the rest of the policy.
local balance = require "cloudcode.balance"
local policy  = require "policies.balancer"

local maintenance = {
  -- "http://10.0.0.5:8080",
}

local closed = {}
for _, url in ipairs(maintenance) do closed[url] = true end

function policy.pick_backend(backends, req)
  local open = {}
  for _, b in ipairs(backends) do
    if not closed[b.url] then open[#open + 1] = b end
  end
  return balance.least_loaded(open, req)
end

return policy
