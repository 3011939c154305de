"""Interactive sessions against the real engine: long-polls, WebSockets, signals, tty, tenancy,
deadlines, caps."""
import json
import threading
import time

import pytest

from backend_util import (KEYS, auth, backend_containers, create, delete, docker, output,
                          read_until, send_input, session, session_container, text_of, wait_ended,
                          wait_state)
from conftest import POLICIES, assert_error, slow
from wsclient import WebSocket

pytestmark = pytest.mark.docker

ECHO = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper())\nprint('bye')"


@pytest.fixture
def be(server):
    return server


def settings_server(start_server, **settings):
    env = {"CODECLOUD_TEST_SETTINGS": json.dumps(settings)}
    return start_server(policy=POLICIES / "settings.lua", env=env)


@pytest.fixture
def echo(be):
    s = create(be, {"language": "python", "code": ECHO})
    yield s["id"]
    delete(be, s["id"])


# ---- the session object -----------------------------------------------------------------------

def test_create_answers_running_with_fields(be):
    s = create(be, {"language": "py", "code": ECHO})
    try:
        assert s["language"] == "python" and s["state"] == "running"
        assert len(s["id"]) >= 22 and s["created_at"].endswith("Z")
        full = session(be, s["id"])
        assert {"id", "language", "state", "exit_code", "signal", "created_at", "last_active_at", "expires_at",
                "output_bytes"} <= set(full)
        assert full["exit_code"] is None and full["signal"] is None and full["output_bytes"] == 0
    finally:
        delete(be, s["id"])


# ---- long-poll ----------------------------------------------------------------------------------

@pytest.mark.valgrind
def test_long_poll_round_trip(be):
    s = create(be, {"language": "python", "code": ECHO})
    sid = s["id"]
    send_input(be, sid, "hello\n")
    text, cursor, body = read_until(be, sid, lambda t, b: "HELLO\n" in t)
    assert text == "HELLO\n" and cursor == 6
    assert body["events"][-1]["stream"] == "stdout" and body["state"] == "running"
    assert body["exit_code"] is None and body["signal"] is None
    send_input(be, sid, "world\n", eof=True)
    text, cursor, body = read_until(be, sid, lambda t, b: b["state"] == "exited", cursor=cursor)
    assert text == "WORLD\nbye\n"
    assert body["exit_code"] == 0 and body["signal"] is None
    # reading from 0 again gives the whole record
    again = output(be, sid, 0)
    assert text_of(again["events"]) == "HELLO\nWORLD\nbye\n" and again["cursor"] == cursor
    assert session(be, sid)["output_bytes"] == cursor


def test_wait_ms_returns_as_soon_as_output_arrives(be, echo):
    result = {}

    def poll():
        t0 = time.monotonic()
        result["body"] = output(be, echo, 0, wait_ms=20000)
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    send_input(be, echo, "ping\n")
    t.join(slow(15))
    assert text_of(result["body"]["events"]) in ("PING", "PING\n")   # print writes the newline apart
    assert 0.4 < result["took"] < slow(3), result


def test_wait_ms_without_output_waits_then_answers_empty(be, echo):
    t0 = time.monotonic()
    body = output(be, echo, 0, wait_ms=700)
    took = time.monotonic() - t0
    assert body["events"] == [] and body["cursor"] == 0 and body["state"] == "running"
    assert 0.6 < took < slow(3)


def test_wait_ms_is_clamped(start_server):
    srv = settings_server(start_server, max_wait_ms=500)
    sid = create(srv, {"language": "python", "code": "import time\ntime.sleep(60)"})["id"]
    t0 = time.monotonic()
    body = output(srv, sid, 0, wait_ms=600000)
    assert body["events"] == [] and time.monotonic() - t0 < slow(3)
    delete(srv, sid)


def test_dropped_long_poll_loses_nothing(be, echo):
    conn = be.connection()
    conn.request("GET", f"/v1/sessions/{echo}/output?cursor=0&wait_ms=20000")
    time.sleep(0.3)
    conn.close()   # the client goes away mid-wait
    send_input(be, echo, "one\n")
    send_input(be, echo, "two\n")
    text, _, _ = read_until(be, echo, lambda t, b: "TWO" in t)
    assert text == "ONE\nTWO\n"
    be.alive()


