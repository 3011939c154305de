-- backend_small.lua — the default backend policy with room for 3 sessions
-- (capacity), and a per-key cap high enough never to be the limit.
local env    = require "cloudcode.env"
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"
local admit  = require "cloudcode.admit"

local listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080")

return {
  role = "backend",
  listen = listen,
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  docker_host = env.str("CODECLOUD_DOCKER_HOST", "unix:///var/run/docker.sock"),
  backend_id = env.str("CODECLOUD_BACKEND_ID", listen),

  max_sessions = env.int("CODECLOUD_TEST_MAX_SESSIONS", 3),
  max_sessions_per_key = 1000,
  ended_retention_s = 60,
  shutdown_grace_s = 10,

  limits = limits.default,
  images = images.default,
  admit = admit.caps,
}
