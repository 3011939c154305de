"""Helpers for the balancer's end-to-end tests: a Redis server of our own, a fleet of
backends and balancers sharing it, a minimal RFC 6455 WebSocket client, and the Docker
CLI for cleaning up after backends that were killed.

Everything listens on 127.0.0.1 only.  Every backend gets a distinct CODECLOUD_BACKEND_ID
(btest-<pid>-<n>), so the containers of one test are found by label and never confused
with anybody else's."""
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import POLICIES, REPO, Server, free_port, slow

KEYS = {"CODECLOUD_API_KEY": "k1,k2", "CODECLOUD_ADMIN_KEY": "adm"}
BALANCER_POLICY = REPO / "policies" / "balancer.lua"
BACKEND_POLICY = REPO / "policies" / "backend.lua"
FAST_BALANCER = POLICIES / "balancer_fast.lua"
SMALL_BACKEND = POLICIES / "backend_small.lua"


def auth(key):
    return {"Authorization": f"Bearer {key}"} if key else {}


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
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.dir / "redis.log").read_text()
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
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

def docker(*args, timeout=60):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def containers_of(backend_id):
    r = docker("ps", "-aq", "--no-trunc", "--filter", f"label=cloudcode.backend={backend_id}")
    return set(r.stdout.split())


def remove_containers_of(backend_id):
    ids = containers_of(backend_id)
    if ids:
        docker("rm", "-f", *ids)


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
                        **(env or {})},
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


def wait_until(predicate, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + slow(timeout)
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {slow(timeout)} s (last: {last!r})")


# ---- sessions ------------------------------------------------------------------------------

ECHO = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n"
SLEEPER = "import time\ntime.sleep(120)\n"


def create(server, body=None, key="k1", expect=201):
    status, _, reply = server.request("POST", "/v1/sessions", body or {"language": "python", "code": ECHO},
                                      headers=auth(key), timeout=slow(60))
    if expect is not None:
        assert status == expect, (status, reply)
    return reply if expect is not None else (status, reply)


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
    status, _, reply = server.request("GET", f"/v1/sessions/{sid}/output?cursor={cursor}&wait_ms={wait_ms}",
                                      headers=auth(key), timeout=timeout or slow(40))
    assert status == 200, (status, reply)
    return reply


def read_until(server, sid, text, cursor=0, key="k1", timeout=20):
    """Long-poll until the output read so far contains `text` → (text read, cursor)."""
    deadline = time.monotonic() + slow(timeout)
    got = ""
    while time.monotonic() < deadline:
        body = output(server, sid, cursor, wait_ms=2000, key=key)
        got += "".join(e["data"] for e in body["events"])
        cursor = body["cursor"]
        if text in got:
            return got, cursor
        if body["state"] not in ("starting", "running") and not body["events"]:
            break
    raise AssertionError(f"{text!r} never came; got {got!r}")


def send(server, sid, data=None, eof=None, key="k1"):
    body = {}
    if data is not None:
        body["data"] = data
    if eof is not None:
        body["eof"] = eof
    status, _, reply = server.request("POST", f"/v1/sessions/{sid}/input", body, headers=auth(key))
    return status, reply


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


# ---- WebSocket (RFC 6455, client side) ---------------------------------------------------

class WebSocket:
    """A minimal blocking client: masked text frames out, text/close frames in."""

    def __init__(self, server, path, headers=None, timeout=20):
        self.sock = socket.create_connection((server.host, server.port), timeout=slow(timeout))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {server.host}:{server.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            b = self.sock.recv(4096)
            if not b:
                raise AssertionError(f"no handshake answer: {data!r}")
            data += b
        head, _, self.buf = data.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1])
        self.accept = None
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "sec-websocket-accept":
                self.accept = v.strip()
        import hashlib
        self.expected_accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()

    def body(self):
        """The rest of a non-101 answer (read to EOF)."""
        data = self.buf
        self.sock.settimeout(slow(5))
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            pass
        return data

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, msg):
        self.send_frame(0x1, json.dumps(msg).encode())

    def close(self, code=1000):
        try:
            self.send_frame(0x8, struct.pack("!H", code))
        except OSError:
            pass
        self.sock.close()

    def _need(self, n):
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                raise EOFError("connection closed")
            self.buf += b

    def recv(self):
        """A dict for a text message, ("close", code) for a close frame; pings answered."""
        parts = []
        while True:
            self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            assert not b1 & 0x80, "server frames are never masked"
            n, off = b1 & 0x7F, 2
            if n == 126:
                self._need(4)
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            self._need(off + n)
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            opcode = b0 & 0x0F
            if opcode == 0x9:
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                return ("close", struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005)
            parts.append(payload)
            if b0 & 0x80:
                return json.loads(b"".join(parts).decode())

    def collect(self, until, timeout=20):
        """Messages until until(msg) holds or the close frame → (messages, stdout+stderr text)."""
        self.sock.settimeout(slow(timeout))
        msgs, text = [], ""
        while True:
            m = self.recv()
            msgs.append(m)
            if isinstance(m, tuple):
                return msgs, text
            if m.get("type") in ("stdout", "stderr"):
                text += m["data"]
            if until(m, text):
                return msgs, text
