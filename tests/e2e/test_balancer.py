"""The balancer end to end: real Redis, real backends (Docker sandboxes), 127.0.0.1 only.

Two backends and two balancers share one Redis (tests/e2e/balancer_util.py); the
balancers run tests/e2e/policies/balancer_fast.lua (health every 200 ms, a backend gone
after 2 s of failed checks, ended and lost sessions readable for 2 s) unless a test says
otherwise.  Redis: one per module, flushed by every fleet; the Redis restart tests use
their own (one without persistence: its data is lost; one with appendonly: it survives).
"""
import json
import signal
import threading
import time
import urllib.parse

import pytest

from backend_util import auth, wait_until
from balancer_util import (ECHO, FAST_BALANCER, SLEEPER, SMALL_BACKEND, Background, Fleet, Redis, all_ids_on,
                           backends_of, create, fleet, ids_on, output, read_until, redis, send)  # noqa: F401
from conftest import REPO, assert_error, slow
from wsclient import WebSocket

pytestmark = pytest.mark.docker

PIN_POLICY = REPO / "examples" / "policies" / "pin_language.lua"


def placed(backends, ids):
    """{backend url: set of the given ids it holds} from each backend's own listing."""
    out = {}
    for b in backends:
        out[b.url] = all_ids_on(b) & set(ids)
    return out


def where(backends, sid):
    for b in backends:
        if sid in all_ids_on(b):
            return b
    raise AssertionError(f"no backend holds {sid}")


def get(server, path, key="k1", **kw):
    status, _, body = server.request("GET", path, headers=auth(key), **kw)
    return status, body


# ---- placement and routing -------------------------------------------------------------------

def test_sessions_spread_and_every_operation_routes_through_either_balancer(fleet):
    a, b = fleet.backend(), fleet.backend()
    l1, l2 = fleet.balancer(), fleet.balancer()

    ids = []
    for i in range(10):
        s = create(l1 if i % 2 == 0 else l2)
        assert s["state"] in ("starting", "running") and s["language"] == "python", s
        ids.append(s["id"])
    spread = placed([a, b], ids)
    assert sum(len(v) for v in spread.values()) == 10, spread
    for url, held in spread.items():
        assert 4 <= len(held) <= 6, {u: len(v) for u, v in spread.items()}

    # The merged listing: both backends' sessions, through either balancer.
    for lb in (l1, l2):
        status, body = get(lb, "/v1/sessions")
        assert status == 200, body
        assert {s["id"] for s in body["sessions"]} == set(ids), body
    # The union of the languages.
    status, body = get(l2, "/v1/languages")
    assert status == 200, body
    names = [x["name"] for x in body["languages"]]
    assert sorted(names) == sorted(set(names)), names
    assert {"python", "c", "ipython"} <= set(names), names

    # One session on each backend; every operation through both balancers.
    for backend in (a, b):
        sid = next(iter(spread[backend.url]))
        other = b if backend is a else a
        # input through l1, output (long-poll) through l2
        poll = Background(lambda: read_until(l2, sid, "HELLO\n"))
        time.sleep(0.3)
        status, reply = send(l1, sid, "hello\n")
        assert status == 204, reply
        text, cursor = poll.result()
        assert text == "HELLO\n", text
        status, reply = send(l2, sid, "again\n")
        assert status == 204, reply
        text, cursor = read_until(l1, sid, "AGAIN\n", cursor)
        assert text == "AGAIN\n"
        # GET session via both; the backend's own answer is the same session
        for lb in (l1, l2):
            status, body = get(lb, f"/v1/sessions/{sid}")
            assert status == 200 and body["id"] == sid and body["state"] == "running", body
        assert get(other, f"/v1/sessions/{sid}")[0] == 404
        # files
        status, _, reply = l1.request("PUT", f"/v1/sessions/{sid}/files/dir/data.bin", b"\x00\x01bytes\xff",
                                      headers=auth("k1"))
        assert status == 204, reply
        status, _, reply = l2.request("GET", f"/v1/sessions/{sid}/files/dir/data.bin", headers=auth("k1"))
        assert status == 200 and reply == b"\x00\x01bytes\xff", (status, reply)
        status, body = get(l2, f"/v1/sessions/{sid}/files")
        assert status == 200 and {"path": "dir/data.bin", "size": 8} in body["files"], body
        status, _, direct = backend.request("GET", f"/v1/sessions/{sid}/files/dir/data.bin", headers=auth("k1"))
        assert status == 200 and direct == b"\x00\x01bytes\xff"
        status, body = get(l1, f"/v1/sessions/{sid}/files/missing.txt")
        assert_error(status, body, "not_found", 404)
        # WebSocket through l2 (header key) and l1 (?key=)
        ws = WebSocket(l2, f"/v1/sessions/{sid}/ws?cursor={cursor}", headers=auth("k1"))
        assert ws.status == 101, ws.head
        assert ws.accept == ws.expected_accept, ws.head
        ws.send({"type": "input", "data": "socket\n"})
        msgs, text = ws.collect(text_has="SOCKET\n")
        assert text == "SOCKET\n", msgs
        assert all(m["cursor"] > cursor for m in msgs if isinstance(m, dict) and "cursor" in m), msgs
        ws.close()
        ws = WebSocket(l1, f"/v1/sessions/{sid}/ws?key=k1&cursor=0")
        assert ws.status == 101, ws.head
        msgs, text = ws.collect(text_has="SOCKET\n")
        assert text == "HELLO\nAGAIN\nSOCKET\n", msgs
        ws.close()
        # a signal through l1 reaches the program
        status, _, reply = l1.request("POST", f"/v1/sessions/{sid}/signal", {"signal": "KILL"}, headers=auth("k1"))
        assert status == 204, reply
        final = wait_until(lambda: (lambda r: r[1] if r[1]["state"] != "running" else None)(
            get(l2, f"/v1/sessions/{sid}")), what="the signalled session ends")
        assert final["state"] == "exited" and final["signal"] == "SIGKILL", final
        status, reply = send(l2, sid, "late\n")
        assert_error(status, reply, "conflict", 409)
        # delete through l2, then again through l1: 204 both times
        for lb in (l2, l1):
            status, _, reply = lb.request("DELETE", f"/v1/sessions/{sid}", headers=auth("k1"))
            assert status == 204, reply

    # delete a running one through l1: the backend stops it, both balancers read killed
    running = [s for s in ids if get(l1, f"/v1/sessions/{s}")[1]["state"] == "running"]
    sid = running[0]
    status, _, reply = l1.request("DELETE", f"/v1/sessions/{sid}", headers=auth("k1"))
    assert status == 204, reply
    for lb in (l1, l2):
        status, body = get(lb, f"/v1/sessions/{sid}")
        assert status == 200 and body["state"] == "killed", body

    # /v1/run through both balancers
    for lb in (l1, l2):
        status, _, reply = lb.request("POST", "/v1/run", {"language": "c", "code":
                                      '#include <stdio.h>\nint main(){puts("hi");}'}, headers=auth("k1"),
                                      timeout=slow(60))
        assert status == 200 and reply["status"] == "ok" and reply["stdout"] == "hi\n", reply
    status, _, reply = l1.request("POST", "/v1/run", {"language": "cobol", "code": "x"}, headers=auth("k1"))
    assert_error(status, reply, "unsupported_language", 422)


