-- examples/policies/languages_per_key.lua — a backend policy with a language allow-list
-- per key: the keys of a group may use only that group's languages; keys in no group
-- (CODECLOUD_API_KEY, CODECLOUD_ADMIN_KEY) may use every language of the image map.
--
--   CODECLOUD_TEACHING_KEYS=t1 CODECLOUD_NOTEBOOK_KEYS=n1 CODECLOUD_API_KEY=k1 \
--     ./cloudcode examples/policies/languages_per_key.lua
--
-- A refused request is answered 403 forbidden, "this key may not use c (allowed:
-- python)".  Names are the image map's canonical ones: the backend resolves aliases
-- before admit is asked, so "py" counts as python.  Behind a balancer, load this on
-- the backends (the balancer relays their 403).
local env    = require "cloudcode.env"
local admit  = require "cloudcode.admit"
local sha256 = require "cloudcode.sha256"   -- admit sees a key only as its SHA-256
local policy = require "policies.backend"

local groups = {
  { keys = "CODECLOUD_TEACHING_KEYS", languages = { "python" } },
  { keys = "CODECLOUD_NOTEBOOK_KEYS", languages = { "ipython", "python" } },
}

-- key hash -> { allowed = { language = true }, list = "a, b" }; the keys become client keys.
local allowed_for = {}
for _, group in ipairs(groups) do
  local entry = { allowed = {}, list = table.concat(group.languages, ", ") }
  for _, lang in ipairs(group.languages) do entry.allowed[lang] = true end
  for _, key in ipairs(env.list(group.keys)) do
    allowed_for[sha256(key)] = entry
    table.insert(policy.keys.client, key)
  end
end

function policy.admit(req)
  local entry = allowed_for[req.key]
  if entry and not entry.allowed[req.language] then
    return nil, ("this key may not use %s (allowed: %s)"):format(req.language, entry.list), "forbidden"
  end
  return admit.caps(req)
end

return policy
