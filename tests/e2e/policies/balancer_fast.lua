-- balancer_fast.lua — the default balancer policy with short clocks, for the
-- balancer's end-to-end tests: health every 200 ms, a backend gone after 2 s of
-- failed checks, ended (and lost) sessions readable for 2 s.
-- CODECLOUD_TEST_PER_KEY and CODECLOUD_TEST_LOST_AFTER_S override two settings.
local env     = require "cloudcode.env"
local limits  = require "cloudcode.limits"
local admit   = require "cloudcode.admit"
local balance = require "cloudcode.balance"

return {
  role = "balancer",
  listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080"),
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  redis = env.str("CODECLOUD_REDIS", "127.0.0.1:6379"),
  backends = env.list("CODECLOUD_BACKENDS"),

  max_sessions_per_key = env.int("CODECLOUD_TEST_PER_KEY", 100),
  ended_retention_s = 2,
  max_wait_ms = 30000,
  backend_timeout_s = 5,
  backend_lost_after_s = env.int("CODECLOUD_TEST_LOST_AFTER_S", 2),
  health_interval_ms = 200,
  shutdown_grace_s = 5,

  limits = limits.default,
  admit = admit.caps,
  pick_backend = balance.least_loaded,
}
