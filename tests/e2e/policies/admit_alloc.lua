-- tests/e2e/policies/admit_alloc.lua — the default backend policy with an admit hook that fails (alloc).
local policy = require "policies.backend"
policy.pools = nil -- no warm containers (they start Docker work)

policy.admit = function(req)
  local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(1000) .. i end
  return req.limits
end

return policy
