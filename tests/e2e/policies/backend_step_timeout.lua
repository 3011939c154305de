-- backend_step_timeout.lua — the default backend policy without warm containers and with the
-- shortest sandbox_step_timeout_ms: no container starts within 100 ms, so every start times out.
local policy = require "policies.backend"

policy.pools = {}
policy.sandbox_step_timeout_ms = 100
return policy
