-- cloudcode.images — the default image map: language → image and commands.
--
-- Each entry: image, version, aliases, file (the main file's name for /v1's
-- `code`), compile (argv, optional), run (argv), interactive, notebook, script.
-- A language whose entry is removed disappears from /v1/languages; pointing
-- `image` elsewhere changes what runs, without recompiling.
--
-- Placeholders in argv tokens (expanded by the core, docs/policy.md): {file}
-- the main file's name (the entry's `file`, or the one a request names, e.g.
-- Piston's files[0]), {stem} that name without its last extension, and a
-- token "{sources}" the names of every program file with the main file's
-- extension, main first (a multi-file program compiles together).
local env = require "cloudcode.env"

local images = {}

-- Every default image is named <prefix><language>: CODECLOUD_IMAGE_PREFIX lets
-- an operator (or a test run beside another one on the same engine) use its
-- own image set, e.g. "registry.example/cloudcode/".
local prefix = env.str("CODECLOUD_IMAGE_PREFIX", "cloudcode/")

images.default = {
  python = {
    image = prefix .. "python", version = "3.11.2", aliases = { "py", "python3" },
    file = "main.py", run = { "python3", "-u", "{file}" },
    interactive = true,
  },
  c = {
    image = prefix .. "c", version = "12.2.0", aliases = { "gcc" },
    file = "main.c",
    compile = { "gcc", "-O2", "-std=gnu17", "-o", "main", "{sources}", "-lm" },
    -- stdbuf (coreutils, in the image) makes stdout line-buffered, so an
    -- interactive C program's output arrives line by line (api.md).
    run = { "stdbuf", "-oL", "./main" },
    interactive = true,
  },
  ipython = {
    image = prefix .. "ipython", version = "8.5.0", aliases = { "ipython3" },
    -- The driver (docker-services/ipython/notebook.py) is IPython's shell serving both the
    -- line REPL on stdin/stdout and `execute` cells over the launcher's notebook channel.
    file = "main.py", run = { "python3", "/opt/cloudcode/notebook.py", "{file}" },
    script = { "ipython3", "--no-banner", "--colors=NoColor", "{file}" },
    interactive = true, notebook = true,
  },
}

-- Look a language up by name or alias: its canonical name and entry.
function images.resolve(map, name)
  for lang, e in pairs(map) do
    if lang == name then return lang, e end
    for _, a in ipairs(e.aliases or {}) do
      if a == name then return lang, e end
    end
  end
  return nil
end

return images
