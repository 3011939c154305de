-- examples/policies/custom_image.lua — a backend policy that adds a language served
-- by an image of your own: "pydata", Python with numpy and PyYAML
-- (examples/images/pydata/Dockerfile).  Everything else is the default policy.
--
--   docker build --network host -t cloudcode/pydata --build-arg BASE=cloudcode/python examples/images/pydata
--   ./cloudcode examples/policies/custom_image.lua
--
-- CODECLOUD_PYDATA_IMAGE names another tag.  Until the image is built, /v1/languages
-- lists pydata with "available": false and requests for it answer 503.
local env    = require "cloudcode.env"
local policy = require "policies.backend"

-- An image-map entry (docs/policy.md, "images"): the program is written to `file`
-- and started with `run`; clients may also say "numpy".
policy.images.pydata = {
  image = env.str("CODECLOUD_PYDATA_IMAGE", "cloudcode/pydata"),
  version = "3.11.2",
  aliases = { "numpy" },
  file = "main.py",
  run = { "python3", "-u", "{file}" },
  interactive = true,
  limits = { memory_mb = 1024 },   -- numpy arrays want more than the default 512 MiB
}

return policy
