"""Both older dialects through a balancer: a seed session (its upload and its session pinned to
one backend by user_id), the fleet-wide session count; Piston execute and WebSocket with a key,
and anonymous Piston (CODECLOUD_PISTON_OPEN) relayed to a backend; the placement of what the
balancer relays unchanged (a seed user_id's first request, anonymous Piston) admitted and
reserved like a /v1 create."""
import hashlib
import json
import time
import uuid

import pytest

from backend_util import wait_until
from balancer_util import auth, backends_of, fleet, ids_on, redis  # noqa: F401  (fixtures)
from conftest import POLICIES, free_port, slow
from wsclient import WebSocket

DIALECTS = POLICIES / "balancer_dialects.lua"

pytestmark = pytest.mark.docker

PROGRAM = 'print("ready")\nprint("echo", input())\n'


def multipart(data):
    boundary = "----bal" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.py\"\r\n\r\n").encode() \
        + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def seed_ok(server, method, path, body=None, key="k1", headers=None):
    status, hdrs, reply = server.request(method, path, body, headers={**auth(key), **(headers or {})},
                                         timeout=slow(60))
    assert status == 200, (method, path, status, reply)
    return reply.decode() if isinstance(reply, bytes) else reply


def read_output(server, user, want, timeout=20):
    deadline = time.monotonic() + slow(timeout)
    got = ""
    while time.monotonic() < deadline:
        got += seed_ok(server, "GET", f"/api/session/output?userId={user}")
        if want in got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{want!r} never came; got {got!r}")


@pytest.mark.valgrind
def test_seed_session_through_balancer(fleet):
    b1, b2 = fleet.backend(), fleet.backend()
    bal = fleet.balancer()
    users = [f"user{i}" for i in range(4)]
    for u in users:
        body, headers = multipart(PROGRAM.encode())
        url = seed_ok(bal, "POST", f"/api/files/add/{u}", body, headers=headers)
        assert url.endswith(f"/api/files/get?userId={u}"), url
        seed_ok(bal, "POST", "/api/session/create", {"user_id": u, "language": "PYTHON", "file_url": url})
    # Each user's upload and session share its pinned backend.
    pins = {u: fleet.redis.command("KEYS", f"cc:seed:*:{u}") for u in users}
    assert all(len(p) == 1 for p in pins.values()), pins
    for u in users:
        read_output(bal, u, "ready")
    assert seed_ok(bal, "GET", "/api/metrics/session/count") == "4"
    assert seed_ok(bal, "GET", "/api/metrics/session/has?userId=user0") == "true"
    seed_ok(bal, "POST", "/api/session/input", {"user_id": "user0", "input": "hi"})
    out = read_output(bal, "user0", "echo hi")
    assert "ready" not in out
    for u in users:
        seed_ok(bal, "POST", "/api/session/delete", {"user_id": u})
    status, _, _ = bal.request("GET", "/api/metrics/session/has?userId=user0", headers=auth("k1"))
    assert status == 404
    status, hdrs, body = bal.request("GET", "/api/session/output?userId=nobody", headers=auth("k1"))
    assert status == 404 and hdrs["content-type"].startswith("text/plain"), (status, body)
    status, hdrs, body = bal.request("POST", "/api/session/create", {"user_id": "x", "language": "PYTHON"})
    assert status == 401 and hdrs["content-type"].startswith("text/plain"), (status, body)
    status, _, body = bal.request("GET", "/")
    assert (status, body) == (200, b"v1.0")


