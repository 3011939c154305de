"""The seed's API through a stand-in for the seed's own Flask balancer (seed_flask_balancer.py), in
front of two of our backends that trust each other (file_url_peers), driven by a client that reads
the output exactly once after each command, as the seed's Discord bot did."""
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from balancer_util import auth, fleet, redis  # noqa: F401  (fixtures)
from conftest import free_port, slow
from test_compat_balancer import multipart, peers
from test_compat_seed import patient_policy

pytestmark = pytest.mark.docker

HERE = Path(__file__).resolve().parent


@pytest.fixture
def flask_balancer(fleet, policy_file):
    b1, b2 = peers(fleet, 2, policy=patient_policy(policy_file))
    port = free_port()
    log = open(fleet.tmpdir / "flask.log", "wb")
    proc = subprocess.Popen([sys.executable, str(HERE / "seed_flask_balancer.py"), str(port), str(fleet.redis.port),
                             f"127.0.0.1:{b1.port},127.0.0.1:{b2.port}"],
                            env={**os.environ, "CODECLOUD_API_KEY": "k1"}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + slow(20)
    while True:
        try:
            urllib.request.urlopen(url + "/load_balancer/add", data=b'{"server":"127.0.0.1:%d"}' % b1.port,
                                   timeout=2)
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (fleet.tmpdir / "flask.log").read_text()
            time.sleep(0.2)
    yield url, b1, b2
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


class Bot:
    """The seed's Discord bot: each command is one request, then one read of the output."""

    def __init__(self, url, user):
        self.url, self.user = url, user

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                  headers={**auth("k1"), "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=slow(60)) as resp:
            return resp.status, resp.read().decode()

    def read(self):
        status, text = self.call("GET", f"/api/session/output?userId={self.user}")
        assert status == 200
        return text

    def run(self, language, file_url=""):
        status, _ = self.call("POST", "/api/session/create",
                              {"user_id": self.user, "language": language, "file_url": file_url})
        assert status == 200
        return self.read()

    def send(self, line):
        status, _ = self.call("POST", "/api/session/input", {"user_id": self.user, "input": line})
        assert status == 200
        return self.read()

    def close(self):
        status, _ = self.call("POST", "/api/session/delete", {"user_id": self.user})
        assert status == 200


def test_seed_bot_through_the_seeds_flask_balancer(flask_balancer):
    url, b1, b2 = flask_balancer
    repl = Bot(url, "bot-repl")
    repl.run("PYTHON")
    assert "42" in repl.send("print(6*7)")
    # An upload made on b1 (the seed's balancer cannot relay multipart); sessions land wherever
    # the balancer puts them, b1 or b2, and get the file either way.
    body, headers = multipart(b'print("ready")\nwhile True:\n    print("echo", input())\n')
    status, _, file_url = b1.request("POST", "/api/files/add/owner", body, headers={**auth("k1"), **headers})
    assert status == 200, file_url
    file_url = file_url.decode()
    placed = set()
    bots = []
    for i in range(4):
        bot = Bot(url, f"bot-{uuid.uuid4().hex[:6]}")
        assert "ready" in bot.run("PYTHON", file_url)
        placed.add(fleet_backend_of(bot.user, b1, b2))
        assert "echo hi" in bot.send("hi")
        bots.append(bot)
        time.sleep(1.2)   # the balancer's worker counts sessions once a second
    assert placed == {b1.port, b2.port}, placed
    for bot in bots + [repl]:
        bot.close()


def fleet_backend_of(user, b1, b2):
    for b in (b1, b2):
        status, _, _ = b.request("GET", f"/api/metrics/session/has?userId={user}", headers=auth("k1"))
        if status == 200:
            return b.port
    raise AssertionError(f"{user} has a session on neither backend")
