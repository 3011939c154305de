-- backend_nopool.lua — the default backend policy without warm containers (a test then
-- watches the container its own request created) and with a short run_grace_ms.
local env = require "cloudcode.env"
local policy = require "policies.backend"

policy.pools = {}
policy.run_grace_ms = env.int("CODECLOUD_TEST_RUN_GRACE_MS", 2000)
return policy