def test_unknown_sessions_and_routes_through_the_balancer(fleet):
    fleet.backend()
    lb = fleet.balancer()
    for method, path in (("GET", "/v1/sessions/nope"), ("GET", "/v1/sessions/nope/output"),
                         ("POST", "/v1/sessions/nope/input"), ("PUT", "/v1/sessions/nope/files/a.txt"),
                         ("GET", "/v1/sessions/nope/files")):
        status, _, body = lb.request(method, path, {"data": "x"} if method == "POST" else None,
                                     headers=auth("k1"))
        assert_error(status, body, "not_found", 404)
    status, _, body = lb.request("DELETE", "/v1/sessions/nope", headers=auth("k1"))
    assert status == 204, body
    status, _, body = lb.request("GET", "/v1/sessions", headers={})
    assert_error(status, body, "unauthorized", 401)
    status, _, body = lb.request("POST", "/v1/sessions", b"{not json", headers=auth("k1"))
    assert_error(status, body, "bad_request", 400)


def test_a_session_routes_through_the_other_balancer_at_once(fleet):
    fleet.backend(), fleet.backend()
    l1, l2 = fleet.balancer(), fleet.balancer()
    for i in range(12):
        sid = create(l1 if i % 2 else l2, {"language": "python", "code": SLEEPER})["id"]
        status, body = get(l2 if i % 2 else l1, f"/v1/sessions/{sid}")
        assert status == 200 and body["id"] == sid, (i, status, body)


def test_tenancy_through_the_balancer(fleet):
    fleet.backend(), fleet.backend()
    l1, l2 = fleet.balancer(), fleet.balancer()
    sid = create(l1, key="k1")["id"]
    for lb in (l1, l2):
        status, body = get(lb, f"/v1/sessions/{sid}", key="k2")
        assert_error(status, body, "not_found", 404)
        status, reply = send(lb, sid, "x\n", key="k2")
        assert_error(status, reply, "not_found", 404)
        status, body = get(lb, f"/v1/sessions/{sid}/output", key="k2")
        assert_error(status, body, "not_found", 404)
        ws = WebSocket(lb, f"/v1/sessions/{sid}/ws?key=k2")
        assert ws.status == 404, ws.head
        ws.sock.close()
        status, body = get(lb, "/v1/sessions", key="k2")
        assert status == 200 and body["sessions"] == [], body
        # the admin sees and manages it
        status, body = get(lb, f"/v1/sessions/{sid}", key="adm")
        assert status == 200 and body["id"] == sid, body
        status, body = get(lb, "/v1/sessions", key="adm")
        assert sid in {s["id"] for s in body["sessions"]}, body
        status, body = get(lb, "/v1/sessions?mine=1", key="adm")
        assert sid not in {s["id"] for s in body["sessions"]}, body
    # k2's DELETE must not stop it
    status, _, body = l2.request("DELETE", f"/v1/sessions/{sid}", headers=auth("k2"))
    assert status in (204, 404), body
    assert get(l1, f"/v1/sessions/{sid}")[1]["state"] == "running"
    status, _, body = l2.request("DELETE", f"/v1/sessions/{sid}", headers=auth("adm"))
    assert status == 204, body
    assert get(l1, f"/v1/sessions/{sid}")[1]["state"] == "killed"


