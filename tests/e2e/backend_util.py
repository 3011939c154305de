"""Helpers shared by the end-to-end tests (backend and balancer alike): runs, sessions, polling,
and the Docker CLI for checking containers.  The WebSocket client is tests/e2e/wsclient.py
(re-exported here as WebSocket)."""
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import conftest
from conftest import slow
from wsclient import WebSocket  # noqa: F401  (re-exported: tests import it from here)

KEYS = {"CODECLOUD_API_KEY": "k1,k2", "CODECLOUD_ADMIN_KEY": "adm"}


def auth(key):
    return {"Authorization": f"Bearer {key}"} if key else {}


# ---- runs -------------------------------------------------------------------------------

def run(server, body, key=None, timeout=None):
    """POST /v1/run → (status, body)."""
    status, _, reply = server.request("POST", "/v1/run", body, headers=auth(key),
                                      timeout=timeout or slow(60))
    return status, reply


def run_ok(server, body, key=None, expect="ok"):
    """A run that must answer 200 with the given status; returns the body, checking api.md's fields."""
    status, reply = run(server, body, key)
    assert status == 200, (status, reply)
    assert isinstance(reply, dict), reply
    assert {"language", "status", "exit_code", "signal", "stdout", "stderr", "truncated",
            "time_ms", "compile"} <= set(reply), reply
    assert reply["status"] == expect, reply
    assert isinstance(reply["time_ms"], int) and reply["time_ms"] >= 0, reply
    return reply


# ---- sessions -----------------------------------------------------------------------------

def create(server, body, key=None, expect=201):
    """POST /v1/sessions → the body, the status asserted; expect=None: → (status, body)."""
    status, _, reply = server.request("POST", "/v1/sessions", body, headers=auth(key),
                                      timeout=slow(60))
    if expect is None:
        return status, reply
    assert status == expect, (status, reply)
    return reply


def session(server, sid, key=None):
    status, _, reply = server.request("GET", f"/v1/sessions/{sid}", headers=auth(key))
    assert status == 200, (status, reply)
    return reply


def send_input(server, sid, data=None, eof=None, key=None, expect=204):
    """POST input → the body, the status asserted; expect=None: → (status, body)."""
    body = {}
    if data is not None:
        body["data"] = data
    if eof is not None:
        body["eof"] = eof
    status, _, reply = server.request("POST", f"/v1/sessions/{sid}/input", body, headers=auth(key))
    if expect is None:
        return status, reply
    assert status == expect, (status, reply)
    return reply


def output(server, sid, cursor=0, wait_ms=0, key=None, timeout=None):
    status, _, reply = server.request("GET", f"/v1/sessions/{sid}/output?cursor={cursor}&wait_ms={wait_ms}",
                                      headers=auth(key), timeout=timeout or slow(40))
    assert status == 200, (status, reply)
    return reply


def text_of(events, stream=None):
    return "".join(e["data"] for e in events if stream is None or e["stream"] == stream)


def read_until(server, sid, predicate, cursor=0, timeout=20, key=None):
    """Long-poll until predicate(all text read so far, last body) holds; → (text, cursor, body)."""
    deadline = time.monotonic() + slow(timeout)
    text = ""
    body = None
    while time.monotonic() < deadline:
        body = output(server, sid, cursor, wait_ms=int(slow(2) * 1000), key=key)
        assert body["dropped"] == 0, body
        text += text_of(body["events"])
        cursor = body["cursor"]
        if predicate(text, body):
            return text, cursor, body
        if body["state"] not in ("starting", "running") and not body["events"]:
            break
    raise AssertionError(f"output never matched; got {text!r}, last {body}")


def wait_ended(server, sid, timeout=20, key=None):
    """Read the output to the end; → (text, final body)."""
    text, _, body = read_until(server, sid, lambda t, b: b["state"] not in ("starting", "running"),
                               timeout=timeout, key=key)
    return text, body


def wait_state(server, sid, states, timeout=20, key=None):
    deadline = time.monotonic() + slow(timeout)
    while True:
        s = session(server, sid, key)
        if s["state"] in states:
            return s
        assert time.monotonic() < deadline, s
        time.sleep(0.05)


