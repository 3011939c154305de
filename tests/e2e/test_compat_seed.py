"""The seed's API on a backend: every route's success and error shapes, a full seed-style
session (upload, create with the file, input with ENTER, output, delete), uploads' limits, and
file_url fetched from an https server of the test's own (its own CA, 127.0.0.1, test-only
policy settings): success, redirect, size, plain http, a host not allowed, loopback refused."""
import http.server
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest

from backend_util import KEYS, auth, no_containers_left, track  # noqa: F401  (autouse fixture)
from conftest import DEFAULT_POLICY, Server, slow

pytestmark = pytest.mark.docker

PROGRAM = 'print("hello from file")\nname = input()\nprint("got", repr(name))\nprint("empty", repr(input()))\n'


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    s = track(Server(tmp_path_factory.mktemp("seed"), env=KEYS, name="seed").start())
    yield s
    s.stop()


def text(server, method, path, body=None, key="k1", headers=None):
    """A seed route → (status, content type, text)."""
    status, hdrs, reply = server.request(method, path, body, headers={**auth(key), **(headers or {})},
                                         timeout=slow(60))
    if isinstance(reply, bytes):
        reply = reply.decode()
    return status, hdrs.get("content-type", ""), reply


def ok(server, method, path, body=None, key="k1"):
    status, ctype, reply = text(server, method, path, body, key)
    assert status == 200, (method, path, status, reply)
    return reply


def err(server, method, path, body=None, key="k1", expect=400, headers=None):
    status, ctype, reply = text(server, method, path, body, key, headers)
    assert status == expect, (method, path, status, reply)
    assert ctype.startswith("text/plain"), ctype
    assert reply and not reply.startswith("{"), reply
    return reply


def multipart(name, data, filename="main.py", field="file"):
    boundary = "----seedtest" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(server, user, data, key="k1", expect=200):
    body, headers = multipart("file", data)
    status, hdrs, reply = server.request("POST", f"/api/files/add/{urllib.parse.quote(user, safe='')}", body,
                                         headers={**auth(key), **headers})
    assert status == expect, (status, reply)
    return reply.decode()


def read_output(server, user, want, timeout=20, key="k1"):
    """Poll the output route until `want` was read; → everything read (each piece only once)."""
    deadline = time.monotonic() + slow(timeout)
    got = ""
    while time.monotonic() < deadline:
        got += ok(server, "GET", f"/api/session/output?userId={user}", key=key)
        if want in got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{want!r} never came; got {got!r}")


# ---- routes without a session ------------------------------------------------------------------

@pytest.mark.valgrind
def test_root_and_errors(seed):
    status, ctype, body = text(seed, "GET", "/", key=None)
    assert (status, body) == (200, "v1.0") and ctype.startswith("text/plain")
    assert "key" in err(seed, "POST", "/api/session/create", {"user_id": "a", "language": "PYTHON"}, key=None,
                        expect=401)
    err(seed, "GET", "/api/session/output?userId=a", key="bad", expect=401)
    err(seed, "POST", "/api/session/create", b"nope")
    err(seed, "POST", "/api/session/create", {"language": "PYTHON"})
    err(seed, "POST", "/api/session/create", {"user_id": "x" * 129, "language": "PYTHON"})
    err(seed, "POST", "/api/session/create", {"user_id": "a", "language": "RUBY"})
    err(seed, "POST", "/api/session/create", {"user_id": "a", "language": "C"})   # C needs a file
    err(seed, "POST", "/api/session/create", {"user_id": "a", "language": "PYTHON", "file_url": 5})
    err(seed, "POST", "/api/session/create",
        {"user_id": "a", "language": "PYTHON", "file_url": "https://example.com/x.py"})
    err(seed, "POST", "/api/session/create",
        {"user_id": "a", "language": "PYTHON", "file_url": f"{seed.url}/api/files/get?userId=nobody"}, expect=404)
    err(seed, "GET", "/api/session/output?userId=nobody", expect=404)
    err(seed, "GET", "/api/session/output", expect=404)
    err(seed, "POST", "/api/session/input", {"user_id": "nobody", "input": "x"}, expect=404)
    err(seed, "POST", "/api/session/delete", {"user_id": "nobody"}, expect=404)
    err(seed, "GET", "/api/files/get?userId=nobody", expect=404)
    status, ctype, body = text(seed, "GET", "/api/metrics/session/has?userId=nobody")
    assert status == 404
    assert ok(seed, "GET", "/api/metrics/session/count", key="k2") == "0"


