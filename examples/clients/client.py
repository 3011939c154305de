#!/usr/bin/env python3
"""examples/clients/client.py — CloudCode from Python, standard library only: a one-shot run
and an interactive session over its WebSocket.  (Notebook cells: notebook.py, which uses
the CloudCode class below.)

    python3 examples/clients/client.py [URL] [API_KEY]

URL defaults to $CLOUDCODE_URL or http://127.0.0.1:8080, the key to $CLOUDCODE_API_KEY
(none if unset).  The WebSocket part is a minimal client (RFC 6455: a handshake, masked
text frames out, unmasked frames in); a real program may prefer the `websockets` package.
"""
import base64
import http.client
import json
import os
import socket
import struct
import sys
import urllib.parse


class CloudCode:
    def __init__(self, url, key):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.key = key

    def headers(self):
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = f"Bearer {self.key}"
        return h

    def call(self, method, path, body=None, timeout=120):
        """One JSON call → (status, parsed body or None)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None, self.headers())
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else None
        finally:
            conn.close()

    def websocket(self, sid):
        return WebSocket(self.host, self.port, f"/v1/sessions/{sid}/ws", self.headers())


class WebSocket:
    """Just enough of RFC 6455 for a session's socket: JSON text frames both ways."""

    def __init__(self, host, port, path, headers):
        self.sock = socket.create_connection((host, port), timeout=60)
        nonce = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {nonce}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k != "Content-Type"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise OSError(f"no WebSocket: {head.decode(errors='replace')}")

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise OSError("the server closed the connection")
        return data

    def _take(self, n):
        while len(self.buf) < n:
            self.buf += self._recv()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, message):
        """One JSON message as a masked text frame (clients must mask)."""
        data, mask = json.dumps(message).encode(), os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else struct.pack("!BH", 0x80 | 126, n)
                                 if n < 65536 else struct.pack("!BQ", 0x80 | 127, n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def receive(self):
        """The next message (a dict), or None once the server closed the socket."""
        while True:
            first, second = self._take(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._take(8))[0]
            payload = self._take(n)  # server frames are never masked
            opcode = first & 0x0F
            if opcode == 0x8:  # close
                return None
            if opcode == 0x1:  # text (the server sends each message in one frame)
                return json.loads(payload)

    def close(self):
        self.sock.close()


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CLOUDCODE_URL", "http://127.0.0.1:8080")
    key = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CLOUDCODE_API_KEY", "")
    api = CloudCode(url, key)

    # A run: the answer comes when the program has ended.
    status, reply = api.call("POST", "/v1/run", {"language": "python", "code": "print(sum(range(10)))"})
    if status != 200:
        sys.exit(f"run failed: {status} {reply}")
    print(f"run: {reply['status']}, stdout {reply['stdout']!r}, {reply['time_ms']} ms")

    # A session: a program that keeps running while we talk to it over its WebSocket.
    code = "import sys\nfor line in sys.stdin:\n    print('echo:', line.strip().upper())\n"
    status, s = api.call("POST", "/v1/sessions", {"language": "python", "code": code})
    if status != 201:
        sys.exit(f"create failed: {status} {s}")
    print(f"session {s['id']}")
    ws = api.websocket(s["id"])
    try:
        for word in ("hello", "world"):
            ws.send({"type": "input", "data": word + "\n"})
        ws.send({"type": "eof"})  # the loop over stdin ends, and with it the program
        while (msg := ws.receive()) is not None:
            if msg["type"] in ("stdout", "stderr"):  # output comes in pieces, as written
                (sys.stdout if msg["type"] == "stdout" else sys.stderr).write(msg["data"])
            elif msg["type"] == "exit":
                print(f"exit: {msg['state']}, exit code {msg['exit_code']}")
            elif msg["type"] == "error":
                print(f"error: {msg['error']['message']}")
    finally:
        ws.close()
        api.call("DELETE", f"/v1/sessions/{s['id']}")


if __name__ == "__main__":
    main()