@pytest.mark.valgrind
def test_create_input_output_through_a_balancer(fleet):
    fleet.backend()
    lb = fleet.balancer(policy=REPO / "policies" / "balancer.lua")
    sid = create(lb)["id"]
    status, reply = send(lb, sid, "ping\n", eof=True)
    assert status == 204, reply
    text, _ = read_until(lb, sid, "PING\n")
    assert text == "PING\n"
    final = wait_until(lambda: (lambda b: b if b["state"] == "exited" else None)(get(lb, f"/v1/sessions/{sid}")[1]),
                       timeout=20, what="the session exits")
    assert final["exit_code"] == 0, final
    status, _, body = lb.request("DELETE", f"/v1/sessions/{sid}", headers=auth("k1"))
    assert status == 204, body


# ---- admin routes and drain ------------------------------------------------------------------

@pytest.mark.valgrind
def test_admin_routes(fleet):
    a = fleet.backend()
    lb = fleet.balancer()
    for method, body in (("GET", None), ("POST", {"url": "http://127.0.0.1:1"}), ("DELETE", None)):
        path = "/v1/backends" + ("?url=" + urllib.parse.quote(a.url, safe="") if method == "DELETE" else "")
        status, _, reply = lb.request(method, path, body, headers=auth("k1"))
        assert_error(status, reply, "forbidden", 403)
        status, _, reply = lb.request(method, path, body)
        assert_error(status, reply, "unauthorized", 401)
        status, _, reply = lb.request(method, path, body, headers=auth("wrong"))
        assert_error(status, reply, "unauthorized", 401)
    status, _, reply = lb.request("GET", "/v1/backends", headers=auth("adm"))
    assert status == 200, reply
    assert reply["backends"] == [{"url": a.url, "sessions": 0, "capacity": 50, "healthy": True,
                                  "draining": False}], reply

    bad = ["http://127.0.0.1:8081/", "http://127.0.0.1:8081/x", "http://127.0.0.1:8081?x=1",
           "http://127.0.0.1:8081#f", "http://user@127.0.0.1:8081", "http://u:p@127.0.0.1:8081",
           "https://127.0.0.1:8081", "http://127.0.0.1", "http://127.0.0.1:", "http://:8081",
           "http://127.0.0.1:0", "http://127.0.0.1:65536", "http://127.0.0.1:80x", "127.0.0.1:8081",
           "ftp://127.0.0.1:21", "", "http://127.0.0.1:8081 ", 8081, None]
    for url in bad:
        status, _, reply = lb.request("POST", "/v1/backends", {"url": url}, headers=auth("adm"))
        assert_error(status, reply, "bad_request", 400)
        assert status == 400, (url, reply)
    status, _, reply = lb.request("POST", "/v1/backends", b"{", headers=auth("adm"))
    assert_error(status, reply, "bad_request", 400)

    new = f"http://127.0.0.1:{a.port + 1 if a.port < 65535 else a.port - 1}"
    status, _, reply = lb.request("POST", "/v1/backends", {"url": new}, headers=auth("adm"))
    assert status == 201, reply
    status, _, reply = lb.request("POST", "/v1/backends", {"url": new}, headers=auth("adm"))
    assert status == 200, reply
    status, _, reply = lb.request("POST", "/v1/backends", {"url": a.url}, headers=auth("adm"))
    assert status == 200, reply
    listed = backends_of(lb)
    assert set(listed) == {a.url, new}, listed
    assert listed[a.url]["healthy"] is True
    wait_until(lambda: backends_of(lb)[new]["healthy"] is False, what="the new (dead) backend is unhealthy")

    status, _, reply = lb.request("DELETE", "/v1/backends?url=" + urllib.parse.quote("http://127.0.0.1:1", safe=""),
                                  headers=auth("adm"))
    assert_error(status, reply, "not_found", 404)
    status, _, reply = lb.request("DELETE", "/v1/backends", headers=auth("adm"))
    assert_error(status, reply, "bad_request", 400)
    status, _, reply = lb.request("DELETE", "/v1/backends?url=" + urllib.parse.quote(a.url, safe=""),
                                  headers=auth("adm"))
    assert status == 204, reply
    # a.url has no session: it disappears (after a health report)
    wait_until(lambda: a.url not in backends_of(lb), what="the drained, empty backend disappears")
    status, _, reply = lb.request("DELETE", "/v1/backends?url=" + urllib.parse.quote(a.url, safe=""),
                                  headers=auth("adm"))
    assert_error(status, reply, "not_found", 404)
    status, _, reply = lb.request("GET", "/healthz")
    assert status == 503 and reply["status"] == "unavailable", reply


def test_no_healthy_backend_answers_503(fleet):
    a = fleet.backend()
    lb = fleet.balancer()
    fleet.kill(a)
    wait_until(lambda: lb.request("GET", "/healthz")[0] == 503, timeout=5, what="healthz 503")
    for path, body in (("/v1/sessions", {"language": "python", "code": ECHO}),
                       ("/v1/run", {"language": "python", "code": "print(1)"})):
        status, _, reply = lb.request("POST", path, body, headers=auth("k1"))
        assert_error(status, reply, "unavailable", 503)