def test_piston_through_balancer(fleet):
    fleet.backend()
    bal = fleet.balancer()
    status, _, rts = bal.request("GET", "/api/v2/runtimes", headers=auth("k1"))
    assert status == 200 and {r["language"] for r in rts} >= {"python", "c"}, rts
    status, _, r = bal.request("POST", "/api/v2/execute", {"language": "python", "version": "*",
                                                           "files": [{"content": "print(3*3)"}]},
                               headers=auth("k1"), timeout=slow(60))
    assert status == 200 and r["run"]["stdout"] == "9\n", r
    status, _, r = bal.request("POST", "/api/v2/execute", {"language": "c", "version": "*",
                                                           "files": [{"content": "int main(){"}]},
                               headers=auth("k1"), timeout=slow(60))
    assert status == 200 and r["compile"]["status"] == "RE" and "run" not in r, r
    status, _, r = bal.request("POST", "/api/v2/execute", {"language": "python", "version": "*",
                                                           "files": [{"content": "1"}]})
    assert status == 401 and set(r) == {"message"}, r


def ws_run(bal, key):
    from balancer_util import WebSocket
    ws = WebSocket(bal, "/api/v2/connect", headers=auth(key))
    assert ws.status == 101, ws.head
    ws.send({"type": "init", "language": "python", "version": "*",
             "files": [{"content": "print('ws', input())"}]})
    ws.sock.settimeout(slow(30))
    msgs = []
    while True:
        m = ws.recv()
        if isinstance(m, tuple):
            code = m[1]
            break
        msgs.append(m)
        if m == {"type": "stage", "stage": "run"}:
            ws.send({"type": "data", "stream": "stdin", "data": "there\n"})
    ws.close()
    assert code == 4999, msgs
    assert "".join(m["data"] for m in msgs if m["type"] == "data") == "ws there\n", msgs
    assert msgs[-1] == {"type": "exit", "stage": "run", "code": 0, "signal": None}, msgs


def test_piston_websocket_through_balancer(fleet):
    fleet.backend()
    bal = fleet.balancer()
    ws_run(bal, "k1")


def test_anonymous_piston_through_balancer(fleet):
    fleet.backend(env={"CODECLOUD_PISTON_OPEN": "1"})
    bal = fleet.balancer(env={"CODECLOUD_PISTON_OPEN": "1"})
    status, _, r = bal.request("POST", "/api/v2/execute", {"language": "python", "version": "*",
                                                           "files": [{"content": "print('anon')"}]},
                               headers={"Content-Type": "text/plain"}, timeout=slow(60))
    assert status == 200 and r["run"]["stdout"] == "anon\n", (status, r)
    ws_run(bal, None)


# ---- a seed file_url naming another backend's upload ---------------------------------------------

def peers(fleet, n, trusted=True, policy=None):
    """n backends on known ports, each listing the others in file_url_peers when `trusted`."""
    ports = [free_port() for _ in range(n)]
    out = []
    for i, port in enumerate(ports):
        others = ",".join(f"127.0.0.1:{p}" for j, p in enumerate(ports) if j != i) if trusted else ""
        out.append(fleet.backend(port=port, env={"CODECLOUD_FILE_URL_PEERS": others}, policy=policy))
    return out


def test_file_url_between_trusting_backends(fleet):
    b1, b2 = peers(fleet, 2)
    body, headers = multipart(PROGRAM.encode())
    url = seed_ok(b1, "POST", "/api/files/add/owner", body, headers=headers)
    assert url.startswith(b1.url), url
    # The session is on b2; the upload on b1, fetched with the caller's key.
    seed_ok(b2, "POST", "/api/session/create", {"user_id": "user", "language": "PYTHON", "file_url": url})
    read_output(b2, "user", "ready")
    seed_ok(b2, "POST", "/api/session/delete", {"user_id": "user"})
    # Another key cannot use the upload (it is the owner's key's), nor a missing one.
    status, hdrs, reply = b2.request("POST", "/api/session/create",
                                     {"user_id": "user", "language": "PYTHON", "file_url": url}, headers=auth("k2"))
    assert status == 404 and hdrs["content-type"].startswith("text/plain"), (status, reply)


