-- A policy whose chunk gives back a number, not a table of settings.
local images = require "cloudcode.images"
local x = 42
return x -- @error-line
