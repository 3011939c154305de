-- tests/lua/run.lua — run every tests/lua/test_*.lua with plain lua5.4.
--
--   lua5.4 tests/lua/run.lua            (from the repo root; `make lua-test`)
--
-- Each test file returns a table { name = function() ... end }; a test fails by
-- raising an error.  Prints one line per failure and, last, "N passed, M failed";
-- exits non-zero if anything failed.
local script = arg and arg[0] or "tests/lua/run.lua"
local here = script:match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path

-- The assertions tests use: `local A = require "testlib"`.
package.preload["testlib"] = function()
  local A = {}
  local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    return tostring(v)
  end

  function A.eq(got, want, what)
    if got ~= want then
      error(("%s: expected %s, got %s"):format(what or "value", show(want), show(got)), 2)
    end
  end

  function A.same(got, want, what)
    local function deq(a, b)
      if type(a) ~= type(b) then return false end
      if type(a) ~= "table" then return a == b end
      for k, v in pairs(a) do if not deq(v, b[k]) then return false end end
      for k in pairs(b) do if a[k] == nil then return false end end
      return true
    end
    if not deq(got, want) then
      local function dump(t)
        if type(t) ~= "table" then return show(t) end
        local parts = {}
        for k, v in pairs(t) do parts[#parts + 1] = tostring(k) .. "=" .. dump(v) end
        table.sort(parts)
        return "{" .. table.concat(parts, ",") .. "}"
      end
      error(("%s: expected %s, got %s"):format(what or "value", dump(want), dump(got)), 2)
    end
  end

  function A.truthy(v, what)
    if not v then error((what or "value") .. ": expected a true value, got " .. show(v), 2) end
  end

  -- fn(...) must raise an error whose message contains `pattern` (plain text).
  function A.raises(pattern, fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then error("expected an error matching '" .. pattern .. "', got none", 2) end
    if pattern ~= "" and not tostring(err):find(pattern, 1, true) then
      error("expected an error matching '" .. pattern .. "', got: " .. tostring(err), 2)
    end
  end

  -- Run fn with os.getenv answering from `vars` (a table); restores os.getenv.
  function A.with_env(vars, fn)
    local real = os.getenv
    os.getenv = function(name) return vars[name] end
    local ok, err = pcall(fn)
    os.getenv = real
    if not ok then error(err, 0) end
  end
  return A
end

local files = {}
local p = io.popen('ls "' .. here .. '"/test_*.lua 2>/dev/null')
for f in p:lines() do files[#files + 1] = f end
p:close()
table.sort(files)

local passed, failed = 0, 0
for _, file in ipairs(files) do
  local chunk, err = loadfile(file)
  local ok, tests = false, err
  if chunk then ok, tests = pcall(chunk) end
  if not ok or type(tests) ~= "table" then
    failed = failed + 1
    print(("FAIL %s: cannot load: %s"):format(file, tostring(tests)))
  else
    local names = {}
    for name, fn in pairs(tests) do
      if type(fn) == "function" then names[#names + 1] = name end
    end
    table.sort(names)
    for _, name in ipairs(names) do
      -- Each test gets a fresh copy of the modules it requires.
      for mod in pairs(package.loaded) do
        if mod:match("^cloudcode%.") then package.loaded[mod] = nil end
      end
      local tok, terr = xpcall(tests[name], debug.traceback)
      if tok then
        passed = passed + 1
      else
        failed = failed + 1
        print(("FAIL %s %s: %s"):format(file:match("[^/]*$"), name, tostring(terr)))
      end
    end
  end
end

print(("%d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
