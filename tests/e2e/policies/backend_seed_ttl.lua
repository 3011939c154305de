-- backend_seed_ttl.lua — the default backend policy whose seed user_id entries and uploads
-- expire after one second, so that a test sees them go.
local policy = require "policies.backend"

policy.seed_ttl_s = 1
return policy