def test_upload_errors_and_limits(seed):
    err(seed, "POST", "/api/files/add/u", b"x", headers={"Content-Type": "text/plain"})
    body, headers = multipart("x", b"data", field="other")
    err(seed, "POST", "/api/files/add/u", body, headers=headers)
    body, headers = multipart("x", b"data")
    err(seed, "POST", "/api/files/add/u", body[:-10], headers=headers)   # no closing boundary
    # 1 MiB per key across its uploads; replacing one's own upload does not count twice.
    upload(seed, "big1", b"a" * 600_000, key="k2")
    upload(seed, "big1", b"a" * 600_000, key="k2")
    upload(seed, "big2", b"b" * 600_000, key="k2", expect=413)
    upload(seed, "big2", b"b" * 600_000, key="k1")   # another key has its own MiB


def test_upload_and_get(seed):
    url = upload(seed, "up/1 é", b"\x00\x01binary")
    assert url == f"http://{seed.host}:{seed.port}/api/files/get?userId=up%2F1%20%C3%A9", url
    status, hdrs, body = seed.request("GET", url.split(str(seed.port), 1)[1], headers=auth("k1"))
    assert status == 200 and hdrs["content-type"] == "application/octet-stream" and body == b"\x00\x01binary"
    # Uploads belong to the key.
    status, _, _ = seed.request("GET", url.split(str(seed.port), 1)[1], headers=auth("k2"))
    assert status == 404


# ---- a full session --------------------------------------------------------------------------

@pytest.mark.valgrind
def test_full_session_with_uploaded_file(seed):
    url = upload(seed, "alice", PROGRAM.encode())
    assert ok(seed, "POST", "/api/session/create", {"user_id": "alice", "language": "PYTHON", "file_url": url}) == ""
    out = read_output(seed, "alice", "hello from file")
    assert ok(seed, "GET", "/api/metrics/session/has?userId=alice") == "true"
    assert ok(seed, "GET", "/api/metrics/session/count") == "1"
    err(seed, "POST", "/api/session/create", {"user_id": "alice", "language": "PYTHON"}, expect=409)
    assert ok(seed, "POST", "/api/session/input", {"user_id": "alice", "input": "Bob"}) == ""
    out2 = read_output(seed, "alice", "got 'Bob'")
    assert "hello from file" not in out2, (out, out2)   # only what this route has not returned before
    assert ok(seed, "POST", "/api/session/input", {"user_id": "alice", "input": "ENTER"}) == ""
    read_output(seed, "alice", "empty ''")
    err(seed, "POST", "/api/session/input", {"user_id": "alice"})
    assert ok(seed, "POST", "/api/session/delete", {"user_id": "alice"}) == ""
    status, _, _ = text(seed, "GET", "/api/metrics/session/has?userId=alice")
    assert status == 404
    err(seed, "GET", "/api/session/output?userId=alice", expect=404)
    # The same user_id starts again.
    assert ok(seed, "POST", "/api/session/create", {"user_id": "alice", "language": "PYTHON", "file_url": url}) == ""
    read_output(seed, "alice", "hello from file")
    ok(seed, "POST", "/api/session/delete", {"user_id": "alice"})


