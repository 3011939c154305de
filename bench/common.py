"""bench/common.py — what the bench clients share (standard library only): a keep-alive JSON
client for the HTTP API, status checks, nearest-rank percentiles, and the tests' WebSocket
client (tests/e2e/wsclient.py, put on sys.path from here: there is one copy of it)."""
import http.client
import json
import math
import os
import socket
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from wsclient import WebSocket  # noqa: E402,F401  (re-exported)


class Api:
    """One keep-alive connection (TCP_NODELAY), opened on first use and again after a close."""

    def __init__(self, url, timeout=30.0):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, method, path, body=None):
        """Send a request without reading its answer (for a long-poll left pending)."""
        if self.conn is None:
            self._connect()
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            self.conn.request(method, path, body=data, headers=headers)
        except Exception:
            self.close()
            raise

    def receive(self):
        """→ (status, JSON body or None)."""
        try:
            r = self.conn.getresponse()
            raw = r.read()
        except Exception:
            self.close()
            raise
        if r.getheader("connection", "").lower() == "close":
            self.close()
        return r.status, (json.loads(raw) if raw else None)

    def call(self, method, path, body=None):
        self.send(method, path, body)
        return self.receive()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def must(status, body, want, what):
    if status != want:
        raise RuntimeError(f"{what}: HTTP {status} {body}")
    return body


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]
