-- tests/e2e/policies/bad_loadlib.lua — package.loadlib would load any shared library.
local images = require "cloudcode.images"
local open = package.loadlib("/usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so", "luaopen_cjson") -- @error-line
return { role = "backend", images = images.default, loaded = open ~= nil }
