-- cloudcode.admit — the default admission hook: per-server and per-key caps.
--
-- The core has already checked each limit against limits[name].min/max and
-- filled the defaults; admit sees
--   req = { kind = "run"|"session", language = "python", key = "<sha256 of the key>",
--           limits = {...}, counts = { server = N, key = N }, capacity = N, per_key = N }
-- and answers the limits to use, or nil, reason, code, scope.
--
-- A balancer also asks it about what it relays unchanged (docs/balancer.md,
-- "Dialects"): a seed user_id's first create or upload (kind "session"), an
-- anonymous Piston execute ("run") or connect ("session").  Those carry
-- dialect = "seed"|"piston", the language as the client wrote it (none for an
-- upload or a connect) and empty limits; counts.key does not count seed
-- sessions or Piston connects (the balancer never learns their ids).  A
-- balancer uses only the answer's yes or no: the backend applies its own
-- admit to the request again.
local admit = {}

function admit.caps(req)
  if req.counts.server >= req.capacity then
    return nil, "the server is at its session limit (" .. req.capacity .. ")", "too_many_sessions", "server"
  end
  if req.counts.key >= req.per_key then
    return nil, "this key is at its session limit (" .. req.per_key .. ")", "too_many_sessions", "key"
  end
  return req.limits
end

-- The limits a request gets, none above `most` ({ timeout_ms = 5000, ... }): a request that
-- asked for more, or whose default is more, gets that much.  For admit hooks that cap a key's
-- or an hour's programs (examples/policies/).
function admit.within(limits, most)
  for name, top in pairs(most) do
    if limits[name] and limits[name] > top then limits[name] = top end
  end
  return limits
end

return admit
