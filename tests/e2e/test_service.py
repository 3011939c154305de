"""Service routes (/healthz, /metrics), JSON conventions, and the shutdown contract."""
import json
import re
import signal
import socket
import time

import pytest

from backend_util import wait_until
from conftest import POLICIES, assert_error, metric_value, read_responses, slow

SETTINGS = POLICIES / "settings.lua"

# Fields that api.md defines as lists, wherever they appear.
LIST_FIELDS = {"languages", "aliases", "sessions", "events", "files", "outputs", "traceback",
               "backends", "args"}


def walk_lists(value, path="$"):
    """Every (path, value) for keys that must be lists, plus every empty object anywhere."""
    if isinstance(value, dict):
        for k, v in value.items():
            p = f"{path}.{k}"
            if k in LIST_FIELDS and isinstance(v, (dict, list)):
                assert isinstance(v, list), f"{p} must be a list, got {v!r}"
            walk_lists(v, p)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            walk_lists(v, f"{path}[{i}]")


# ---- /healthz ------------------------------------------------------------------------------

@pytest.mark.valgrind
def test_healthz_shape(server):
    st, headers, body = server.request("GET", "/healthz")
    assert st == 200
    assert headers["content-type"].startswith("application/json")
    assert body["status"] in ("ok", "degraded")
    assert body["role"] == "backend"
    assert isinstance(body["id"], str) and body["id"]
    assert isinstance(body["boot_id"], str) and len(body["boot_id"]) >= 16
    assert isinstance(body["sessions"], int) and body["sessions"] >= 0
    assert isinstance(body["capacity"], int) and body["capacity"] == 50  # the default policy
    assert isinstance(body["checks"], dict)
    assert "docker" in body["checks"]
    assert isinstance(body["checks"]["docker"], str)
    pools = body["checks"].get("pools", {})
    assert isinstance(pools, dict)
    for lang, pool in pools.items():
        assert set(pool) >= {"ready", "target", "error"}, pool
    assert "redis" not in body["checks"]  # a backend has no Redis check


def test_healthz_id_defaults_to_listen_and_boot_id_is_stable(server):
    _, _, a = server.request("GET", "/healthz")
    _, _, b = server.request("GET", "/healthz")
    assert a["id"] == f"127.0.0.1:{server.port}"
    assert a["boot_id"] == b["boot_id"]


def test_healthz_backend_id_and_new_boot_id(start_server, server):
    srv = start_server(env={"CODECLOUD_BACKEND_ID": "backend-7"})
    _, _, body = srv.request("GET", "/healthz")
    assert body["id"] == "backend-7"
    _, _, other = server.request("GET", "/healthz")
    assert body["boot_id"] != other["boot_id"]


def test_healthz_capacity_from_policy(start_server):
    srv = start_server(SETTINGS, {"CODECLOUD_TEST_SETTINGS": json.dumps({"max_sessions": 7})})
    _, _, body = srv.request("GET", "/healthz")
    assert body["capacity"] == 7


# ---- /metrics -----------------------------------------------------------------------------

@pytest.mark.valgrind
def test_metrics_names(server):
    server.request("GET", "/healthz")
    server.request("GET", "/nope")
    st, headers, text = server.request("GET", "/metrics")
    assert st == 200
    assert headers["content-type"].startswith("text/plain")
    text = text.decode()
    for name in ("cloudcode_http_requests_total", "cloudcode_connections_open",
                 "cloudcode_policy_errors_total"):
        assert metric_value(text, name) is not None, f"{name} missing:\n{text}"
    assert "# TYPE cloudcode_http_request_duration_seconds histogram" in text
    h = "cloudcode_http_request_duration_seconds"
    assert re.search(rf'^{h}_bucket{{le="\+Inf"}} \d+$', text, re.M)
    assert re.search(rf"^{h}_sum \S+$", text, re.M)
    count = re.search(rf"^{h}_count (\d+)$", text, re.M)
    inf = re.search(rf'^{h}_bucket{{le="\+Inf"}} (\d+)$', text, re.M)
    assert count and inf and count.group(1) == inf.group(1)
    # buckets are cumulative
    buckets = [int(v) for v in re.findall(rf'^{h}_bucket{{le="[^"]+"}} (\d+)$', text, re.M)]
    assert buckets == sorted(buckets)
    assert re.search(r'^cloudcode_http_requests_total\{route="/healthz",status="200"\} \d+', text, re.M)


def test_metrics_are_valid_exposition(server):
    _, _, text = server.request("GET", "/metrics")
    typed = set()
    for line in text.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            assert name not in typed, f"TYPE twice for {name}"
            typed.add(name)
            continue
        if line.startswith("#") or not line:
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (\S+)$', line)
        assert m, f"bad sample line {line!r}"
        float(m.group(4))


