"""End-to-end fixtures: start the cloudcode binary on a free loopback port and talk HTTP to it.

Environment:
  CODECLOUD_TEST_BINARY    the binary to run (default ./cloudcode, relative to the repo root)
  CODECLOUD_TEST_VALGRIND  1: run it under valgrind and fail on errors or definite/indirect leaks
  CODECLOUD_TEST_SLOW      factor applied to every time bound (default 1; 10 under valgrind)
  CODECLOUD_IMAGE_PREFIX   passed to the servers: the image set to use (default cloudcode/)
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POLICIES = Path(__file__).resolve().parent / "policies"
DEFAULT_POLICY = REPO / "policies" / "backend.lua"
SLOW = float(os.environ.get("CODECLOUD_TEST_SLOW", "1") or 1)
VALGRIND = os.environ.get("CODECLOUD_TEST_VALGRIND") == "1"

# status -> the codes api.md allows with it
ERROR_CODES = {
    400: {"bad_request"},
    401: {"unauthorized"},
    403: {"forbidden"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    408: {"request_timeout"},
    409: {"conflict"},
    413: {"payload_too_large"},
    414: {"uri_too_long"},
    417: {"expectation_failed"},
    422: {"unsupported_language"},
    429: {"too_many_sessions", "rate_limited"},
    431: {"headers_too_large"},
    500: {"policy_error", "internal"},
    503: {"unavailable"},
}


def slow(seconds):
    """A time bound scaled by CODECLOUD_TEST_SLOW."""
    return seconds * SLOW


def binary():
    b = Path(os.environ.get("CODECLOUD_TEST_BINARY", "./cloudcode"))
    return b if b.is_absolute() else (REPO / b)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(extra=None):
    """The test process's environment without any CODECLOUD_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CODECLOUD_") or k == "CODECLOUD_IMAGE_PREFIX"}
    env.update(extra or {})
    return env


def run_cli(*args, env=None, timeout=None):
    """Run the binary with arguments (e.g. --check FILE) and return CompletedProcess (text)."""
    cmd = [str(binary()), *[str(a) for a in args]]
    return subprocess.run(cmd, cwd=REPO, env=base_env(env), capture_output=True, text=True,
                          timeout=timeout or slow(30))


def parse_body(headers, data):
    ctype = headers.get("content-type", "")
    if ctype.startswith("application/json") and data:
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def assert_error(status, body, code=None, expected_status=None):
    """`body` is exactly {"error":{"code":...,"message":...}} with a code matching `status`."""
    if expected_status is not None:
        assert status == expected_status, (status, body)
    assert isinstance(body, dict), f"error body is not JSON: {body!r}"
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict), body
    allowed = {"code", "message"} | ({"scope"} if status == 429 else set())
    assert {"code", "message"} <= set(err) <= allowed, body
    assert isinstance(err["message"], str) and err["message"], body
    assert err["code"] in ERROR_CODES.get(status, set()), (status, body)
    if code is not None:
        assert err["code"] == code, body


