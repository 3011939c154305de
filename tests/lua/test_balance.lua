-- cloudcode.balance: least_loaded placement.
local A = require "testlib"
local T = {}

local function b(url, sessions, capacity, extra)
  local t = { url = url, sessions = sessions, capacity = capacity, healthy = true, draining = false }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

function T.picks_lowest_ratio()
  local balance = require "cloudcode.balance"
  -- 5/10 = 0.5, 10/50 = 0.2, 3/4 = 0.75: the ratio, not the count, decides
  A.eq(balance.least_loaded({ b("a", 5, 10), b("b", 10, 50), b("c", 3, 4) }, {}), "b")
  A.eq(balance.least_loaded({ b("a", 0, 1), b("b", 1, 100) }, {}), "a")
end

function T.skips_unhealthy_draining_full()
  local balance = require "cloudcode.balance"
  local list = {
    b("sick", 0, 10, { healthy = false }),
    b("drain", 0, 10, { draining = true }),
    b("full", 10, 10),
    b("over", 12, 10),
    b("zero", 0, 0),
    b("ok", 9, 10),
  }
  A.eq(balance.least_loaded(list, {}), "ok")
end

function T.none_eligible_is_nil()
  local balance = require "cloudcode.balance"
  A.eq(balance.least_loaded({}, {}), nil)
  A.eq(balance.least_loaded({ b("sick", 0, 10, { healthy = false }), b("full", 5, 5) }, {}), nil)
end

function T.random_tie_breaking_covers_all()
  local balance = require "cloudcode.balance"
  math.randomseed(12345)
  local list = { b("a", 1, 10), b("b", 2, 20), b("c", 5, 50), b("d", 9, 10), b("e", 1, 10, { healthy = false }) }
  local counts, runs = {}, 3000
  for _ = 1, runs do
    local u = balance.least_loaded(list, {})
    counts[u] = (counts[u] or 0) + 1
  end
  A.eq(counts.d, nil, "the busier backend")
  A.eq(counts.e, nil, "the unhealthy backend")
  for _, u in ipairs({ "a", "b", "c" }) do
    A.truthy(counts[u], u .. " never picked")
    -- uniform: each about 1000 of 3000
    A.truthy(counts[u] > runs / 3 * 0.8 and counts[u] < runs / 3 * 1.2,
             u .. " picked " .. counts[u] .. " times of " .. runs)
  end
end

function T.single_candidate_always()
  local balance = require "cloudcode.balance"
  for _ = 1, 50 do
    A.eq(balance.least_loaded({ b("x", 1, 2), b("y", 2, 2) }, {}), "x")
  end
end

return T
