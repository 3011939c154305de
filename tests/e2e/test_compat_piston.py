"""Piston v2 on a backend: GET /api/v2/runtimes, POST /api/v2/execute (request fields, defaults,
validation messages, stages and statuses) and the WebSocket /api/v2/connect; keys, and the
anonymous tenant of CODECLOUD_PISTON_OPEN with its rate."""
import base64
import hashlib
import json
import time

import pytest

from backend_util import KEYS, WebSocket, auth, no_containers_left, track  # noqa: F401  (autouse fixture)
from conftest import slow

pytestmark = pytest.mark.docker

C_HELLO = '#include <stdio.h>\nint main(int c, char **v){printf("hi %s\\n", c > 1 ? v[1] : "-");return 0;}\n'


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    from conftest import Server
    s = track(Server(tmp_path_factory.mktemp("piston"), env=KEYS, name="piston").start())
    yield s
    s.stop()


@pytest.fixture
def open_server(start_server):
    return track(start_server(env={**KEYS, "CODECLOUD_PISTON_OPEN": "1"}))


def execute(server, body, key="k1", headers=None, expect=200):
    h = {**auth(key), **(headers or {})}
    status, hdrs, reply = server.request("POST", "/api/v2/execute", body, headers=h, timeout=slow(60))
    if expect is not None:
        assert status == expect, (status, reply)
    if status != 200:
        assert hdrs["content-type"].startswith("application/json"), hdrs
        assert set(reply) == {"message"} and isinstance(reply["message"], str), reply
    return reply


def job(code, language="python", version="*", **more):
    # A run_timeout a loaded test machine cannot hit by accident (Piston's default is 3 s).
    return {"language": language, "version": version, "files": [{"content": code}],
            "run_timeout": int(slow(20000)), **more}


STAGE_FIELDS = {"stdout", "stderr", "output", "code", "signal", "message", "status", "cpu_time", "wall_time",
                "memory"}


def check_stage(stage):
    assert set(stage) == STAGE_FIELDS, stage
    # output is both streams interleaved in the order written
    assert sorted(stage["output"]) == sorted(stage["stdout"] + stage["stderr"]), stage
    assert stage["status"] in (None, "RE", "SG", "TO", "OL", "EL", "XX"), stage
    return stage


# ---- runtimes -------------------------------------------------------------------------------

@pytest.mark.valgrind
def test_runtimes(keyed):
    status, hdrs, body = keyed.request("GET", "/api/v2/runtimes", headers=auth("k1"))
    assert status == 200 and hdrs["content-type"].startswith("application/json"), (status, body)
    by_name = {r["language"]: r for r in body}
    assert {"python", "c"} <= set(by_name), body
    for r in body:
        assert set(r) == {"language", "version", "aliases"}, r
        assert isinstance(r["version"], str) and r["version"][0].isdigit(), r
    assert "py" in by_name["python"]["aliases"]


def test_runtimes_needs_a_key(keyed):
    status, _, body = keyed.request("GET", "/api/v2/runtimes")
    assert status == 401 and set(body) == {"message"}, (status, body)
    status, _, body = keyed.request("GET", "/api/v2/runtimes", headers=auth("nope"))
    assert status == 401 and set(body) == {"message"}, (status, body)