@pytest.mark.parametrize("cursor", ["-1", "abc", "1.5", "", "99999"])
def test_bad_cursor(be, echo, cursor):
    status, _, body = be.request("GET", f"/v1/sessions/{echo}/output?cursor={cursor}")
    assert_error(status, body, "bad_request", 400)


def test_output_beyond_keep_reports_dropped(be):
    # 3 MiB of output; a session keeps (at least) its last 1 MiB
    code = "import sys\nfor i in range(3 * 1024):\n    sys.stdout.write('y' * 1023 + '\\n')\n"
    sid = create(be, {"language": "python", "code": code, "limits": {"output_bytes": 8 << 20}})["id"]
    wait_state(be, sid, {"exited"})
    body = output(be, sid, 0)
    total = session(be, sid)["output_bytes"]
    assert total == 3 << 20
    assert body["dropped"] > 0 and body["dropped"] <= (2 << 20)
    got = len(text_of(body["events"]).encode())
    assert body["cursor"] == body["dropped"] + got
    # reading on from the cursor reaches the end without further loss
    cursor = body["cursor"]
    while cursor < total:
        more = output(be, sid, cursor)
        assert more["dropped"] == 0
        assert more["cursor"] > cursor
        cursor = more["cursor"]
    delete(be, sid)


# ---- input ------------------------------------------------------------------------------------------

def test_input_after_eof_is_409(be, echo):
    send_input(be, echo, eof=True)
    body = send_input(be, echo, "late\n", expect=409)
    assert body["error"]["code"] == "conflict"


def test_input_to_ended_session_is_409(be):
    sid = create(be, {"language": "python", "code": "print('done')"})["id"]
    wait_ended(be, sid)
    assert_error(*_input_raw(be, sid, {"data": "x\n"}), "conflict", 409)
    assert_error(*_input_raw(be, sid, {"eof": True}), "conflict", 409)
    status, _, body = be.request("POST", f"/v1/sessions/{sid}/signal", {"signal": "INT"})
    assert_error(status, body, "conflict", 409)
    delete(be, sid)


def _input_raw(server, sid, body):
    status, _, reply = server.request("POST", f"/v1/sessions/{sid}/input", body)
    return status, reply


@pytest.mark.parametrize("body", [{}, {"data": 5}, {"eof": "yes"}, {"data": None, "eof": False}])
def test_bad_input(be, echo, body):
    assert_error(*_input_raw(be, echo, body), "bad_request", 400)


def test_stdin_backlog_cap(start_server):
    srv = settings_server(start_server, stdin_backlog_bytes=1024)
    sid = create(srv, {"language": "python", "code": "import time\ntime.sleep(120)"})["id"]
    chunk = "z" * (512 << 10)
    for _ in range(64):   # the launcher holds 1 MiB, pipes and the engine some more; then we refuse
        status, reply = _input_raw(srv, sid, {"data": chunk})
        if status == 409:
            assert_error(status, reply, "conflict", 409)
            assert "backlog" in reply["error"]["message"]
            break
        assert status == 204, reply
    else:
        pytest.fail("the stdin backlog cap never applied")
    delete(srv, sid)


def test_input_while_starting_is_queued(be):
    # input sent with the create body's stdin and right after: both reach the program in order
    sid = create(be, {"language": "python", "code": ECHO, "stdin": "first\n"})["id"]
    send_input(be, sid, "second\n", eof=True)
    text, body = wait_ended(be, sid)
    assert text == "FIRST\nSECOND\nbye\n" and body["exit_code"] == 0
    delete(be, sid)


# ---- signals ---------------------------------------------------------------------------------

def test_signal_int_ends_python_loop(be):
    sid = create(be, {"language": "python", "code": "import time\nprint('ready')\nwhile True: time.sleep(0.05)"})["id"]
    read_until(be, sid, lambda t, b: "ready" in t)
    status, _, body = be.request("POST", f"/v1/sessions/{sid}/signal", {"signal": "INT"})
    assert status == 204, body
    s = wait_state(be, sid, {"exited", "timeout", "killed", "lost", "memory_limit", "output_limit"})
    assert s["state"] == "exited" and s["signal"] == "SIGINT" and s["exit_code"] is None, s
    text, _, _ = read_until(be, sid, lambda t, b: "KeyboardInterrupt" in t)
    delete(be, sid)


