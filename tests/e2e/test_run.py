"""POST /v1/run against the real engine and images: every status, inputs, files, bad requests."""
import time

import pytest

from backend_util import auth, run, run_ok
from conftest import assert_error, slow

pytestmark = pytest.mark.docker


@pytest.fixture
def be(server):
    return server


@pytest.mark.valgrind
def test_python_ok_has_every_field(be):
    r = run_ok(be, {"language": "python", "code": "print(6*7)"})
    assert r["language"] == "python"
    assert r["exit_code"] == 0 and r["signal"] is None
    assert r["stdout"] == "42\n" and r["stderr"] == ""
    assert r["truncated"] is False
    assert r["compile"] is None


def test_alias_answers_with_canonical_name(be):
    r = run_ok(be, {"language": "py", "code": "print('hi')"})
    assert r["language"] == "python" and r["stdout"] == "hi\n"
    r = run_ok(be, {"language": "gcc", "code": "#include <stdio.h>\nint main(){puts(\"c\");}"})
    assert r["language"] == "c" and r["stdout"] == "c\n"


def test_c_ok_reports_compile(be):
    r = run_ok(be, {"language": "c", "code": "#include <stdio.h>\nint main(){printf(\"hi\\n\");return 0;}"})
    assert r["stdout"] == "hi\n" and r["exit_code"] == 0 and r["signal"] is None
    c = r["compile"]
    assert {k: c[k] for k in ("exit_code", "stdout", "stderr")} == {"exit_code": 0, "stdout": "", "stderr": ""}, c
    assert c["time_ms"] >= c["cpu_ms"] // 2 and c["cpu_ms"] > 0, c


def test_runtime_error_nonzero_exit(be):
    r = run_ok(be, {"language": "python", "code": "import sys\nprint('out')\nsys.stderr.write('err\\n')\nsys.exit(3)"},
               expect="runtime_error")
    assert r["exit_code"] == 3 and r["signal"] is None
    assert r["stdout"] == "out\n" and r["stderr"] == "err\n"


def test_python_exception_is_runtime_error(be):
    r = run_ok(be, {"language": "python", "code": "1/0"}, expect="runtime_error")
    assert r["exit_code"] == 1
    assert "ZeroDivisionError" in r["stderr"]


def test_segfault_is_runtime_error_with_signal(be):
    r = run_ok(be, {"language": "c", "code": "int main(){*(volatile int*)0 = 1; return 0;}"},
               expect="runtime_error")
    assert r["signal"] == "SIGSEGV" and r["exit_code"] is None


def test_compile_error_does_not_run(be):
    r = run_ok(be, {"language": "c", "code": "#include <stdio.h>\nint main(){puts(\"ran\"); return undeclared;}"},
               expect="compile_error")
    assert r["compile"]["exit_code"] == 1
    assert "undeclared" in r["compile"]["stderr"] and "error" in r["compile"]["stderr"]
    assert r["stdout"] == "" and r["stderr"] == ""
    assert "ran" not in r["stdout"]


def test_timeout(be):
    t0 = time.monotonic()
    r = run_ok(be, {"language": "python", "code": "print('start', flush=True)\nwhile True: pass",
                    "limits": {"timeout_ms": 500}}, expect="timeout")
    assert r["stdout"] == "start\n"
    assert 450 <= r["time_ms"] < 5000, r
    assert time.monotonic() - t0 < slow(10)


def test_memory_limit(be):
    r = run_ok(be, {"language": "python", "code": "x = bytearray(200 * 1024 * 1024)\nprint(len(x))",
                    "limits": {"memory_mb": 64}}, expect="memory_limit")
    assert r["stdout"] == ""


def test_output_limit_cuts_at_output_bytes(be):
    r = run_ok(be, {"language": "python", "code": "import sys\nwhile True: sys.stdout.write('x' * 1000)",
                    "limits": {"output_bytes": 4096}}, expect="output_limit")
    assert r["truncated"] is True
    assert r["stdout"] == "x" * 4096