# ---- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("body,message", [
    ([], "the body must be a JSON object"),
    ({"version": "*", "files": [{"content": "1"}]}, "language is required as a string"),
    ({"language": "python", "files": [{"content": "1"}]}, "version is required as a string"),
    ({"language": "python", "version": "*"}, "files is required as an array"),
    ({"language": "python", "version": "*", "files": {}}, "files is required as an array"),
    ({"language": "python", "version": "*", "files": [{"content": "1"}, {"name": "x"}]},
     "files[1].content is required as a string"),
    ({"language": "python", "version": "*", "files": [{"content": "1"}], "run_timeout": "5"},
     "If specified, run_timeout must be a number"),
    ({"language": "python", "version": "*", "files": [{"content": "1"}], "compile_memory_limit": -5},
     "compile_memory_limit must be non-negative"),
    ({"language": "python", "version": "*", "files": [{"content": "1"}], "run_timeout": 10 ** 9},
     "run_timeout cannot exceed the configured limit of 600000"),
    ({"language": "python", "version": "*", "files": []}, "files must include at least one utf8 encoded file"),
    ({"language": "python", "version": "*", "files": [{"content": "MQ==", "encoding": "base64"}]},
     "files must include at least one utf8 encoded file"),
    ({"language": "cobol", "version": "*", "files": [{"content": "1"}]}, "cobol-* runtime is unknown"),
    ({"language": "python", "version": "2", "files": [{"content": "1"}]}, "python-2 runtime is unknown"),
    ({"language": "python", "version": "*", "files": [{"content": "zz", "encoding": "hex"}, {"content": "1"}]},
     "files[0].content is not valid hex"),
    ({"language": "python", "version": "*", "files": [{"content": "1", "encoding": "rot13"}, {"content": "1"}]},
     "files[0].encoding must be one of utf8, base64, hex"),
])
def test_validation_messages(keyed, body, message):
    reply = execute(keyed, body, expect=400)
    assert reply["message"] == message


def test_execute_needs_a_key(keyed):
    reply = execute(keyed, job("print(1)"), key=None, expect=401)
    assert "key" in reply["message"]
    execute(keyed, job("print(1)"), key="wrong", expect=401)


def test_not_json(keyed):
    status, _, reply = keyed.request("POST", "/api/v2/execute", b"{nope", headers=auth("k1"))
    assert status == 400 and set(reply) == {"message"}, (status, reply)


# ---- execute -------------------------------------------------------------------------------

@pytest.mark.valgrind
def test_python_ok_with_stdin_args_and_text_plain(keyed):
    code = "import sys\nprint(sys.argv[1:], input())\nprint('e', file=sys.stderr)"
    body = json.dumps(job(code, language="py", version="3.x", stdin="zz", args=["a", "b"]))
    r = execute(keyed, body, headers={"Content-Type": "text/plain"})
    assert r["language"] == "python" and r["version"][0] == "3", r
    assert "compile" not in r
    run = check_stage(r["run"])
    assert run["stdout"] == "['a', 'b'] zz\n" and run["stderr"] == "e\n", run
    assert run["code"] == 0 and run["signal"] is None and run["status"] is None and run["message"] is None
    assert isinstance(run["wall_time"], int) and isinstance(run["memory"], int)


def test_version_selectors(keyed):
    status, _, rts = keyed.request("GET", "/api/v2/runtimes", headers=auth("k1"))
    version = next(r["version"] for r in rts if r["language"] == "python")
    major, minor = version.split(".")[:2]
    for sel in ("*", version, major, f"{major}.{minor}", f"{major}.x", f"^{major}", "x"):
        assert execute(keyed, job("print(1)", version=sel))["version"] == version, sel
    execute(keyed, job("print(1)", version=f"{int(major) + 1}"), expect=400)


def test_files_encodings_and_main_file(keyed):
    # As Piston: the main file is the first utf8 one, and keeps its name.
    files = [
        {"name": "data.bin", "content": base64.b64encode(b"b64!").decode(), "encoding": "base64"},
        {"name": "prog.py", "content": "import os, sys, helper\nprint(os.path.basename(__file__), sys.argv[0])\nhelper.hi()"},
        {"name": "helper.py", "content": "def hi():\n    print(open('data.txt').read(), open('data.bin').read())\n"},
        {"name": "data.txt", "content": b"hex!".hex(), "encoding": "hex"},
    ]
    r = execute(keyed, {"language": "python", "version": "*", "files": files})
    assert r["run"]["stdout"] == "prog.py prog.py\nhex! b64!\n", r


