"""A minimal blocking RFC 6455 WebSocket client (client side only), standard library only.

Used by the end-to-end tests (tests/e2e) and by the benchmarks (bench/*_client.py put this
folder on sys.path), so it does not import conftest or pytest.  Time bounds given in seconds
are scaled by CODECLOUD_TEST_SLOW, as conftest.slow() does (unset outside the tests: 1).

    ws = WebSocket(server, "/v1/sessions/ID/ws", headers={...})   # server: .host and .port
    ws = WebSocket(("127.0.0.1", 8080), path, nodelay=True)         # or a (host, port) pair
    ws.status, ws.head          # the handshake answer; body() reads the rest of a non-101 one
    ws.accept == ws.expected_accept
    ws.send({"type": "input", "data": "x\\n"})                     # a JSON text frame
    ws.recv()                   # a dict for a text message, ("close", code) for a close frame
    ws.collect(until=..., text_has=...)                            # → (messages, stdout+stderr)
    ws.close()
"""
import base64
import hashlib
import json
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SLOW = float(os.environ.get("CODECLOUD_TEST_SLOW", "1") or 1)


def slow(seconds):
    return seconds * SLOW


def accept_for(key):
    """The Sec-WebSocket-Accept a server must answer to Sec-WebSocket-Key `key`."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class WebSocket:
    """Masked frames out; text, close and ping/pong frames in (pings answered)."""

    def __init__(self, server, path, headers=None, timeout=20, nodelay=False, rcvbuf=None):
        """rcvbuf: a small SO_RCVBUF (set before connecting) for a peer that reads slowly."""
        host, port = server if isinstance(server, tuple) else (server.host, server.port)
        if rcvbuf:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(slow(timeout))
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=slow(timeout))
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
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
        self.expected_accept = accept_for(key)
        self.close_code = None

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

    # ---- out ------------------------------------------------------------------------------

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
        """A JSON text message."""
        self.send_frame(0x1, json.dumps(msg).encode())

    def close(self, code=1000):
        try:
            self.send_frame(0x8, struct.pack("!H", code))
        except OSError:
            pass
        self.sock.close()

    # ---- in -------------------------------------------------------------------------------

    def _need(self, n):
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                raise EOFError("connection closed")
            self.buf += b

    def _frame(self):
        """→ (fin, opcode, payload) of the next frame."""
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
        return b0 & 0x80, b0 & 0x0F, payload

    def recv(self):
        """The next message: a dict for a text message, ("close", code) for a close frame."""
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
            if m.get("type") in ("stdout", "stderr"):
                text += m["data"]
            if (until and until(m)) or (text_has and text_has in text):
                break
        return msgs, text