def split_response(data):
    """Split raw bytes into (status, headers(lower-cased), body, rest) for one response
    delimited by Content-Length (or to the end).  Returns None if incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    body_start = end + 4
    if status in (100, 101, 204, 304):
        return status, headers, b"", data[body_start:]
    if "content-length" in headers:
        n = int(headers["content-length"])
        if len(data) < body_start + n:
            return None
        return status, headers, data[body_start:body_start + n], data[body_start + n:]
    return status, headers, data[body_start:], b""


def parse_responses(data, head_only=()):
    """Every complete response in `data`, in order, as (status, headers, parsed body)."""
    out = []
    while data:
        r = split_response(data)
        if r is None:
            break
        status, headers, body, data = r
        out.append((status, headers, parse_body(headers, body)))
    return out


# Every Server started in this run, for the end-of-session container check (no_containers_left).
STARTED = []


class Server:
    def __init__(self, tmpdir, policy=None, env=None, name="server", program=None):
        """program: the binary to run instead of CODECLOUD_TEST_BINARY's (e.g. the ASan build)."""
        self.program = program
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.policy = Path(policy or DEFAULT_POLICY)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.name = name
        self.env = base_env({"CODECLOUD_LISTEN": f"{self.host}:{self.port}", **(env or {})})
        self.log_path = self.tmpdir / f"{name}.stderr.log"
        self.vg_log = self.tmpdir / f"{name}.valgrind.log"
        self.proc = None
        self.stopped = False
        self.started_at = self.ended_at = None

    # ---- life cycle ------------------------------------------------------------------
    def command(self):
        cmd = [str(self.program or binary()), str(self.policy)]
        if VALGRIND and not self.program:
            cmd = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect", "--track-fds=no",
                   f"--log-file={self.vg_log}"] + cmd
        return cmd

    @property
    def backend_ids(self):
        """The ids its containers are labelled with (cloudcode.backend): as the policies have
        backend_id, CODECLOUD_BACKEND_ID or else the listen address."""
        return {self.env.get("CODECLOUD_BACKEND_ID") or self.env.get("CODECLOUD_LISTEN")}

    def start(self, wait=True):
        self._log = open(self.log_path, "wb")
        self.started_at, self.ended_at = time.time(), None
        STARTED.append(self)
        self.proc = subprocess.Popen(self.command(), cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + slow(timeout)
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} before it was "
                                     f"ready:\n{self.log()}")
            try:
                status, _, _ = self.request("GET", "/healthz", timeout=slow(2))
                if status in (200, 503):
                    return
            except OSError as e:
                last = e
            time.sleep(0.02)
        raise AssertionError(f"{self.name} not ready within {slow(timeout)} s ({last}):\n{self.log()}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM, wait, and check the exit code (and valgrind's verdict)."""
        if self.stopped or self.proc is None:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=slow(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.ended_at = time.time()
            self._log.close()
            raise AssertionError(f"{self.name} did not exit within {slow(timeout)} s of SIGTERM:\n"
                                 f"{self.log()[-4000:]}")
        self.ended_at = time.time()
        self._log.close()
        assert rc == 0, f"{self.name} exited with {rc}:\n{self.log()[-4000:]}\n{self.valgrind_log()}"
        if VALGRIND:
            check_valgrind_log(self.valgrind_log())

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.ended_at = time.time()
        self.stopped = True

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_log(self, predicate, timeout=5):
        """Wait until a JSON log line satisfies predicate; return it."""
        deadline = time.monotonic() + slow(timeout)
        while time.monotonic() < deadline:
            for line in self.log_lines():
                if predicate(line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no matching log line within {slow(timeout)} s:\n{self.log()[-4000:]}")

    def valgrind_log(self):
        try:
            return self.vg_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- HTTP ------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=None):
        """One request on a new connection → (status, headers lower-cased, body: JSON or bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or slow(10))
        try:
            return do_request(conn, method, path, body, headers)
        finally:
            conn.close()

    def connection(self, timeout=None):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or slow(10))

    def connect(self, timeout=None):
        s = socket.create_connection((self.host, self.port), timeout=timeout or slow(10))
        return s

    def raw(self, data, timeout=None, shut_wr=False):
        """Send raw bytes on a new connection; read until the server closes or `timeout`."""
        with self.connect(timeout) as s:
            if data:
                s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
            return read_all(s, timeout or slow(5))

    def alive(self):
        status, _, body = self.request("GET", "/healthz")
        assert status == 200, (status, body)
        assert body["status"] in ("ok", "degraded"), body
        return body

    def metric(self, name):
        """Sum of the samples of a metric name (all label sets)."""
        status, _, text = self.request("GET", "/metrics")
        assert status == 200
        return metric_value(text.decode(), name)


def metric_value(text, name):
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if m and m.group(1) == name:
            total += float(m.group(3))
            seen = True
    return total if seen else None


def do_request(conn, method, path, body=None, headers=None):
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    return resp.status, hdrs, parse_body(hdrs, data)


def read_all(sock, timeout):
    """Read until EOF or until nothing arrives for `timeout` seconds."""
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
        if time.monotonic() > deadline:
            break
    return b"".join(chunks)


def read_responses(sock, n, timeout):
    """Read until `n` complete responses arrived (or EOF/timeout)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(parse_responses(data)) >= n:
            break
        try:
            b = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            break
        data += b
    return parse_responses(data), data


def check_valgrind_log(text):
    assert text, "valgrind wrote no log"
    m = re.findall(r"ERROR SUMMARY: ([\d,]+) errors", text)
    assert m and all(x.replace(",", "") == "0" for x in m), f"valgrind reported errors:\n{text[-6000:]}"
    for kind in ("definitely", "indirectly"):
        for amount in re.findall(kind + r" lost: ([\d,]+) bytes", text):
            assert amount.replace(",", "") == "0", f"valgrind: {kind} lost {amount} bytes:\n{text[-6000:]}"


# ---- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def no_containers_left_at_end():
    """After the whole session: no container labelled `cloudcode` of a backend this run started
    is left, pool containers included (backend_util.no_containers_left).  Other servers on the
    machine (someone else's run) are not judged.  Set up first, so torn down last."""
    yield
    from backend_util import no_containers_left  # imports conftest: not at the top
    no_containers_left()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The default backend policy, no keys, shared by every test that does not need its own."""
    s = Server(tmp_path_factory.mktemp("default"), name="default").start()
    yield s
    s.stop()


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(policy=None, env=None, wait=True) → a started Server, stopped
    (SIGTERM, exit 0 asserted) at teardown unless the test stopped it itself."""
    servers = []

    def start(policy=None, env=None, wait=True, name=None):
        s = Server(tmp_path, policy=policy, env=env, name=name or f"server{len(servers)}")
        servers.append(s)
        return s.start(wait=wait)

    yield start
    errors = []
    for s in servers:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def policy_file(tmp_path):
    """Write a policy from text into the test's temp folder: policy_file(text, name=...)."""
    def write(text, name="policy.lua"):
        p = tmp_path / name
        p.write_text(text)
        return p
    return write
