-- tests/e2e/policies/bad_type.lua — a setting of the wrong type.
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"

return {
  role = "backend",
  listen = "127.0.0.1:8080",
  max_connections = 100,
  max_body_bytes = "x", -- @error-line
  limits = limits.default,
  images = images.default,
}
