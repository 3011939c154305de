-- cloudcode.env — read settings from the environment.
local env = {}

-- The variable's value, or `default` when it is unset or empty.
function env.str(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

-- A comma-separated list, blanks trimmed and empty items dropped.
function env.list(name)
  local out = {}
  for item in (os.getenv(name) or ""):gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

function env.int(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  local n = math.tointeger(tonumber(v))
  if n == nil then error(name .. " must be an integer, not '" .. v .. "'", 2) end
  return n
end

function env.flag(name)
  local v = os.getenv(name)
  return v == "1" or v == "true" or v == "yes"
end

return env
