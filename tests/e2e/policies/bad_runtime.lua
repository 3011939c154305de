-- tests/e2e/policies/bad_runtime.lua — an error raised while the policy runs.
local images = require "cloudcode.images"
local n = nil
local size = n + 1 -- @error-line
return { role = "backend", images = images.default }
