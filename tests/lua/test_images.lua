-- cloudcode.images: the default map.
local A = require "testlib"
local T = {}

function T.default_has_the_seed_languages()
  local images = require "cloudcode.images"
  local prefix = os.getenv("CODECLOUD_IMAGE_PREFIX") or "cloudcode/"
  for _, lang in ipairs({ "python", "c", "ipython" }) do
    local e = images.default[lang]
    A.truthy(e, lang)
    A.truthy(type(e.image) == "string" and e.image:sub(1, #prefix) == prefix, lang .. ".image is ours")
    A.truthy(type(e.file) == "string", lang .. ".file")
    A.truthy(type(e.run) == "table" and #e.run > 0, lang .. ".run")
  end
  A.eq(images.default.ipython.notebook, true)
  A.truthy(images.default.c.compile, "c compiles")
  A.eq(images.default.python.compile, nil)
end

-- What clients of the seed and Piston name them by (the core looks names and aliases up).
function T.default_aliases()
  local images = require "cloudcode.images"
  local function has(lang, alias)
    for _, a in ipairs(images.default[lang].aliases or {}) do
      if a == alias then return true end
    end
    return false
  end
  A.truthy(has("python", "py") and has("python", "python3"), "python's aliases")
  A.truthy(has("c", "gcc"), "c's aliases")
  A.truthy(has("ipython", "ipython3"), "ipython's aliases")
end

return T
