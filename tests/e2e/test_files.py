"""Files of a session's working directory: PUT, GET, list, and the paths that must not work."""
import pytest

from backend_util import create, delete, read_until, send_input, wait_ended
from conftest import assert_error, slow

pytestmark = pytest.mark.docker

# A program that runs shell-ish commands sent on stdin, one per line, and says "ok <n>" after each.
SHELL = """import os, sys
n = 0
for line in sys.stdin:
    exec(line)
    n += 1
    print('ok', n)
"""


@pytest.fixture
def be(server):
    return server


@pytest.fixture
def sid(be):
    sid = create(be, {"language": "python", "code": SHELL, "files": [{"name": "data/in.txt", "content": "given"}]})["id"]
    yield sid
    delete(be, sid)


def files(server, sid, path=""):
    return server.request("GET", f"/v1/sessions/{sid}/files{path}")


def put(server, sid, path, data):
    return server.request("PUT", f"/v1/sessions/{sid}/files/{path}", data,
                          headers={"Content-Type": "application/octet-stream"})


def test_put_get_list(be, sid):
    blob = bytes(range(256)) * 40
    status, _, body = put(be, sid, "deep/er/blob.bin", blob)
    assert status == 204, body
    status, headers, body = files(be, sid, "/deep/er/blob.bin")
    assert status == 200 and body == blob
    assert headers["content-type"].startswith("application/octet-stream")
    status, _, body = files(be, sid, "/data/in.txt")
    assert status == 200 and body == b"given"
    status, _, body = files(be, sid)
    assert status == 200
    listed = {f["path"]: f["size"] for f in body["files"]}
    assert listed["deep/er/blob.bin"] == len(blob) and listed["data/in.txt"] == 5
    assert listed["main.py"] == len(SHELL)
    # the program sees the file, and what it writes can be read back
    send_input(be, sid, "open('out.txt','w').write(open('deep/er/blob.bin','rb').read()[:3].hex())\n")
    read_until(be, sid, lambda t, b: "ok 1\n" in t)
    status, _, body = files(be, sid, "/out.txt")
    assert status == 200 and body == b"000102"


def test_put_overwrites_and_empty(be, sid):
    assert put(be, sid, "a.txt", b"long content")[0] == 204
    assert put(be, sid, "a.txt", b"")[0] == 204
    status, _, body = files(be, sid, "/a.txt")
    assert status == 200 and body == b""


def test_folder_is_400_missing_is_404(be, sid):
    status, _, body = files(be, sid, "/data")
    assert_error(status, body, "bad_request", 400)
    status, _, body = files(be, sid, "/nope.txt")
    assert_error(status, body, "not_found", 404)
    status, _, body = files(be, sid, "/data/nope/x")
    assert_error(status, body, "not_found", 404)


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../x", "%2E%2E/x", "data%2F..%2F..%2Fx", "..%2Fmain.py",
                                  "./main.py", "a//b", "sp%20ace", "x%00y"])
def test_escaping_paths_are_400(be, sid, path):
    status, _, body = files(be, sid, "/" + path)
    assert_error(status, body, "bad_request", 400)
    status, _, body = put(be, sid, path, b"x")
    assert_error(status, body, "bad_request", 400)


def test_symlink_out_never_gives_content(be, sid):
    send_input(be, sid, "os.symlink('/etc/passwd', 'link'); os.symlink('/etc', 'dir')\n")
    read_until(be, sid, lambda t, b: "ok 1\n" in t)
    for path in ("/link", "/dir/passwd"):
        status, _, body = files(be, sid, path)
        assert status in (400, 404), (status, body)
        assert_error(status, body)
        assert b"root:" not in (body if isinstance(body, bytes) else str(body).encode())
    # writing through the symlink does not reach its target either
    status, _, body = put(be, sid, "dir/evil", b"x")
    assert status in (400, 404), (status, body)
    status, _, body = files(be, sid)
    assert status == 200 and "dir/passwd" not in {f["path"] for f in body["files"]}