def test_stdin_and_args(be):
    code = "import sys\nprint(input()[::-1])\nprint(sys.stdin.read().upper(), end='')\nprint(sys.argv[1:])"
    r = run_ok(be, {"language": "python", "code": code, "stdin": "abc\nrest\n", "args": ["a", "b c"]})
    assert r["stdout"] == "cba\nREST\n['a', 'b c']\n"


def test_c_stdin_and_args(be):
    code = ("#include <stdio.h>\nint main(int argc,char**argv){char b[64]; if(!fgets(b,sizeof b,stdin)) return 2;"
            "printf(\"%d %s %s\", argc, argv[1], b); return 0;}")
    r = run_ok(be, {"language": "c", "code": code, "stdin": "line\n", "args": ["x"]})
    assert r["stdout"] == "2 x line\n"


def test_compile_options(be):
    # They go where the image entry's compile argv says "{options}"; a language whose compile step
    # has none refuses them.
    code = "#include <stdio.h>\nint main(){puts(WHO);}"
    r = run_ok(be, {"language": "c", "code": code, "compile_options": ["-DWHO=\"them\"", "-Wall"]})
    assert r["stdout"] == "them\n", r
    run_ok(be, {"language": "c", "code": code}, expect="compile_error")
    status, body = run(be, {"language": "python", "code": "print(1)", "compile_options": ["-O"]})
    assert_error(status, body, "bad_request", 400)
    assert body["error"]["message"] == "python's compile step takes no compile_options", body
    status, body = run(be, {"language": "c", "code": code, "compile_options": "-O"})
    assert_error(status, body, "bad_request", 400)
    assert body["error"]["message"] == "compile_options must be a list of strings", body
    langs = {lang["name"]: lang for lang in be.request("GET", "/v1/languages", headers=auth(None))[2]["languages"]}
    assert langs["c"]["compile_options"] is True and langs["python"]["compile_options"] is False


def test_no_stdin_means_eof(be):
    r = run_ok(be, {"language": "python", "code": "import sys\nprint(repr(sys.stdin.read()))"})
    assert r["stdout"] == "''\n"


def test_c_header_in_files(be):
    r = run_ok(be, {"language": "c", "code": "#include <stdio.h>\n#include \"lib/util.h\"\nint main(){printf(\"%d\\n\", twice(21));}",
                    "files": [{"name": "lib/util.h", "content": "static int twice(int x){return 2*x;}\n"}]})
    assert r["stdout"] == "42\n"


def test_python_imports_module_from_files(be):
    r = run_ok(be, {"language": "python", "code": "import helper\nfrom pkg import mod\nprint(helper.X, mod.Y)",
                    "files": [{"name": "helper.py", "content": "X = 'helper'"},
                              {"name": "pkg/__init__.py", "content": ""},
                              {"name": "pkg/mod.py", "content": "Y = 'mod'"}]})
    assert r["stdout"] == "helper mod\n"


def test_invalid_utf8_output_replaced(be):
    r = run_ok(be, {"language": "python",
                    "code": "import sys\nsys.stdout.buffer.write(b'a\\xffb\\xc3\\n')\nsys.stderr.buffer.write(b'\\xfe')"})
    assert r["stdout"] == "a\ufffdb\ufffd\n"
    assert r["stderr"] == "\ufffd"


def test_utf8_output_kept(be):
    r = run_ok(be, {"language": "python", "code": "print('héllo → 世界')"})
    assert r["stdout"] == "héllo → 世界\n"


def test_background_process_does_not_hold_the_run(be):
    t0 = time.monotonic()
    r = run_ok(be, {"language": "python",
                    "code": "import subprocess\nsubprocess.Popen(['sleep', '1000'])\nprint('bye')",
                    "limits": {"timeout_ms": 20000}})
    assert r["stdout"] == "bye\n"
    assert r["time_ms"] < 3000 and time.monotonic() - t0 < slow(5)


# ---- bad requests ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x.py", "a//b", "/abs", "a/./b", "..", "sp ace.py", "dir/", "x" * 256,
                                  "ü.py", ""])