def test_drained_backend_keeps_its_sessions_and_gets_no_new_ones(fleet):
    a, b = fleet.backend(), fleet.backend()
    l1, l2 = fleet.balancer(), fleet.balancer()
    ids = [create(l1 if i % 2 else l2)["id"] for i in range(6)]
    spread = placed([a, b], ids)
    on_a = spread[a.url]
    assert len(on_a) >= 2, spread  # one to delete, one to end by itself
    status, _, reply = l1.request("DELETE", "/v1/backends?url=" + urllib.parse.quote(a.url, safe=""),
                                  headers=auth("adm"))
    assert status == 204, reply
    for lb in (l1, l2):
        wait_until(lambda: backends_of(lb)[a.url]["draining"] is True, what="draining seen by every balancer")
        listed = wait_until(lambda: (lambda x: x if x[a.url]["sessions"] == len(on_a) else None)(
            backends_of(lb)), what="the drained backend's sessions counted")
        assert listed[a.url]["healthy"] is True, listed
        assert listed[b.url]["draining"] is False, listed
    # new sessions: all on b
    new = [create(l1 if i % 2 else l2)["id"] for i in range(4)]
    assert set(new) <= ids_on(b), placed([a, b], new)
    assert not set(new) & all_ids_on(a)
    # a's sessions still work, through both balancers
    for sid in on_a:
        status, reply = send(l2, sid, "still\n")
        assert status == 204, reply
        assert read_until(l1, sid, "STILL\n")[0] == "STILL\n"
    # end them one by one: a stays listed (draining) while one is left
    on_a = sorted(on_a)
    for sid in on_a[:-1]:
        status, _, reply = l1.request("DELETE", f"/v1/sessions/{sid}", headers=auth("k1"))
        assert status == 204, reply
        status, body = get(l2, f"/v1/sessions/{sid}")  # relayed: its end, as the backend keeps it
        assert status == 200 and body["state"] == "killed", body
    listed = wait_until(lambda: (lambda x: x if x[a.url]["sessions"] == 1 else None)(backends_of(l1)),
                        what="the deletions counted by a health check")
    assert listed[a.url]["draining"] is True, listed
    last = on_a[-1]
    status, reply = send(l1, last, None, eof=True)  # it ends by itself
    assert status == 204, reply
    for lb in (l1, l2):
        wait_until(lambda: a.url not in backends_of(lb), what="the drained backend disappears")
    # A session that ended on the drained backend reads its real end (not lost) as long
    # as its route lives: the one that ended by itself keeps its route, ...
    status, body = get(l2, f"/v1/sessions/{last}")
    assert status == 200 and body["state"] == "exited", body
    # ... a deleted one's route lived ended_retention_s + 1 s from its DELETE, and the
    # backend left the set only after ended_retention_s without sessions, so by now it
    # reads its end or, once that route lapsed, 404 -- never lost.
    status, body = get(l1, f"/v1/sessions/{on_a[0]}")
    assert (status, body.get("state")) == (200, "killed") or \
        (status, body.get("error", {}).get("code")) == (404, "not_found"), body
    # the rest still route
    for sid in new:
        assert get(l1, f"/v1/sessions/{sid}")[1]["state"] == "running"


def test_drained_dead_backend_disappears(fleet):
    a = fleet.backend()
    lb = fleet.balancer()
    dead = f"http://127.0.0.1:{a.port - 1 if a.port > 1024 else a.port + 1}"
    status, _, reply = lb.request("POST", "/v1/backends", {"url": dead}, headers=auth("adm"))
    assert status == 201, reply
    wait_until(lambda: backends_of(lb)[dead]["healthy"] is False, what="the dead backend is unhealthy")
    status, _, reply = lb.request("DELETE", "/v1/backends?url=" + urllib.parse.quote(dead, safe=""),
                                  headers=auth("adm"))
    assert status == 204, reply
    # nothing listens there, so it holds no session: it must not stay listed forever
    wait_until(lambda: dead not in backends_of(lb), timeout=6, what="the drained dead backend disappears")


def test_restarted_backend_sessions_read_lost(fleet):
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer()
    ids = [create(lb)["id"] for _ in range(2)]
    old = next(iter(placed([a, b], ids)[b.url]))
    b.stop()  # SIGTERM: its sessions end, its containers are removed
    b3 = fleet.backend(port=b.port, backend_id=b.backend_id)  # the same URL, a new boot_id
    wait_until(lambda: (lambda r: r[1] if r[0] == 200 and r[1]["state"] == "lost" else None)(
        get(lb, f"/v1/sessions/{old}")), timeout=5, what="the old session reads lost")
    status, reply = send(lb, old, "x\n")
    assert_error(status, reply, "conflict", 409)
    wait_until(lambda: backends_of(lb)[b3.url]["healthy"], what="the restarted backend healthy")
    new = [create(lb)["id"] for _ in range(2)]
    assert set(new) & ids_on(b3), placed([a, b3], new)