def test_file_url_of_an_untrusted_backend_is_not_fetched(fleet):
    b1, b2 = peers(fleet, 2, trusted=False)
    body, headers = multipart(PROGRAM.encode())
    url = seed_ok(b1, "POST", "/api/files/add/owner", body, headers=headers)
    status, _, reply = b2.request("POST", "/api/session/create",
                                  {"user_id": "user", "language": "PYTHON", "file_url": url}, headers=auth("k1"))
    assert status == 404, (status, reply)


def test_file_url_of_another_user_id_through_balancer(fleet):
    peers(fleet, 2)
    bal = fleet.balancer()
    # Upload for user_ids until two of them are pinned to different backends.
    pinned = {}
    for i in range(12):
        u = f"up{i}"
        body, headers = multipart(PROGRAM.encode())
        pinned[u] = (seed_ok(bal, "POST", f"/api/files/add/{u}", body, headers=headers),
                     fleet.redis.command("GET", fleet.redis.command("KEYS", f"cc:seed:*:{u}")[0]))
        if len({b for _, b in pinned.values()}) == 2:
            break
    url, there = pinned["up0"]
    other = next(u for u, (_, b) in pinned.items() if b != there)   # StopIteration: all on one backend
    # `other`'s session runs on its own backend, with `owner`'s upload from the other one.
    seed_ok(bal, "POST", "/api/session/create", {"user_id": other, "language": "PYTHON", "file_url": url})
    read_output(bal, other, "ready")
    seed_ok(bal, "POST", "/api/session/input", {"user_id": other, "input": "x"})
    read_output(bal, other, "echo x")
    seed_ok(bal, "POST", "/api/session/delete", {"user_id": other})


# ---- placing what the balancer relays unchanged ------------------------------------------------

def text_of(reply):
    return reply.decode() if isinstance(reply, bytes) else json.dumps(reply)


def reservations(fleet):
    """{cc:resv:<url>: its members} for every reservation key in Redis."""
    return {k: fleet.redis.command("ZRANGE", k, "0", "-1") for k in fleet.redis.command("KEYS", "cc:resv:*")}


def test_dialect_placements_are_asked_of_the_balancers_admit(fleet):
    """A seed user_id's first create or upload and a keyless Piston execute or connect are asked of
    the balancer's admit ({kind, dialect, language, key, counts, capacity, per_key}) before any
    backend sees them; a refusal is answered in the dialect's own shape and places nothing."""
    open_env = {"CODECLOUD_PISTON_OPEN": "1"}
    fleet.backend(env=open_env)
    bal = fleet.balancer(policy=DIALECTS, env={**open_env, "CODECLOUD_TEST_REFUSE_DIALECTS": "1"})
    capacity = next(iter(backends_of(bal).values()))["capacity"]
    k1 = hashlib.sha256(b"k1").hexdigest()

    status, hdrs, reply = bal.request("POST", "/api/session/create", {"user_id": "u1", "language": "PYTHON"},
                                      headers=auth("k1"))
    assert status == 403 and hdrs["content-type"].startswith("text/plain"), (status, reply)
    assert json.loads(text_of(reply)) == {"kind": "session", "dialect": "seed", "language": "PYTHON", "key": k1,
                                          "counts": {"server": 0, "key": 0}, "capacity": capacity,
                                          "per_key": 100}, reply
    body, headers = multipart(PROGRAM.encode())
    status, hdrs, reply = bal.request("POST", "/api/files/add/u1", body, headers={**auth("k1"), **headers})
    assert status == 403 and hdrs["content-type"].startswith("text/plain"), (status, reply)
    seen = json.loads(text_of(reply))
    assert (seen["kind"], seen["dialect"], seen.get("language")) == ("session", "seed", None), seen
    assert fleet.redis.command("KEYS", "cc:seed:*") == []  # nothing pinned

    status, hdrs, reply = bal.request("POST", "/api/v2/execute", {"language": "python", "version": "*",
                                                                  "files": [{"content": "print(1)"}]})
    assert status == 429 and hdrs["content-type"].startswith("application/json"), (status, reply)
    assert set(reply) == {"message"}, reply
    seen = json.loads(reply["message"])
    assert (seen["kind"], seen["dialect"], seen["language"], seen["key"]) == \
        ("run", "piston", "python", "piston-anonymous"), seen
    ws = WebSocket(bal, "/api/v2/connect")
    assert ws.status == 429, ws.head
    seen = json.loads(json.loads(ws.body())["message"])
    assert (seen["kind"], seen["dialect"], seen.get("language")) == ("session", "piston", None), seen

    # What is not a dialect's own placement is admitted: a keyed Piston execute is the balancer's
    # /v1 run, and the anonymous runtimes list places nothing.
    status, _, reply = bal.request("POST", "/api/v2/execute", {"language": "python", "version": "*",
                                                               "files": [{"content": "print(3*3)"}]},
                                   headers=auth("k1"), timeout=slow(60))
    assert status == 200 and reply["run"]["stdout"] == "9\n", reply
    status, _, reply = bal.request("GET", "/api/v2/runtimes")
    assert status == 200 and "python" in {r["language"] for r in reply}, reply
    wait_until(lambda: not any(reservations(fleet).values()), what="the keyed run's reservation is released")


