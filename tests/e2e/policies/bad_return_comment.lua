-- A policy with a header comment that names the file: bad_return_comment.lua
-- A policy must return a table of settings; this one returns a string.
local images = require "cloudcode.images"

local function settings()
  return "not a table"
end

return settings() -- @error-line
