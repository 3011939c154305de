"""E2B on a backend and through a balancer: the real npm SDK (@e2b/code-interpreter 2.8.0 with
e2b 2.51.0, pinned in tests/e2e/e2b/package-lock.json and installed by the `sdk` fixture) runs
tests/e2e/e2b/flow.mjs unchanged: create, cells with callbacks, a matplotlib PNG, a structured
error, files (write, read, list, stat, make, move, remove), shell commands (one killed), timeout,
connect by id, list and kill.  Then the dialect's own
shapes with raw HTTP: E2B's error bodies, keys, sandbox calls that name no live sandbox."""
import base64
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from backend_util import KEYS, auth, no_containers_left, track, wait_until  # noqa: F401  (autouse fixture)
from balancer_util import all_ids_on, fleet, redis  # noqa: F401  (fixtures)
from conftest import REPO, Server, slow

pytestmark = pytest.mark.docker

HERE = Path(__file__).parent / "e2b"
SDK_DIR = REPO / "build" / "npm-e2b"


@pytest.fixture(scope="module")
def sdk():
    """The pinned SDK in build/npm-e2b (npm ci from the lock file; again only when it changed)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "node and npm are needed (scripts/deps.sh installs them)"
    SDK_DIR.mkdir(parents=True, exist_ok=True)
    lock = (HERE / "package-lock.json").read_text()
    installed = SDK_DIR / "node_modules" / ".cloudcode-lock.json"
    if not installed.exists() or installed.read_text() != lock:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, SDK_DIR / name)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--cache", str(SDK_DIR / "cache")], cwd=SDK_DIR,
                       check=True, capture_output=True, timeout=slow(300))
        installed.write_text(lock)
    shutil.copy(HERE / "flow.mjs", SDK_DIR / "flow.mjs")
    return SDK_DIR


def run_flow(sdk_dir, url, key="k1", buffered=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("E2B_")}
    env.update({"E2B_API_URL": url, "E2B_SANDBOX_URL": url, "E2B_API_KEY": key})
    if buffered:
        env["CLOUDCODE_E2B_BUFFERED"] = "1"
    p = subprocess.run(["node", "flow.mjs"], cwd=sdk_dir, env=env, capture_output=True, text=True,
                       timeout=slow(180))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def check_flow(out, buffered=False):
    assert out["stdout"] == ["hello 42\n"] and out["results"] == ["42"], out
    assert out["text"] == "42" and out["logs"] == {"stdout": ["hello 42\n"], "stderr": []}, out
    assert out["executionCount"] == 1 and out["again"] == "43", out
    assert out["png"] == "PNG" and out["pngFormats"] == ["png"], out
    err = out["error"]
    assert err["name"] == "ZeroDivisionError" and err["value"] == "division by zero", err
    assert "ZeroDivisionError" in err["traceback"], err
    assert out["read"] == "hello from e2b\n", out
    assert out["wroteBinary"] == "/work/bin/raw.dat" and out["readBinary"] == [0, 1, 2, 255, 10, 13], out
    assert out["list"] == ["dir:bin", "dir:data", "file:notes.md"], out
    assert out["exists"] is True and out["missing"] is False, out
    assert out["fromKernel"] == "'hello from e2b\\n'", out
    assert out["command"] == {"exitCode": 0, "stdout": "hi\n# notes\n", "stderr": "err\n"}, out
    assert out["failedCommand"] == {"name": "CommandExitError", "exitCode": 3}, out
    if not buffered:
        assert out["killedCommand"] is True and out["killMissing"] is False, out
        assert out["killedResult"] == {"name": "CommandExitError", "exitCode": 137}, out
    assert out["envCommand"] == "hello from /work/data\n", out
    assert out["madeDir"] is True and out["madeAgain"] is False, out
    assert out["moved"] == "file:/home/user/made/notes.md" and out["movedRead"] == "# notes\n", out
    assert out["afterRemove"] is False, out
    assert out["infoId"] == out["sandboxId"] and out["connected"] == "42", out
    assert out["listed"] is True and out["running"] is True, out
    assert out["killed"] is True and out["runningAfterKill"] is False and out["killedAgain"] is False, out


@pytest.fixture(scope="module")
def be(tmp_path_factory):
    s = track(Server(tmp_path_factory.mktemp("e2b"), env=KEYS, name="e2b").start())
    yield s
    s.stop()


@pytest.mark.valgrind
def test_sdk_flow_on_a_backend(be, sdk):
    check_flow(run_flow(sdk, be.url))


def test_sdk_flow_through_a_balancer(fleet, sdk):
    b1, b2 = fleet.backend(), fleet.backend()
    bal = fleet.balancer()
    out = run_flow(sdk, bal.url, buffered=True)
    check_flow(out, buffered=True)
    # The sandbox was a session of one of the backends (ended now), placed by the balancer.
    assert out["sandboxId"] in all_ids_on(b1) | all_ids_on(b2)


def test_timeout_through_a_balancer_keeps_the_route(fleet):
    fleet.backend()
    bal = fleet.balancer()
    _, _, made = e2b(bal, "POST", "/v2/sandboxes", {"templateID": "code-interpreter-v1", "timeout": 30},
                     expect=201)
    sid = made["sandboxID"]
    try:
        short = int(fleet.redis.command("TTL", f"cc:session:{sid}"))
        e2b(bal, "POST", f"/sandboxes/{sid}/timeout", {"timeout": 5000}, expect=204)
        assert short < 5000, short
        wait_until(lambda: int(fleet.redis.command("TTL", f"cc:session:{sid}")) > 5000, what="the longer route")
        _, _, info = e2b(bal, "GET", f"/sandboxes/{sid}", expect=200)
        assert info["sandboxID"] == sid, info
    finally:
        e2b(bal, "DELETE", f"/sandboxes/{sid}", expect=204)


# ---- the dialect's shapes, raw ---------------------------------------------------------------

def e2b(server, method, path, body=None, key="k1", headers=None, expect=None):
    h = {**({"X-API-KEY": key} if key else {}), **(headers or {})}
    status, hdrs, reply = server.request(method, path, body, headers=h, timeout=slow(60))
    if expect is not None:
        assert status == expect, (method, path, status, reply)
    return status, hdrs, reply


def check_error(reply, status):
    assert set(reply) == {"code", "message"} and reply["code"] == status, reply
    assert isinstance(reply["message"], str) and reply["message"], reply


def test_control_plane_errors(be):
    _, _, reply = e2b(be, "POST", "/v2/sandboxes", {"templateID": "code-interpreter-v1"}, key=None, expect=401)
    check_error(reply, 401)
    _, _, reply = e2b(be, "POST", "/v2/sandboxes", {"templateID": "code-interpreter-v1"}, key="nope", expect=401)
    check_error(reply, 401)
    _, _, reply = e2b(be, "POST", "/v2/sandboxes", {"templateID": "no-such-template"}, expect=400)
    check_error(reply, 400)
    for method, path in [("GET", "/sandboxes/nope"), ("DELETE", "/sandboxes/nope"),
                         ("POST", "/v2/sandboxes/nope/connect"), ("POST", "/sandboxes/nope/timeout")]:
        _, _, reply = e2b(be, method, path, {"timeout": 10} if method == "POST" else None, expect=404)
        check_error(reply, 404)


def test_a_sandbox_is_its_owners(be):
    _, _, made = e2b(be, "POST", "/v2/sandboxes", {"templateID": "code-interpreter-v1", "timeout": 60}, expect=201)
    sid = made["sandboxID"]
    assert made["envdVersion"] and made["templateID"] == "code-interpreter-v1", made
    try:
        # Another key sees no such sandbox on the control plane.
        for method, path in [("GET", f"/sandboxes/{sid}"), ("POST", f"/sandboxes/{sid}/timeout"),
                             ("DELETE", f"/sandboxes/{sid}")]:
            e2b(be, method, path, {"timeout": 10} if method == "POST" else None, key="k2", expect=404)
        _, _, listed = e2b(be, "GET", "/v2/sandboxes", key="k2", expect=200)
        assert sid not in [s["sandboxID"] for s in listed]
        _, _, listed = e2b(be, "GET", "/v2/sandboxes", expect=200)
        assert sid in [s["sandboxID"] for s in listed]
        # Sandbox calls name it by id and prove they may with its access token.
        token = made["envdAccessToken"]
        assert isinstance(token, str) and len(token) == 64, made
        _, _, again = e2b(be, "POST", f"/v2/sandboxes/{sid}/connect", {}, expect=200)
        assert again["envdAccessToken"] == token and again["sandboxID"] == sid, again
        e2b(be, "GET", "/health", key=None, headers={"E2b-Sandbox-Id": sid, "X-Access-Token": token}, expect=204)
        for headers in [{}, {"X-Access-Token": "0" * 64}, {"X-Access-Token": token[:-1]}]:
            _, _, reply = e2b(be, "GET", "/health", key=None, headers={"E2b-Sandbox-Id": sid, **headers},
                              expect=401)
            check_error(reply, 401)
        # setTimeout moves its end.
        e2b(be, "POST", f"/sandboxes/{sid}/timeout", {"timeout": 1000}, expect=204)
        _, _, info = e2b(be, "GET", f"/sandboxes/{sid}", expect=200)
        assert info["sandboxID"] == sid and info["state"] == "running", info
    finally:
        e2b(be, "DELETE", f"/sandboxes/{sid}", expect=204)
    # Once killed, its sandbox calls answer 502 (E2B: not running).
    _, _, reply = e2b(be, "GET", "/health", key=None, headers={"E2b-Sandbox-Id": sid, "X-Access-Token": token},
                      expect=502)
    check_error(reply, 502)


def test_sandbox_calls_need_a_live_sandbox(be):
    _, _, reply = e2b(be, "GET", "/health", key=None, expect=400)
    check_error(reply, 400)
    _, _, reply = e2b(be, "POST", "/execute", {"code": "1"}, key=None, headers={"E2b-Sandbox-Id": "nope"},
                      expect=502)
    check_error(reply, 502)


# ---- envd's process stream, raw ------------------------------------------------------------------

def envelope(msg, flags=0):
    data = json.dumps(msg).encode()
    return bytes([flags]) + len(data).to_bytes(4, "big") + data


def envelopes(data):
    out = []
    while data:
        flags, n = data[0], int.from_bytes(data[1:5], "big")
        out.append((flags, json.loads(data[5:5 + n])))
        data = data[5 + n:]
    return out


def start_command(server, sandbox, cmd, timeout=None, deadline_ms=30000):
    conn = server.connection(timeout=timeout or slow(60))
    body = envelope({"process": {"cmd": "/bin/bash", "args": ["-l", "-c", cmd]}})
    conn.request("POST", "/process.Process/Start", body=body,
                 headers={**sandbox_headers(sandbox), "Content-Type": "application/connect+json",
                          "Connect-Protocol-Version": "1", "Connect-Timeout-Ms": str(deadline_ms)})
    return conn, conn.getresponse()


@pytest.fixture
def sandbox(be):
    _, _, made = e2b(be, "POST", "/v2/sandboxes", {"templateID": "code-interpreter-v1", "timeout": 120},
                     expect=201)
    yield made
    e2b(be, "DELETE", f"/sandboxes/{made['sandboxID']}")


def sandbox_headers(made):
    return {"E2b-Sandbox-Id": made["sandboxID"], "X-Access-Token": made["envdAccessToken"]}


def test_process_start_is_a_connect_stream(be, sandbox):
    conn, resp = start_command(be, sandbox, "printf 'a\\x00b'; echo oops >&2; exit 4")
    try:
        assert resp.status == 200 and resp.getheader("content-type") == "application/connect+json"
        got = envelopes(resp.read())
    finally:
        conn.close()
    assert got[0][0] == 0 and isinstance(got[0][1]["event"]["start"]["pid"], int), got
    data = [m["event"]["data"] for f, m in got if f == 0 and "data" in m["event"]]
    out = b"".join(base64.b64decode(d["stdout"]) for d in data if "stdout" in d)
    err = b"".join(base64.b64decode(d["stderr"]) for d in data if "stderr" in d)
    assert out == b"a\x00b" and err == b"oops\n", got
    end = [m["event"]["end"] for f, m in got if f == 0 and "end" in m["event"]]
    assert end == [{"exitCode": 4, "exited": True, "status": "exit status 4"}], got
    assert got[-1] == (2, {}), got


def test_process_client_gone(be, sandbox):
    # The client leaves while the command runs: the server finishes the request on its own.
    conn, resp = start_command(be, sandbox, "sleep 2; echo late")
    assert resp.status == 200
    conn.close()
    conn, resp = start_command(be, sandbox, "echo still")
    try:
        got = envelopes(resp.read())
    finally:
        conn.close()
    out = [m["event"]["data"]["stdout"] for f, m in got if f == 0 and "data" in m["event"]]
    assert base64.b64decode("".join(out)) == b"still\n", got
    be.alive()


def test_execute_answers_ndjson(be, sandbox):
    _, _, reply = e2b(be, "POST", "/execute", {"code": "1", "language": "r"}, key=None,
                      headers=sandbox_headers(sandbox), expect=400)
    check_error(reply, 400)
    status, hdrs, reply = e2b(be, "POST", "/execute", {"code": "import time\ntime.sleep(1)\nprint('x')"},
                              key=None, headers=sandbox_headers(sandbox), expect=200)
    lines = [json.loads(l) for l in reply.decode().splitlines()]
    assert hdrs["content-type"] == "application/x-ndjson", hdrs
    assert lines == [{"type": "stdout", "text": "x\n"}, {"type": "number_of_executions", "execution_count": 1},
                     {"type": "end_of_execution"}], lines


def test_commands_per_key_are_capped(be, sandbox):
    held = []
    try:
        for _ in range(16):
            conn, resp = start_command(be, sandbox, "sleep 600", deadline_ms=600000)
            held.append(conn)
            assert resp.status == 200
            assert resp.read(5)[0] == 0  # the start envelope's head: it runs
        conn, resp = start_command(be, sandbox, "echo one too many")
        held.append(conn)
        reply = json.loads(resp.read())
        assert resp.status == 503 and reply["code"] == "unavailable", (resp.status, reply)
    finally:
        for conn in held:
            conn.close()


def test_shutdown_ends_running_commands(start_server):
    server = track(start_server(env=KEYS))
    _, _, made = e2b(server, "POST", "/v2/sandboxes", {"templateID": "code-interpreter-v1"}, expect=201)
    conn, resp = start_command(server, made, "sleep 60")
    try:
        head = resp.read(5)
        assert resp.status == 200 and head[0] == 0
        assert "start" in json.loads(resp.read(int.from_bytes(head[1:], "big")))["event"]
        server.signal(signal.SIGTERM)
        rest = resp.read()
    finally:
        conn.close()
    server.stop()  # exits 0: nothing left behind
    last = envelopes(rest)[-1]
    assert last[0] == 2 and last[1]["error"]["code"] == "internal", last
