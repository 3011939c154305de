-- tests/e2e/policies/admit_error.lua — an admit hook that fails (error).
local env    = require "cloudcode.env"
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"

return {
  role = "backend",
  listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080"),
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  docker_host = env.str("CODECLOUD_DOCKER_HOST", "unix:///var/run/docker.sock"),
  limits = limits.default,
  images = images.default,
  admit = function(req)
    error("admit says no")
    return req.limits
  end,
}
