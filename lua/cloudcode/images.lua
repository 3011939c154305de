-- cloudcode.images — the default image map: language → image and commands.
--
-- Each entry: image, version, aliases, file (the main file's name for /v1's
-- `code`), compile (argv, optional), run (argv), interactive, notebook, script,
-- optionally env (variables over the policy's sandbox_env; false: not set),
-- and optionally limits: this language's defaults for the limits a request
-- leaves out (e.g. more memory for the JVM, a compile_timeout_ms for slow
-- compilers), kept within the policy's min..max.  A language whose entry is
-- removed disappears from /v1/languages; pointing `image` elsewhere changes
-- what runs, without recompiling.
--
-- Placeholders in argv tokens (expanded by the core, docs/policy.md): {file}
-- the main file's name (the entry's `file`, or the one a request names, e.g.
-- Piston's files[0]), {stem} that name without its last extension, and a
-- token "{sources}" the names of every program file with the main file's
-- extension, main first (a multi-file program compiles together).
--
-- Names and aliases follow Piston's, so Piston clients find them.  Versions are
-- those of Debian 12's packages; tests/e2e/test_languages.py checks each one
-- against the toolchain in its image.
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
    compile = { "gcc", "-O2", "-std=gnu17", "{options}", "-o", "main", "{sources}", "-lm" },
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
    -- No terminal title: TERM=xterm would make IPython write one into the output.
    script = { "ipython3", "--no-banner", "--colors=NoColor", "--TerminalInteractiveShell.term_title=False", "{file}" },
    interactive = true, notebook = true,
  },
}
-- ---- the languages beyond python, c and ipython (issue 13) -------------------------------
-- Grouped into a few images by the toolchains they share (docs/images.md says why): each
-- image is docker-services/<name>/, built by `make images` like the three above.
local scripts, native, jvm = prefix .. "scripts", prefix .. "native", prefix .. "jvm"
local beam, mono, stats = prefix .. "beam", prefix .. "mono", prefix .. "stats"

-- The JVM, Mono, GHC and friends start slowly and want more memory and threads than a
-- script: their own defaults (still within the policy's min..max; a request may set less).
local JVM = { memory_mb = 1024, pids = 256, timeout_ms = 20000 }
local SLOW = { timeout_ms = 20000 }
local JAVA = { "java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss8m" }
-- Java's compile step (sh -c; its arguments: the compile options, "--", the sources, the main
-- file first).
local JAVAC = [==[
set -e
n=$# main= sources=
for f in "$@"; do
  if [ -z "$sources" ]; then
    if [ "$f" = -- ]; then sources=1; else set -- "$@" "$f"; fi
    continue
  fi
  main=${main:-$f}
  name=$(sed -n 's/^[[:space:]]*public[[:space:]].*class[[:space:]][[:space:]]*\([[:alnum:]_$]*\).*/\1/p' "$f" | head -n 1)
  if [ -n "$name" ] && [ "$name.java" != "${f##*/}" ]; then
    mkdir -p /tmp/javasrc
    cp "$f" "/tmp/javasrc/$name.java"
    f=/tmp/javasrc/$name.java
  fi
  set -- "$@" "$f"
done
sed -n 's/^[^/]*class[[:space:]][[:space:]]*\([[:alnum:]_$]*\).*/\1/p' "$main" | head -n 1 >/tmp/java-main
[ -s /tmp/java-main ] || basename "$main" .java >/tmp/java-main
shift "$n"
exec javac -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -d . "$@"
]==]

local function merge(a, b) -- a's fields, then b's (a fresh table)
  local out = {}
  for k, v in pairs(a) do out[k] = v end
  for k, v in pairs(b) do out[k] = v end
  return out
end

