-- tests/e2e/policies/settings.lua — the default backend policy, with settings
-- overridden from the JSON object in CODECLOUD_TEST_SETTINGS (e.g.
-- {"read_timeout_ms":300}).  Lets one file serve every test that needs a knob.
local env    = require "cloudcode.env"
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"
local admit  = require "cloudcode.admit"
local cjson  = require "cjson"

local listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080")

local policy = {
  role = "backend",
  listen = listen,
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  docker_host = env.str("CODECLOUD_DOCKER_HOST", "unix:///var/run/docker.sock"),
  backend_id = env.str("CODECLOUD_BACKEND_ID", listen),
  limits = limits.default,
  images = images.default,
  admit = admit.caps,
}

local extra = os.getenv("CODECLOUD_TEST_SETTINGS")
if extra and extra ~= "" then
  for k, v in pairs(cjson.decode(extra)) do policy[k] = v end
end

return policy
