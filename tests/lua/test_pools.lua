-- cloudcode.pools: every language of a map gets a pool, lazy unless named.
local A = require "testlib"
local T = {}

function T.default_covers_the_image_map()
  local pools = require "cloudcode.pools"
  local images = require "cloudcode.images"
  for lang in pairs(images.default) do A.truthy(pools.default[lang], lang .. " has a pool") end
  for lang in pairs(pools.default) do A.truthy(images.default[lang], lang .. " is in the image map") end
  A.eq(pools.default.python.min, 2)
  A.eq(pools.default.ipython.min, 1)
end

function T.unnamed_languages_are_lazy_copies()
  local pools = require "cloudcode.pools"
  local map = { python = {}, cobol = {}, forth = {} }
  local p = pools.for_images(map, { python = { min = 3 } })
  A.same(p.python, { min = 3 })
  A.same(p.cobol, pools.lazy)
  A.eq(p.cobol.min, 0)
  A.truthy(p.cobol ~= pools.lazy and p.cobol ~= p.forth, "each pool is a table of its own")
  A.eq(pools.for_images(map, nil, { min = 1 }).forth.min, 1)
end

return T
