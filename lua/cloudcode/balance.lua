-- cloudcode.balance — the default placement: the fewest sessions relative to
-- capacity among healthy, non-draining backends; ties broken at random.
local balance = {}

function balance.least_loaded(backends, req)
  local best, best_load, ties = nil, math.huge, 0
  for _, b in ipairs(backends) do
    if b.healthy and not b.draining and (b.capacity or 0) > 0 and b.sessions < b.capacity then
      local load = b.sessions / b.capacity
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