def test_python_repl_and_c_session(seed):
    ok(seed, "POST", "/api/session/create", {"user_id": "repl", "language": "PYTHON", "file_url": ""})
    ok(seed, "POST", "/api/session/input", {"user_id": "repl", "input": "print(6*7)"})
    read_output(seed, "repl", "42")
    ok(seed, "POST", "/api/session/delete", {"user_id": "repl"})
    url = upload(seed, "cuser", b'#include <stdio.h>\nint main(){char b[32];fgets(b,32,stdin);printf("C:%s",b);}\n')
    ok(seed, "POST", "/api/session/create", {"user_id": "cuser", "language": "C", "file_url": url})
    ok(seed, "POST", "/api/session/input", {"user_id": "cuser", "input": "xyz"})
    read_output(seed, "cuser", "C:xyz")
    ok(seed, "POST", "/api/session/delete", {"user_id": "cuser"})


def test_ipython_session(seed):
    ok(seed, "POST", "/api/session/create", {"user_id": "ipy", "language": "IPYTHON"})
    read_output(seed, "ipy", "In [1]", timeout=40)
    ok(seed, "POST", "/api/session/input", {"user_id": "ipy", "input": "21*2"})
    read_output(seed, "ipy", "42", timeout=20)
    ok(seed, "POST", "/api/session/delete", {"user_id": "ipy"})


def test_user_ids_are_per_key(seed):
    ok(seed, "POST", "/api/session/create", {"user_id": "same", "language": "PYTHON"}, key="k1")
    ok(seed, "POST", "/api/session/create", {"user_id": "same", "language": "PYTHON"}, key="k2")
    ok(seed, "POST", "/api/session/delete", {"user_id": "same"}, key="k1")
    assert ok(seed, "GET", "/api/metrics/session/has?userId=same", key="k2") == "true"
    ok(seed, "POST", "/api/session/delete", {"user_id": "same"}, key="k2")


# ---- file_url from another host ------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):
        status, headers, body = self.routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def https_files(tmp_path_factory):
    """An https server on 127.0.0.1 with a throwaway CA → (base url, ca path, routes dict)."""
    d = tmp_path_factory.mktemp("ca")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=cloudcode test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
            "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    Handler.routes.update({
        "/prog.py": (200, {}, b'print("fetched over https")\n'),
        "/redirect": (302, {"Location": f"https://localhost:{port}/prog.py"}, b""),
        "/big.py": (200, {}, b"#" * ((1 << 20) + 10)),
    })
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"https://localhost:{port}", d / "ca.pem", port
    httpd.shutdown()


def fetching_server(start_server, policy_file, ca, loopback=True, hosts='"localhost"'):
    text = DEFAULT_POLICY.read_text().replace(
        "file_url_hosts = {},",
        f"file_url_hosts = {{ {hosts} }},\n  file_url_test_allow_loopback = {str(loopback).lower()},\n"
        f"  file_url_test_ca_file = \"{ca}\",")
    assert "file_url_test_ca_file" in text
    return track(start_server(policy=policy_file(text), env=KEYS))


@pytest.mark.valgrind
def test_file_url_fetched_over_https(start_server, policy_file, https_files):
    base, ca, port = https_files
    s = fetching_server(start_server, policy_file, ca)
    ok(s, "POST", "/api/session/create", {"user_id": "f", "language": "PYTHON", "file_url": f"{base}/prog.py"})
    read_output(s, "f", "fetched over https")
    ok(s, "POST", "/api/session/delete", {"user_id": "f"})


def test_file_url_refusals(start_server, policy_file, https_files):
    base, ca, port = https_files
    s = fetching_server(start_server, policy_file, ca)

    def create(url, expect=400):
        return err(s, "POST", "/api/session/create", {"user_id": "r", "language": "PYTHON", "file_url": url},
                   expect=expect)

    assert "redirect" in create(f"{base}/redirect")
    assert "1 MiB" in create(f"{base}/big.py")
    assert "https" in create(f"http://localhost:{port}/prog.py")
    assert "404" in create(f"{base}/missing.py")
    assert "allow" in create(f"https://127.0.0.1:{port}/prog.py")       # the host is not in the list
    assert "allow" in create(f"https://example.org/prog.py")
    create("ftp://localhost/x")
    create("https://localhost:99999/x")