def test_signal_handled_by_program(be):
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGUSR1, lambda *a: (print('usr1'), sys.exit(7)))\n"
            "print('ready')\nwhile True: time.sleep(0.05)")
    sid = create(be, {"language": "python", "code": code})["id"]
    read_until(be, sid, lambda t, b: "ready\n" in t)
    status, _, _ = be.request("POST", f"/v1/sessions/{sid}/signal", {"signal": "SIGUSR1"})
    assert status == 204
    text, body = wait_ended(be, sid)
    assert text == "ready\nusr1\n" and body["state"] == "exited" and body["exit_code"] == 7
    delete(be, sid)


@pytest.mark.parametrize("sig", ["STOP", "SEGV", "9", "", None, 2])
def test_bad_signal(be, echo, sig):
    status, _, body = be.request("POST", f"/v1/sessions/{echo}/signal", {"signal": sig})
    assert_error(status, body, "bad_request", 400)


def test_resize_on_non_tty_is_409(be, echo):
    status, _, body = be.request("POST", f"/v1/sessions/{echo}/resize", {"cols": 100, "rows": 30})
    assert_error(status, body, "conflict", 409)


# ---- tty ----------------------------------------------------------------------------------------

# A Python handler runs between bytecodes: a SIGWINCH that lands after input()'s last check and
# before its read() blocks waits until that read returns (CPython's input() has this race, and
# under load the resize below hit it: the size came only after the next line or ^D). So the
# program waits in select() on stdin and a signal wakeup fd, which the C handler writes to.
# os.read of a terminal in canonical mode returns one line, and b"" for ^D at a line's start.
TTY_PROG = """import os, select, signal, sys
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGWINCH, lambda *a: print('size', tuple(os.get_terminal_size())))
print('start', tuple(os.get_terminal_size()), sys.stdin.isatty())
while True:
    ready = select.select([0, wake_r], [], [])[0]
    if wake_r in ready:
        os.read(wake_r, 64)
    if 0 not in ready:
        continue
    line = os.read(0, 4096).decode()
    if not line:
        print('got eof')
        continue
    line = line.rstrip('\\n')
    if line == 'quit':
        break
    print('line', line)
"""


def test_tty_session(be):
    sid = create(be, {"language": "python", "code": TTY_PROG, "tty": True, "cols": 90, "rows": 20})["id"]
    text, cur, _ = read_until(be, sid, lambda t, b: "True" in t or "False" in t)
    assert "start (90, 20) True" in text
    send_input(be, sid, "abc\n")
    text, cur, body = read_until(be, sid, lambda t, b: "line abc" in t, cursor=cur)
    assert text.count("abc") == 2   # the terminal echoes, then the program prints
    assert all(e["stream"] == "stdout" for e in body["events"])
    status, _, body = be.request("POST", f"/v1/sessions/{sid}/resize", {"cols": 132, "rows": 43})
    assert status == 204, body
    text, cur, _ = read_until(be, sid, lambda t, b: "size (132, 43)" in t, cursor=cur)
    send_input(be, sid, eof=True)   # ^D: input() raises EOFError, the program goes on
    text, cur, _ = read_until(be, sid, lambda t, b: "got eof" in t, cursor=cur)
    send_input(be, sid, "more\n")   # still accepted after eof on a tty
    text, cur, _ = read_until(be, sid, lambda t, b: "line more" in t, cursor=cur)
    send_input(be, sid, "quit\n")
    _, body = wait_ended(be, sid)
    assert body["state"] == "exited" and body["exit_code"] == 0
    s = session(be, sid)
    assert s["tty"] is True
    delete(be, sid)


def test_bad_resize(be):
    sid = create(be, {"language": "python", "code": TTY_PROG, "tty": True})["id"]
    for body in ({"cols": 0, "rows": 10}, {"cols": "a", "rows": 10}, {"cols": 10}):
        status, _, reply = be.request("POST", f"/v1/sessions/{sid}/resize", body)
        assert_error(status, reply, "bad_request", 400)
    delete(be, sid)


def test_ipython_repl(be):
    sid = create(be, {"language": "ipython"})["id"]
    send_input(be, sid, "1+1\n")
    text, _, _ = read_until(be, sid, lambda t, b: "2" in t.replace("In [", ""), timeout=30)
    send_input(be, sid, "print('x' * 3)\n")
    text, _, _ = read_until(be, sid, lambda t, b: "xxx" in t, timeout=30)
    delete(be, sid)


