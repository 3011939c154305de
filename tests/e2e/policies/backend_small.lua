-- backend_small.lua — the default backend policy with room for 3 sessions
-- (capacity), and a per-key cap high enough never to be the limit.
local env = require "cloudcode.env"
local policy = require "policies.backend"

policy.max_sessions = env.int("CODECLOUD_TEST_MAX_SESSIONS", 3)
policy.max_sessions_per_key = 1000
return policy