def test_metrics_request_counter_increases(server):
    def healthz_count():
        _, _, text = server.request("GET", "/metrics")
        m = re.search(r'^cloudcode_http_requests_total\{route="/healthz",status="200"\} (\S+)$',
                      text.decode(), re.M)
        return float(m.group(1)) if m else 0.0
    before = healthz_count()
    for _ in range(3):
        server.request("GET", "/healthz")
    assert healthz_count() == before + 3


def test_metrics_connections_open(server):
    socks = [server.connect() for _ in range(5)]
    try:
        # Five held plus the one asking, once the server has accepted them all.
        wait_until(lambda: server.metric("cloudcode_connections_open") >= 6,
                   what="the five connections counted")
    finally:
        for s in socks:
            s.close()


def test_metrics_never_labelled_by_key(start_server):
    srv = start_server(env={"CODECLOUD_API_KEY": "metric-secret-key"})
    srv.request("GET", "/v1/languages", headers={"X-API-Key": "metric-secret-key"})
    srv.request("GET", "/v1/languages", headers={"X-API-Key": "wrong-metric-key"})
    _, _, text = srv.request("GET", "/metrics")
    text = text.decode()
    assert "metric-secret-key" not in text and "wrong-metric-key" not in text
    assert not re.search(r'\bkey="', text)


def test_metrics_route_label_is_the_pattern_not_the_path(server):
    server.request("GET", "/random/path/abc123")
    _, _, text = server.request("GET", "/metrics")
    assert "abc123" not in text.decode(), "unmatched paths must not create series"


# ---- JSON conventions -----------------------------------------------------------------------

@pytest.mark.valgrind
def test_languages(server):
    st, _, body = server.request("GET", "/v1/languages")
    assert st == 200
    walk_lists(body)
    by_name = {l["name"]: l for l in body["languages"]}
    assert {"python", "c", "ipython"} <= set(by_name)
    assert by_name["ipython"]["notebook"] is True
    assert by_name["python"]["notebook"] is False
    assert by_name["c"]["compiled"] is True
    assert by_name["python"]["compiled"] is False
    for l in body["languages"]:
        assert set(l) >= {"name", "aliases", "version", "interactive", "compiled", "notebook",
                          "available"}, l
        assert all(isinstance(a, str) for a in l["aliases"])
        for k in ("interactive", "compiled", "notebook", "available"):
            assert isinstance(l[k], bool)
    assert "py" in by_name["python"]["aliases"]


def test_empty_lists_are_arrays(start_server):
    srv = start_server(POLICIES / "empty_lists.lua")
    st, _, raw = srv.request("GET", "/v1/languages", headers={"Accept": "application/json"})
    assert st == 200
    walk_lists(raw)
    by_name = {l["name"]: l for l in raw["languages"]}
    assert by_name["python"]["aliases"] == []
    assert by_name["c"]["aliases"] == []
    # the raw text too (a parser could hide nothing here, but be explicit)
    _, _, again = srv.request("GET", "/v1/languages")
    text = json.dumps(again)
    assert '"aliases": {}' not in text


def test_every_json_route_walks_clean(server):
    for path in ("/healthz", "/v1/languages"):
        st, _, body = server.request("GET", path)
        assert st == 200
        walk_lists(body)


def test_json_route_accepts_text_plain(server):
    """A JSON route accepts a JSON body whatever its Content-Type says (nothing that exists yet
    takes a body; this just checks no route chokes on the header)."""
    st, _, body = server.request("POST", "/v1/languages", body=b"{}",
                                 headers={"Content-Type": "text/plain"})
    assert_error(st, body, "method_not_allowed", expected_status=405)


# ---- SIGTERM ----------------------------------------------------------------------------------

@pytest.mark.valgrind
def test_sigterm_exit_0(start_server):
    srv = start_server()
    srv.alive()
    t0 = time.monotonic()
    srv.stop(timeout=10)  # asserts exit 0 (and, under valgrind, a clean log)
    assert time.monotonic() - t0 < slow(10)
    assert any(l.get("event") == "shutdown" for l in srv.log_lines())


def test_sigterm_with_open_connections(start_server):
    srv = start_server(POLICIES / "settings.lua", {"CODECLOUD_TEST_SETTINGS": json.dumps({"shutdown_grace_s": 3})})
    idle = [srv.connect() for _ in range(10)]
    half = srv.connect()
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    ka = srv.connect()
    ka.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    rs, _ = read_responses(ka, 1, slow(5))
    assert rs[0][0] == 200
    time.sleep(0.1)
    t0 = time.monotonic()
    srv.stop(timeout=3 + 2)
    assert time.monotonic() - t0 < slow(3 + 1)
    # the listener is closed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    for s in idle + [half, ka]:
        s.close()


def test_sigint_exit_0(start_server):
    srv = start_server()
    srv.signal(signal.SIGINT)
    rc = srv.proc.wait(timeout=slow(10))
    srv.stopped = True
    srv._log.close()
    assert rc == 0, srv.log()
