-- tests/e2e/policies/bad_c_module.lua — a C module found through a package.cpath set by the policy
-- (cjson.so also exports luaopen_cjson_safe, which the all-in-one C searcher would load).
local images = require "cloudcode.images"
package.cpath = "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so"
local safe = require "cjson.safe" -- @error-line
return { role = "backend", images = images.default, loaded = safe ~= nil }
