-- balancer_fast.lua — the default balancer policy with short clocks, for the
-- balancer's end-to-end tests: health every 200 ms, a backend gone after 2 s of
-- failed checks, ended (and lost) sessions readable for 2 s.
-- CODECLOUD_TEST_PER_KEY, CODECLOUD_TEST_LOST_AFTER_S and CODECLOUD_TEST_HEALTH_MS override three
-- settings (the tests scale the health interval, hence its check's timeout, by CODECLOUD_TEST_SLOW:
-- a backend under valgrind answers /healthz in more than 200 ms).
local env = require "cloudcode.env"
local policy = require "policies.balancer"

policy.max_sessions_per_key = env.int("CODECLOUD_TEST_PER_KEY", 100)
policy.ended_retention_s = 2
policy.backend_lost_after_s = env.int("CODECLOUD_TEST_LOST_AFTER_S", 2)
policy.health_interval_ms = env.int("CODECLOUD_TEST_HEALTH_MS", 200)
policy.shutdown_grace_s = 5
return policy
