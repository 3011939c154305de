-- tests/e2e/policies/empty_lists.lua — empty Lua tables where lists are expected:
-- they must come out as [] in JSON, never {}.
local env    = require "cloudcode.env"
local limits = require "cloudcode.limits"
local prefix = env.str("CODECLOUD_IMAGE_PREFIX", "cloudcode/")

return {
  role = "backend",
  listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080"),
  keys = { client = {}, admin = {} },
  cors_origins = {},
  limits = limits.default,
  images = {
    python = { image = prefix .. "python", version = "3.11.2", aliases = {},
               file = "main.py", run = { "python3", "-u", "main.py" } },
    c = { image = prefix .. "c", version = "12.2.0",
          file = "main.c", compile = { "gcc", "-o", "main", "main.c" }, run = { "./main" } },
  },
}
