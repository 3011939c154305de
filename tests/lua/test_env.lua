-- cloudcode.env: settings from the environment (os.getenv stubbed per test).
local A = require "testlib"
local T = {}

function T.str_set()
  A.with_env({ X = "value" }, function()
    A.eq(require("cloudcode.env").str("X", "d"), "value")
  end)
end

function T.str_unset_or_empty_gives_default()
  A.with_env({ E = "" }, function()
    local env = require "cloudcode.env"
    A.eq(env.str("MISSING", "d"), "d", "unset")
    A.eq(env.str("E", "d"), "d", "empty")
    A.eq(env.str("MISSING"), nil, "no default")
  end)
end

function T.list_splits_trims_and_drops_empty()
  A.with_env({ K = " k1, k2,,k3 ,  ,", ONE = "solo", BLANK = "", COMMAS = ",,," }, function()
    local env = require "cloudcode.env"
    A.same(env.list("K"), { "k1", "k2", "k3" })
    A.same(env.list("ONE"), { "solo" })
    A.same(env.list("BLANK"), {})
    A.same(env.list("COMMAS"), {})
    A.same(env.list("MISSING"), {})
  end)
end

function T.list_keeps_inner_spaces_and_symbols()
  A.with_env({ K = "a b, c=d/e+f " }, function()
    A.same(require("cloudcode.env").list("K"), { "a b", "c=d/e+f" })
  end)
end

function T.int_values()
  A.with_env({ N = "42", NEG = "-7", F = "3.0", E = "" }, function()
    local env = require "cloudcode.env"
    A.eq(env.int("N", 1), 42)
    A.eq(math.type(env.int("N", 1)), "integer")
    A.eq(env.int("NEG", 1), -7)
    A.eq(env.int("F", 1), 3)
    A.eq(env.int("E", 5), 5, "empty")
    A.eq(env.int("MISSING", 5), 5, "unset")
  end)
end

function T.int_rejects_garbage()
  A.with_env({ BAD = "12abc", FRAC = "1.5", WORD = "many" }, function()
    local env = require "cloudcode.env"
    A.raises("BAD must be an integer", env.int, "BAD", 1)
    A.raises("FRAC must be an integer", env.int, "FRAC", 1)
    A.raises("WORD must be an integer", env.int, "WORD", 1)
  end)
end

function T.flag()
  A.with_env({ A1 = "1", AT = "true", AY = "yes", A0 = "0", AN = "no", AE = "" }, function()
    local env = require "cloudcode.env"
    A.eq(env.flag("A1"), true)
    A.eq(env.flag("AT"), true)
    A.eq(env.flag("AY"), true)
    A.eq(env.flag("A0"), false)
    A.eq(env.flag("AN"), false)
    A.eq(env.flag("AE"), false)
    A.eq(env.flag("MISSING"), false)
  end)
end

function T.real_environment_is_read()
  -- HOME or PATH is set in any environment the tests run in.
  local env = require "cloudcode.env"
  A.eq(env.str("PATH"), os.getenv("PATH"))
end

return T
