-- tests/e2e/policies/settings.lua — the default backend policy, with settings
-- overridden from the JSON object in CODECLOUD_TEST_SETTINGS (e.g.
-- {"read_timeout_ms":300}).  Lets one file serve every test that needs a knob.
local cjson  = require "cjson"
local policy = require "policies.backend"
policy.pools = nil -- no warm containers unless a test asks (they start Docker work)

local extra = os.getenv("CODECLOUD_TEST_SETTINGS")
if extra and extra ~= "" then
  for k, v in pairs(cjson.decode(extra)) do policy[k] = v end
end

return policy
