"""Request ownership (issue 10 item 9): a client that goes away in the middle of any long route
leaks nothing.  The server here is always the ASan build (make asan): LeakSanitizer reports at
exit and makes the exit code non-zero, which Server.stop asserts against (an aborted notebook cell
used to leak its whole request, 1 188 bytes)."""
import socket

import pytest

from backend_util import KEYS, auth, create, delete, track, wait_until
from conftest import REPO, Server, slow

pytestmark = pytest.mark.docker

ASAN_BINARY = REPO / "cloudcode-asan"


@pytest.fixture
def asan_server(tmp_path):
    assert ASAN_BINARY.exists(), "build the ASan binary first: make asan"
    s = track(Server(tmp_path, env={**KEYS, "CODECLOUD_PISTON_OPEN": "1"}, name="asan", program=ASAN_BINARY))
    s.start(wait=True)
    yield s
    s.stop(timeout=30)   # asserts exit code 0: LeakSanitizer found nothing


def send_then_drop(server, method, path, body=b"", ready=None):
    """Send a request, wait until `ready()` says the server is handling it, then reset the
    connection without reading the answer."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    s = socket.create_connection((server.host, server.port), timeout=slow(10))
    s.sendall(head + body)
    if ready:
        wait_until(ready, timeout=60, what=f"{method} {path} under way")
    else:
        server.alive()   # a round trip: the request sent before has been read and dispatched
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()   # RST


def in_progress(server, n):
    return lambda: server.alive()["sessions"] >= n


def test_dropped_clients_on_long_routes_leak_nothing(asan_server):
    srv = asan_server
    # /v1/run
    send_then_drop(srv, "POST", "/v1/run", b'{"language":"python","code":"import time\\ntime.sleep(60)"}',
                   ready=in_progress(srv, 1))
    wait_until(lambda: srv.alive()["sessions"] == 0, timeout=30, what="the run to end")
    # Piston's execute (an internal /v1/run)
    send_then_drop(srv, "POST", "/api/v2/execute",
                   b'{"language":"python","version":"*","files":[{"content":"import time\\ntime.sleep(60)"}]}',
                   ready=in_progress(srv, 1))
    # a session's output long-poll
    sid = create(srv, {"language": "python", "code": "import sys\nsys.stdin.read()"}, key="k1")["id"]
    send_then_drop(srv, "GET", f"/v1/sessions/{sid}/output?cursor=0&wait_ms=30000")
    delete(srv, sid, key="k1")
    # a notebook cell
    nb = create(srv, {"language": "ipython"}, key="k1")["id"]

    def cell_running():
        st, _, body = srv.request("POST", f"/v1/sessions/{nb}/execute", {"code": "1"}, headers=auth("k1"))
        return st == 409
    send_then_drop(srv, "POST", f"/v1/sessions/{nb}/execute", b'{"code":"import time\\ntime.sleep(60)"}',
                   ready=cell_running)
    delete(srv, nb, key="k1")
    # the seed dialect's output (an internal output request)
    st, _, _ = srv.request("POST", "/api/session/create", {"user_id": "u", "language": "PYTHON"},
                           headers=auth("k1"), timeout=slow(60))
    assert st == 200
    send_then_drop(srv, "GET", "/api/session/output?userId=u")
    st, _, _ = srv.request("POST", "/api/session/delete", {"user_id": "u"}, headers=auth("k1"))
    assert st == 200
    srv.alive()
