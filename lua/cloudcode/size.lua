-- cloudcode.size — sizes and durations written the way people write them.
local size = {}

local units = { [""] = 1, b = 1, k = 1024, kb = 1024, kib = 1024, m = 1024^2, mb = 1024^2,
                mib = 1024^2, g = 1024^3, gb = 1024^3, gib = 1024^3 }

-- "512k", "64 MiB", 1048576 → bytes (an integer).
function size.bytes(v)
  if type(v) == "number" then return math.tointeger(v) or error("not a whole number of bytes: " .. v, 2) end
  local n, unit = tostring(v):lower():match("^%s*([%d%.]+)%s*(%a*)%s*$")
  local mult = unit and units[unit]
  if not n or not mult then error("cannot read a size from '" .. tostring(v) .. "'", 2) end
  return math.tointeger(math.floor(tonumber(n) * mult))
end

local durations = { ms = 1, s = 1000, m = 60000, min = 60000, h = 3600000 }

-- "1500ms", "30s", "10m" → milliseconds (an integer).
function size.ms(v)
  if type(v) == "number" then return math.tointeger(v) or error("not a whole number of ms: " .. v, 2) end
  local n, unit = tostring(v):lower():match("^%s*([%d%.]+)%s*(%a+)%s*$")
  local mult = unit and durations[unit]
  if not n or not mult then error("cannot read a duration from '" .. tostring(v) .. "'", 2) end
  return math.tointeger(math.floor(tonumber(n) * mult))
end

return size
