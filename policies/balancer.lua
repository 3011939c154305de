-- policies/balancer.lua — the default balancer policy.
--
-- Edit and send SIGHUP to apply (a broken file keeps the old policy in force).
-- Every setting is documented in docs/policy.md; the Redis keys in docs/balancer.md.
local env     = require "cloudcode.env"
local limits  = require "cloudcode.limits"
local admit   = require "cloudcode.admit"
local judge0  = require "cloudcode.judge0"
local balance = require "cloudcode.balance"

return {
  role = "balancer",
  listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080"),
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  redis = env.str("CODECLOUD_REDIS", "127.0.0.1:6379"),
  backends = env.list("CODECLOUD_BACKENDS"),

  max_body_bytes = 1048576,
  max_connections = 1024,
  max_connections_per_address = 256,
  lingering_close_ms = 5000,
  ws_backlog_bytes = 4194304,
  shutdown_grace_s = 10,

  max_sessions_per_key = 10,   -- fleet-wide, counted in Redis
  ended_retention_s = 60,
  max_wait_ms = 30000,
  backend_timeout_s = 5,
  backend_lost_after_s = 30,
  health_interval_ms = 1000,
  -- A placement's reservation on its backend lapses this long after it was taken if the
  -- create never answered; a run's wait for its backend is its timeouts plus
  -- backend_timeout_s plus compile_allowance_ms; a seed user_id's pin to its backend lives
  -- seed_pin_ttl_s after its last use.  Redis: a connect attempt, and a command (one that
  -- times out drops the connection), are given up after these (read at start, as `redis`).
  reservation_hold_ms = 60000,
  compile_allowance_ms = 60000,
  seed_pin_ttl_s = 3600,
  redis_connect_timeout_ms = 2000,
  redis_command_timeout_ms = 2000,

  -- Defaults used to bound waits (the backends apply their own policies).
  limits = limits.default,

  -- The older dialects (docs/compat.md).  With CODECLOUD_PISTON_OPEN=1 Piston
  -- callers without a key are served as one anonymous tenant, at most
  -- piston_rate requests per second per process (429 beyond).  file_url_hosts:
  -- hosts a seed file_url may name (fetched by the server: https only).
  piston_open = env.flag("CODECLOUD_PISTON_OPEN"),
  piston_rate = { per_s = 5, burst = 20 },
  file_url_hosts = {},
  -- E2B's templateID -> our language (other template names are tried as
  -- language names): the code-interpreter templates run IPython.
  e2b_templates = { ["code-interpreter-v1"] = "ipython", ["code-interpreter"] = "ipython", base = "ipython" },
  -- The Judge0 CE dialect: language ids, Judge0's defaults and bounds,
  -- retention of submissions and callback hosts (lua/cloudcode/judge0.lua).
  judge0 = judge0.default,

  admit = admit.caps,
  pick_backend = balance.least_loaded,
}
