-- backend_step_timeout.lua — the default backend policy without warm containers and with a
-- 100 ms sandbox_step_timeout_ms (test_engine.py freezes the engine to make a start outlast it).
local policy = require "policies.backend"

policy.pools = {}
policy.sandbox_step_timeout_ms = 100
return policy
