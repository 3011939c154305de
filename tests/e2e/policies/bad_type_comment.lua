-- tests/e2e/policies/bad_type_comment.lua — a setting of the wrong type, whose name
-- also appears earlier in a comment and in a longer name.
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"

-- read_timeout_ms: how long a request may take to arrive.
local my_read_timeout_ms_default = 1000

return {
  role = "backend",
  listen = "127.0.0.1:8080",
  read_timeout_ms = "soon", -- @error-line
  limits = limits.default,
  images = images.default,
}
