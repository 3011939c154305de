"""Notebook cells: POST /v1/sessions/{id}/execute on ipython sessions, against the real engine."""
import base64
import struct
import threading
import time

import pytest

import balancer_util
from backend_util import create, delete, output, read_until, send_input, session, text_of, wait_state
from balancer_util import fleet, redis  # noqa: F401  (fixtures)
from conftest import assert_error, slow

pytestmark = pytest.mark.docker

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def be(server):
    return server


@pytest.fixture
def nb(be):
    sid = create(be, {"language": "ipython"})["id"]
    yield sid
    delete(be, sid)


def execute(server, sid, code, timeout_ms=None, expect=200):
    body = {"code": code}
    if timeout_ms is not None:
        body["timeout_ms"] = timeout_ms
    status, _, reply = server.request("POST", f"/v1/sessions/{sid}/execute", body, timeout=slow(60))
    assert status == expect, (status, reply)
    if expect == 200:
        assert set(reply) == {"execution_count", "status", "outputs", "truncated"}, reply
    return reply


def streams(reply, name="stdout"):
    return "".join(o["text"] for o in reply["outputs"] if o["type"] == "stream" and o["name"] == name)


def result(reply):
    return [o["data"] for o in reply["outputs"] if o["type"] == "execute_result"]


# ---- cells ----------------------------------------------------------------------------------

@pytest.mark.valgrind
def test_state_print_results_errors(be, nb):
    r = execute(be, nb, "x = 20\nprint('x is', x)")
    assert r["status"] == "ok" and streams(r) == "x is 20\n" and not r["truncated"]
    first = r["execution_count"]
    r = execute(be, nb, "x * 2 + 2")
    assert r["status"] == "ok" and result(r) == [{"text/plain": "42"}]
    assert r["execution_count"] == first + 1
    r = execute(be, nb, "import sys\nprint('out')\nprint('err', file=sys.stderr)\nprint('out2')")
    assert [(o["name"], o["text"]) for o in r["outputs"]] == [("stdout", "out\n"), ("stderr", "err\n"),
                                                             ("stdout", "out2\n")]
    r = execute(be, nb, "1/0")
    assert r["status"] == "error"
    err = r["outputs"][-1]
    assert err["type"] == "error" and err["ename"] == "ZeroDivisionError" and err["evalue"] == "division by zero"
    assert any("1/0" in line for line in err["traceback"])
    r = execute(be, nb, "def f(:")
    assert r["status"] == "error" and r["outputs"][-1]["ename"] == "SyntaxError"
    assert result(execute(be, nb, "x"))[0]["text/plain"] == "20"   # still there after errors


def test_subprocess_output_goes_to_the_reply_not_the_record(be, nb):
    r = execute(be, nb, "import os, subprocess\nprint('a')\nsubprocess.run('echo b; echo c >&2', shell=True)\n"
                        "os.system('echo d')\nprint('e')")
    assert streams(r) == "a\nb\nd\ne\n" and streams(r, "stderr") == "c\n"
    body = output(be, nb)
    assert not any(s in text_of(body["events"]) for s in ("a\n", "b\n", "c\n", "d\n", "e\n")), body


def test_display_data_html_and_input_refused(be, nb):
    r = execute(be, nb, "from IPython.display import HTML, display\ndisplay(HTML('<b>hi</b>'))")
    assert r["outputs"][0]["type"] == "display_data"
    assert r["outputs"][0]["data"]["text/html"] == "<b>hi</b>" and "text/plain" in r["outputs"][0]["data"]
    r = execute(be, nb, "input('name? ')")
    assert r["status"] == "error" and r["outputs"][-1]["ename"] == "StdinNotImplementedError"


def test_matplotlib_png(be, nb):
    r = execute(be, nb, "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('t')\nplt.show()")
    assert r["status"] == "ok", r
    shown = [o for o in r["outputs"] if o["type"] == "display_data"]
    assert len(shown) == 1 and shown[0]["data"]["text/plain"].startswith("<Figure size")
    png = base64.b64decode(shown[0]["data"]["image/png"])
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert 200 < width < 2000 and 200 < height < 2000, (width, height)
    # A figure left open at the end of a cell is shown too; no font cache was rebuilt.
    r = execute(be, nb, "fig = plt.figure(figsize=(2, 1))\nplt.bar([1, 2], [3, 4])\nNone")
    shown = [o for o in r["outputs"] if o["type"] == "display_data"]
    assert len(shown) == 1 and base64.b64decode(shown[0]["data"]["image/png"])[:8] == PNG_SIGNATURE
    r = execute(be, nb, "import os\nsorted(os.listdir('/tmp/mpl')) if os.path.isdir('/tmp/mpl') else []")
    assert "fontlist" not in result(r)[0]["text/plain"], r


# ---- timeouts and the end of the interpreter ------------------------------------------------------

def test_interrupted_loop_then_working_cell(be, nb):
    execute(be, nb, "n = 7")
    t = time.monotonic()
    r = execute(be, nb, "while True: pass", timeout_ms=500)
    assert r["status"] == "timeout" and time.monotonic() - t < slow(5)
    assert any(o["type"] == "error" and o["ename"] == "KeyboardInterrupt" for o in r["outputs"]), r
    r = execute(be, nb, "n + 1")
    assert r["status"] == "ok" and result(r) == [{"text/plain": "8"}]
    assert session(be, nb)["state"] == "running"