def test_balancer_restart_loses_nothing_and_a_drained_backend_stays_drained(fleet):
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer(policy=REPO / "policies" / "balancer.lua")
    ids = [create(lb)["id"] for _ in range(4)]
    spread = placed([a, b], ids)
    assert all(spread.values()), spread
    status, _, reply = lb.request("DELETE", "/v1/backends?url=" + urllib.parse.quote(b.url, safe=""),
                                  headers=auth("adm"))
    assert status == 204, reply
    port = lb.port
    lb.stop()
    # the same env: CODECLOUD_BACKENDS lists b again; it must stay drained
    lb2 = fleet.balancer(policy=REPO / "policies" / "balancer.lua", port=port)
    listed = backends_of(lb2)
    assert listed[b.url]["draining"] is True, listed
    assert listed[a.url]["draining"] is False, listed
    for sid in ids:
        status, reply = send(lb2, sid, "after\n")
        assert status == 204, reply
        assert read_until(lb2, sid, "AFTER\n")[0] == "AFTER\n"
    new = create(lb2)["id"]
    assert new in ids_on(a)
    # and a second balancer on another port routes them too
    lb3 = fleet.balancer(policy=REPO / "policies" / "balancer.lua")
    for sid in ids + [new]:
        status, body = get(lb3, f"/v1/sessions/{sid}")
        assert status == 200 and body["state"] == "running", body


# ---- failures: backend lost, backend unhealthy ---------------------------------------------------

def test_killed_backend_sessions_read_lost_then_not_found(fleet):
    a, b = fleet.backend(), fleet.backend()
    l1, l2 = fleet.balancer(), fleet.balancer()
    ids = [create(l1 if i % 2 else l2)["id"] for i in range(6)]
    spread = placed([a, b], ids)
    victim_ids = spread[b.url]
    # least-loaded placement spreads 6 sessions 3..3 (ties are random only among equals)
    assert len(victim_ids) >= 2 and spread[a.url], spread
    sid = sorted(victim_ids)[0]
    send(l1, sid, "before\n")
    read_until(l1, sid, "BEFORE\n")

    fleet.kill(b)  # SIGKILL: its containers belong to nobody now (removed at teardown)
    for lb in (l1, l2):
        body = wait_until(lambda: (lambda r: r[1] if r[0] == 200 and r[1]["state"] == "lost" else None)(
            get(lb, f"/v1/sessions/{sid}")), timeout=5, what="the session reads lost")
        assert body["id"] == sid and body["language"] == "python", body
        assert {"id", "language", "state", "exit_code", "signal", "created_at", "last_active_at",
                "expires_at", "output_bytes"} <= set(body), body
        status, reply = send(lb, sid, "x\n")
        assert_error(status, reply, "conflict", 409)
        body = output(lb, sid)
        assert body["state"] == "lost", body
        status, _, reply = lb.request("POST", f"/v1/sessions/{sid}/signal", {"signal": "INT"}, headers=auth("k1"))
        assert_error(status, reply, "conflict", 409)
    # the other key still gets 404
    assert get(l1, f"/v1/sessions/{sid}", key="k2")[0] == 404
    # the merged listing still works: the survivor's sessions, and the gone backend's as lost
    # (from their summaries in Redis) once this balancer has seen it go; another key sees none
    wait_until(lambda: backends_of(l2)[b.url]["healthy"] is False, what="l2 sees the backend go")
    status, body = get(l2, "/v1/sessions")
    assert status == 200 and spread[a.url] <= {s["id"] for s in body["sessions"]}, body
    lost = {s["id"]: s for s in body["sessions"] if s["state"] == "lost"}
    assert set(victim_ids) <= set(lost), body
    assert lost[sid]["language"] == "python" and lost[sid]["exit_code"] is None, lost[sid]
    status, body = get(l1, "/v1/sessions", key="k2")
    assert status == 200 and not set(victim_ids) & {s["id"] for s in body["sessions"]}, body
    # new sessions go to the survivor
    new = [create(l1 if i % 2 else l2)["id"] for i in range(3)]
    assert set(new) <= ids_on(a)
    assert backends_of(l1)[b.url]["healthy"] is False
    status, body = get(l1, "/healthz", key=None)
    assert status == 200 and body["checks"]["backends"][b.url] == "gone", body
    # ended_retention_s is 2 s: by ~4 s after the backend was found gone, every one of its
    # sessions reads 404 -- one polled all along, and one never read before
    t0 = time.monotonic()
    never_read = sorted(victim_ids - {sid})[0]
    polled = None
    while time.monotonic() - t0 < 4.5:
        polled = get(l2, f"/v1/sessions/{sid}")[0]
        time.sleep(0.5)
    first_read = get(l1, f"/v1/sessions/{never_read}")
    assert (polled, first_read[0]) == (404, 404), (
        f"after the retention: a polled lost session reads {polled}, a lost one read for the first "
        f"time reads {first_read}")
    status, reply = send(l1, sid, "x\n")
    assert_error(status, reply, "not_found", 404)


