-- policies/backend.lua — the default backend policy.
--
-- Edit and send SIGHUP to apply (a broken file keeps the old policy in force).
-- Every setting is documented in docs/policy.md.
local env    = require "cloudcode.env"
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"
local admit  = require "cloudcode.admit"
local judge0 = require "cloudcode.judge0"
local pools  = require "cloudcode.pools"

local listen = env.str("CODECLOUD_LISTEN", "127.0.0.1:8080")

return {
  role = "backend",
  listen = listen,
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  docker_host = env.str("CODECLOUD_DOCKER_HOST", "unix:///var/run/docker.sock"),
  backend_id = env.str("CODECLOUD_BACKEND_ID", listen),

  max_body_bytes = 1048576,
  max_connections = 1024,
  max_connections_per_address = 0,  -- a balancer in front connects from one address
  read_timeout_ms = 10000,
  lingering_close_ms = 5000,
  ws_backlog_bytes = 4194304,
  shutdown_grace_s = 10,

  max_sessions = 50,          -- capacity: live sessions plus runs in progress
  max_sessions_per_key = 10,
  ended_retention_s = 60,
  max_wait_ms = 30000,
  max_ws_per_session = 4,
  uid_range = { 100000, 165535 },
  -- Each step of starting a container (the engine's create, attach and start,
  -- the launcher's hello) must finish within this, or the start fails (503).
  sandbox_step_timeout_ms = 10000,
  -- A sandbox's writable mounts, each a fraction of the program's memory limit (together at
  -- most 1: filling them ends in ENOSPC, never in an OOM kill), its ulimits (fsize: one file,
  -- also a fraction of memory; nofile: open files), and the environment the program gets on
  -- top of its image's own ENV lines (an image entry's `env` goes on top; false: not set).
  sandbox_work_fraction = 0.25,   -- /work
  sandbox_tmp_fraction = 0.125,   -- /tmp
  sandbox_shm_fraction = 0.125,   -- /dev/shm
  sandbox_fsize_fraction = 0.125,
  sandbox_nofile = 256,
  sandbox_env = { PATH = "/usr/local/bin:/usr/bin:/bin", HOME = "/work", LANG = "C.UTF-8",
                  PYTHONUNBUFFERED = "1", TERM = "xterm" },

  limits = limits.default,
  images = images.default,

  -- Warm containers per language, sized by the recent demand (lazy for the
  -- languages few use), and reuse of a run's or a session's container for the
  -- next one after a complete reset (docs/pools.md).
  pools = pools.default,
  reuse = true,
  -- A reset container still holding more memory than this beyond its start-up
  -- figure (kernel memory no reset frees) is discarded, not reused.
  reset_memory_slack_mb = 32,

  -- The older dialects (docs/compat.md).  With CODECLOUD_PISTON_OPEN=1 Piston
  -- callers without a key are served as one anonymous tenant, at most
  -- piston_rate requests per second per process (429 beyond).  file_url_hosts:
  -- hosts a seed file_url may name (fetched by the server: https only).
  -- file_url_peers: "host:port" of backends that trust each other (same keys),
  -- whose uploads (/api/files/get) a seed file_url may name: fetched from them
  -- with the caller's key.  The seed's output route answers once the program
  -- was quiet seed_output_quiet_ms, or after seed_output_max_ms in all.
  piston_open = env.flag("CODECLOUD_PISTON_OPEN"),
  piston_rate = { per_s = 5, burst = 20 },
  file_url_hosts = {},
  -- E2B's templateID -> our language (other template names are tried as
  -- language names): the code-interpreter templates run IPython.
  e2b_templates = { ["code-interpreter-v1"] = "ipython", ["code-interpreter"] = "ipython", base = "ipython" },
  file_url_peers = env.list("CODECLOUD_FILE_URL_PEERS"),
  seed_output_quiet_ms = 1000,
  seed_output_max_ms = 3000,
  file_url_timeout_ms = 10000,   -- a seed file_url's whole fetch (and a peer's upload)
  -- The seed's language names -> ours, and the program a session created without a
  -- file_url runs (the language's REPL; an entry without one needs a file_url).
  seed_languages = {
    PYTHON = { language = "python", repl = "import code\ncode.interact(banner='', exitmsg='')\n" },
    IPYTHON = { language = "ipython", repl = "" },
    C = { language = "c" },
  },
  -- A key's seed uploads together, and a fetched file_url, at most this many bytes (413 beyond).
  seed_upload_max_bytes = 1048576,
  -- The Judge0 CE dialect: language ids, Judge0's defaults and bounds,
  -- retention of submissions and callback hosts (lua/cloudcode/judge0.lua).
  judge0 = judge0.default,

  admit = admit.caps,
}