def test_binary_files_arrive_byte_exact(keyed):
    blob = bytes([0, 1, 0, 255, 254, 0x80, 10, 0]) + bytes(range(256))
    read = "import hashlib\nprint(hashlib.sha256(open('{}', 'rb').read()).hexdigest())"
    for enc, content in (("base64", base64.b64encode(blob).decode()), ("hex", blob.hex())):
        files = [{"name": "m.py", "content": read.format("blob")}, {"name": "blob", "content": content, "encoding": enc}]
        r = execute(keyed, {"language": "python", "version": "*", "files": files})
        assert r["run"]["stdout"] == hashlib.sha256(blob).hexdigest() + "\n", (enc, r)


def test_a_second_file_may_be_named_main_py(keyed):
    files = [{"name": "app.py", "content": "import main"}, {"name": "main.py", "content": "print('imported')"}]
    r = execute(keyed, {"language": "python", "version": "*", "files": files})
    assert r["run"]["stdout"] == "imported\n", r


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("name", ["../x.py", "a/../../x.py", ".."])
def test_a_name_leaving_the_directory_is_400(keyed, name, index):
    files = [{"name": "ok.py", "content": "print(1)"}]
    files.insert(index, {"name": name, "content": "print(2)"})
    reply = execute(keyed, {"language": "python", "version": "*", "files": files}, expect=400)
    assert "escape" in reply["message"], reply


def test_output_interleaves_stdout_and_stderr(keyed):
    # Each write waits for the one before to be seen: the order is the program's.
    code = ("import sys, time\n"
            "for i in range(3):\n"
            "    sys.stdout.write(f'o{i} '); sys.stdout.flush(); time.sleep(%s)\n"
            "    sys.stderr.write(f'e{i} '); sys.stderr.flush(); time.sleep(%s)\n") % (slow(0.2), slow(0.2))
    run = check_stage(execute(keyed, job(code))["run"])
    assert run["stdout"] == "o0 o1 o2 " and run["stderr"] == "e0 e1 e2 ", run
    assert run["output"] == "o0 e0 o1 e1 o2 e2 ", run


def test_c_compiles_every_source_file(keyed):
    files = [{"name": "prog.c", "content": '#include "helper.h"\nint main(void){return helper() - 42;}'},
             {"name": "helper.c", "content": '#include <stdio.h>\nint helper(void){puts("helped");return 42;}'},
             {"name": "helper.h", "content": "int helper(void);"}]
    r = execute(keyed, {"language": "c", "version": "*", "files": files})
    assert r["compile"]["code"] == 0 and r["run"]["stdout"] == "helped\n" and r["run"]["code"] == 0, r


def test_compile_timeout_is_enforced(keyed):
    # The file includes itself twice at every level down to 60: 2^60 includes, a preprocessing
    # that runs past any short timeout while its memory grows slowly (~150 MiB in a second here;
    # an exponential macro filled 512 MiB before a second on a quiet machine), under a 1 GiB bound.
    code = ("#if __INCLUDE_LEVEL__ < 60\n#include __FILE__\n#include __FILE__\n#endif\n"
            "#if __INCLUDE_LEVEL__ == 0\nint main(void){return 0;}\n#endif\n")
    t0 = time.monotonic()
    r = execute(keyed, job(code, language="c", compile_timeout=1000, run_timeout=60000,
                           compile_memory_limit=1 << 30))
    assert time.monotonic() - t0 < slow(30), r
    comp = r["compile"]
    assert comp["status"] == "TO" and comp["signal"] == "SIGKILL" and comp["code"] is None and "run" not in r, comp


@pytest.mark.parametrize("method,path", [("GET", "/api/v2/execute"), ("PUT", "/api/v2/execute"),
                                         ("POST", "/api/v2/runtimes")])