def test_c_session_compiles_and_runs(be):
    code = "#include <stdio.h>\nint main(){char b[100]; while(fgets(b,sizeof b,stdin)) printf(\"c:%s\", b); return 4;}"
    sid = create(be, {"language": "c", "code": code})["id"]
    send_input(be, sid, "x\n")
    text, cur, _ = read_until(be, sid, lambda t, b: "c:x\n" in t)   # line-buffered: arrives at once
    send_input(be, sid, eof=True)
    _, body = wait_ended(be, sid)
    assert body["state"] == "exited" and body["exit_code"] == 4
    assert session(be, sid)["compile"]["exit_code"] == 0
    delete(be, sid)


def test_c_compile_error_session(be):
    s = create(be, {"language": "c", "code": "int main(){ return nope; }"})
    sid = s["id"]
    assert s["state"] in ("running", "exited")
    s = wait_state(be, sid, {"exited"})
    assert s["exit_code"] == 1 and s["signal"] is None
    assert s["compile"]["exit_code"] == 1 and "nope" in s["compile"]["stderr"]
    body = output(be, sid, 0)
    assert "nope" in text_of(body["events"], "stderr") and text_of(body["events"], "stdout") == ""
    delete(be, sid)


# ---- WebSocket -------------------------------------------------------------------------------------

@pytest.mark.valgrind
def test_websocket_round_trip(be):
    sid = create(be, {"language": "python", "code": ECHO})["id"]
    ws = WebSocket(be, f"/v1/sessions/{sid}/ws")
    assert ws.status == 101, ws.head
    ws.send({"type": "input", "data": "hi\n"})
    msgs, text = ws.collect(text_has="HI\n")
    assert text == "HI\n" and msgs[-1]["cursor"] == 3
    assert all(m["type"] == "stdout" for m in msgs)
    ws.send({"type": "eof"})
    msgs, text = ws.collect()
    assert text == "bye\n"
    assert msgs[-2] == {"type": "exit", "state": "exited", "exit_code": 0, "signal": None}
    assert msgs[-1] == ("close", 1000)
    ws.close()
    delete(be, sid)


def test_websocket_signal_and_errors(be):
    sid = create(be, {"language": "python", "code": "import time\nprint('ready')\nwhile True: time.sleep(0.05)"})["id"]
    ws = WebSocket(be, f"/v1/sessions/{sid}/ws")
    ws.collect(until=lambda m: m["type"] == "stdout")
    ws.send({"type": "bogus"})
    msgs, _ = ws.collect(until=lambda m: m["type"] == "error")
    assert msgs[-1]["error"]["code"] == "bad_request"
    ws.send({"type": "resize", "cols": 10, "rows": 10})
    msgs, _ = ws.collect(until=lambda m: m["type"] == "error")
    assert msgs[-1]["error"]["code"] == "conflict"
    ws.send({"type": "signal", "signal": "INT"})
    msgs, _ = ws.collect()
    exit_msg = [m for m in msgs if isinstance(m, dict) and m["type"] == "exit"]
    assert exit_msg == [{"type": "exit", "state": "exited", "exit_code": None, "signal": "SIGINT"}]
    assert msgs[-1] == ("close", 1000)
    ws.close()
    delete(be, sid)


def test_websocket_several_clients_get_everything(be):
    sid = create(be, {"language": "python", "code": ECHO})["id"]
    a = WebSocket(be, f"/v1/sessions/{sid}/ws")
    b = WebSocket(be, f"/v1/sessions/{sid}/ws")
    assert a.status == b.status == 101
    time.sleep(0.2)
    send_input(be, sid, "one\n")
    a.send({"type": "input", "data": "two\n"})
    b.send({"type": "input", "data": "three\n"})
    time.sleep(0.3)
    send_input(be, sid, eof=True)
    for ws in (a, b):
        msgs, text = ws.collect()
        assert text == "ONE\nTWO\nTHREE\nbye\n"
        assert msgs[-2]["type"] == "exit" and msgs[-1] == ("close", 1000)
        ws.close()
    delete(be, sid)


