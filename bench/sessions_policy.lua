-- bench/sessions_policy.lua — policies/backend.lua with the session caps raised, for
-- bench/sessions.sh (50 idle sessions from one client need more than the default 10 per key).
-- Everything else (warm pools, reuse, limits, images) is the default backend policy's.
local policy = require "policies.backend"

policy.max_sessions = 100          -- default 50
policy.max_sessions_per_key = 100  -- default 10

return policy
