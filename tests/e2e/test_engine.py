"""The backend and its Docker engine: containers killed from outside, reconciling leftovers,
and the engine itself going away and coming back.

An attach stream cut mid-output (the launcher resends what we lack after a re-attach) is
covered by tests/integration/test_sandbox.c, which drops the stream with sandbox_drop_stream."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from backend_util import (DOCKERD_PID, backend_containers, containers, create, delete, docker, dockerd, run_ok,
                          session, session_container, wait_no_containers, wait_state)
from conftest import POLICIES, assert_error, slow

pytestmark = pytest.mark.docker

ECHO = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper())"
DOCKERD_LOG = Path("/var/log/cloudcode-dockerd.log")   # scripts/dockerd.sh's


def test_container_killed_from_outside_is_lost(start_server):
    srv = start_server()
    sid = create(srv, {"language": "python", "code": ECHO})["id"]
    cid = session_container(srv, sid)
    t0 = time.monotonic()
    docker("kill", cid)
    s = wait_state(srv, sid, {"lost", "memory_limit", "exited", "killed"}, timeout=5)
    assert s["state"] == "lost", s
    assert time.monotonic() - t0 < slow(3)
    # its container is removed; the backend goes on
    deadline = time.monotonic() + slow(10)
    while cid in backend_containers(srv):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run_ok(srv, {"language": "python", "code": "print(1)"})
    delete(srv, sid)


def _decoy(*labels):
    args = ["create"]
    for label in labels:
        args += ["--label", label]
    return docker(*args, "cloudcode/python").stdout.strip()


def test_start_removes_only_own_leftovers(start_server, tmp_path):
    backend_id = f"e2e-reconcile-{os.getpid()}"
    other_id = backend_id + "-other"
    ours = [_decoy("cloudcode=1", f"cloudcode.backend={backend_id}", "cloudcode.session=old") for _ in range(2)]
    keep = [_decoy("cloudcode=1", f"cloudcode.backend={other_id}"),          # another backend's
            _decoy(f"cloudcode.backend={backend_id}"),                         # without our label
            _decoy("unrelated=1")]
    try:
        srv = start_server(env={"CODECLOUD_BACKEND_ID": backend_id})
        deadline = time.monotonic() + slow(10)
        # (the backend's own warm pool containers appear meanwhile: docs/pools.md)
        while containers(f"cloudcode.backend={backend_id}", "cloudcode") & set(ours):
            assert time.monotonic() < deadline, "leftovers not removed"
            time.sleep(0.1)
        existing = set(docker("ps", "-aq", "--no-trunc").stdout.split())
        assert not existing & set(ours)
        assert set(keep) <= existing
        # the new backend labels its own containers with its id, and removes them on SIGTERM
        sid = create(srv, {"language": "python", "code": ECHO})["id"]
        assert session_container(srv, sid) in containers(f"cloudcode.backend={backend_id}", "cloudcode=1")
        srv.stop()
        assert containers(f"cloudcode.backend={backend_id}", "cloudcode") - set(keep) == set()
        assert set(keep) <= set(docker("ps", "-aq", "--no-trunc").stdout.split())
    finally:
        docker("rm", "-f", *ours, *keep, check=False)


# ---- the engine goes away ------------------------------------------------------------------------

def _engine_up():
    return subprocess.run(["docker", "version"], capture_output=True, timeout=10).returncode == 0


def _restart_dockerd(cmd):
    """Start the engine again exactly as scripts/dockerd.sh did: the recorded command line (words
    separated by single spaces), its own session, the same log; record the new pid."""
    log = open(DOCKERD_LOG, "ab")
    proc = subprocess.Popen(cmd.split(" "), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    log.close()
    DOCKERD_PID.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 60
    while not _engine_up():
        assert proc.poll() is None, f"dockerd exited with {proc.returncode}"
        assert time.monotonic() < deadline, "dockerd did not come back within 60 s"
        time.sleep(0.2)


def _health(srv):
    status, _, body = srv.request("GET", "/healthz")
    return status, body


def _wait_all_servers_recovered():
    """Every server of this run still up (the shared one too) is back to `ok` before the next
    test: they recover by themselves, but a pool refill backs off for some seconds."""
    from conftest import STARTED
    for srv in STARTED:
        if srv.ended_at is not None or srv.proc is None or srv.proc.poll() is not None:
            continue
        deadline = time.monotonic() + slow(30)
        while True:
            try:
                status, _, body = srv.request("GET", "/healthz", timeout=slow(2))
                if status == 200 and body.get("status") == "ok":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{srv.name} did not recover after the engine restart"
            time.sleep(0.2)


def test_engine_stops_and_comes_back(start_server):
    pid, cmd = dockerd()
    srv = start_server()
    sid = create(srv, {"language": "python", "code": ECHO})["id"]
    cid = session_container(srv, sid)
    restarted = False
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists():
            assert time.monotonic() < deadline, "dockerd did not exit within 60 s of SIGTERM"
            time.sleep(0.1)
        s = wait_state(srv, sid, {"lost", "killed", "exited"}, timeout=10)
        assert s["state"] == "lost", s
        # the health check notices within its interval
        deadline = time.monotonic() + slow(10)
        while _health(srv)[0] != 503:
            assert time.monotonic() < deadline, _health(srv)
            time.sleep(0.1)
        status, body = _health(srv)
        assert body["status"] == "unavailable" and body["checks"]["docker"] != "ok", body
        status, _, body = srv.request("POST", "/v1/run", {"language": "python", "code": "print(1)"})
        assert status == 503 and body["error"]["code"] == "unavailable", body
        status, _, body = srv.request("POST", "/v1/sessions", {"language": "python", "code": ECHO})
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert session(srv, sid)["state"] == "lost"
        _restart_dockerd(cmd)
        restarted = True
        # the backend recovers by itself
        deadline = time.monotonic() + slow(20)
        while _health(srv)[0] != 200:
            assert time.monotonic() < deadline, _health(srv)
            time.sleep(0.2)
        r = run_ok(srv, {"language": "python", "code": "print('back')"})
        assert r["stdout"] == "back\n"
        # the lost session's container, which could not be removed while the engine was away, goes now
        deadline = time.monotonic() + slow(15)
        while cid in backend_containers(srv):
            assert time.monotonic() < deadline, "the lost session's container was never removed"
            time.sleep(0.2)
        delete(srv, sid)
    finally:
        if not restarted and not _engine_up():
            _restart_dockerd(cmd)
        _wait_all_servers_recovered()


def test_sandbox_step_timeout_bounds_a_container_start(start_server):
    """sandbox_step_timeout_ms (the policy's) bounds each step of a container's start: with the
    engine frozen a run is answered 503 naming the timeout after 100 ms, where the default (10 s)
    would hold it for 10 s; the container the engine makes once it wakes is removed, not left."""
    pid, _ = dockerd()
    srv = start_server(POLICIES / "backend_step_timeout.lua")
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        st, _, body = srv.request("POST", "/v1/run", body={"language": "python", "code": "print(1)"},
                                  timeout=slow(30))
        waited = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert_error(st, body, "unavailable", expected_status=503)
    assert "timed out after 100 ms" in body["error"]["message"], body
    assert waited < 5, waited   # the default step timeout would have answered after 10 s
    wait_no_containers(srv)
    srv.alive()
    _wait_all_servers_recovered()


def test_a_slow_engine_is_not_taken_for_a_gone_one(start_server):
    """A busy engine can answer a health ping late (2 s): a late ping leaves the backend healthy
    (the first used to make it refuse every run); late three times in a row, a hung engine makes it
    unavailable, and it recovers once the engine answers again.  The engine is frozen with SIGSTOP:
    it accepts connections and answers nothing."""
    pid, _ = dockerd()
    srv = start_server()
    assert _health(srv)[0] == 200
    os.kill(pid, signal.SIGSTOP)
    try:
        # 4.5 s frozen: a ping goes every 2 s (none while one is out) and times out after 2 s, so
        # one times out within 4 s and a third in a row cannot before 6 s
        end = time.monotonic() + 4.5
        while time.monotonic() < end:
            status, body = _health(srv)
            assert status == 200, body
            time.sleep(0.1)
        # still frozen: the third late ping in a row makes the engine unreachable
        deadline = time.monotonic() + slow(15)
        while _health(srv)[0] != 503:
            assert time.monotonic() < deadline, _health(srv)
            time.sleep(0.1)
        status, body = _health(srv)
        assert body["checks"]["docker"] != "ok", body
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + slow(20)
    while _health(srv)[0] != 200:
        assert time.monotonic() < deadline, _health(srv)
        time.sleep(0.2)
    assert run_ok(srv, {"language": "python", "code": "print('back')"})["stdout"] == "back\n"
    _wait_all_servers_recovered()