def test_dialect_placements_take_a_reservation(fleet):
    """The policy's pick is b1, but every place of b1 is reserved (placements of other balancers in
    flight): the reservation there is refused and the seed user_id, or the anonymous Piston run,
    goes to b2, as a /v1 create would.  Each reservation taken is gone once its request was answered
    (a create's lapses at the next health report, an upload's or a run's is released at once)."""
    open_env = {"CODECLOUD_PISTON_OPEN": "1"}
    b1, b2 = fleet.backend(env=open_env), fleet.backend(env=open_env)
    bal = fleet.balancer(policy=DIALECTS, env={**open_env, "CODECLOUD_TEST_PREFER": b1.url})
    pin = lambda user: fleet.redis.command("GET", f"cc:seed:{hashlib.sha256(b'k1').hexdigest()}:{user}")  # noqa: E731
    # b1 is the pick while it has room.
    seed_ok(bal, "POST", "/api/session/create", {"user_id": "first", "language": "PYTHON"})
    assert pin("first") == b1.url
    # Every place of b1 reserved, far into the future.
    capacity = backends_of(bal)[b1.url]["capacity"]
    far = int(time.time() * 1000) + 600_000
    fleet.redis.command("ZADD", f"cc:resv:{b1.url}", *[x for i in range(capacity) for x in (far, f"other{i}")])
    seed_ok(bal, "POST", "/api/session/create", {"user_id": "second", "language": "PYTHON"})
    assert pin("second") == b2.url
    body, headers = multipart(PROGRAM.encode())
    seed_ok(bal, "POST", "/api/files/add/third", body, headers=headers)
    assert pin("third") == b2.url
    assert len(ids_on(b1)) == 1 and len(ids_on(b2)) == 1, (ids_on(b1), ids_on(b2))
    status, _, reply = bal.request("POST", "/api/v2/execute", {"language": "python", "version": "*",
                                                               "files": [{"content": "print('anon')"}]},
                                   timeout=slow(60))
    assert status == 200 and reply["run"]["stdout"] == "anon\n", (status, reply)
    wait_until(lambda: reservations(fleet).get(f"cc:resv:{b2.url}", []) == [],
               what="b2's reservations lapse or are released")
    # first's lapsed too; the others' stay
    others = sorted(f"other{i}" for i in range(capacity))
    wait_until(lambda: sorted(reservations(fleet)[f"cc:resv:{b1.url}"]) == others,
               what="b1 keeps only the reservations of others")
    for user in ("first", "second"):
        seed_ok(bal, "POST", "/api/session/delete", {"user_id": user})
