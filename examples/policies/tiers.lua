-- examples/policies/tiers.lua — a backend policy with per-key tiers: how many sessions
-- and runs a key may have at once, and how far its programs may go, depend on the tier
-- its API key belongs to.  Everything else is the default policy.
--
--   CODECLOUD_FREE_KEYS=f1,f2 CODECLOUD_PRO_KEYS=p1 ./cloudcode examples/policies/tiers.lua
--
-- The keys of both lists are client keys.  Keys of CODECLOUD_API_KEY and
-- CODECLOUD_ADMIN_KEY (the default policy's) get the free tier.
--
-- A key at its tier's count is refused with 429 too_many_sessions (scope "key").  A
-- request asking for more than its tier allows (or whose default is more) is not
-- refused: it gets the tier's most (e.g. a free key's program is killed at 128 MiB).
local env    = require "cloudcode.env"
local admit  = require "cloudcode.admit"
local sha256 = require "cloudcode.sha256"   -- admit sees a key only as its SHA-256
local policy = require "policies.backend"

local tiers = {
  free = { keys = "CODECLOUD_FREE_KEYS", sessions = 1,
           most = { memory_mb = 128, cpus = 0.5, timeout_ms = 3000, lifetime_s = 600 } },
  pro  = { keys = "CODECLOUD_PRO_KEYS",  sessions = 20,
           most = { memory_mb = 2048, cpus = 2.0, timeout_ms = 600000, lifetime_s = 86400 } },
}
local default_tier = tiers.free

-- key hash -> tier; every tier's keys become client keys.
local tier_of = {}
for _, tier in pairs(tiers) do
  for _, key in ipairs(env.list(tier.keys)) do
    tier_of[sha256(key)] = tier
    table.insert(policy.keys.client, key)
  end
end

policy.max_sessions_per_key = 20   -- the largest tier's; admit applies each key's own

function policy.admit(req)
  local tier = tier_of[req.key] or default_tier
  req.per_key = tier.sessions      -- the default caps, with this tier's count per key
  local limits, why, code, scope = admit.caps(req)
  if not limits then return nil, why, code, scope end
  return admit.within(limits, tier.most)
end

return policy
