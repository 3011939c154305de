"""The Judge0 CE dialect (docs/compat.md) against the real engine: every status 1-14, the
fields with Judge0's defaults, bounds and 422 messages, base64 with Ruby's line wrapping, the
UTF-8 refusal, queued and waited submissions, batches, deletes, keys as X-Auth-Token, and the
information routes.  The client here is our own, following the flows of Judge0's official
clients (create with wait, create then poll, batches)."""
import base64
import time

import pytest

from backend_util import KEYS
from conftest import slow

pytestmark = pytest.mark.docker

C_HEAD = "#include <stdio.h>\n#include <stdlib.h>\n#include <signal.h>\n"
DONE = lambda s: s["status"]["id"] >= 3  # noqa: E731


class Judge0:
    """A small Judge0 client: what judge0-python and the Judge0 IDE send."""

    def __init__(self, server, token=None):
        self.server = server
        self.headers = {"X-Auth-Token": token} if token else {}

    def request(self, method, path, body=None):
        return self.server.request(method, path, body, headers=self.headers, timeout=slow(60))

    def create(self, expect=201, wait=True, query="", **sub):
        path = f"/submissions?wait={'true' if wait else 'false'}{query}"
        status, _, body = self.request("POST", path, sub)
        assert status == expect, (status, body)
        return body

    def get(self, token, query="", expect=200):
        status, _, body = self.request("GET", f"/submissions/{token}{query}")
        assert status == expect, (status, body)
        return body

    def wait(self, token, query="", timeout=60):
        deadline = time.monotonic() + slow(timeout)
        while True:
            sub = self.get(token, query)
            if DONE(sub):
                return sub
            assert time.monotonic() < deadline, sub
            time.sleep(0.1)


@pytest.fixture
def j0(server):
    return Judge0(server)


def ruby_b64(data):
    """Ruby's Base64.encode64: a newline after every 60 characters and at the end."""
    text = base64.b64encode(data).decode()
    return "".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60))


def status_of(j0, **sub):
    out = j0.create(query="&fields=*", **sub)
    return out["status"]["id"], out


# ---- statuses ---------------------------------------------------------------------------

def test_accepted_without_and_with_expected_output(j0):
    sid, out = status_of(j0, source_code="print(input())", language_id=71, stdin="hi")
    assert sid == 3 and out["stdout"] == "hi\n" and out["expected_output"] is None, out
    # Trailing spaces of each line and trailing blank lines do not count.
    sid, out = status_of(j0, source_code="print('a  ')\nprint('b')\nprint()", language_id=71,
                         expected_output="a\nb")
    assert sid == 3, out
    assert out["status"] == {"id": 3, "description": "Accepted"}
    assert out["language"] == {"id": 71, "name": out["language"]["name"]} and \
        out["language"]["name"].startswith("Python (3."), out
    assert float(out["time"]) >= 0 and float(out["wall_time"]) >= float(out["time"]) / 4, out
    assert isinstance(out["memory"], int) and out["memory"] > 0, out
    assert out["exit_code"] == 0 and out["exit_signal"] is None and out["message"] is None, out


def test_wrong_answer(j0):
    sid, out = status_of(j0, source_code="print('b')", language_id=71, expected_output="a")
    assert sid == 4 and out["status"]["description"] == "Wrong Answer", out
    # Leading whitespace and inner spaces count.
    assert status_of(j0, source_code="print(' a')", language_id=71, expected_output="a")[0] == 4


def test_time_limit_exceeded_is_cpu_time(j0):
    sid, out = status_of(j0, source_code="while True: pass", language_id=71, cpu_time_limit=0.5,
                         cpu_extra_time=0.2, wall_time_limit=10)
    assert sid == 5 and out["message"] == "Time limit exceeded", out
    assert 0.5 <= float(out["time"]) < 5, out
    # Sleeping costs no CPU time: within cpu_time_limit and wall_time_limit it is accepted.
    sid, out = status_of(j0, source_code="import time\ntime.sleep(1)", language_id=71, cpu_time_limit=0.5)
    assert sid == 3 and float(out["wall_time"]) >= 1 > float(out["time"]), out
    # The wall time limit still applies.
    sid, out = status_of(j0, source_code="import time\ntime.sleep(5)", language_id=71, wall_time_limit=1)
    assert sid == 5, out