local function with(t, ...) -- t followed by the given items (a fresh table)
  local out = table.move(t, 1, #t, 1, {})
  return table.move({ ... }, 1, select("#", ...), #out + 1, out)
end

-- Native programs see stdout line-buffered, as in c above (stdbuf affects C stdio).
local function native_run(...) return with({ "stdbuf", "-oL" }, ...) end

local more = {
  bash = {
    image = scripts, version = "5.2.15", aliases = { "sh" },
    file = "main.sh", run = { "bash", "{file}" }, interactive = true,
  },
  awk = {
    image = scripts, version = "5.2.1", aliases = { "gawk" },
    file = "main.awk", run = { "gawk", "-f", "{file}" }, interactive = true,
  },
  perl = {
    image = scripts, version = "5.36.0", aliases = { "pl" },
    file = "main.pl", run = { "perl", "{file}" }, interactive = true,
  },
  lua = {
    image = scripts, version = "5.4.4", aliases = { "lua5.4" },
    file = "main.lua", run = { "lua5.4", "{file}" }, interactive = true,
  },
  ruby = {
    image = scripts, version = "3.1.2", aliases = { "ruby3", "rb" },
    file = "main.rb", run = { "ruby", "{file}" }, interactive = true,
  },
  php = {
    image = scripts, version = "8.2.36", aliases = {},
    file = "main.php", run = { "php", "{file}" }, interactive = true,
  },
  tcl = {
    image = scripts, version = "8.6.13", aliases = { "tclsh" },
    file = "main.tcl", run = { "tclsh", "{file}" }, interactive = true,
  },
  -- The program is SQL run on an in-memory database; stdin is not read.
  sqlite3 = {
    image = scripts, version = "3.40.1", aliases = { "sqlite", "sql" },
    file = "main.sql", run = { "sqlite3", "-bail", "-batch", ":memory:", ".read {file}" },
    interactive = false,
  },
  scheme = {
    image = scripts, version = "3.0.8", aliases = { "guile", "scm" },
    file = "main.scm", run = { "guile", "--no-auto-compile", "-s", "{file}" }, interactive = true,
  },
  javascript = {
    image = scripts, version = "18.20.4", aliases = { "node", "js", "node-js", "node-javascript" },
    file = "main.js", run = { "node", "{file}" }, interactive = true,
  },
  typescript = {
    image = scripts, version = "4.8.4", aliases = { "ts", "node-ts", "tsc" },
    file = "main.ts",
    compile = { "tsc", "--target", "es2020", "--module", "commonjs", "--skipLibCheck", "--pretty", "false",
      "{options}", "{sources}" },
    run = { "node", "{stem}.js" }, interactive = true, limits = { compile_timeout_ms = 30000 },
  },
  prolog = {
    image = scripts, version = "9.0.4", aliases = { "swipl", "plg" },
    file = "main.pl", run = { "swipl", "-q", "{file}" }, interactive = true,
  },
  lisp = {
    image = scripts, version = "2.2.9", aliases = { "sbcl", "cl", "commonlisp" },
    file = "main.lisp", run = { "sbcl", "--script", "{file}" }, interactive = true,
  },
  racket = {
    image = scripts, version = "8.7", aliases = { "rkt" },
    file = "main.rkt", run = { "racket", "{file}" }, interactive = true, limits = SLOW,
  },

  ["c++"] = {
    image = native, version = "12.2.0", aliases = { "cpp", "g++" },
    file = "main.cpp", compile = { "g++", "-O2", "-std=gnu++17", "-o", "main", "{options}", "{sources}" },
    run = native_run("./main"), interactive = true, limits = { compile_timeout_ms = 30000 },
  },
  d = {
    image = native, version = "12.2.0", aliases = { "gdc", "dlang" },
    file = "main.d", compile = { "gdc", "-O2", "-o", "main", "{options}", "{sources}" },
    run = native_run("./main"), interactive = true, limits = { compile_timeout_ms = 30000 },
  },
  fortran = {
    image = native, version = "12.2.0", aliases = { "gfortran", "f90", "f95" },
    file = "main.f90", compile = { "gfortran", "-O2", "-o", "main", "{options}", "{sources}" },
    -- Unbuffered output, so that an interactive session sees each line at once.
    run = { "./main" }, env = { GFORTRAN_UNBUFFERED_PRECONNECTED = "y" }, interactive = true,
  },
  -- x86-64 only, static, no libc: Linux system calls.  32-bit x86 (Piston's "nasm") is not
  -- offered: a kernel without IA-32 emulation (like this project's test VM) cannot exec it.
  nasm64 = {
    image = native, version = "2.16.01", aliases = { "asm64" },
    file = "main.asm", compile = { "sh", "-c", "nasm -f elf64 -o main.o {file} && ld -o main main.o" },
    run = { "./main" }, interactive = true,
  },
  pascal = {
    image = native, version = "3.2.2", aliases = { "freepascal", "fpc", "pp", "pas" },
    file = "main.pas", compile = { "fpc", "-O2", "-v0", "-l-", "-omain", "{options}", "{sources}" },
    run = { "./main" }, interactive = true,
  },
  nim = {
    image = native, version = "1.6.10", aliases = {},
    file = "main.nim",
    compile = { "nim", "compile", "--hints:off", "--nimcache:/tmp/nimcache", "-o:main", "{options}", "{sources}" },
    run = { "./main" }, interactive = true, limits = { compile_timeout_ms = 60000 },
  },
  go = {
    image = native, version = "1.19.8", aliases = { "golang" },
    file = "main.go", compile = { "go", "build", "-o", "main", "{options}", "{sources}" },
    run = { "./main" }, interactive = true, limits = { pids = 256, compile_timeout_ms = 60000 },
  },
  rust = {
    image = native, version = "1.63.0", aliases = { "rs" },
    file = "main.rs", compile = { "rustc", "-o", "main", "{options}", "{sources}" },
    run = { "./main" }, interactive = true, limits = { compile_timeout_ms = 60000 },
  },
  haskell = {
    image = native, version = "9.0.2", aliases = { "hs", "ghc" },
    file = "main.hs", compile = { "ghc", "-v0", "-outputdir", "/tmp/ghc", "-o", "main", "{options}", "{sources}" },
    run = { "./main" }, interactive = true, limits = { memory_mb = 1024, compile_timeout_ms = 60000 },
  },
  ocaml = {
    image = native, version = "4.13.1", aliases = { "ml" },
    file = "main.ml", compile = { "ocamlopt", "-o", "main", "{options}", "{sources}" },
    run = { "./main" }, interactive = true, limits = { compile_timeout_ms = 30000 },
  },

  -- javac wants a public class in a file of its name, while Piston's clients send any name
  -- (its test is HelloWorld in an unnamed file): each source is compiled under the name of
  -- its public class, and the main file's first class is the one the run starts.
  java = {
    image = jvm, version = "17.0.21", aliases = {},
    file = "Main.java",
    compile = { "sh", "-c", JAVAC, "javac", "{options}", "--", "{sources}" },
    run = { "sh", "-c", "exec " .. table.concat(JAVA, " ") .. ' "$(cat /tmp/java-main)" "$@"', "java" },
    interactive = true, limits = merge(JVM, { compile_timeout_ms = 60000 }),
  },
  kotlin = {
    image = jvm, version = "1.3.31", aliases = { "kt" },
    file = "main.kt", compile = { "kotlinc", "{options}", "{sources}", "-include-runtime", "-d", "main.jar" },
    run = with(JAVA, "-jar", "main.jar"), interactive = true, limits = merge(JVM, { compile_timeout_ms = 120000 }),
  },
  groovy = {
    image = jvm, version = "2.4.21", aliases = { "gvy" },
    file = "main.groovy", run = { "groovy", "{file}" }, interactive = true, limits = JVM,
  },
  scala = {
    image = jvm, version = "2.11.12", aliases = { "sc" },
    file = "main.scala", compile = { "scalac", "-d", ".", "{options}", "{sources}" },
    run = { "scala", "-nc", "-cp", ".", "Main" }, interactive = true, limits = merge(JVM, { compile_timeout_ms = 120000 }),
  },
  clojure = {
    image = jvm, version = "1.11.1", aliases = { "clj" },
    file = "main.clj", run = { "clojure", "{file}" }, interactive = true, limits = JVM,
  },

  -- escript always skips its file's first line (the "#!" line): a program without one is
  -- run from a copy with an empty first line, so error line numbers are one more.
  erlang = {
    image = beam, version = "25.2.3", aliases = { "erl", "escript" },
    file = "main.erl",
    run = { "sh", "-c", 'if [ "$(head -c2 {file})" = "#!" ]; then exec escript {file}; fi; '
      .. '{ echo; cat {file}; } >/tmp/{file} && exec escript /tmp/{file}' },
    interactive = true, limits = SLOW,
  },
  elixir = {
    image = beam, version = "1.14.0", aliases = { "exs" },
    file = "main.exs", run = { "elixir", "{file}" }, interactive = true, limits = SLOW,
  },

  csharp = {
    image = mono, version = "6.8.0", aliases = { "c#", "cs", "mono", "mono-csharp", "mono-c#", "mono-cs" },
    file = "main.cs", compile = { "mcs", "-out:main.exe", "{options}", "{sources}" },
    run = { "mono", "main.exe" }, interactive = true, limits = merge(JVM, { compile_timeout_ms = 60000 }),
  },

  octave = {
    image = stats, version = "7.3.0", aliases = { "matlab", "m" },
    file = "main.m", run = { "octave-cli", "--quiet", "--no-history", "--no-window-system", "{file}" },
    interactive = true, limits = SLOW,
  },
  rscript = {
    image = stats, version = "4.2.2", aliases = { "r" },
    file = "main.r", run = { "Rscript", "{file}" }, interactive = true, limits = SLOW,
  },
}
for name, e in pairs(more) do images.default[name] = e end

return images
