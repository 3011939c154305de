-- tests/e2e/policies/auth_none.lua — an explicitly open server (no key at all).
local env    = require "cloudcode.env"
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"

return {
  role = "backend",
  listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080"),
  auth = "none",
  keys = { client = {}, admin = {} },
  limits = limits.default,
  images = images.default,
}
