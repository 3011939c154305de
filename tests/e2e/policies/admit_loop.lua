-- tests/e2e/policies/admit_loop.lua — the default backend policy with an admit hook that fails (loop).
local policy = require "policies.backend"
policy.pools = nil -- no warm containers (they start Docker work)

policy.admit = function(req)
  while true do end
  return req.limits
end

return policy
