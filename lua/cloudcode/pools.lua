-- cloudcode.pools — the default warm pools: per language, containers created,
-- started and hardened ahead of requests (docs/pools.md).
--
--   size          ready containers to keep (0: none, every request starts one)
--   refill_per_s  how many the pool may create per second (a pace, in the background)
--   max           ready containers kept, returned runs' included (default 2 * size): at least
--                 size plus the runs in flight at once, or returned containers are discarded
--                 while new ones are created (above size they go after 30 s idle)
--
-- A pool container carries the policy's default limits; a request that asks
-- for other memory, cpus or pids starts a container of its own.
local pools = {}

pools.default = {
  python  = { size = 2, refill_per_s = 4, max = 8 },
  c       = { size = 2, refill_per_s = 4, max = 8 },
  ipython = { size = 1, refill_per_s = 2, max = 2 },
}

-- None at all: every session and run starts its own container.
pools.none = {}

return pools