def test_file_url_loopback_refused_without_the_test_flag(start_server, policy_file, https_files):
    base, ca, port = https_files
    s = fetching_server(start_server, policy_file, ca, loopback=False)
    reply = err(s, "POST", "/api/session/create", {"user_id": "r", "language": "PYTHON", "file_url": f"{base}/prog.py"})
    assert "private" in reply or "loopback" in reply, reply


def test_file_url_private_addresses_refused(start_server, policy_file, https_files):
    base, ca, port = https_files
    s = fetching_server(start_server, policy_file, ca, loopback=True,
                        hosts='"10.0.0.1", "169.254.169.254", "224.0.0.1", "0.0.0.0", "192.168.1.1"')
    for host in ("10.0.0.1", "169.254.169.254", "224.0.0.1", "0.0.0.0", "192.168.1.1"):
        reply = err(s, "POST", "/api/session/create",
                    {"user_id": "r", "language": "PYTHON", "file_url": f"https://{host}:{port}/prog.py"})
        assert "private" in reply or "loopback" in reply, (host, reply)


# ---- the seed's output wait and its one-read-per-command client -----------------------------------

def one_read(server, user, key="k1"):
    """One GET of the output route, as the seed's Discord bot made after each command: (text, seconds)."""
    t0 = time.monotonic()
    out = ok(server, "GET", f"/api/session/output?userId={user}", key=key)
    return out, time.monotonic() - t0


def patient_policy(policy_file):
    """The default policy with the output wait stretched: a REPL's answer to a command may come
    more than a second after its echo on a heavily loaded test machine."""
    text = DEFAULT_POLICY.read_text().replace("seed_output_quiet_ms = 1000,", f"seed_output_quiet_ms = {int(slow(2500))},")
    return policy_file(text.replace("seed_output_max_ms = 3000,", f"seed_output_max_ms = {int(slow(6000))},"),
                       name="patient.lua")


def test_one_read_per_command_client(start_server, policy_file):
    # Each command is followed by exactly one read; it must hold what that command printed.
    seed = track(start_server(policy=patient_policy(policy_file), env=KEYS))
    program = 'import time\nprint("hello from file")\nname = input()\ntime.sleep(0.3)\nprint("got", name)\n'
    url = upload(seed, "bot", program.encode())
    ok(seed, "POST", "/api/session/create", {"user_id": "bot", "language": "PYTHON", "file_url": url})
    out, _ = one_read(seed, "bot")
    assert "hello from file" in out, out
    ok(seed, "POST", "/api/session/input", {"user_id": "bot", "input": "Bob"})
    out, _ = one_read(seed, "bot")
    assert "got Bob" in out and "hello from file" not in out, out
    ok(seed, "POST", "/api/session/delete", {"user_id": "bot"})
    ok(seed, "POST", "/api/session/create", {"user_id": "bot", "language": "PYTHON"})
    ok(seed, "POST", "/api/session/input", {"user_id": "bot", "input": "print(6*7)"})
    out, _ = one_read(seed, "bot")
    assert "42" in out, out
    ok(seed, "POST", "/api/session/delete", {"user_id": "bot"})


def wait_policy(policy_file, quiet_ms, max_ms):
    text = DEFAULT_POLICY.read_text().replace("seed_output_quiet_ms = 1000,", f"seed_output_quiet_ms = {quiet_ms},")
    return policy_file(text.replace("seed_output_max_ms = 3000,", f"seed_output_max_ms = {max_ms},"), name="wait.lua")


def test_first_output_is_awaited(start_server, policy_file):
    # A program that has printed nothing yet is still starting: its first output is awaited up to
    # seed_output_max_ms, however short the quiet period.
    seed = track(start_server(policy=wait_policy(policy_file, 300, int(slow(20000))), env=KEYS))
    url = upload(seed, "late", b"import time\ntime.sleep(2)\nprint('late but here')\ninput()\n")
    ok(seed, "POST", "/api/session/create", {"user_id": "late", "language": "PYTHON", "file_url": url})
    out, took = one_read(seed, "late")
    assert "late but here" in out, (out, took)
    ok(seed, "POST", "/api/session/delete", {"user_id": "late"})