def test_files_on_ended_session_are_409(be):
    sid = create(be, {"language": "python", "code": "print(1)"})["id"]
    wait_ended(be, sid)
    for status, _, body in (files(be, sid), files(be, sid, "/main.py"), put(be, sid, "x.txt", b"x")):
        assert_error(status, body, "conflict", 409)
    delete(be, sid)


def test_files_of_another_key_are_404(start_server):
    from backend_util import KEYS, auth
    srv = start_server(env=KEYS)
    sid = create(srv, {"language": "python", "code": SHELL}, key="k1")["id"]
    status, _, body = srv.request("GET", f"/v1/sessions/{sid}/files/main.py", headers=auth("k2"))
    assert_error(status, body, "not_found", 404)
    status, _, body = srv.request("GET", f"/v1/sessions/{sid}/files/main.py", headers=auth("k1"))
    assert status == 200 and body == SHELL.encode()
    delete(srv, sid, key="k1")


def test_what_the_program_makes_is_never_a_500(be, sid):
    """A FIFO, a mode-0 file, a file larger than one reply frame, names outside the file-name rule:
    bad input, answered 400/409/413 (api.md), never 500; the listing shows only fetchable names."""
    send_input(be, sid, "os.mkfifo('pipe'); open('locked.txt','w').write('x'); os.chmod('locked.txt', 0); "
                        "os.mkdir('closed'); os.chmod('closed', 0); "
                        "open('big.bin','wb').write(b'x' * (5 << 20)); open('bad\\nname','w').write('x'); "
                        "open('quo\\'te.txt','w').write('x'); os.mkdir('dir\\nx'); "
                        "open('dir\\nx/inner.txt','w').write('x')\n")
    read_until(be, sid, lambda t, b: "ok 1\n" in t)
    for method, path, want in (("GET", "pipe", 400), ("PUT", "pipe", 400), ("GET", "locked.txt", 409),
                               ("PUT", "locked.txt", 409), ("GET", "closed/f.txt", 409),
                               ("PUT", "closed/f.txt", 409), ("GET", "big.bin", 413)):
        status, _, body = (files(be, sid, "/" + path) if method == "GET" else put(be, sid, path, b"new"))
        assert status == want, (method, path, status, body)
        assert_error(status, body)
    status, _, body = files(be, sid)
    assert status == 200, body
    listed = {f["path"] for f in body["files"]}
    assert {"locked.txt", "big.bin", "main.py", "data/in.txt"} <= listed, listed
    assert not any("\n" in p or "'" in p for p in listed), listed
    for path in listed:
        status, _, body = files(be, sid, "/" + path)
        assert status in (200, 409, 413), (path, status, body)
    # the session is unharmed
    send_input(be, sid, "print(open('locked.txt').read() if os.access('locked.txt', os.R_OK) else 'no')\n")
    read_until(be, sid, lambda t, b: "ok 2\n" in t)


BIG_BODY_POLICY = """
local p = require "policies.backend"
p.max_body_bytes = 16 << 20
return p
"""


def test_put_larger_than_a_frame_is_413_at_once(start_server, policy_file):
    """The policy allows bodies far larger than one launcher frame (4 MiB): such a PUT is refused
    at once instead of waiting for the session's end; smaller ones still work."""
    srv = start_server(policy=policy_file(BIG_BODY_POLICY))
    sid = create(srv, {"language": "python", "code": SHELL})["id"]
    status, _, body = srv.request("PUT", f"/v1/sessions/{sid}/files/big.bin", b"x" * (5 << 20),
                                  headers={"Content-Type": "application/octet-stream"}, timeout=slow(20))
    assert_error(status, body, "payload_too_large", 413)
    status, _, body = put(srv, sid, "ok.bin", b"y" * (3 << 20))
    assert status == 204, body
    status, _, body = files(srv, sid, "/ok.bin")
    assert status == 200 and body == b"y" * (3 << 20)
    delete(srv, sid)