def wait_until(predicate, timeout=10, interval=0.05, what="condition"):
    """Poll predicate() until it returns something true; return that."""
    deadline = time.monotonic() + slow(timeout)
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {slow(timeout)} s (last: {last!r})")


def delete(server, sid, key=None):
    status, _, reply = server.request("DELETE", f"/v1/sessions/{sid}", headers=auth(key))
    assert status == 204, (status, reply)


# ---- Docker CLI ----------------------------------------------------------------------------

def docker(*args, check=True, timeout=60):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def containers(*filters):
    """Ids of every container (running or not) matching the label filters."""
    args = ["ps", "-aq", "--no-trunc"]
    for f in filters:
        args += ["--filter", f"label={f}"]
    return set(docker(*args).stdout.split())


def backend_containers(server):
    return containers(f"cloudcode.backend={server.host}:{server.port}")


def session_container(server, sid):
    ids = containers(f"cloudcode.session={sid}")
    if not ids:
        # A warm pool container keeps its empty session label (labels cannot change); the
        # backend logs which one a session took (docs/pools.md).
        took = server.wait_log(lambda l: l.get("event") == "pool_take" and l.get("session") == sid,
                               timeout=2)
        ids = {took["container"]}
    assert len(ids) == 1, ids
    return ids.pop()


# scripts/dockerd.sh's record of the engine it started: tests that freeze or restart it need it.
DOCKERD_PID = Path("/var/lib/cloudcode/dockerd.pid")
DOCKERD_CMD = Path("/var/lib/cloudcode/dockerd.cmd")


def dockerd():
    """(pid, command line) of the engine we started, or skip saying why."""
    if not DOCKERD_PID.exists() or not DOCKERD_CMD.exists():
        pytest.skip(f"{DOCKERD_PID} or {DOCKERD_CMD} is missing: the engine was not started by our set-up")
    pid = int(DOCKERD_PID.read_text().split()[0])
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        pytest.skip(f"pid {pid} of {DOCKERD_PID} is not running")
    if comm != "dockerd":
        pytest.skip(f"pid {pid} of {DOCKERD_PID} is {comm!r}, not dockerd")
    return pid, DOCKERD_CMD.read_text().strip()


def wait_no_containers(server, timeout=15):
    deadline = time.monotonic() + slow(timeout)
    while backend_containers(server):
        # On failure, what the server said last of its troubles: why a container outlived its end.
        assert time.monotonic() < deadline, (backend_containers(server),
                                             [l for l in server.log_lines() if l.get("level") != "info"][-10:])
        time.sleep(0.1)


def track(server):
    """Kept for older callers: every server conftest.Server.start() started is tracked."""
    return server


def _created(stamp):
    """Docker's RFC 3339 Created (nanoseconds, Z) → Unix time."""
    stamp = stamp.strip().rstrip("Z")
    whole, _, frac = stamp.partition(".")
    t = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp()
    return t + (float("0." + frac) if frac.isdigit() else 0.0)


def _left_behind():
    """{container id: backend id} of every container labelled `cloudcode` whose
    `cloudcode.backend` is the id of a server this run started (conftest.STARTED), created while
    that server ran: another server (someone else's) may use the same address later."""
    left = {}
    ids = containers("cloudcode")
    if ids:
        out = docker("inspect", "--format", '{{.Id}} {{.Created}} {{index .Config.Labels "cloudcode.backend"}}',
                     *ids, check=False).stdout
        for line in out.splitlines():
            cid, created, backend = (line.split(" ", 2) + ["", ""])[:3]
            try:
                t = _created(created)
            except ValueError:
                continue
            for s in conftest.STARTED:
                if backend in s.backend_ids and s.started_at - 1 <= t <= (s.ended_at or time.time()):
                    left[cid] = backend
                    break
    return left


def no_containers_left(timeout=10):
    """No container labelled `cloudcode` of any backend these tests started is left (removals
    finish in the background: they get `timeout` seconds).  Containers of other backends on the
    same engine (another suite, decoys a test removes itself) are not ours to judge.  Called at
    the end of the session by conftest's autouse fixture."""
    deadline = time.monotonic() + slow(timeout)
    while _left_behind() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _left_behind()
    assert not left, f"containers left behind: {left}"