def test_websocket_cursor_resume_and_replay(be):
    sid = create(be, {"language": "python", "code": ECHO})["id"]
    send_input(be, sid, "abc\n")
    _, cursor, _ = read_until(be, sid, lambda t, b: "ABC\n" in t)
    ws = WebSocket(be, f"/v1/sessions/{sid}/ws?cursor=2")
    msgs, text = ws.collect(text_has="C\n")
    assert text == "C\n" and msgs[-1]["cursor"] == cursor
    ws.close()
    send_input(be, sid, "def\n", eof=True)
    wait_ended(be, sid)
    # an ended session: the socket replays from the cursor, sends exit and closes
    ws = WebSocket(be, f"/v1/sessions/{sid}/ws?cursor={cursor}")
    msgs, text = ws.collect()
    assert text == "DEF\nbye\n"
    assert msgs[-2] == {"type": "exit", "state": "exited", "exit_code": 0, "signal": None}
    assert msgs[-1] == ("close", 1000)
    ws.close()
    ws = WebSocket(be, f"/v1/sessions/{sid}/ws?cursor=999999")
    assert ws.status == 400
    ws.close()
    delete(be, sid)


def test_websocket_without_upgrade_is_400(be, echo):
    status, _, body = be.request("GET", f"/v1/sessions/{echo}/ws")
    assert_error(status, body, "bad_request", 400)


def test_websocket_input_after_eof_is_error(be):
    sid = create(be, {"language": "python", "code": "import time\ntime.sleep(60)"})["id"]
    ws = WebSocket(be, f"/v1/sessions/{sid}/ws")
    ws.send({"type": "eof"})
    ws.send({"type": "input", "data": "x\n"})
    msgs, _ = ws.collect(until=lambda m: m["type"] in ("error", "exit"))
    errors = [m for m in msgs if isinstance(m, dict) and m["type"] == "error"]
    assert errors and errors[0]["error"]["code"] == "conflict", msgs
    ws.close()
    delete(be, sid)


# ---- tenancy -------------------------------------------------------------------------------------

def test_tenancy(start_server):
    srv = start_server(env=KEYS)
    a = create(srv, {"language": "python", "code": ECHO}, key="k1")["id"]
    b = create(srv, {"language": "python", "code": ECHO}, key="k2")["id"]
    c = create(srv, {"language": "python", "code": ECHO}, key="adm")["id"]
    # another client key gets 404 and does not see it
    for method, path, body in (("GET", f"/v1/sessions/{a}", None), ("GET", f"/v1/sessions/{a}/output", None),
                               ("POST", f"/v1/sessions/{a}/input", {"data": "x\n"}),
                               ("DELETE", f"/v1/sessions/{a}", None), ("GET", f"/v1/sessions/{a}/files", None)):
        status, _, reply = srv.request(method, path, body, headers=auth("k2"))
        assert_error(status, reply, "not_found", 404)

    def ids(key, query=""):
        status, _, body = srv.request("GET", "/v1/sessions" + query, headers=auth(key))
        assert status == 200, body
        return {s["id"] for s in body["sessions"]}

    assert ids("k1") == {a}
    assert ids("k2") == {b}
    assert ids("adm") == {a, b, c}
    assert ids("adm", "?mine=1") == {c}
    # the admin sees and manages any session
    assert session(srv, a, key="adm")["id"] == a
    status, _, _ = srv.request("GET", "/v1/sessions", headers=auth("wrong"))
    assert status == 401
    for sid, key in ((a, "adm"), (b, "k2"), (c, "adm")):
        delete(srv, sid, key)
    assert session(srv, a, key="k1")["state"] == "killed"


def test_empty_list_is_a_list(be):
    status, _, body = be.request("GET", "/v1/sessions?mine=1")
    assert status == 200 and isinstance(body["sessions"], list)


# ---- delete and deadlines ------------------------------------------------------------------------

def test_delete(be):
    sid = create(be, {"language": "python", "code": "import time\nwhile True: time.sleep(1)"})["id"]
    delete(be, sid)
    s = session(be, sid)
    assert s["state"] == "killed" and s["exit_code"] is None
    delete(be, sid)   # again: still 204 while the ended session is retained
    status, _, body = be.request("DELETE", "/v1/sessions/nosuchsession")
    assert_error(status, body, "not_found", 404)   # an id that never existed


def test_delete_stops_the_program_before_answering(be):
    # a program with a background child: once DELETE returned, only the launcher (or nothing) is left
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '1000'])\nprint('up')\nwhile True: time.sleep(1)"
    sid = create(be, {"language": "python", "code": code})["id"]
    read_until(be, sid, lambda t, b: "up" in t)
    cid = session_container(be, sid)
    assert "sleep" in docker("top", cid, "-o", "pid,args").stdout
    delete(be, sid)
    r = docker("top", cid, "-o", "pid,args", check=False)
    if r.returncode == 0:   # the container may already be gone
        procs = r.stdout.strip().splitlines()[1:]
        assert not [p for p in procs if "sleep" in p or "python" in p], r.stdout
    assert session(be, sid)["state"] == "killed"


