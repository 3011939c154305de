"""Warm pools (docs/pools.md): runs and sessions take ready containers, a run's container
serves the next run after a complete reset, accounting stays per run, and the pools show
in /healthz and /metrics.  Sessions' reuse and demand sizing: test_pool_sessions.py."""
import time

import pytest

from backend_util import backend_containers, containers, create, delete, docker, run_ok, wait_ended
from conftest import slow

pytestmark = pytest.mark.docker

# One container per pool, so that two runs in a row must share it.
POLICY = """
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"
local admit = require "cloudcode.admit"
-- The pool's containers are made with the default memory bound: 128 MiB, not 512, because a
-- program starved of CPU on a loaded machine faults its pages in at only 10-20 MB/s, and the
-- memory bombs below must reach the bound well within their (backstop) timeout.
local pool_limits = {}
for name, bound in pairs(limits.default) do pool_limits[name] = bound end
pool_limits.memory_mb = { default = 128, min = 32, max = 2048 }
return {
  role = "backend",
  listen = os.getenv("CODECLOUD_LISTEN"),
  backend_id = os.getenv("CODECLOUD_BACKEND_ID") or os.getenv("CODECLOUD_LISTEN"),
  limits = pool_limits,
  images = images.default,
  pools = { python = { size = 1, refill_per_s = 20, max = 2 }, c = { size = 1, refill_per_s = 20, max = 2 } },
  reuse = %s,
  admit = admit.caps,
}
"""

# A memory bomb's timeout is only a backstop (below run()'s own wait): the bomb must end
# memory_limit, however slowly a loaded machine lets it fill the pool's 128 MiB.
BOMB_LIMITS = {"timeout_ms": 45000}

HOST = "import socket\nprint(socket.gethostname())\n"

# Run A: leave behind everything a reset must remove.
DIRTY = r'''
import ctypes, os, socket, subprocess
print(socket.gethostname())
for d in ("/tmp", "/work", "/dev/shm"):
    with open(d + "/left-behind", "w") as f:
        f.write("x")
os.makedirs("/tmp/locked/deeper")
open("/tmp/locked/deeper/f", "w").close()
os.chmod("/tmp/locked/deeper", 0)
os.chmod("/tmp/locked", 0)
os.mkdir("empty0", 0)  # in the working directory
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0, 4096, 0)          # IPC_PRIVATE, mode 0
assert shm >= 0, ctypes.get_errno()
sem = libc.semget(0, 1, 0)
msg = libc.msgget(0, 0)
assert sem >= 0 and msg >= 0
open("/proc/sysvipc/shm").read()
os.environ["LEFT_BEHIND"] = "1"
os.putenv("LEFT_BEHIND", "1")
subprocess.Popen(["sh", "-c", "echo $LEFT_BEHIND > /dev/null; sleep 1000"], start_new_session=True)
# ptrace of the launcher is refused, and SIGKILL to PID 1 changes nothing
PTRACE_ATTACH = 16
r = libc.ptrace(PTRACE_ATTACH, 1, None, None)
print("ptrace", r, os.strerror(ctypes.get_errno()))
os.kill(1, 9)
print("killed 1")
'''

# Run B: see none of it.
CHECK = r'''
import os, socket
print(socket.gethostname())
left = [p for p in ("/tmp/left-behind", "left-behind", "/dev/shm/left-behind", "/tmp/locked", "empty0") if os.path.lexists(p)]
left += ["/tmp/" + n for n in os.listdir("/tmp")] + ["/dev/shm/" + n for n in os.listdir("/dev/shm")]
left += [n for n in os.listdir("/work") if n != "main.py"]
if os.path.isdir("/dev/mqueue"):
    left += os.listdir("/dev/mqueue")
ipc = []
for t in ("shm", "sem", "msg"):
    lines = open("/proc/sysvipc/" + t).read().splitlines()[1:]
    ipc += [t + ":" + l.split()[1] for l in lines]
procs = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) not in (1, os.getpid()):
        try:
            procs.append(open("/proc/%s/cmdline" % pid).read().replace("\0", " "))
        except OSError:
            pass
print("left", sorted(left))
print("ipc", ipc)
print("procs", procs)
print("env", os.environ.get("LEFT_BEHIND"))
print("cwd", os.getcwd())
'''


def pool_server(start_server, policy_file, reuse="true", env=None):
    srv = start_server(policy=policy_file(POLICY % reuse), env=env)
    wait_pools(srv, {"python": 1, "c": 1})
    return srv


def health(srv):
    status, _, body = srv.request("GET", "/healthz")
    return status, body


def wait_pools(srv, want, timeout=30):
    deadline = time.monotonic() + slow(timeout)
    while True:
        _, body = health(srv)
        pools = body["checks"]["pools"]
        if all(pools.get(lang, {}).get("ready", 0) >= n for lang, n in want.items()):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def hostname(reply):
    return reply["stdout"].splitlines()[0]


