-- tests/e2e/policies/admit_error.lua — the default backend policy with an admit hook that fails (error).
local policy = require "policies.backend"
policy.pools = nil -- no warm containers (they start Docker work)

policy.admit = function(req)
  error("admit says no")
  return req.limits
end

return policy