def test_wrong_method_is_answered_in_pistons_shape(keyed, method, path):
    status, hdrs, reply = keyed.request(method, path, headers=auth("k1"))
    assert status == 405 and hdrs["content-type"].startswith("application/json"), (status, reply)
    assert set(reply) == {"message"} and method in reply["message"], reply


def test_stdin_gets_a_trailing_newline(keyed):
    r = execute(keyed, job("import sys\nprint(repr(sys.stdin.read()))", stdin="abc"))
    assert r["run"]["stdout"] == "'abc\\n'\n", r
    r = execute(keyed, job("import sys\nprint(repr(sys.stdin.read()))", stdin="abc\n"))
    assert r["run"]["stdout"] == "'abc\\n'\n", r


def test_c_compiles_and_runs(keyed):
    r = execute(keyed, job(C_HELLO, language="c", args=["x"]))
    assert r["language"] == "c"
    comp, run = check_stage(r["compile"]), check_stage(r["run"])
    assert comp["code"] == 0 and comp["status"] is None, comp
    assert run["stdout"] == "hi x\n" and run["code"] == 0, run


def test_c_compile_error(keyed):
    r = execute(keyed, job("int main(){return 3}", language="gcc"))
    comp = check_stage(r["compile"])
    assert "run" not in r, r
    assert comp["code"] != 0 and comp["status"] == "RE" and "error" in comp["stderr"], comp


def test_runtime_error_and_signal(keyed):
    run = check_stage(execute(keyed, job("import sys\nsys.exit(3)"))["run"])
    assert run["code"] == 3 and run["status"] == "RE" and run["signal"] is None, run
    run = check_stage(execute(keyed, job("import os\nos.kill(os.getpid(), 9)"))["run"])
    assert run["status"] == "SG" and run["signal"] == "SIGKILL" and run["code"] is None, run


def test_timeout(keyed):
    t0 = time.monotonic()
    run = check_stage(execute(keyed, job("while True: pass", run_timeout=500))["run"])
    assert run["status"] == "TO" and run["signal"] == "SIGKILL", run
    assert time.monotonic() - t0 < slow(20)


def test_c_timeout(keyed):
    run = check_stage(execute(keyed, job("int main(){for(;;);}", language="c", run_timeout=500))["run"])
    assert run["status"] == "TO", run


def test_output_limits_per_stream(keyed):
    run = check_stage(execute(keyed, job("print('x' * 3000000)"))["run"])
    assert run["status"] == "OL" and run["message"] == "stdout length exceeded", {**run, "stdout": "…"}
    assert 0 < len(run["stdout"]) <= 16 << 20
    run = check_stage(execute(keyed, job("import sys\nsys.stderr.write('y' * 3000000)"))["run"])
    assert run["status"] == "EL" and run["message"] == "stderr length exceeded", {**run, "stderr": "…"}


def test_memory_limits(keyed):
    # A small Piston limit is raised to the policy's floor; the larger of the two serves both.
    r = execute(keyed, job("print(1)", run_memory_limit=1000, compile_memory_limit=-1))
    assert r["run"]["stdout"] == "1\n", r
    run = execute(keyed, job("x = bytearray(300 << 20)\nprint('no')", run_memory_limit=64 << 20,
                             run_timeout=int(slow(30000))))["run"]
    assert run["status"] == "SG" and run["stdout"] == "", run


# ---- the anonymous tenant -------------------------------------------------------------------

@pytest.mark.valgrind
def test_piston_open_without_key(open_server):
    r = execute(open_server, job("print(2)"), key=None)
    assert r["run"]["stdout"] == "2\n", r
    status, _, rts = open_server.request("GET", "/api/v2/runtimes")
    assert status == 200 and rts, rts
    # A key that is presented is still checked, and /v1 still needs one.
    execute(open_server, job("print(2)"), key="wrong", expect=401)
    status, _, _ = open_server.request("POST", "/v1/run", {"language": "python", "code": "print(1)"})
    assert status == 401