def test_compilation_error(j0):
    sid, out = status_of(j0, source_code="int main(){ return nope; }", language_id=50)
    assert sid == 6 and "nope" in out["compile_output"], out
    assert out["stdout"] is None and out["time"] is None and out["memory"] is None, out


@pytest.mark.parametrize("body,sid,signo", [
    ("int *p = 0; *p = 1;", 7, 11),
    ("volatile int z = 0, r; r = 10 / z; printf(\"%d\", r);", 9, 8),
    ("abort();", 10, 6),
    ("raise(SIGUSR1);", 12, 10),
])
def test_runtime_errors_by_signal(j0, body, sid, signo):
    got, out = status_of(j0, source_code=C_HEAD + "int main(void){ " + body + " return 0; }", language_id=50)
    assert got == sid and out["exit_signal"] == signo, out
    assert out["message"] == f"Caught fatal signal {signo}", out


def test_sigxfsz_past_max_file_size(j0):
    # Output past max_file_size (KB) is isolate's file-size limit on stdout: SIGXFSZ.
    sid, out = status_of(j0, source_code="print('x' * 4096)", language_id=71, max_file_size=1)
    assert sid == 8 and out["exit_signal"] == 25, out
    # So is a file the program writes (C: CPython ignores SIGXFSZ and raises an OSError instead).
    code = C_HEAD + ('int main(void){ FILE *f = fopen("big", "w"); for (int i = 0; i < 100; i++) '
                     '{ fputs("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", f); '
                     'fflush(f); } return 0; }')
    assert status_of(j0, source_code=code, language_id=50, max_file_size=4)[0] == 8


def test_nzec(j0):
    sid, out = status_of(j0, source_code="import sys\nprint('x')\nsys.exit(3)", language_id=71)
    assert sid == 11 and out["exit_code"] == 3 and out["message"] == "Exited with error status 3", out
    assert out["stdout"] == "x\n", out


def test_memory_limit_is_runtime_error_other(j0):
    sid, out = status_of(j0, source_code="x = bytearray(400 << 20)\nprint(len(x))", language_id=71,
                         memory_limit=65536)
    assert sid == 12 and out["exit_signal"] == 9, out


def test_internal_error(start_server, policy_file):
    # A policy that refuses every run: the submission cannot be run at all.
    policy = policy_file('local p = require "policies.backend"\np.pools = nil\n'
                         'p.admit = function(req) return nil, "runs are closed" end\nreturn p\n')
    j0 = Judge0(start_server(policy=policy))
    sid, out = status_of(j0, source_code="print(1)", language_id=71)
    assert sid == 13 and out["status"]["description"] == "Internal Error", out
    assert "runs are closed" in out["message"], out


def test_passing_refusals_are_tried_again(start_server, policy_file):
    # The server is full twice (429, scope server), then takes the run: Accepted after 3 attempts.
    policy = policy_file('local p = require "policies.backend"\np.pools = nil\nlocal n = 0\n'
                         'p.admit = function(req)\n  n = n + 1\n'
                         '  if n <= 2 then return nil, "full for now", "too_many_sessions", "server" end\n'
                         '  return req.limits\nend\nreturn p\n')
    j0 = Judge0(start_server(policy=policy))
    t0 = time.monotonic()
    sid, out = status_of(j0, source_code="print(1)", language_id=71)
    assert sid == 3 and out["stdout"] == "1\n", out
    assert time.monotonic() - t0 >= 3  # 1 s, then 2 s between the attempts
    # Always full: Internal Error once the attempts are spent.
    sid, out = status_of(j0, source_code="print(1)", language_id=71)
    assert sid == 3, out  # n is past 2 now: accepted at once
    policy = policy_file('local p = require "policies.backend"\np.pools = nil\n'
                         'p.admit = function(req) return nil, "always full", "too_many_sessions", "server" end\n'
                         'return p\n', name="full.lua")
    sid, out = status_of(Judge0(start_server(policy=policy)), source_code="print(1)", language_id=71)
    assert sid == 13 and "always full" in out["message"], out


