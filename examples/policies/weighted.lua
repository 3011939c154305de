-- examples/policies/weighted.lua — a balancer policy with weighted placement: each
-- backend gets new sessions and runs in proportion to its weight (a backend of weight 3
-- holds about three times as many as one of weight 1), never beyond its capacity.
--
--   CODECLOUD_WEIGHTS=http://10.0.0.5:8080=3,http://10.0.0.6:8080=1 \
--     ./cloudcode examples/policies/weighted.lua
--
-- CODECLOUD_WEIGHTS: url=weight pairs, the URLs exactly as the balancer knows them;
-- a backend not listed has weight 1.  Everything else is the default policy.
local env    = require "cloudcode.env"
local policy = require "policies.balancer"

local weight_of = {}
for _, pair in ipairs(env.list("CODECLOUD_WEIGHTS")) do
  local url, w = pair:match("^(.-)=(%d+%.?%d*)$")
  if not url or tonumber(w) <= 0 then error("CODECLOUD_WEIGHTS: '" .. pair .. "' is not url=weight") end
  weight_of[url] = tonumber(w)
end

-- The candidate with room whose share (sessions per unit of weight) is the smallest;
-- on a tie the heavier one, so that the heavier backend leads.  `reserved` counts
-- placements the backend has not reported yet (docs/balancer.md).
function policy.pick_backend(backends, req)
  local best, best_share, best_weight
  for _, b in ipairs(backends) do
    local used, weight = b.sessions + (b.reserved or 0), weight_of[b.url] or 1
    if used < (b.capacity or 0) then
      local share = used / weight
      if not best or share < best_share or (share == best_share and weight > best_weight) then
        best, best_share, best_weight = b, share, weight
      end
    end
  end
  return best and best.url or nil
end

return policy
