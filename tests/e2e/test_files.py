"""Files of a session's working directory: PUT, GET, list, and the paths that must not work."""
import pytest

from backend_util import create, delete, read_until, send_input, wait_ended
from conftest import assert_error

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
