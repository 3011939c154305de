"""Runs that nothing can leave unanswered (docs/security.md, "Unanswerable runs"): args the
launcher cannot take are 400 at once on every route that starts a program; a run whose launcher
stops answering (its container frozen with `docker pause`) is answered within its timeout plus
the policy's run_grace_ms and frees its slot; a Piston or seed request whose client goes away
stops the run or session it started."""
import json
import os
import signal
import socket
import threading
import time

import pytest

from backend_util import KEYS, auth, backend_containers, docker, dockerd, run, wait_no_containers
from conftest import assert_error, slow

pytestmark = pytest.mark.docker

GRACE_MS = 2000   # policies/backend_nopool.lua's run_grace_ms


@pytest.fixture(scope="module")
def be(tmp_path_factory):
    from conftest import POLICIES, Server
    s = Server(tmp_path_factory.mktemp("unanswerable"), policy=POLICIES / "backend_nopool.lua", env=KEYS,
               name="unanswerable").start()
    yield s
    s.stop()


def live(server):
    return server.alive()["sessions"]


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + slow(timeout)
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def program_container(server, process):
    """The id of this backend's container once `process` runs in it (docker top)."""
    found = []

    def running():
        for cid in backend_containers(server):
            top = docker("top", cid, check=False).stdout
            if process in top:
                found.append(cid)
                return True
        return False
    wait_until(running, 30, f"no container runs {process}")
    return found[0]


def test_too_many_args_is_400_at_once_everywhere(be):
    many = ["a"] * 70000
    t0 = time.monotonic()
    status, reply = run(be, {"language": "python", "code": "pass", "args": many}, key="k1", timeout=slow(10))
    assert_error(status, reply, "bad_request", 400)
    assert "args" in reply["error"]["message"] and "4096" in reply["error"]["message"]
    status, _, reply = be.request("POST", "/v1/sessions", {"language": "python", "code": "pass", "args": many},
                                  headers=auth("k1"), timeout=slow(10))
    assert_error(status, reply, "bad_request", 400)
    status, _, reply = be.request("POST", "/api/v2/execute",
                                  {"language": "python", "version": "*", "files": [{"content": "pass"}],
                                   "args": many}, headers=auth("k1"), timeout=slow(10))
    assert status == 400 and "args" in reply["message"], (status, reply)
    # Few entries but too many bytes, and a NUL (execve cannot pass it).
    status, reply = run(be, {"language": "python", "code": "pass", "args": ["x" * 40000] * 2}, key="k1")
    assert_error(status, reply, "bad_request", 400)
    status, reply = run(be, {"language": "python", "code": "pass", "args": ["a\u0000b"]}, key="k1")
    assert_error(status, reply, "bad_request", 400)
    assert time.monotonic() - t0 < slow(10)
    assert live(be) == 0
    # Up to the bounds, the arguments reach the program.
    r = run(be, {"language": "python", "code": "import sys; print(len(sys.argv) - 1, len(sys.argv[-1]))",
                 "args": ["a"] * 4095 + ["z" * 40000]}, key="k1")[1]
    assert r["status"] == "ok" and r["stdout"] == "4096 40000\n", r


def test_frozen_launcher_is_answered_after_timeout_plus_grace(be):
    """docker pause freezes the launcher with the program: only the server's own deadline can
    answer. The answer is `timeout`, the slot is free again and the container goes."""
    result = {}

    def go():
        t0 = time.monotonic()
        result["reply"] = run(be, {"language": "python", "code": "import time\nprint('up')\ntime.sleep(600)",
                                   "limits": {"timeout_ms": 3000}}, key="k1", timeout=slow(60))
        result["took"] = time.monotonic() - t0
    t = threading.Thread(target=go, daemon=True)
    t.start()
    cid = program_container(be, "python3")
    paused_at = time.monotonic()
    docker("pause", cid)
    try:
        t.join(slow(30))
        assert not t.is_alive(), "the run was never answered"
        status, reply = result["reply"]
        assert status == 200 and reply["status"] == "timeout", (status, reply)
        assert reply["exit_code"] is None and reply["signal"] == "SIGKILL", reply
        assert time.monotonic() - paused_at < slow(3 + GRACE_MS / 1000 + 5)
        assert live(be) == 0
        wait_no_containers(be)
        assert be.wait_log(lambda l: l.get("event") == "run_deadline")
    finally:
        docker("unpause", cid, check=False)
        docker("rm", "-f", cid, check=False)


def test_piston_client_leaving_stops_its_run(be):
    body = json.dumps({"language": "python", "version": "*", "run_timeout": 120000,
                       "files": [{"content": "import time\ntime.sleep(120)"}]}).encode()
    s = socket.create_connection((be.host, be.port), timeout=slow(10))
    s.sendall(b"POST /api/v2/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    program_container(be, "python3")
    assert live(be) == 1
    s.close()
    wait_until(lambda: live(be) == 0, 10, "the run outlived its Piston client")
    wait_no_containers(be)


def test_seed_client_leaving_stops_its_create(be):
    """The create's client leaves while the container starts: the session is not left running, and
    the container the engine makes is removed.  The engine is frozen (SIGSTOP) from before the
    request until the client has gone, so the start cannot have finished first (waiting for the
    container to appear raced a fast start: the session was then answered and rightly kept)."""
    pid, _ = dockerd()
    body = json.dumps({"user_id": "leaver", "language": "PYTHON"}).encode()
    os.kill(pid, signal.SIGSTOP)
    try:
        s = socket.create_connection((be.host, be.port), timeout=slow(10))
        s.sendall(b"POST /api/session/create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        wait_until(lambda: live(be) == 1, 10, "the session did not start")
        s.close()
        wait_until(lambda: live(be) == 0, 10, "the session outlived its seed client")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_no_containers(be, timeout=20)
    status, _, reply = be.request("GET", "/v1/sessions", headers=auth("k1"))
    assert status == 200 and all(x["state"] != "running" for x in reply["sessions"]), reply