def test_unknown_session_is_404(be):
    for method, path in (("GET", "/v1/sessions/nope"), ("GET", "/v1/sessions/nope/output"),
                         ("POST", "/v1/sessions/nope/input")):
        status, _, body = be.request(method, path, {"data": "x"} if method == "POST" else None)
        assert_error(status, body, "not_found", 404)


def test_idle_timeout_kills(be):
    sid = create(be, {"language": "python", "code": "import time\ntime.sleep(60)",
                      "limits": {"idle_timeout_s": 1}})["id"]
    time.sleep(1.6)
    s = session(be, sid)
    assert s["state"] == "killed", s


def test_lifetime_kills_despite_activity(be):
    sid = create(be, {"language": "python", "code": ECHO, "limits": {"lifetime_s": 2}})["id"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        send_input(be, sid, "x\n")   # activity keeps it from idling, not from its lifetime
        time.sleep(0.2)
    s = wait_state(be, sid, {"killed", "exited"}, timeout=3)
    assert s["state"] == "killed" and time.monotonic() - t0 < slow(3.5)


def test_session_timeout_ms(be):
    sid = create(be, {"language": "python", "code": "import time\ntime.sleep(60)",
                      "limits": {"timeout_ms": 500}})["id"]
    s = wait_state(be, sid, {"timeout", "killed", "exited", "lost"}, timeout=5)
    assert s["state"] == "timeout", s
    delete(be, sid)


def test_ended_session_retention(start_server):
    srv = settings_server(start_server, ended_retention_s=1)
    sid = create(srv, {"language": "python", "code": "print('x')"})["id"]
    s = wait_state(srv, sid, {"exited"})
    assert s["exit_code"] == 0
    assert text_of(output(srv, sid, 0)["events"]) == "x\n"
    time.sleep(1.5)
    status, _, body = srv.request("GET", f"/v1/sessions/{sid}")
    assert_error(status, body, "not_found", 404)


def test_caps(start_server):
    srv = settings_server(start_server, max_sessions=2, max_sessions_per_key=1)
    a = create(srv, {"language": "python", "code": ECHO})["id"]
    status, _, body = srv.request("POST", "/v1/sessions", {"language": "python", "code": ECHO})
    assert_error(status, body, "too_many_sessions", 429)
    assert body["error"]["scope"] == "key"
    delete(srv, a)
    assert srv.request("GET", "/healthz")[2]["sessions"] == 0


def test_server_cap(start_server):
    srv = settings_server(start_server, max_sessions=1, max_sessions_per_key=5)
    a = create(srv, {"language": "python", "code": ECHO})["id"]
    status, _, body = srv.request("POST", "/v1/sessions", {"language": "python", "code": ECHO})
    assert_error(status, body, "too_many_sessions", 429)
    assert body["error"]["scope"] == "server"
    status, _, body = srv.request("POST", "/v1/run", {"language": "python", "code": "1"})
    assert_error(status, body, "too_many_sessions", 429)
    health = srv.request("GET", "/healthz")[2]
    assert health["sessions"] == 1 and health["capacity"] == 1
    delete(srv, a)
    status, _, body = srv.request("POST", "/v1/run", {"language": "python", "code": "print(1)"})
    assert status == 200 and body["stdout"] == "1\n"


@pytest.mark.valgrind
def test_sigterm_with_live_sessions(start_server):
    srv = start_server()
    sids = [create(srv, {"language": "python", "code": ECHO})["id"] for _ in range(2)]
    ws = WebSocket(srv, f"/v1/sessions/{sids[0]}/ws")
    assert ws.status == 101
    assert len({session_container(srv, sid) for sid in sids} & backend_containers(srv)) == 2
    t0 = time.monotonic()
    srv.stop()   # SIGTERM; asserts exit 0 (and valgrind's verdict)
    assert time.monotonic() - t0 < slow(10)
    msgs, _ = ws.collect()
    assert msgs[-1] == ("close", 1001)
    ws.close()
    assert backend_containers(srv) == set()
