-- cloudcode.pools — the default warm pools: per language, containers created,
-- started and hardened ahead of requests, and reused after a complete reset
-- (docs/pools.md).
--
--   min           spare ready containers kept at least (0: a lazy pool, none
--                 until the language is asked for); `size` is its older name
--   max           containers the pool holds at most, ready or being reset
--                 (default 2 * min, at least 4)
--   refill_per_s  how many the pool may create per second (a pace, in the background)
--   window_s      how long the pool remembers its language's demand (default 60):
--                 it holds min + the most programs of the language live at once
--                 during the last window_s to 2 * window_s seconds, and lets
--                 idle containers beyond that go
--
-- A pool container carries the policy's default limits; a request that asks
-- for other memory, cpus or pids starts a container of its own.
local images = require "cloudcode.images"

local pools = {}

-- Every language that has no entry of its own: lazy, so that an image map of
-- many languages keeps no idle container for those nobody uses.
pools.lazy = { min = 0, max = 4, refill_per_s = 4, window_s = 60 }

-- The languages most requests use: a few containers always ready.
pools.busy = {
  python  = { min = 2, max = 8, refill_per_s = 4, window_s = 60 },
  c       = { min = 2, max = 8, refill_per_s = 4, window_s = 60 },
  ipython = { min = 1, max = 2, refill_per_s = 2, window_s = 60 },
}

-- A pool for every language of an image map: `overrides[lang]` where given,
-- else a copy of `base` (default pools.lazy).
function pools.for_images(map, overrides, base)
  overrides, base = overrides or {}, base or pools.lazy
  local out = {}
  for lang in pairs(map) do
    local e = {}
    for k, v in pairs(overrides[lang] or base) do e[k] = v end
    out[lang] = e
  end
  return out
end

-- The default image map's languages: busy ones warm, the rest lazy.
pools.default = pools.for_images(images.default, pools.busy)

-- None at all: every session and run starts its own container.
pools.none = {}

return pools
