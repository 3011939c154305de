-- balancer_dialects.lua — balancer_fast.lua with hooks that show how the dialects' requests are
-- placed (tests/e2e/test_compat_balancer.py):
--   CODECLOUD_TEST_REFUSE_DIALECTS=1  admit refuses every request of a dialect (req.dialect set),
--     its reason the JSON of what admit was asked; a seed one 403 forbidden, a Piston one 429
--     too_many_sessions (scope server); /v1 requests are admitted as by default.
--   CODECLOUD_TEST_PREFER=<url>       pick_backend answers that backend whenever it is a
--     candidate, however loaded (so that only the reservation can turn a placement away).
local cjson   = require "cjson"
local env     = require "cloudcode.env"
local admit   = require "cloudcode.admit"
local balance = require "cloudcode.balance"
local policy  = require "balancer_fast"

local refuse = env.flag("CODECLOUD_TEST_REFUSE_DIALECTS")
local prefer = os.getenv("CODECLOUD_TEST_PREFER") or ""

function policy.admit(req)
  if refuse and req.dialect then
    local seen = { kind = req.kind, dialect = req.dialect, language = req.language, key = req.key,
                   counts = req.counts, capacity = req.capacity, per_key = req.per_key }
    local code = req.dialect == "seed" and "forbidden" or "too_many_sessions"
    return nil, cjson.encode(seen), code, "server"
  end
  return admit.caps(req)
end

function policy.pick_backend(backends, req)
  for _, b in ipairs(backends) do
    if b.url == prefer then return b.url end
  end
  return balance.least_loaded(backends, req)
end

return policy
