-- examples/policies/pin_language.lua — a balancer policy that pins C to some
-- backends: sessions and runs in C (or its alias gcc) go only to the backends
-- listed in CODECLOUD_PIN_C (comma-separated URLs, exactly as the balancer
-- knows them, e.g. http://10.0.0.5:8080); every other language goes to the
-- least-loaded backend of the whole fleet, as with the default policy.
--
-- If no pinned backend is healthy, non-draining and below its capacity, a C
-- request is refused with 429 too_many_sessions (scope "server"): C never
-- spills over onto the other backends.  With CODECLOUD_PIN_C empty, C is not
-- pinned at all.
--
-- Run: CODECLOUD_PIN_C=http://127.0.0.1:8081 ./cloudcode examples/policies/pin_language.lua
local env     = require "cloudcode.env"
local balance = require "cloudcode.balance"
local policy  = require "policies.balancer"   -- everything else as the default

local pinned = {}
for _, url in ipairs(env.list("CODECLOUD_PIN_C")) do pinned[url] = true end
local pin_languages = { c = true, gcc = true }

-- pick_backend(backends, req): `backends` are the candidates (healthy, not
-- draining, not already tried for this request), each { url, sessions,
-- capacity, healthy, draining, reserved }; `req` is the request's JSON body.
-- Answer a candidate's url, or nil to refuse with 429.
local function pick_backend(backends, req)
  if next(pinned) and pin_languages[req.language] then
    local allowed = {}
    for _, b in ipairs(backends) do
      if pinned[b.url] then allowed[#allowed + 1] = b end
    end
    return balance.least_loaded(allowed, req)
  end
  return balance.least_loaded(backends, req)
end

policy.pick_backend = pick_backend
return policy
