-- cloudcode.balance — the default placement: the fewest sessions relative to
-- capacity among healthy, non-draining backends; ties broken at random.
--
-- Each backend is { url, sessions, capacity, healthy, draining, reserved }:
-- `reserved` counts placements (of every balancer) the backend has not
-- reported yet, so that a burst of creates spreads instead of piling up.
local balance = {}

function balance.least_loaded(backends, req)
  local best, best_load, ties = nil, math.huge, 0
  for _, b in ipairs(backends) do
    local used = b.sessions + (b.reserved or 0)
    if b.healthy and not b.draining and (b.capacity or 0) > 0 and used < b.capacity then
      local load = used / b.capacity
      if load < best_load then
        best, best_load, ties = b, load, 1
      elseif load == best_load then
        ties = ties + 1
        if math.random(ties) == 1 then best = b end
      end
    end
  end
  return best and best.url or nil
end

return balance