@pytest.mark.parametrize("code,exit_code", [("exit()", 0), ("quit()", 0), ("import sys; sys.exit(2)", 2),
                                            ("import os; print('x', flush=True); os._exit(3)", 3),
                                            ("import ctypes; ctypes.string_at(0)", None)])
def test_cell_that_ends_the_interpreter(be, code, exit_code):
    sid = create(be, {"language": "ipython"})["id"]
    r = execute(be, sid, code)
    assert r["status"] == "error", r
    assert r["outputs"][-1]["type"] == "error" and r["outputs"][-1]["ename"] == "SessionEnded", r
    s = wait_state(be, sid, {"exited"})
    assert s["exit_code"] == exit_code
    if exit_code is None:
        assert s["signal"] == "SIGSEGV", s
    status, _, reply = be.request("POST", f"/v1/sessions/{sid}/execute", {"code": "1"})
    assert_error(status, reply, "conflict", 409)
    delete(be, sid)


def test_large_output_is_truncated(be):
    sid = create(be, {"language": "ipython", "limits": {"output_bytes": 10000}})["id"]
    r = execute(be, sid, "print('x' * 50000)")
    assert r["truncated"] is True and r["status"] == "ok"
    text = streams(r)
    assert text.endswith("\n[output truncated]") and len(text) <= 10000 + len("\n[output truncated]")
    # Through a subprocess (OS-level fd 1) as well, and the session goes on.
    r = execute(be, sid, "import os\nos.system('head -c 300000 /dev/zero | tr \"\\\\0\" y')")
    assert r["truncated"] is True and streams(r).endswith("\n[output truncated]")
    r = execute(be, sid, "'fine'")
    assert r["truncated"] is False and result(r) == [{"text/plain": "'fine'"}]
    delete(be, sid)


# ---- sharing and conflicts ---------------------------------------------------------------------------

def test_two_notebooks_are_isolated(be):
    a = create(be, {"language": "ipython"})["id"]
    b = create(be, {"language": "ipython"})["id"]
    execute(be, a, "secret = 'A'\nopen('mine.txt', 'w').write('A')")
    r = execute(be, b, "secret")
    assert r["status"] == "error" and r["outputs"][-1]["ename"] == "NameError"
    r = execute(be, b, "import os\nos.path.exists('mine.txt'), os.listdir('/tmp')")
    assert result(r)[0]["text/plain"].startswith("(False,")
    assert result(execute(be, a, "open('mine.txt').read()")) == [{"text/plain": "'A'"}]
    delete(be, a)
    delete(be, b)


def test_repl_and_execute_share_execution_count(be, nb):
    send_input(be, nb, "1+1\n")
    # The next prompt, not just the result: the driver tells the backend it is idle before it.
    _, cursor, _ = read_until(be, nb, lambda t, b: "Out[1]: 2" in t and "In [2]: " in t, timeout=30)
    r = execute(be, nb, "print('CELL-ONLY'); 5")
    assert r["execution_count"] == 2 and result(r) == [{"text/plain": "5"}]
    send_input(be, nb, "_ + 1\n")
    text, _, _ = read_until(be, nb, lambda t, b: "Out[3]: 6" in t, timeout=30)
    assert "CELL-ONLY" not in text


def test_conflicts(be, nb):
    execute(be, nb, "0")   # the driver is at its prompt
    send_input(be, nb, "import time; time.sleep(2)\n")
    time.sleep(0.5)
    status, _, reply = be.request("POST", f"/v1/sessions/{nb}/execute", {"code": "1"})
    assert_error(status, reply, "conflict", 409)
    read_until(be, nb, lambda t, b: "In [3]" in t, timeout=30)
    assert execute(be, nb, "1")["status"] == "ok"

    # A second cell while one runs.
    first = {}
    t = threading.Thread(target=lambda: first.update(execute(be, nb, "import time; time.sleep(1.5); 'slow'")))
    t.start()
    time.sleep(0.5)
    status, _, reply = be.request("POST", f"/v1/sessions/{nb}/execute", {"code": "1"})
    assert_error(status, reply, "conflict", 409)
    t.join()
    assert result(first) == [{"text/plain": "'slow'"}]


def test_execute_errors(be):
    sid = create(be, {"language": "python", "code": "input()"})["id"]
    status, _, reply = be.request("POST", f"/v1/sessions/{sid}/execute", {"code": "1"})
    assert_error(status, reply, "conflict", 409)
    delete(be, sid)
    sid = create(be, {"language": "ipython"})["id"]
    for body in ({}, {"code": 1}, {"code": "1", "timeout_ms": 0}, {"code": "1", "timeout_ms": "5"}):
        status, _, reply = be.request("POST", f"/v1/sessions/{sid}/execute", body)
        assert_error(status, reply, "bad_request", 400)
    delete(be, sid)
    status, _, reply = be.request("POST", f"/v1/sessions/{sid}/execute", {"code": "1"})
    assert_error(status, reply, "conflict", 409)


def test_execute_through_a_balancer(fleet):
    fleet.backend()
    bal = fleet.balancer()
    sid = balancer_util.create(bal, {"language": "ipython"})["id"]
    status, _, reply = bal.request("POST", f"/v1/sessions/{sid}/execute", {"code": "import time; time.sleep(0.2); 6*7"},
                                   headers=balancer_util.auth("k1"), timeout=slow(60))
    assert status == 200 and result(reply) == [{"text/plain": "42"}], (status, reply)
    status, _, _ = bal.request("DELETE", f"/v1/sessions/{sid}", headers=balancer_util.auth("k1"))
    assert status == 204