def test_output_wait_is_bounded(seed):
    # Quiet program: the answer comes after about a second of quiet (seed_output_quiet_ms).
    ok(seed, "POST", "/api/session/create", {"user_id": "quiet", "language": "PYTHON"})
    one_read(seed, "quiet")   # the banner / prompt, if any
    out, took = one_read(seed, "quiet")
    assert 0.9 <= took <= slow(3) + 10, (out, took)   # the upper bound only proves it answers
    ok(seed, "POST", "/api/session/delete", {"user_id": "quiet"})
    # A program that never stops printing: the answer comes at seed_output_max_ms (3 s).
    url = upload(seed, "chatty", b"import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.05)\n")
    ok(seed, "POST", "/api/session/create", {"user_id": "chatty", "language": "PYTHON", "file_url": url})
    out, took = one_read(seed, "chatty")
    assert 2.9 <= took <= slow(3) + 10 and out.count("tick") >= 5, (out[:100], took)
    ok(seed, "POST", "/api/session/delete", {"user_id": "chatty"})
    # A program that ended: answered at once with what is left.
    url = upload(seed, "done", b"print('bye')\n")
    ok(seed, "POST", "/api/session/create", {"user_id": "done", "language": "PYTHON", "file_url": url})
    deadline = time.monotonic() + slow(20)
    got = ""
    while "bye" not in got and time.monotonic() < deadline:
        got += one_read(seed, "done")[0]
    assert "bye" in got, got
    out, took = one_read(seed, "done")
    assert out == "" and took < 0.9 + slow(2), (out, took)   # not a quiet period: at once


def test_output_wait_is_a_policy_setting(start_server, policy_file):
    s = track(start_server(policy=wait_policy(policy_file, 4000, 8000), env=KEYS))
    ok(s, "POST", "/api/session/create", {"user_id": "now", "language": "PYTHON"})
    ok(s, "POST", "/api/session/input", {"user_id": "now", "input": "print(6*7)"})
    read_output(s, "now", "42")
    out, took = one_read(s, "now")
    assert took >= 3.9, took
    ok(s, "POST", "/api/session/delete", {"user_id": "now"})


@pytest.mark.parametrize("method,path", [("GET", "/api/session/create"), ("POST", "/api/session/output"),
                                         ("PUT", "/api/files/get"), ("DELETE", "/api/metrics/session/count")])
def test_wrong_method_is_text_plain(seed, method, path):
    status, ctype, reply = text(seed, method, path)
    assert status == 405 and ctype.startswith("text/plain") and method in reply, (status, ctype, reply)


def test_languages_and_upload_cap_are_the_policys(start_server, policy_file):
    # seed_languages: the seed's names, our language, the program a create without a file runs
    # (an entry without one needs a file_url); seed_upload_max_bytes: a key's uploads together.
    policy = policy_file('local p = require "policies.backend"\n'
                         'p.seed_languages = {\n'
                         '  SNAKE = { language = "python", repl = "print(\'from the policy\')\\ninput()\\n" },\n'
                         '  CORAL = { language = "python" },\n'
                         '}\n'
                         'p.seed_upload_max_bytes = 2048\n'
                         'return p\n', name="seed_languages.lua")
    seed = track(start_server(policy=policy, env=KEYS))
    refused = err(seed, "POST", "/api/session/create", {"user_id": "pl", "language": "PYTHON"})
    assert "SNAKE" in refused and "CORAL" in refused, refused
    assert "file_url" in err(seed, "POST", "/api/session/create", {"user_id": "pl", "language": "CORAL"})
    ok(seed, "POST", "/api/session/create", {"user_id": "pl", "language": "SNAKE"})
    read_output(seed, "pl", "from the policy")
    ok(seed, "POST", "/api/session/delete", {"user_id": "pl"})
    upload(seed, "f1", b"a" * 2048)
    upload(seed, "f2", b"b", expect=413)