def test_bad_file_name(be, name):
    status, body = run(be, {"language": "python", "code": "1", "files": [{"name": name, "content": ""}]})
    assert_error(status, body, "bad_request", 400)


def test_duplicate_file_name(be):
    status, body = run(be, {"language": "python", "code": "1",
                            "files": [{"name": "a.py", "content": ""}, {"name": "a.py", "content": "x"}]})
    assert_error(status, body, "bad_request", 400)
    assert "a.py" in body["error"]["message"]


def test_main_file_name_in_files(be):
    status, body = run(be, {"language": "python", "code": "1", "files": [{"name": "main.py", "content": ""}]})
    assert_error(status, body, "bad_request", 400)
    assert "main.py" in body["error"]["message"]


@pytest.mark.parametrize("limit,value,bound", [
    ("timeout_ms", 99, "100"), ("timeout_ms", 600001, "600000"), ("memory_mb", 8, "32"),
    ("memory_mb", 4096, "2048"), ("cpus", 0.01, "0.05"), ("cpus", 3, "2"), ("pids", 2, "8"),
    ("pids", 5000, "1024"), ("output_bytes", 10, "1024"), ("output_bytes", 1 << 30, "16777216"),
])
def test_limit_outside_bounds_names_the_bound(be, limit, value, bound):
    status, body = run(be, {"language": "python", "code": "1", "limits": {limit: value}})
    assert_error(status, body, "bad_request", 400)
    msg = body["error"]["message"]
    assert limit in msg and bound in msg, msg
    assert ("minimum" in msg) == (value < float(bound)), msg


@pytest.mark.parametrize("body", [
    {"language": 5, "code": "1"},
    {"language": "python", "code": 5},
    {"language": "python"},
    {"language": "python", "code": "1", "files": {"a.py": "x"}},
    {"language": "python", "code": "1", "files": [{"name": "a.py", "content": 5}]},
    {"language": "python", "code": "1", "files": [{"name": 5, "content": ""}]},
    {"language": "python", "code": "1", "args": "a b"},
    {"language": "python", "code": "1", "args": [1]},
    {"language": "python", "code": "1", "stdin": 5},
    {"language": "python", "code": "1", "limits": "fast"},
    {"language": "python", "code": "1", "limits": {"memory_mb": "big"}},
    {"language": "python", "code": "1", "limits": {"timeout_ms": 1000.5}},
    [1, 2],
])
def test_wrong_types(be, body):
    status, reply = run(be, body)
    assert_error(status, reply, "bad_request", 400)


def test_malformed_json(be):
    status, _, reply = be.request("POST", "/v1/run", b'{"language": "python", "code": ',
                                  headers={"Content-Type": "application/json"})
    assert_error(status, reply, "bad_request", 400)


def test_program_over_cap_is_413(be):
    status, body = run(be, {"language": "python", "code": "#" * (300 << 10),
                            "files": [{"name": "big.py", "content": "#" * (300 << 10)}]})
    assert_error(status, body, "payload_too_large", 413)


def test_program_just_under_cap_runs(be):
    r = run_ok(be, {"language": "python", "code": "print(1)\n" + "#" * ((512 << 10) - 100)})
    assert r["stdout"] == "1\n"


def test_unknown_language_is_422(be):
    status, body = run(be, {"language": "cobol", "code": "1"})
    assert_error(status, body, "unsupported_language", 422)
    status, body = run(be, {"language": "Python", "code": "1"})   # names are case-sensitive
    assert_error(status, body, "unsupported_language", 422)


def test_ipython_runs_code_as_script(be):
    r = run_ok(be, {"language": "ipython", "code": "x = 6 * 7\nprint(x)"})
    assert r["language"] == "ipython" and "42" in r["stdout"] and r["compile"] is None


def test_run_counts_in_metrics(be):
    before = be.metric("cloudcode_runs_total") or 0
    run_ok(be, {"language": "python", "code": "pass"})
    assert be.metric("cloudcode_runs_total") == before + 1
