"""Memory that no client can grow without bound (docs/security.md, "Memory growth"): the seed
dialect's user_id table (indexed, expired, over-long ids refused), a session's output answered in
pages of at most output_events_max events, and the notebook channel bounded like stdout."""
import time

import pytest

from backend_util import KEYS, auth, create, delete, output, wait_ended
from conftest import POLICIES, Server, binary, slow

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def be(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("growth"), policy=POLICIES / "backend_seed_ttl.lua", env=KEYS,
               name="growth").start()
    yield s
    s.stop()


def rss_kb(server):
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def upload(server, user_id, content, key="k1"):
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.py\"\r\n\r\n"
            f"{content}\r\n--{boundary}--\r\n")
    status, _, reply = server.request("POST", f"/api/files/add/{user_id}", body,
                                      headers={**auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    return status, reply


# ---- the seed's user table ----------------------------------------------------------------------

def test_seed_user_ids_over_128_bytes_are_refused_not_truncated(be):
    a, b = "a" * 128 + "X", "a" * 128 + "Y"
    for uid in (a, b):
        status, reply = upload(be, uid, "print(1)")
        assert status == 400 and b"128" in reply, (status, reply)
    status, _, reply = be.request("GET", f"/api/files/get?userId={a}", headers=auth("k1"))
    assert status == 400, (status, reply)
    status, _, reply = be.request("GET", f"/api/session/output?userId={a}", headers=auth("k1"))
    assert status == 400, (status, reply)
    status, _, reply = be.request("POST", "/api/session/create", {"user_id": a, "language": "PYTHON"},
                                  headers=auth("k1"))
    assert status == 400, (status, reply)
    # At 128 bytes ids are whole and distinct.
    assert upload(be, "a" * 127 + "X", "one")[0] == 200
    assert upload(be, "a" * 127 + "Y", "two")[0] == 200
    status, _, reply = be.request("GET", f"/api/files/get?userId={'a' * 127 + 'X'}", headers=auth("k1"))
    assert status == 200 and reply == b"one", (status, reply)


def test_seed_entries_and_uploads_expire(be):
    for i in range(300):
        assert upload(be, f"user-{i}", "x" * 100)[0] == 200
    assert be.metric("cloudcode_seed_users") >= 300
    time.sleep(1.1)   # the policy's seed_ttl_s; the next seed request sweeps
    status, _, _ = be.request("GET", "/api/files/get?userId=user-1", headers=auth("k1"))
    assert status == 404
    assert be.metric("cloudcode_seed_users") == 0


# ---- output answers -----------------------------------------------------------------------------

# Each byte waits until the launcher has read the last one (FIONREAD on the pipe): the record
# holds one stream run per byte, as a program racing its reader can make it.
ALTERNATE = """import fcntl, os, termios, array, time
def drained(fd):
    n = array.array('i', [0])
    while True:
        fcntl.ioctl(fd, termios.FIONREAD, n)
        if n[0] == 0:
            return
        time.sleep(0)
for i in range(1500):
    os.write(1, b'o'); drained(1)
    os.write(2, b'e'); drained(2)
"""


def test_output_answers_are_paged_by_events(be):
    sid = create(be, {"language": "python", "code": ALTERNATE, "limits": {"timeout_ms": 120000}},
                 key="k1")["id"]
    wait_ended(be, sid, timeout=120, key="k1")
    cursor, text, pages = 0, "", 0
    while True:
        body = output(be, sid, cursor, key="k1")
        assert len(body["events"]) <= 1000, len(body["events"])   # output_events_max
        if not body["events"]:
            break
        text += "".join(e["data"] for e in body["events"])
        assert body["cursor"] == cursor + sum(len(e["data"]) for e in body["events"])
        cursor = body["cursor"]
        pages += 1
    assert text == "oe" * 1500 and pages >= 3
    delete(be, sid, key="k1")


# ---- the notebook channel -----------------------------------------------------------------------

# A cell writing 40 MiB straight to the driver's reply pipe (fds >= 64, write-only FIFOs) in one
# line: past the cell's cap the backend drops it up to its newline, holding none of it.
FLOOD = """import os, stat, fcntl
for fd in range(64, 100):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    if stat.S_ISFIFO(st.st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
        chunk = b'x' * (1 << 20)
        for _ in range(40):
            os.write(fd, chunk)
        os.write(fd, b'\\n')
"""


def test_notebook_channel_flood_is_not_kept(be):
    sid = create(be, {"language": "ipython", "limits": {"output_bytes": 16 << 20}}, key="k1")["id"]
    status, _, reply = be.request("POST", f"/v1/sessions/{sid}/execute", {"code": "1"}, headers=auth("k1"),
                                  timeout=slow(60))
    assert status == 200, reply
    before = rss_kb(be)
    status, _, reply = be.request("POST", f"/v1/sessions/{sid}/execute", {"code": FLOOD}, headers=auth("k1"),
                                  timeout=slow(60))
    assert status == 200 and reply["status"] == "ok", reply
    grown = rss_kb(be) - before
    if "asan" not in binary().name:   # ASan keeps freed memory in quarantine
        assert grown < 24 * 1024, f"the backend grew by {grown} KiB"
    # The channel works on.
    status, _, reply = be.request("POST", f"/v1/sessions/{sid}/execute", {"code": "6*7"}, headers=auth("k1"),
                                  timeout=slow(60))
    assert status == 200 and reply["status"] == "ok", reply
    delete(be, sid, key="k1")