def test_piston_open_is_off_by_default(keyed):
    execute(keyed, job("print(2)"), key=None, expect=401)


def test_piston_open_rate(start_server, policy_file):
    from conftest import DEFAULT_POLICY
    text = DEFAULT_POLICY.read_text().replace("piston_rate = { per_s = 5, burst = 20 }",
                                              "piston_rate = { per_s = 0.01, burst = 2 }")
    assert "per_s = 0.01" in text
    s = track(start_server(policy=policy_file(text), env={**KEYS, "CODECLOUD_PISTON_OPEN": "1"}))
    bad = {"language": "cobol", "version": "*", "files": [{"content": "1"}]}   # cheap: no container
    assert execute(s, bad, key=None, expect=400)
    assert execute(s, bad, key=None, expect=400)
    reply = execute(s, bad, key=None, expect=429)
    assert "rate" in reply["message"]
    # Keyed callers are not the anonymous tenant.
    execute(s, bad, key="k1", expect=400)


# ---- WebSocket ---------------------------------------------------------------------------------

def ws_messages(ws, timeout=30):
    """Every message until the close frame → (messages, close code)."""
    ws.sock.settimeout(slow(timeout))
    msgs = []
    while True:
        m = ws.recv()
        if isinstance(m, tuple):
            return msgs, m[1]
        msgs.append(m)


def connect(server, key="k1"):
    ws = WebSocket(server, "/api/v2/connect", headers=auth(key))
    assert ws.status == 101, ws.head
    return ws


@pytest.mark.valgrind
def test_ws_session_python(keyed):
    ws = connect(keyed)
    ws.send({"type": "init", "language": "python", "version": "*",
             "files": [{"content": "import sys\nfor l in sys.stdin:\n    print(l.strip().upper(), flush=True)\n"}]})
    ws.sock.settimeout(slow(30))
    assert ws.recv() == {"type": "runtime", "language": "python", "version": ws_version(keyed, "python")}
    assert ws.recv() == {"type": "stage", "stage": "run"}
    ws.send({"type": "data", "stream": "stdin", "data": "hello\n"})
    text = ""
    while "HELLO" not in text:
        m = ws.recv()
        assert m["type"] == "data" and m["stream"] == "stdout", m
        text += m["data"]
    ws.send({"type": "signal", "signal": "SIGKILL"})
    msgs, code = ws_messages(ws)
    assert code == 4999, msgs
    assert msgs[-1]["type"] == "exit" and msgs[-1]["stage"] == "run", msgs
    assert msgs[-1]["signal"] == "SIGKILL" or msgs[-1]["code"] is not None, msgs
    ws.close()


def test_ws_stdin_right_after_init_is_kept(keyed):
    # Piston's CLI writes stdin as soon as it sent init, before the program runs.
    ws = connect(keyed)
    ws.send({"type": "init", "language": "python", "version": "*", "files": [{"content": "print('got', input())"}]})
    ws.send({"type": "data", "stream": "stdin", "data": "early\n"})
    ws.sock.settimeout(slow(30))
    msgs, code = ws_messages(ws)
    assert code == 4999, msgs
    out = "".join(m["data"] for m in msgs if m["type"] == "data" and m["stream"] == "stdout")
    assert out == "got early\n", msgs
    ws.close()


def ws_version(server, language):
    _, _, rts = server.request("GET", "/api/v2/runtimes", headers=auth("k1"))
    return next(r["version"] for r in rts if r["language"] == language)