def test_reset_between_runs(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    a = run_ok(srv, {"language": "python", "code": DIRTY})
    lines = a["stdout"].splitlines()
    assert lines[1].startswith("ptrace -1 ") and "Operation not permitted" in lines[1], a
    assert lines[2] == "killed 1", a
    b = run_ok(srv, {"language": "python", "code": CHECK})
    assert hostname(a) == hostname(b), (a, b)   # the same container served both
    out = dict(line.split(" ", 1) for line in b["stdout"].splitlines()[1:])
    assert out == {"left": "[]", "ipc": "[]", "procs": "[]", "env": "None", "cwd": "/work"}, b
    # run B's own accounting
    assert b["exit_code"] == 0 and b["signal"] is None and b["status"] == "ok"
    assert 0 <= b["time_ms"] < slow(5000)
    assert 0 < b["memory_kb"] < 100 * 1024, b


def test_c_shm_mode0_is_removed(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    code = ('#include <stdio.h>\n#include <sys/ipc.h>\n#include <sys/shm.h>\n#include <unistd.h>\n'
            'int main(void){char h[64]; gethostname(h, sizeof h); puts(h);\n'
            '  int id = shmget(IPC_PRIVATE, 4096, 0); printf("%d\\n", id >= 0); return 0;}\n')
    a = run_ok(srv, {"language": "c", "code": code})
    assert a["stdout"].splitlines()[1] == "1", a
    check = ('#include <stdio.h>\n#include <unistd.h>\nint main(void){char h[64], l[256]; int n = 0;\n'
             '  gethostname(h, sizeof h); puts(h);\n  FILE *f = fopen("/proc/sysvipc/shm", "r");\n'
             '  while (fgets(l, sizeof l, f)) n++;\n  printf("%d\\n", n - 1); return 0;}\n')
    b = run_ok(srv, {"language": "c", "code": check})
    assert hostname(a) == hostname(b), (a, b)
    assert b["stdout"].splitlines()[1] == "0", b
    assert b["compile"]["exit_code"] == 0


def test_memory_bomb_does_not_poison_the_next_run(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    bomb = "x = []\nwhile True:\n    x.append(bytearray(16 << 20))\n"
    r = run_ok(srv, {"language": "python", "code": bomb, "limits": BOMB_LIMITS}, expect="memory_limit")
    assert r["exit_code"] is None or r["exit_code"] != 0
    for _ in range(2):
        ok = run_ok(srv, {"language": "python", "code": HOST})
        assert ok["memory_kb"] < 100 * 1024, ok
        assert ok["time_ms"] < slow(5000)


def test_runtime_error_and_timeout_accounting_in_a_reused_container(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    first = run_ok(srv, {"language": "python", "code": HOST})
    err = run_ok(srv, {"language": "python", "code": "import os, socket\nprint(socket.gethostname())\nos.kill(os.getpid(), 11)"},
                 expect="runtime_error")
    assert err["signal"] == "SIGSEGV" and err["exit_code"] is None, err
    slow_run = run_ok(srv, {"language": "python", "code": "import time\ntime.sleep(30)",
                            "limits": {"timeout_ms": 300}}, expect="timeout")
    assert 250 <= slow_run["time_ms"] < slow(3000), slow_run
    again = run_ok(srv, {"language": "python", "code": HOST})
    assert hostname(first) == hostname(err) == hostname(again), (first, err, slow_run, again)


def test_reuse_off_gives_each_run_a_new_container(start_server, policy_file):
    srv = pool_server(start_server, policy_file, reuse="false")
    names = set()
    for _ in range(3):
        names.add(hostname(run_ok(srv, {"language": "python", "code": HOST})))
        wait_pools(srv, {"python": 1})
    assert len(names) == 3


def pool_events(srv):
    return [l for l in srv.log_lines() if str(l.get("event", "")).startswith("pool_")]


def taken_from_pool(srv, host):
    """Whether the server logged taking the container `host` (its short id) from a pool."""
    return any(l["event"] == "pool_take" and l.get("container", "").startswith(host) for l in pool_events(srv))


def test_other_limits_get_a_cold_container(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    warm = hostname(run_ok(srv, {"language": "python", "code": HOST}))
    cold = hostname(run_ok(srv, {"language": "python", "code": HOST, "limits": {"memory_mb": 256}}))
    later = hostname(run_ok(srv, {"language": "python", "code": HOST}))
    # Which pooled container serves a run depends on the pool's demand (it may have grown
    # while the first run ran); what must hold is that the default runs come from the pool
    # and the cold one neither comes from it nor goes back to it.
    assert taken_from_pool(srv, warm) and taken_from_pool(srv, later), pool_events(srv)
    assert not taken_from_pool(srv, cold) and cold not in (warm, later), pool_events(srv)
    deadline = time.monotonic() + slow(15)
    while any(c.startswith(cold) for c in backend_containers(srv)):   # removed in the background
        assert time.monotonic() < deadline, "the cold container was kept"
        time.sleep(0.1)


def test_a_languages_own_limits_are_its_pools(start_server, policy_file):
    # python's entry sets its own memory and pids defaults (as the JVM languages' do): its pool's
    # containers are made with them, so a request that sets no limit still takes a warm one.
    own = POLICY.replace("  images = images.default,", """  images = (function()
    local map = {}
    for name, e in pairs(images.default) do map[name] = e end
    map.python = { limits = { memory_mb = 200, pids = 100 } }
    for k, v in pairs(images.default.python) do map.python[k] = v end
    return map
  end)(),""")
    assert own != POLICY
    srv = start_server(policy=policy_file(own % "true"))
    wait_pools(srv, {"python": 1})
    code = HOST + "print(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip())"
    first = run_ok(srv, {"language": "python", "code": code})["stdout"].split()
    wait_pools(srv, {"python": 1})
    again = run_ok(srv, {"language": "python", "code": code})["stdout"].split()
    assert first == again and first[1] == str(200 << 20), (first, again)


def test_health_and_metrics(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    status, body = health(srv)
    assert status == 200 and body["status"] == "ok", body
    assert body["checks"]["pools"] == {"python": {"ready": 1, "target": 1, "error": None},
                                       "c": {"ready": 1, "target": 1, "error": None}}
    status, _, text = srv.request("GET", "/metrics")
    text = text.decode()
    assert 'cloudcode_pool_ready{language="python"} 1' in text
    assert 'cloudcode_pool_ready{language="c"} 1' in text


def test_missing_image_degrades_health(start_server, policy_file):
    policy = POLICY % "true"
    policy = policy.replace("images = images.default,",
                            "images = { python = images.default.python, "
                            "nope = { image = \"cloudcode/does-not-exist\", file = \"main.py\", run = { \"python3\" } } },")
    policy = policy.replace("c = { size = 1", "nope = { size = 1")
    srv = start_server(policy=policy_file(policy))
    deadline = time.monotonic() + slow(20)
    while True:
        status, body = health(srv)
        pools = body["checks"]["pools"]
        if pools["nope"]["error"] and pools["python"]["ready"] == 1:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    assert status == 200 and body["status"] == "degraded", body
    assert "cloudcode/does-not-exist" in pools["nope"]["error"], pools
    assert pools["nope"] == {"ready": 0, "target": 1, "error": pools["nope"]["error"]}
    assert pools["python"]["error"] is None
    run_ok(srv, {"language": "python", "code": HOST})


def test_sigterm_removes_pool_containers(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    assert len(containers(f"cloudcode.backend={srv.host}:{srv.port}")) == 2
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < slow(10)
    assert containers(f"cloudcode.backend={srv.host}:{srv.port}") == set()


def test_killed_pool_container_is_replaced(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    ids = containers(f"cloudcode.backend={srv.host}:{srv.port}")
    docker("kill", *ids)
    deadline = time.monotonic() + slow(15)
    while True:
        now = containers(f"cloudcode.backend={srv.host}:{srv.port}")
        _, body = health(srv)
        if not now & ids and all(p["ready"] == 1 for p in body["checks"]["pools"].values()):
            break
        assert time.monotonic() < deadline, (now, body)
        time.sleep(0.1)
    run_ok(srv, {"language": "python", "code": HOST})


@pytest.mark.valgrind
def test_pooled_runs_and_sessions_under_valgrind(start_server, policy_file):
    """Takes, returns, resets, a discarded OOM container, a session, SIGTERM: no leak."""
    srv = pool_server(start_server, policy_file)
    a = run_ok(srv, {"language": "python", "code": DIRTY})
    b = run_ok(srv, {"language": "python", "code": CHECK})
    assert hostname(a) == hostname(b)
    run_ok(srv, {"language": "python", "code": "x = bytearray(1 << 30)", "limits": BOMB_LIMITS},
           expect="memory_limit")
    run_ok(srv, {"language": "c", "code": "int main(void){return 0;}"})
    wait_pools(srv, {"python": 1})
    sid = create(srv, {"language": "python", "code": HOST})["id"]
    wait_ended(srv, sid)
    delete(srv, sid)
    wait_pools(srv, {"python": 1})
    # a run whose client goes away while it runs
    conn = srv.connection()
    conn.request("POST", "/v1/run", body=b'{"language":"python","code":"import time\\ntime.sleep(5)"}',
                 headers={"Content-Type": "application/json"})
    time.sleep(slow(0.5))
    conn.close()
    run_ok(srv, {"language": "python", "code": HOST})
    srv.stop()