def test_lost_sessions_no_longer_count_against_the_key(fleet):
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer(env={"CODECLOUD_TEST_PER_KEY": "2"})
    ids = [create(lb)["id"], create(lb)["id"]]
    spread = placed([a, b], ids)
    assert spread[a.url] and spread[b.url], spread
    fleet.kill(b)
    lost = next(iter(spread[b.url]))
    wait_until(lambda: get(lb, f"/v1/sessions/{lost}")[1].get("state") == "lost", timeout=5,
               what="the session reads lost")
    # one live session left for k1: a second one must be admitted
    create(lb)


def test_unhealthy_backend_answers_503_then_recovers(fleet):
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer(env={"CODECLOUD_TEST_LOST_AFTER_S": "60"})
    ids = [create(lb)["id"] for _ in range(2)]
    spread = placed([a, b], ids)
    sid = next(iter(spread[b.url]))
    b.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: backends_of(lb)[b.url]["healthy"] is False, timeout=5, what="b unhealthy")
        for method, path, body in (("GET", f"/v1/sessions/{sid}", None),
                                   ("POST", f"/v1/sessions/{sid}/input", {"data": "x\n"}),
                                   ("GET", f"/v1/sessions/{sid}/output", None),
                                   ("GET", f"/v1/sessions/{sid}/files", None)):
            status, _, reply = lb.request(method, path, body, headers=auth("k1"))
            assert_error(status, reply, "unavailable", 503)
        # the other key still gets 404 (no route leak), an unknown session 404
        status, _, reply = lb.request("GET", f"/v1/sessions/{sid}", headers=auth("k2"))
        assert_error(status, reply, "not_found", 404)
        new = [create(lb)["id"] for _ in range(3)]
        assert set(new) <= ids_on(a)
        status, _, body = lb.request("GET", "/healthz")
        assert status == 200 and body["checks"]["backends"][b.url] == "unhealthy", body
        # the listing answers without the stopped backend, within its own bound
        t0 = time.monotonic()
        status, _, body = lb.request("GET", "/v1/sessions", headers=auth("k1"))
        assert status == 200 and set(new) <= {s["id"] for s in body["sessions"]}, body
        assert time.monotonic() - t0 < slow(6)
    finally:
        b.signal(signal.SIGCONT)
    wait_until(lambda: backends_of(lb)[b.url]["healthy"] is True, timeout=5, what="b healthy again")
    status, reply = send(lb, sid, "back\n")
    assert status == 204, reply
    assert read_until(lb, sid, "BACK\n")[0] == "BACK\n"


# ---- Redis outages ---------------------------------------------------------------------------

@pytest.mark.parametrize("persistent", [True, False], ids=["redis-keeps-data", "redis-loses-data"])
def test_redis_restart(tmp_path, persistent):
    r = Redis(tmp_path / "redis", persistent=persistent).start()
    f = Fleet(tmp_path, r)
    try:
        a = f.backend()
        lb = f.balancer()
        sid = create(lb)["id"]
        r.stop()
        # The balancer learns of it from its connection's end, on its own loop: not necessarily
        # before it reads the next request (CI once got a healthz between the two).
        wait_until(lambda: lb.request("GET", "/healthz")[0] == 503, timeout=5,
                   what="the balancer to see Redis gone")
        status, _, body = lb.request("GET", "/healthz")
        assert status == 503 and body["status"] == "unavailable" and body["checks"]["redis"] != "ok", body
        assert "redis" in body["checks"]["redis"].lower(), body
        for method, path, req in (("GET", f"/v1/sessions/{sid}", None),
                                  ("POST", f"/v1/sessions/{sid}/input", {"data": "x\n"}),
                                  ("POST", "/v1/sessions", {"language": "python", "code": ECHO})):
            status, _, reply = lb.request(method, path, req, headers=auth("k1"))
            assert_error(status, reply, "unavailable", 503)
            assert "redis" in reply["error"]["message"].lower(), reply
        r.start()  # same port
        wait_until(lambda: lb.request("GET", "/healthz")[0] == 200, timeout=15,
                   what="the balancer healthy again")
        time.sleep(slow(1))  # several health rounds and backend-set refreshes later
        status, _, body = lb.request("GET", "/healthz")
        assert status == 200 and body["checks"]["backends"] == {a.url: "ok"}, body
        assert list(backends_of(lb)) == [a.url]
        if persistent:
            status, reply = send(lb, sid, "again\n")
            assert status == 204, reply
            assert read_until(lb, sid, "AGAIN\n")[0] == "AGAIN\n"
        else:
            # the route is gone with the data: the session reads 404 through the balancer
            status, _, reply = lb.request("GET", f"/v1/sessions/{sid}", headers=auth("k1"))
            assert_error(status, reply, "not_found", 404)
        new = create(lb)["id"]
        status, reply = send(lb, new, "new\n")
        assert status == 204, reply
    finally:
        errors = f.close()
        r.stop()
    assert not errors, errors


# ---- capacity and the per-key cap -------------------------------------------------------------