def test_ws_session_c_and_exit_code(keyed):
    ws = connect(keyed)
    ws.send({"type": "init", "language": "c", "version": "*",
             "files": [{"content": '#include <stdio.h>\nint main(){char b[64];fgets(b,64,stdin);printf("<%s>",b);return 4;}'}]})
    msgs = []
    ws.sock.settimeout(slow(30))
    while not (msgs and msgs[-1].get("type") == "stage" and msgs[-1]["stage"] == "run"):
        msgs.append(ws.recv())
    assert [m["type"] for m in msgs] == ["runtime", "stage", "exit", "stage"], msgs
    assert msgs[1]["stage"] == "compile" and msgs[2] == {"type": "exit", "stage": "compile", "code": 0, "signal": None}
    ws.send({"type": "data", "stream": "stdin", "data": "abc\n"})
    rest, code = ws_messages(ws)
    assert code == 4999, rest
    assert "".join(m["data"] for m in rest if m["type"] == "data") == "<abc\n>", rest
    assert rest[-1] == {"type": "exit", "stage": "run", "code": 4, "signal": None}, rest
    ws.close()


def test_ws_compile_error(keyed):
    ws = connect(keyed)
    ws.send({"type": "init", "language": "c", "version": "*", "files": [{"content": "int main(){"}]})
    msgs, code = ws_messages(ws)
    assert code == 4999, msgs
    assert msgs[-1]["type"] == "exit" and msgs[-1]["stage"] == "compile" and msgs[-1]["code"] != 0, msgs
    assert any(m["type"] == "data" and m["stream"] == "stderr" for m in msgs), msgs
    ws.close()


@pytest.mark.parametrize("first,code", [
    ({"type": "data", "stream": "stdin", "data": "x"}, 4003),
    ({"type": "signal", "signal": "SIGKILL"}, 4003),
])
def test_ws_not_initialized(keyed, first, code):
    ws = connect(keyed)
    ws.send(first)
    msgs, got = ws_messages(ws)
    assert got == code, msgs
    ws.close()


def test_ws_init_timeout(keyed):
    ws = connect(keyed)
    msgs, code = ws_messages(ws, timeout=10)
    assert code == 4001 and msgs == [], msgs
    ws.close()


def test_ws_bad_init_is_notified(keyed):
    ws = connect(keyed)
    ws.send({"type": "init", "language": "cobol", "version": "*", "files": [{"content": "1"}]})
    msgs, code = ws_messages(ws)
    assert code == 4002, msgs
    assert msgs == [{"type": "error", "message": "cobol-* runtime is unknown"}], msgs
    ws.close()


def test_ws_errors_after_init(keyed):
    for msg, want in [({"type": "data", "stream": "stdout", "data": "x"}, 4004),
                      ({"type": "signal", "signal": "SIGNOPE"}, 4005),
                      ("init", 4000)]:
        ws = connect(keyed)
        init = {"type": "init", "language": "python", "version": "*", "files": [{"content": "input()"}]}
        ws.send(init)
        ws.sock.settimeout(slow(30))
        assert ws.recv()["type"] == "runtime"
        assert ws.recv() == {"type": "stage", "stage": "run"}
        ws.send(init if msg == "init" else msg)
        msgs, code = ws_messages(ws)
        assert code == want, (msg, msgs)
        ws.close()


def test_ws_needs_a_key_unless_open(keyed, open_server):
    ws = connect(keyed, key=None)
    ws.send({"type": "init", "language": "python", "version": "*", "files": [{"content": "print(1)"}]})
    msgs, code = ws_messages(ws)
    assert code == 4002 and msgs[0]["type"] == "error" and "key" in msgs[0]["message"], msgs
    ws.close()
    ws = connect(open_server, key=None)
    ws.send({"type": "init", "language": "python", "version": "*", "files": [{"content": "print(7)"}]})
    msgs, code = ws_messages(ws)
    assert code == 4999, msgs
    assert {(m["type"], m["stream"]) for m in msgs if m["type"] == "data"} == {("data", "stdout")}, msgs
    assert "".join(m["data"] for m in msgs if m["type"] == "data") == "7\n", msgs
    ws.close()


def test_ws_not_an_upgrade(keyed):
    status, _, body = keyed.request("GET", "/api/v2/connect", headers=auth("k1"))
    assert status == 400 and set(body) == {"message"}, (status, body)
