"""Helpers shared by the backend's end-to-end tests: runs, sessions, a minimal
RFC 6455 WebSocket client, and the Docker CLI for checking containers."""
import base64
import json
import os
import socket
import struct
import subprocess
import time

import pytest

from conftest import slow

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
    status, _, reply = server.request("POST", "/v1/sessions", body, headers=auth(key),
                                      timeout=slow(60))
    assert status == expect, (status, reply)
    return reply


def session(server, sid, key=None):
    status, _, reply = server.request("GET", f"/v1/sessions/{sid}", headers=auth(key))
    assert status == 200, (status, reply)
    return reply


def send_input(server, sid, data=None, eof=None, key=None, expect=204):
    body = {}
    if data is not None:
        body["data"] = data
    if eof is not None:
        body["eof"] = eof
    status, _, reply = server.request("POST", f"/v1/sessions/{sid}/input", body, headers=auth(key))
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


def delete(server, sid, key=None):
    status, _, reply = server.request("DELETE", f"/v1/sessions/{sid}", headers=auth(key))
    assert status == 204, (status, reply)


# ---- WebSocket (RFC 6455, client side) ----------------------------------------------------------

class WebSocket:
    """A minimal blocking client: text frames in and out, close frames, masked client frames."""

    def __init__(self, server, path, headers=None, timeout=None):
        self.sock = server.connect(timeout or slow(20))
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
        self.status = int(head.split(b" ", 2)[1])
        self.head = head.decode("latin-1")
        self.close_code = None

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

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

    def _frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        assert not b1 & 0x80, "server frames are never masked"
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x80, b0 & 0x0F, payload

    def recv(self):
        """The next message: a dict for a text frame, ("close", code) for a close; pings answered."""
        parts, first = [], None
        while True:
            fin, opcode, payload = self._frame()
            if opcode == 0x9:
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return ("close", self.close_code)
            if opcode != 0x0:
                first = opcode
            parts.append(payload)
            if fin:
                assert first == 0x1, f"expected a text frame, got opcode {first}"
                return json.loads(b"".join(parts).decode())

    def collect(self, until=None, text_has=None, timeout=20):
        """Messages until the close frame, until(msg) holds, or the stdout/stderr text read
        contains text_has → (messages, that text)."""
        self.sock.settimeout(slow(timeout))
        msgs, text = [], ""
        while True:
            m = self.recv()
            msgs.append(m)
            if isinstance(m, tuple):
                break
            if m["type"] in ("stdout", "stderr"):
                text += m["data"]
            if (until and until(m)) or (text_has and text_has in text):
                break
        return msgs, text


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


def wait_no_containers(server, timeout=15):
    deadline = time.monotonic() + slow(timeout)
    while backend_containers(server):
        assert time.monotonic() < deadline, backend_containers(server)
        time.sleep(0.1)


_our_backends = set()


def track(server):
    """Remember a server's backend id for the end-of-suite leak check."""
    _our_backends.add(f"{server.host}:{server.port}")
    return server


def _left_behind():
    left = {}
    ids = containers("cloudcode")
    if ids:
        out = docker("inspect", "--format", '{{.Id}} {{index .Config.Labels "cloudcode.backend"}}', *ids,
                     check=False).stdout
        for line in out.splitlines():
            cid, _, backend = line.partition(" ")
            if backend in _our_backends:
                left[cid] = backend
    return left


@pytest.fixture(scope="session", autouse=True)
def no_containers_left():
    """At the end of the suite, no container labelled `cloudcode` of any backend these tests
    started is left (removals finish in the background: they get a few seconds).  Containers
    of other backends on the same engine (another suite, decoys a test removes itself) are not
    ours to judge."""
    yield
    deadline = time.monotonic() + slow(10)
    while _left_behind() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _left_behind()
    assert not left, f"containers left behind: {left}"
