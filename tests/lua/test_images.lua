-- cloudcode.images: the default map and resolve().
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

function T.resolve_by_name_and_alias()
  local images = require "cloudcode.images"
  local lang, e = images.resolve(images.default, "python")
  A.eq(lang, "python")
  A.eq(e, images.default.python)
  A.eq((images.resolve(images.default, "py")), "python")
  A.eq((images.resolve(images.default, "python3")), "python")
  A.eq((images.resolve(images.default, "gcc")), "c")
  A.eq((images.resolve(images.default, "ipython3")), "ipython")
end

function T.resolve_unknown_and_case_sensitive()
  local images = require "cloudcode.images"
  A.eq(images.resolve(images.default, "cobol"), nil)
  A.eq(images.resolve(images.default, "Python"), nil)
  A.eq(images.resolve(images.default, "PY"), nil)
  A.eq(images.resolve(images.default, ""), nil)
end

function T.resolve_custom_map_without_aliases()
  local images = require "cloudcode.images"
  local map = { rust = { image = "x/rust", file = "main.rs", run = { "./main" } } }
  A.eq((images.resolve(map, "rust")), "rust")
  A.eq(images.resolve(map, "rs"), nil)
  A.eq(images.resolve({}, "rust"), nil)
end

return T