def test_statuses_list_all_fourteen(j0):
    status, _, body = j0.request("GET", "/statuses")
    assert status == 200 and [s["id"] for s in body] == list(range(1, 15)), body
    assert body[0] == {"id": 1, "description": "In Queue"}
    assert body[13] == {"id": 14, "description": "Exec Format Error"}


def test_queued_then_processing_then_done(start_server, policy_file):
    # One worker: the second submission waits In Queue while the first is Processing.
    policy = policy_file('local p = require "policies.backend"\np.pools = nil\n'
                         'p.judge0.workers = 1\nreturn p\n')
    j0 = Judge0(start_server(policy=policy))
    first = j0.create(wait=False, source_code="import time\ntime.sleep(2)\nprint(1)", language_id=71)
    second = j0.create(wait=False, source_code="print(2)", language_id=71)
    assert set(first) == {"token"} and len(second["token"]) == 36, (first, second)
    assert j0.get(second["token"])["status"] == {"id": 1, "description": "In Queue"}
    deadline = time.monotonic() + slow(30)
    while j0.get(first["token"])["status"]["id"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status, _, workers = j0.request("GET", "/workers")
    assert status == 200 and workers[0]["working"] == 1 and workers[0]["size"] == 1, workers
    assert j0.wait(first["token"])["stdout"] == "1\n"
    assert j0.wait(second["token"])["stdout"] == "2\n"


def test_queue_is_full(start_server, policy_file):
    policy = policy_file('local p = require "policies.backend"\np.pools = nil\n'
                         'p.judge0.workers = 1\np.judge0.config.max_queue_size = 1\nreturn p\n')
    j0 = Judge0(start_server(policy=policy))
    j0.create(wait=False, source_code="import time\ntime.sleep(2)", language_id=71)
    j0.create(wait=False, source_code="print(1)", language_id=71)
    body = j0.create(expect=503, wait=False, source_code="print(1)", language_id=71)
    assert body == {"error": "queue is full"}


# ---- fields -----------------------------------------------------------------------------

def test_defaults_of_every_field(j0):
    out = j0.create(query="&fields=*", source_code="print(1)", language_id=71)
    want = {"number_of_runs": 1, "cpu_time_limit": "5.0", "cpu_extra_time": "1.0", "wall_time_limit": "10.0",
            "memory_limit": 128000, "stack_limit": 64000, "max_processes_and_or_threads": 60,
            "enable_per_process_and_thread_time_limit": False,
            "enable_per_process_and_thread_memory_limit": False, "max_file_size": 1024,
            "redirect_stderr_to_stdout": False, "enable_network": False, "compiler_options": None,
            "command_line_arguments": None, "callback_url": None, "additional_files": None,
            "stdin": None, "expected_output": None, "compile_output": None}
    assert {k: out[k] for k in want} == want, out
    assert len(out) == 35 and out["created_at"].endswith("Z") and out["finished_at"].endswith("Z"), out


def test_default_fields_and_field_selection(j0):
    out = j0.create(source_code="print(1)", language_id=71)
    assert set(out) == {"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}
    got = j0.get(out["token"], "?fields=stdout,status_id,language")
    assert got == {"stdout": "1\n", "status_id": 3, "language": {"id": 71, "name": got["language"]["name"]}}
    status, _, body = j0.request("GET", f"/submissions/{out['token']}?fields=stdout,nope,bad")
    assert status == 400 and body == {"error": "invalid fields: [nope, bad]"}, body


def test_validation_messages(j0):
    body = j0.create(expect=422, source_code="  ", language_id=999, cpu_time_limit=16, cpu_extra_time=-1,
                     wall_time_limit=0.5, memory_limit=100, stack_limit=999999, max_processes_and_or_threads=0,
                     max_file_size=5000, number_of_runs=21, command_line_arguments="x" * 513,
                     enable_network=True, enable_per_process_and_thread_time_limit=True, compiler_options="-O3")
    assert body == {
        "source_code": ["can't be blank"],
        "language_id": ["language with id 999 doesn't exist"],
        "number_of_runs": ["must be less than or equal to 20"],
        "cpu_time_limit": ["must be less than or equal to 15.0"],
        "cpu_extra_time": ["must be greater than or equal to 0"],
        "wall_time_limit": ["must be greater than or equal to 1"],
        "memory_limit": ["must be greater than or equal to 2048"],
        "stack_limit": ["must be less than or equal to 128000"],
        "max_processes_and_or_threads": ["must be greater than 0"],
        "max_file_size": ["must be less than or equal to 4096"],
        "command_line_arguments": ["is too long (maximum is 512 characters)"],
        "enable_per_process_and_thread_time_limit": ["this option cannot be enabled"],
        "enable_network": ["enabling network is not allowed"],
    }, body
    body = j0.create(expect=422, cpu_time_limit="fast")
    assert body["language_id"] == ["can't be blank", "language with id  doesn't exist"], body
    assert body["cpu_time_limit"] == ["is not a number"], body
    # Numbers may come as strings, as Rails reads them.
    assert j0.create(source_code="print(1)", language_id="71", cpu_time_limit="2")["status"]["id"] == 3


def test_compiler_options(j0):
    # Judge0 puts them into the compile command (after removing $&;<>|`); quotes group words.
    out = j0.create(query="&fields=*", source_code='#include <stdio.h>\nint main(){puts(WHO);}', language_id=50,
                    compiler_options="-DWHO='\"with options\"' -Wall;")
    assert out["status"]["id"] == 3 and out["stdout"] == "with options\n", out
    out = j0.create(query="&fields=*", source_code="int main(){ return 0; }", language_id=50,
                    compiler_options="-Werror -Wunused-parameter -Wextra -DX=unused")
    assert out["status"]["id"] == 3, out
    out = j0.create(query="&fields=*", source_code="int f(int x){ return 0; }\nint main(){ return f(1); }",
                    language_id=50,
                    compiler_options="-Werror -Wall -Wextra")
    assert out["status"]["id"] == 6 and "unused parameter" in out["compile_output"], out
    body = j0.create(expect=422, source_code="print(1)", language_id=71, compiler_options="-O")
    assert body == {"compiler_options": ["setting compiler options is only allowed for compiled languages"]}, body
    assert j0.create(expect=422, source_code="x", language_id=999, compiler_options="-O3") == {
        "language_id": ["language with id 999 doesn't exist"]}


def test_args_stderr_redirect_and_runs(j0):
    out = j0.create(query="&fields=stdout,stderr,status,time", source_code="import sys\nprint(sys.argv[1:])\n"
                    "print('e', file=sys.stderr)", language_id=71,
                    command_line_arguments="a 'b c' d;rm", redirect_stderr_to_stdout=True, number_of_runs=3)
    assert out["stdout"] == "['a', 'b c', 'drm']\ne\n" and out["stderr"] is None, out


def test_base64_in_and_out_with_ruby_line_wrapping(j0):
    code = "import sys\nsys.stdout.write(sys.stdin.read() * 3)"
    stdin = "0123456789" * 5
    out = j0.create(query="&base64_encoded=true&fields=stdout,source_code,stdin,message,status",
                    source_code=base64.b64encode(code.encode()).decode(),
                    stdin=base64.b64encode(stdin.encode()).decode(), language_id=71)
    # Ruby's Base64.encode64: a newline after every 60 characters and at the end.
    want = ruby_b64((stdin * 3).encode())
    lines = out["stdout"].split("\n")
    assert out["stdout"] == want and len(lines[0]) == 60 and out["stdout"].endswith("\n"), out
    assert out["stdin"] == ruby_b64(stdin.encode()), out
    assert out["message"] is None


def test_output_that_is_not_utf8(j0):
    out = j0.create(query="&fields=stdout,status", source_code="import sys\nsys.stdout.buffer.write(b'\\xff\\xfe')",
                    language_id=71)
    assert out["error"].startswith("some attributes for this submission cannot be converted to UTF-8"), out
    token = out["token"]
    status, _, body = j0.request("GET", f"/submissions/{token}")
    assert status == 400 and "use base64_encoded=true" in body["error"], body
    got = j0.get(token, "?base64_encoded=true&fields=stdout")
    assert base64.b64decode(got["stdout"]) == b"\xff\xfe", got


def test_delete(j0):
    token = j0.create(source_code="print(1)", language_id=71)["token"]
    status, _, body = j0.request("DELETE", f"/submissions/{token}?fields=stdout,status_id")
    assert status == 200 and body == {"stdout": ruby_b64(b"1\n"), "status_id": 3}, body
    j0.get(token, expect=404)


# ---- batches ----------------------------------------------------------------------------

def test_batch_create_and_show(j0):
    subs = [{"source_code": f"print({i})", "language_id": 71} for i in range(3)]
    subs.append({"source_code": "", "language_id": 71})
    status, _, body = j0.request("POST", "/submissions/batch", {"submissions": subs})
    assert status == 201 and body[3] == {"source_code": ["can't be blank"]}, body
    tokens = [b["token"] for b in body[:3]]
    for t in tokens:
        j0.wait(t)
    query = ",".join(tokens + ["00000000-0000-4000-8000-000000000000"])
    status, _, body = j0.request("GET", f"/submissions/batch?tokens={query}&fields=stdout,status_id")
    assert status == 200 and body["submissions"][:3] == [{"stdout": f"{i}\n", "status_id": 3} for i in range(3)]
    assert body["submissions"][3] is None, body


def test_batch_bounds(j0):
    status, _, body = j0.request("POST", "/submissions/batch",
                                 {"submissions": [{"source_code": "1", "language_id": 71}] * 21})
    assert status == 400 and body == {"error": "number of submissions in a batch should be less than or equal to 20"}
    status, _, body = j0.request("POST", "/submissions/batch", {"submissions": []})
    assert status == 400 and body == {"error": "there should be at least one submission in a batch"}
    status, _, body = j0.request("POST", "/submissions/batch", {"submissions": [{"language_id": 71}]})
    assert status == 422 and body == [{"source_code": ["can't be blank"]}], body
    status, _, body = j0.request("GET", "/submissions/batch?tokens=" + ",".join(["a"] * 21))
    assert status == 400


# ---- languages, information, keys -------------------------------------------------------------

def test_languages(j0):
    status, _, body = j0.request("GET", "/languages")
    names = {lang["id"]: lang["name"] for lang in body}
    assert status == 200 and names[50].startswith("C (GCC ") and names[71].startswith("Python (3."), body
    assert {lang["id"] for lang in body} >= {50, 71}, body
    status, _, lang = j0.request("GET", "/languages/50")
    assert status == 200 and lang["source_file"] == "main.c" and lang["compile_cmd"].startswith("gcc"), lang
    assert lang["is_archived"] is False and lang["run_cmd"], lang
    assert j0.request("GET", "/languages/62")[0] in (200, 404)
    assert j0.request("GET", "/languages/4242")[0] == 404


def test_information_routes(j0):
    status, _, about = j0.request("GET", "/about")
    assert status == 200 and about["version"] == "1.13.1", about
    status, hdrs, version = j0.request("GET", "/version")
    assert status == 200 and version == b"1.13.1" and hdrs["content-type"].startswith("text/plain")
    status, _, conf = j0.request("GET", "/config_info")
    assert status == 200 and conf["max_cpu_time_limit"] == 15 and conf["enable_network"] is False, conf
    status, _, info = j0.request("GET", "/system_info")
    assert status == 200 and info["CPU(s)"] >= 1, info


def test_x_auth_token_is_a_key_and_submissions_are_per_key(start_server):
    server = start_server(env=KEYS)
    assert Judge0(server).request("GET", "/languages")[0] == 401
    assert Judge0(server, "nope").request("GET", "/statuses")[0] == 401
    k1, k2 = Judge0(server, "k1"), Judge0(server, "k2")
    token = k1.create(source_code="print(1)", language_id=71)["token"]
    assert k1.get(token)["stdout"] == "1\n"
    k2.get(token, expect=404)


# ---- callbacks ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def callback_receiver(tmp_path_factory):
    """An https server on 127.0.0.1 (a throwaway CA) recording every PUT → (url, ca path, received list)."""
    import http.server
    import json
    import ssl
    import threading
    from test_compat_seed import openssl

    d = tmp_path_factory.mktemp("callback-ca")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=cloudcode test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
            "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(500 if self.path == "/fails" else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://localhost:{httpd.server_address[1]}", d / "ca.pem", received
    httpd.shutdown()


def callback_server(start_server, policy_file, ca):
    return start_server(policy=policy_file(
        'local p = require "policies.backend"\np.pools = nil\np.judge0.callback_hosts = { "localhost" }\n'
        f'p.file_url_test_allow_loopback = true\np.file_url_test_ca_file = "{ca}"\nreturn p\n'))


def wait_for(cond, timeout=30):
    deadline = time.monotonic() + slow(timeout)
    while not cond():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_callback_put_of_the_finished_submission(start_server, policy_file, callback_receiver):
    url, ca, received = callback_receiver
    j0 = Judge0(callback_server(start_server, policy_file, ca))
    token = j0.create(wait=False, source_code="print(1)", language_id=71, callback_url=f"{url}/done")["token"]
    wait_for(lambda: any(r[0] == "/done" for r in received))
    path, ctype, body = next(r for r in received if r[0] == "/done")
    assert ctype == "application/json" and body["token"] == token, body
    assert set(body) == {"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}
    assert body["stdout"] == "MQo=\n" and body["status"]["id"] == 3, body   # base64, as Judge0 sends it
    # An HTTP error is an answer: no retry.
    j0.create(source_code="print(2)", language_id=71, callback_url=f"{url}/fails")
    wait_for(lambda: any(r[0] == "/fails" for r in received))
    time.sleep(slow(1))
    assert sum(1 for r in received if r[0] == "/fails") == 1


def test_callback_retries_and_refusals(start_server, policy_file, callback_receiver):
    from conftest import free_port
    url, ca, received = callback_receiver
    server = callback_server(start_server, policy_file, ca)
    j0 = Judge0(server)
    # Nothing listens there: tried 3 times (callbacks_max_tries), then given up.
    j0.create(source_code="print(1)", language_id=71, callback_url=f"https://localhost:{free_port()}/x")
    wait_for(lambda: "judge0_callback_failed" in server.log_path.read_text())
    line = next(ln for ln in server.log_path.read_text().splitlines() if "judge0_callback_failed" in ln)
    assert '"tries":3' in line, line
    body = j0.create(expect=422, source_code="print(1)", language_id=71, callback_url="http://localhost/x")
    assert body == {"callback_url": ["must be an https URL"]}, body
    body = j0.create(expect=422, source_code="print(1)", language_id=71, callback_url="https://example.org/x")
    assert "judge0.callback_hosts" in body["callback_url"][0], body


# ---- additional_files -------------------------------------------------------------------------

def zipped(files):
    import io
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return base64.b64encode(out.getvalue()).decode()


def test_additional_files(j0):
    code = "import helper\nprint(helper.hi(), open('data/in.txt').read().strip())"
    out = j0.create(query="&fields=stdout,status,additional_files", source_code=code, language_id=71,
                    additional_files=zipped({"helper.py": "def hi():\n    return 'hi'\n", "data/in.txt": "there\n"}))
    assert out["stdout"] == "hi there\n" and out["status"]["id"] == 3, out
    assert out["additional_files"].endswith("\n") and len(out["additional_files"].split("\n")[0]) == 60, out
    # In base64 mode too: additional_files is base64 either way.
    out = j0.create(query="&base64_encoded=true&fields=stdout", source_code=base64.b64encode(b"print(open('a').read())").decode(),
                    language_id=71, additional_files=zipped({"a": "x"}))
    assert base64.b64decode(out["stdout"]) == b"x\n", out


@pytest.mark.parametrize("files,message", [
    ({"../evil": "x"}, "holds an entry that is not a plain file with a relative name"),
    ({"bin": b"\xff\xfe"}, "holds a file that is not UTF-8 text"),
    ({f"f{i}": "x" for i in range(101)}, "holds more than 100 files"),
    ({"big": "x" * (10240 * 1024 + 1)}, "is larger than 10240 KB once extracted"),
])
def test_additional_files_refused(j0, files, message):
    body = j0.create(expect=422, source_code="print(1)", language_id=71, additional_files=zipped(files))
    assert body["additional_files"][0].startswith(message), body


def test_additional_files_not_a_zip(j0):
    body = j0.create(expect=422, source_code="print(1)", language_id=71,
                     additional_files=base64.b64encode(b"not a zip at all").decode())
    assert body == {"additional_files": ["is not a zip archive"]} or \
        body["additional_files"][0].startswith("cannot be read"), body