def test_concurrent_creates_never_exceed_a_backends_capacity(fleet):
    a = fleet.backend(policy=SMALL_BACKEND)
    b = fleet.backend(policy=SMALL_BACKEND)
    l1, l2 = fleet.balancer(), fleet.balancer()
    listed = wait_until(lambda: (lambda x: x if all(v["capacity"] == 3 for v in x.values()) else None)(
        backends_of(l1)), what="capacity 3 reported")
    assert len(listed) == 2
    results = [None] * 20
    over = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for be in (a, b):
                st, _, h = be.request("GET", "/healthz")
                if st == 200 and h["sessions"] > 3:
                    over.append((be.url, h))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = threading.Barrier(20)

    def one(i):
        lb = l1 if i % 2 else l2
        start.wait()
        status, _, body = lb.request("POST", "/v1/sessions", {"language": "python", "code": SLEEPER},
                                     headers=auth("k1" if i % 3 else "k2"), timeout=slow(60))
        results[i] = (status, body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(slow(90))
    stop.set()
    watcher.join()
    ok = [r for r in results if r and r[0] == 201]
    refused = [r for r in results if r and r[0] != 201]
    for status, body in refused:
        assert_error(status, body, "too_many_sessions", 429)
        assert body["error"]["scope"] == "server", body
    assert len(ok) == 6, results
    assert not over, over
    for be in (a, b):
        assert len(ids_on(be)) == 3, ids_on(be)
        assert be.request("GET", "/healthz")[2]["sessions"] == 3
    # full fleet: one more create is refused at once
    status, _, body = l1.request("POST", "/v1/sessions", {"language": "python", "code": SLEEPER},
                                 headers=auth("k1"))
    assert_error(status, body, "too_many_sessions", 429)
    assert body["error"]["scope"] == "server"
    # one freed slot is usable again
    victim = ok[0][1]["id"]
    status, _, body = l2.request("DELETE", f"/v1/sessions/{victim}", headers=auth("adm"))
    assert status == 204
    wait_until(lambda: create(l1, {"language": "python", "code": SLEEPER}, expect=None)[0] == 201,
               timeout=5, interval=0.3, what="a create succeeds after a delete")


def test_per_key_cap_is_fleet_wide(fleet):
    fleet.backend(), fleet.backend()
    env = {"CODECLOUD_TEST_PER_KEY": "2"}
    l1, l2 = fleet.balancer(env=env), fleet.balancer(env=env)
    first = create(l1, key="k1")["id"]
    create(l2, key="k1")
    for lb in (l1, l2):
        status, _, body = lb.request("POST", "/v1/sessions", {"language": "python", "code": ECHO},
                                     headers=auth("k1"))
        assert_error(status, body, "too_many_sessions", 429)
        assert body["error"]["scope"] == "key", body
    create(l2, key="k2")  # another key is not affected
    status, _, body = l1.request("DELETE", f"/v1/sessions/{first}", headers=auth("k1"))
    assert status == 204
    create(l2, key="k1")  # a slot freed by a delete is usable through the other balancer


def test_per_key_cap_counts_only_live_sessions(fleet):
    fleet.backend()
    lb = fleet.balancer(env={"CODECLOUD_TEST_PER_KEY": "2"})
    for _ in range(2):
        sid = create(lb, {"language": "python", "code": "print('done')"})["id"]
        wait_until(lambda: get(lb, f"/v1/sessions/{sid}")[1]["state"] == "exited", what="the session exits")
    # both ended by themselves: k1 holds no live session, so this is admitted
    create(lb)


# ---- the example policy -------------------------------------------------------------------

def test_pin_language_example_policy(fleet):
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer(policy=PIN_POLICY, env={"CODECLOUD_PIN_C": b.url})
    c_prog = {"language": "c", "code": '#include <stdio.h>\nint main(){char s[99];'
              'while(fgets(s,99,stdin))fputs(s,stdout);}'}
    cs = [create(lb, c_prog)["id"] for _ in range(3)] + [create(lb, {**c_prog, "language": "gcc"})["id"]]
    assert set(cs) <= all_ids_on(b), placed([a, b], cs)
    # python still goes least-loaded: with 4 sessions on b, the next ones go to a
    py = [create(lb)["id"] for _ in range(3)]
    assert set(py) <= ids_on(a), placed([a, b], py)
    # runs are pinned too
    status, _, reply = lb.request("POST", "/v1/run", {**c_prog, "stdin": "x\n"}, headers=auth("k1"),
                                  timeout=slow(60))
    assert status == 200 and reply["stdout"] == "x\n", reply
    # with the pinned backend drained, c is refused rather than spilled over
    status, _, reply = lb.request("DELETE", "/v1/backends?url=" + urllib.parse.quote(b.url, safe=""),
                                  headers=auth("adm"))
    assert status == 204
    status, _, reply = lb.request("POST", "/v1/sessions", c_prog, headers=auth("k1"))
    assert_error(status, reply, "too_many_sessions", 429)
    create(lb)  # python still works


# ---- a client that leaves during placement ------------------------------------------------------

def _fake_redis(backend_urls, eval_delay, eval_answer=1):
    """A thread serving just enough RESP for one balancer: `backend_urls` are the set; EVAL (the
    reservation) answers `eval_answer` after `eval_delay` s (1: reserved, 0: full)."""
    import socket as so

    def enc(v):
        if isinstance(v, int):
            return b":%d\r\n" % v
        if isinstance(v, list):
            return b"*%d\r\n" % len(v) + b"".join(enc(x) for x in v)
        v = v.encode()
        return b"$%d\r\n%s\r\n" % (len(v), v)

    def serve(c):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                args = []
                for _ in range(int(line[1:-2])):
                    n = int(f.readline()[1:-2])
                    args.append(f.read(n + 2)[:-2].decode())
                cmd = args[0].upper()
                if cmd == "HGETALL":
                    out = enc([x for u in backend_urls for x in (u, '{"draining":false}')]
                              if args[1] == "cc:backends" else [])
                elif cmd == "EVAL":
                    time.sleep(eval_delay)
                    out = enc(eval_answer)
                elif cmd in ("PING", "SELECT", "AUTH"):
                    out = b"+OK\r\n"
                else:
                    out = enc(0)
                c.sendall(out)
        except OSError:
            pass

    lst = so.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen()

    def accept():
        while True:
            try:
                c, _ = lst.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return lst


def _fake_backend():
    """An HTTP server whose /healthz says: a healthy backend with room for 5 sessions."""
    import http.server
    health = json.dumps({"status": "ok", "role": "backend", "id": "fake", "boot_id": "b1", "sessions": 0,
                         "capacity": 5, "checks": {}}).encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(health)))
            self.end_headers()
            self.wfile.write(health)

        def log_message(self, *a):
            pass
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    return backend, f"http://127.0.0.1:{backend.server_address[1]}"


