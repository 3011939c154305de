"""Session churn (docs/pools.md): a session's pool container serves the next session or run
after the same complete reset as runs, a container whose program blew its memory or whose reset
failed is discarded, and a pool's size follows its language's recent demand."""
import re
import signal
import time

import pytest

from backend_util import KEYS, containers, create, delete, docker, read_until, wait_ended
from conftest import run_cli, slow
from test_pools import CHECK, DIRTY, health

pytestmark = pytest.mark.docker

POLICY = """
local env = require "cloudcode.env"
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"
local admit = require "cloudcode.admit"
return {
  role = "backend",
  listen = os.getenv("CODECLOUD_LISTEN"),
  backend_id = os.getenv("CODECLOUD_BACKEND_ID") or os.getenv("CODECLOUD_LISTEN"),
  keys = { client = env.list("CODECLOUD_API_KEY"), admin = env.list("CODECLOUD_ADMIN_KEY") },
  limits = limits.default,
  images = images.default,
  pools = { python = { %s } },
  admit = admit.caps,
}
"""

# One spare container: a session that ends hands its container to the next one.
ONE = "min = 1, max = 2, refill_per_s = 20"

HOST_THEN_WAIT = "import socket\nprint(socket.gethostname(), flush=True)\ninput()\n"


def server(start_server, policy_file, pool=ONE):
    srv = start_server(policy=policy_file(POLICY % pool), env=KEYS)
    if "min = 0" not in pool:
        wait_pool(srv, lambda p: p["ready"] >= 1)
    return srv


def wait_pool(srv, cond, timeout=30):
    deadline = time.monotonic() + slow(timeout)
    while True:
        _, body = health(srv)
        pool = body["checks"]["pools"]["python"]
        if cond(pool):
            return pool
        assert time.monotonic() < deadline, pool
        time.sleep(0.05)


def metric(srv, name):
    _, _, text = srv.request("GET", "/metrics")
    m = re.search(rf'^{name}{{language="python"}} (\d+)', text.decode(), re.M)
    return int(m.group(1)) if m else 0


def wait_metric(srv, name, at_least, timeout=10):
    deadline = time.monotonic() + slow(timeout)
    while metric(srv, name) < at_least:
        assert time.monotonic() < deadline, (name, metric(srv, name))
        time.sleep(0.05)


def ours(srv):
    return containers(f"cloudcode.backend={srv.host}:{srv.port}")


def live_session(srv, code, key="k1", **extra):
    """A session that printed its host name (its container's id) first: → (id, host name)."""
    sid = create(srv, {"language": "python", "code": code, **extra}, key=key)["id"]
    text, _, _ = read_until(srv, sid, lambda t, b: "\n" in t, key=key)
    return sid, text.split()[0]


def check_clean(srv, key, host):
    """A session of `key` runs CHECK in the container `host`, and finds nothing left behind."""
    sid = create(srv, {"language": "python", "code": CHECK}, key=key)["id"]
    text, body = wait_ended(srv, sid, key=key)
    lines = text.replace("\r\n", "\n").splitlines()
    assert body["state"] == "exited" and lines[0] == host, (text, body)
    out = dict(line.split(" ", 1) for line in lines[1:])
    assert out == {"left": "[]", "ipc": "[]", "procs": "[]", "env": "None", "cwd": "/work"}, text
    return sid


def test_deleted_session_container_serves_the_next_session(start_server, policy_file):
    srv = server(start_server, policy_file)
    # key k1's session leaves files, IPC objects and a daemon behind, and is deleted mid-way
    sid, host = live_session(srv, DIRTY.replace("print(\"killed 1\")", "print(\"killed 1\")\ninput()"))
    read_until(srv, sid, lambda t, b: "killed 1" in t, key="k1")
    assert host[:12] in {c[:12] for c in ours(srv)}
    delete(srv, sid, key="k1")   # answered once the reset is done
    assert metric(srv, "cloudcode_pool_reused_total") == 1
    # key k2's session gets the same container, and sees nothing of k1's
    check_clean(srv, "k2", host)
    # a run may take it next, too
    wait_metric(srv, "cloudcode_pool_reused_total", 2)
    status, _, run = srv.request("POST", "/v1/run", {"language": "python", "code": "import socket\nprint(socket.gethostname())"},
                                 headers={"Authorization": "Bearer k1"})
    assert status == 200 and run["stdout"].strip() == host, run


def test_delete_of_an_ended_session_waits_for_its_reset(start_server, policy_file):
    """A client that deletes a session whose program ended by itself, and creates its next one
    at once, finds the container back in its pool: the DELETE is answered after the reset
    (bench/sessions.sh, churn back to back)."""
    srv = server(start_server, policy_file)
    # 20 000 files left in /work give the reset a while to work
    code = "for i in range(20000):\n    open(f'/work/f{i}', 'w').close()\nprint('done')\n"
    sid = create(srv, {"language": "python", "code": code}, key="k1")["id"]
    text, body = wait_ended(srv, sid, key="k1")
    assert body["state"] == "exited" and text.strip() == "done", (text, body)
    delete(srv, sid, key="k1")
    assert metric(srv, "cloudcode_pool_reused_total") == 1


