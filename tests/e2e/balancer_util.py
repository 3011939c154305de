"""Helpers for the balancer's end-to-end tests: a Redis server of our own, a fleet of
backends and balancers sharing it, the session helpers of backend_util.py with the
balancer tests' defaults (key "k1", an echo program), and clean-up after backends that were
killed.  The WebSocket client is tests/e2e/wsclient.py (re-exported here).

Everything listens on 127.0.0.1 only.  Every backend gets a distinct CODECLOUD_BACKEND_ID
(btest-<pid>-<n>), so the containers of one test are found by label and never confused
with anybody else's."""
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import backend_util
from backend_util import KEYS, auth, containers, docker  # noqa: F401  (auth re-exported)
from conftest import POLICIES, REPO, Server, free_port, slow
from wsclient import WebSocket  # noqa: F401  (re-exported)
BALANCER_POLICY = REPO / "policies" / "balancer.lua"
BACKEND_POLICY = REPO / "policies" / "backend.lua"
FAST_BALANCER = POLICIES / "balancer_fast.lua"
SMALL_BACKEND = POLICIES / "backend_small.lua"


# ---- Redis -------------------------------------------------------------------------------

class Redis:
    """redis-server on 127.0.0.1:<free port>; `persistent` keeps its data across restart()
    (appendonly in a folder of its own), else nothing is ever saved."""

    def __init__(self, tmpdir, persistent=False):
        self.dir = Path(tmpdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.proc = None
        self.address = f"127.0.0.1:{self.port}"

    def start(self):
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--dir", str(self.dir), "--appendonly", "yes" if self.persistent else "no",
               "--appendfsync", "always"]
        self._log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + slow(10)
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.dir / "redis.log").read_text()
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
            except RuntimeError as e:  # a persistent Redis answers -LOADING while it replays its data
                if not str(e).startswith("LOADING"):
                    raise
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    # A tiny RESP client: enough for the tests' own look-ups.
    def command(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return _resp(f)


def _resp(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp(f) for _ in range(n)]
    raise OSError(f"bad RESP line {line!r}")


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """One Redis per test module; a fleet flushes it when it starts."""
    r = Redis(tmp_path_factory.mktemp("redis")).start()
    yield r
    r.stop()


# ---- Docker ------------------------------------------------------------------------------

def containers_of(backend_id):
    return containers(f"cloudcode.backend={backend_id}")


def remove_containers_of(backend_id):
    ids = containers_of(backend_id)
    if ids:
        docker("rm", "-f", *ids, check=False)


# ---- the fleet ---------------------------------------------------------------------------

_serial = [0]


class Fleet:
    """Backends and balancers on one Redis.  Backends: servers with a `.backend_id`;
    killed() marks one whose containers the test must remove itself (done at close)."""

    def __init__(self, tmpdir, redis):
        self.tmpdir = Path(tmpdir)
        self.redis = redis
        self.backends = []
        self.balancers = []
        self.stopped_by_signal = []

    def backend(self, policy=None, env=None, port=None, backend_id=None):
        """Start a backend; `port` and `backend_id` restart one on the same URL and id."""
        _serial[0] += 1
        bid = backend_id or f"btest-{os.getpid()}-{_serial[0]}"
        s = Server(self.tmpdir, policy=policy or BACKEND_POLICY,
                   env={**KEYS, "CODECLOUD_BACKEND_ID": bid, **(env or {})},
                   name=f"backend{len(self.backends)}")
        if port:
            s.port = port
            s.url = f"http://{s.host}:{port}"
            s.env["CODECLOUD_LISTEN"] = f"{s.host}:{port}"
        s.backend_id = bid
        self.backends.append(s)
        return s.start()

    def balancer(self, backends=None, policy=None, env=None, port=None, wait=True):
        urls = ",".join(b.url for b in (self.backends if backends is None else backends))
        s = Server(self.tmpdir, policy=policy or FAST_BALANCER,
                   env={**KEYS, "CODECLOUD_REDIS": self.redis.address, "CODECLOUD_BACKENDS": urls,
                        "CODECLOUD_TEST_HEALTH_MS": str(int(slow(200))), **(env or {})},
                   name=f"balancer{len(self.balancers)}")
        if port:
            s.port = port
            s.url = f"http://{s.host}:{port}"
            s.env["CODECLOUD_LISTEN"] = f"{s.host}:{port}"
        self.balancers.append(s)
        s.start()
        if wait:
            wait_backends_healthy(s, len(self.backends if backends is None else backends))
        return s

    def kill(self, server, sig=signal.SIGKILL):
        """SIGKILL (or another fatal signal): the process is gone; its containers are
        removed at close()."""
        server.proc.send_signal(sig)
        server.proc.wait(timeout=10)
        server.ended_at = time.time()
        server.stopped = True
        self.stopped_by_signal.append(server)

    def close(self):
        errors = []
        for s in self.balancers + self.backends:
            if s.proc and s.proc.poll() is None:
                try:
                    os.kill(s.proc.pid, signal.SIGCONT)  # in case a test left it stopped
                except OSError:
                    pass
            try:
                s.stop()
            except AssertionError as e:
                errors.append(str(e))
        for b in self.backends:
            # A backend stopped with SIGTERM removed its containers; a killed one left them.
            if b in self.stopped_by_signal:
                remove_containers_of(b.backend_id)
            left = containers_of(b.backend_id)
            if left:
                remove_containers_of(b.backend_id)
                errors.append(f"{b.name} ({b.backend_id}) left containers {left}")
        return errors


@pytest.fixture
def fleet(tmp_path, redis):
    """A Fleet on the module's Redis, flushed first; everything stopped at teardown and
    no container of its backends left."""
    redis.command("FLUSHALL")
    f = Fleet(tmp_path, redis)
    yield f
    errors = f.close()
    assert not errors, "\n\n".join(errors)


def wait_backends_healthy(balancer, n, timeout=10):
    """Until the balancer lists `n` healthy backends (its GET /v1/backends)."""
    deadline = time.monotonic() + slow(timeout)
    while True:
        status, _, body = balancer.request("GET", "/v1/backends", headers=auth("adm"))
        if status == 200 and sum(1 for b in body["backends"] if b["healthy"]) >= n:
            return body["backends"]
        assert time.monotonic() < deadline, (status, body)
        time.sleep(0.05)


def backends_of(balancer):
    status, _, body = balancer.request("GET", "/v1/backends", headers=auth("adm"))
    assert status == 200, (status, body)
    return {b["url"]: b for b in body["backends"]}


# ---- sessions ------------------------------------------------------------------------------

ECHO = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n"
SLEEPER = "import time\ntime.sleep(120)\n"


def create(server, body=None, key="k1", expect=201):
    """backend_util.create with an echo session and key k1 by default."""
    return backend_util.create(server, body or {"language": "python", "code": ECHO}, key=key, expect=expect)


def ids_on(backend, key="adm"):
    """Ids of the live (starting/running) sessions a backend itself lists (admin: all)."""
    status, _, body = backend.request("GET", "/v1/sessions", headers=auth(key))
    assert status == 200, (status, body)
    return {s["id"] for s in body["sessions"] if s["state"] in ("starting", "running")}


def all_ids_on(backend, key="adm"):
    status, _, body = backend.request("GET", "/v1/sessions", headers=auth(key))
    assert status == 200, (status, body)
    return {s["id"] for s in body["sessions"]}


def output(server, sid, cursor=0, wait_ms=0, key="k1", timeout=None):
    return backend_util.output(server, sid, cursor, wait_ms, key=key, timeout=timeout)


def read_until(server, sid, text, cursor=0, key="k1", timeout=20):
    """Long-poll until the output read so far contains `text` → (text read, cursor)."""
    got, cursor, _ = backend_util.read_until(server, sid, lambda t, _: text in t, cursor, timeout=timeout, key=key)
    return got, cursor


def send(server, sid, data=None, eof=None, key="k1"):
    """POST input → (status, body), nothing asserted."""
    return backend_util.send_input(server, sid, data, eof, key=key, expect=None)


class Background(threading.Thread):
    """Run fn() in a thread; .result() joins and returns its value or raises its error."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.value = self.error = None
        self.start()

    def run(self):
        try:
            self.value = self.fn()
        except BaseException as e:  # re-raised in result()
            self.error = e

    def result(self, timeout=60):
        self.join(slow(timeout))
        assert not self.is_alive(), "background call did not finish"
        if self.error:
            raise self.error
        return self.value
