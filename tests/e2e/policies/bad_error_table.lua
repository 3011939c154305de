-- tests/e2e/policies/bad_error_table.lua — error() with a non-string value.
local images = require "cloudcode.images"
error({ reason = "a table, not a message" }) -- @error-line
return { role = "backend", images = images.default }
