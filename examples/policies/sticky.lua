-- examples/policies/sticky.lua — a balancer policy with sticky placement: requests
-- that carry the same "affinity" (a field of the request's JSON body, which the backends
-- ignore) go to the same backend, e.g. all of one user's or one class's sessions, so
-- that they share its warm containers and caches.  Requests without one are placed
-- least-loaded, as with the default policy.
--
--   ./cloudcode examples/policies/sticky.lua
--   curl ... -d '{"language":"python","code":"...","affinity":"class-7b"}' /v1/sessions
--
-- The backend is chosen by rendezvous hashing: each candidate scores hash(affinity,
-- url) and the highest score with room wins.  While that backend is healthy, not
-- draining and below capacity the affinity stays there; otherwise its requests go to
-- the next-highest, and only that affinity's requests move when the fleet changes.
local balance = require "cloudcode.balance"
local policy  = require "policies.balancer"

-- FNV-1a, 32 bits: a small, stable string hash (not for secrets).
local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

function policy.pick_backend(backends, req)
  local affinity = req.affinity
  if type(affinity) ~= "string" or affinity == "" then return balance.least_loaded(backends, req) end
  local best, best_score
  for _, b in ipairs(backends) do
    if b.sessions + (b.reserved or 0) < (b.capacity or 0) then
      local score = fnv1a(affinity .. "|" .. b.url)
      if not best or score > best_score then best, best_score = b, score end
    end
  end
  return best and best.url or nil
end

return policy
