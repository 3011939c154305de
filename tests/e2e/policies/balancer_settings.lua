-- tests/e2e/policies/balancer_settings.lua — balancer_fast.lua with settings overridden from the
-- JSON object in CODECLOUD_TEST_SETTINGS (e.g. {"seed_pin_ttl_s":12345}), as settings.lua does
-- for a backend.
local cjson  = require "cjson"
local policy = require "balancer_fast"

local extra = os.getenv("CODECLOUD_TEST_SETTINGS")
if extra and extra ~= "" then
  for k, v in pairs(cjson.decode(extra)) do policy[k] = v end
end

return policy
