-- bench/sessions_policy.lua — policies/backend.lua with the session caps raised, for
-- bench/sessions.sh (50 idle sessions from one client need more than the default 10 per key).
-- Everything else comes from the same pieces as the default backend policy.
local env    = require "cloudcode.env"
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"
local admit  = require "cloudcode.admit"
local pools  = require "cloudcode.pools"

local listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080")

return {
  role = "backend",
  listen = listen,
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  docker_host = env.str("CODECLOUD_DOCKER_HOST", "unix:///var/run/docker.sock"),
  backend_id = env.str("CODECLOUD_BACKEND_ID", listen),

  max_body_bytes = 1048576,
  max_connections = 1024,
  read_timeout_ms = 10000,
  shutdown_grace_s = 10,

  max_sessions = 100,          -- default 50
  max_sessions_per_key = 100,  -- default 10
  ended_retention_s = 60,
  max_wait_ms = 30000,
  uid_range = { 100000, 165535 },

  limits = limits.default,
  images = images.default,
  pools = pools.default,      -- as policies/backend.lua: warm containers (docs/pools.md)
  reuse = true,

  admit = admit.caps,
}