def test_client_leaving_while_the_reservation_is_in_flight(start_server):
    """Redis answers the reservation late; the client gives up meanwhile.  The balancer must
    neither crash nor touch the freed placement (run under ASan or valgrind to see it)."""
    backend, url = _fake_backend()
    lst = _fake_redis([url], eval_delay=1.0)
    try:
        lb = start_server(policy=FAST_BALANCER, env={"CODECLOUD_REDIS": f"127.0.0.1:{lst.getsockname()[1]}"})
        wait_until(lambda: lb.request("GET", "/healthz")[0] == 200, what="balancer healthy")
        s = lb.connect()
        body = json.dumps({"language": "python", "code": "x"}).encode()
        s.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.3)
        s.close()  # gone while EVAL is pending
        time.sleep(slow(1.5))
        assert lb.proc.poll() is None, lb.log()[-3000:]
        assert lb.request("GET", "/healthz")[0] == 200
    finally:
        lst.close()
        backend.shutdown()


def test_a_placement_turned_away_by_more_backends_than_it_can_exclude_answers_503(start_server):
    """17 healthy backends, every reservation refused (full counting other balancers): once
    MAX_EXCLUDED (16) have turned the placement away it is answered 503, not retried forever."""
    fakes = [_fake_backend() for _ in range(17)]
    lst = _fake_redis([url for _, url in fakes], eval_delay=0, eval_answer=0)
    try:
        lb = start_server(policy=FAST_BALANCER, env={"CODECLOUD_REDIS": f"127.0.0.1:{lst.getsockname()[1]}"})

        def all_healthy():
            backends = lb.request("GET", "/healthz")[2]["checks"]["backends"]
            return len(backends) == 17 and set(backends.values()) == {"ok"}
        wait_until(all_healthy, what="17 healthy backends")
        status, _, body = lb.request("POST", "/v1/sessions", body={"language": "python", "code": "x"},
                                     headers=auth("k1"), timeout=slow(10))
        assert_error(status, body, "unavailable", 503)
        assert "16 backends were tried" in body["error"]["message"], body
        assert "placement_exhausted" in lb.log()
    finally:
        lst.close()
        for backend, _ in fakes:
            backend.shutdown()


def test_ended_session_route_shrinks_then_goes_with_the_backends_404(fleet):
    """A session that ends by itself: its route is kept only for the retention; once its backend
    has forgotten it (404 to its owner), the balancer drops the route too."""
    from conftest import POLICIES
    fleet.backend(policy=POLICIES / "settings.lua",
                  env={"CODECLOUD_TEST_SETTINGS": json.dumps({"ended_retention_s": 1})})
    lb = fleet.balancer()
    sid = create(lb, {"language": "python", "code": "print('done')"})["id"]
    wait_until(lambda: get(lb, f"/v1/sessions/{sid}")[1]["state"] == "exited", what="the session exits")
    # the balancer's ended_retention_s (2 s) + 1, not lifetime + retention + 60; its EXPIRE leaves
    # with the answer that showed the end, on another connection
    wait_until(lambda: 0 < fleet.redis.command("TTL", f"cc:session:{sid}") <= 3, timeout=2,
               what="the route's life shrinks to the retention")
    members = fleet.redis.command("ZRANGE", "cc:keyset:" + key_hash("k1"), "0", "-1")
    assert not [m for m in members if m.endswith(" " + sid)], members
    # the backend forgets it after 1 s: the owner's next read is 404, and the route is gone
    wait_until(lambda: get(lb, f"/v1/sessions/{sid}")[0] == 404, what="the backend forgets the session")
    # the balancer's DEL and its 404 leave at the same moment on two connections
    wait_until(lambda: fleet.redis.command("EXISTS", f"cc:session:{sid}") == 0, timeout=2,
               what="the route is dropped")


def key_hash(key):
    import hashlib
    return hashlib.sha256(key.encode()).hexdigest()