def test_pool_refills_while_a_cold_session_runs(start_server, policy_file):
    """A cold session's container never goes back to a pool (it carries the session's label), so
    while it runs its lazy pool makes the container the next session will want; without that, a
    client running one session after another would start every one cold."""
    srv = server(start_server, policy_file, "min = 0, max = 2, refill_per_s = 20, window_s = 600")
    sid, host = live_session(srv, HOST_THEN_WAIT)   # cold: the pool had nothing
    wait_pool(srv, lambda p: p["ready"] == 1 and p["target"] == 1)
    spare = {c[:12] for c in ours(srv)} - {host[:12]}
    assert len(spare) == 1, (spare, host)
    _, other = live_session(srv, HOST_THEN_WAIT, key="k2")
    assert other[:12] in spare, (other, spare)
    delete(srv, sid, key="k1")


def test_crashed_and_tty_sessions_are_reset(start_server, policy_file):
    srv = server(start_server, policy_file)
    # a program that crashes: its container is reset and reused
    sid = create(srv, {"language": "python", "code": "import os, socket\nprint(socket.gethostname(), flush=True)\n"
                                                     "open('/tmp/crash', 'w').close()\nos.kill(os.getpid(), 11)"},
                 key="k1")["id"]
    text, body = wait_ended(srv, sid, key="k1")
    assert body["state"] == "exited" and body["signal"] == "SIGSEGV", body
    wait_metric(srv, "cloudcode_pool_reused_total", 1)
    check_clean(srv, "k2", text.split()[0])
    # a tty session, deleted while it waits for input
    wait_metric(srv, "cloudcode_pool_reused_total", 2)
    sid, host = live_session(srv, "import socket, subprocess\nprint(socket.gethostname(), flush=True)\n"
                                  "subprocess.Popen(['sleep', '1000'], start_new_session=True)\ninput()\n", tty=True)
    delete(srv, sid, key="k1")
    check_clean(srv, "k2", host)


def test_memory_limit_session_is_discarded(start_server, policy_file):
    srv = server(start_server, policy_file)
    sid, host = live_session(srv, HOST_THEN_WAIT.replace("input()", "x = []\nwhile True:\n    x.append(bytearray(16 << 20))"))
    _, body = wait_ended(srv, sid, key="k1", timeout=60)   # the kernel reclaims slowly under load
    assert body["state"] == "memory_limit", body
    deadline = time.monotonic() + slow(15)
    while host[:12] in {c[:12] for c in ours(srv)}:   # removed, not returned
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert metric(srv, "cloudcode_pool_reused_total") == 0
    wait_pool(srv, lambda p: p["ready"] >= 1)
    _, other = live_session(srv, HOST_THEN_WAIT)
    assert other != host


def test_failed_reset_discards_the_container(start_server, policy_file):
    srv = server(start_server, policy_file)
    sid, host = live_session(srv, HOST_THEN_WAIT)
    # root (from the engine, not the program) leaves what the sandbox user cannot remove
    docker("exec", "-u", "0", host, "sh", "-c", "mkdir /dev/shm/rootdir && touch /dev/shm/rootdir/f")
    delete(srv, sid, key="k1")   # answered once the failed reset discarded the container
    assert metric(srv, "cloudcode_pool_reset_failed_total") == 1
    assert metric(srv, "cloudcode_pool_reused_total") == 0
    srv.wait_log(lambda l: l.get("event") == "pool_reset" and host[:12] in l.get("msg", ""))
    deadline = time.monotonic() + slow(15)
    while host[:12] in {c[:12] for c in ours(srv)}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    wait_pool(srv, lambda p: p["ready"] >= 1)
    _, other = live_session(srv, HOST_THEN_WAIT, key="k2")
    assert other != host


def test_pool_size_follows_demand(start_server, policy_file):
    # lazy: nothing until python is asked for
    policy = policy_file(POLICY % "min = 0, max = 4, refill_per_s = 20, window_s = 600")
    srv = start_server(policy=policy, env=KEYS)
    assert health(srv)[1]["checks"]["pools"]["python"] == {"ready": 0, "target": 0, "error": None}
    assert ours(srv) == set()
    # three at once (cold: none was ready), then gone: the pool grows to that peak
    sids = [live_session(srv, HOST_THEN_WAIT)[0] for _ in range(3)]
    for sid in sids:
        delete(srv, sid, key="k1")
    wait_pool(srv, lambda p: p["ready"] == 3 and p["target"] == 3)
    # and the next three are served from the pool
    ready = {c[:12] for c in ours(srv)}
    again = [live_session(srv, HOST_THEN_WAIT) for _ in range(3)]
    assert {host[:12] for _, host in again} <= ready, (again, ready)
    for sid, _ in again:
        delete(srv, sid, key="k1")
    # idle, with a short window: it shrinks to its minimum
    policy.write_text(POLICY % "min = 1, max = 4, refill_per_s = 20, window_s = 0.5")
    srv.signal(signal.SIGHUP)
    wait_pool(srv, lambda p: p["ready"] == 1 and p["target"] == 1)
    deadline = time.monotonic() + slow(15)
    while len(ours(srv)) != 1:
        assert time.monotonic() < deadline, ours(srv)
        time.sleep(0.1)


@pytest.mark.parametrize("pool, why", [
    ("min = 1, size = 2", "takes min or its older name size, not both"),
    ("min = -1", "needs min = an integer 0..64"),
    ("min = 2, max = 1", "max must be an integer from min to 256"),
    ("window_s = 0", "window_s must be a number from 0.1 to 3600"),
])
def test_check_refuses_bad_pool_settings(policy_file, pool, why):
    p = run_cli("--check", policy_file(POLICY % pool))
    assert p.returncode != 0 and f"pools.python {why}" in p.stderr, p.stderr
