"""API keys: where they are required, how they are presented, and that they are never logged."""
import subprocess
import time

import pytest

from conftest import (DEFAULT_POLICY, POLICIES, REPO, Server, assert_error, base_env, binary,
                      free_port, run_cli, slow)

KEYS = {"CODECLOUD_API_KEY": "k1-secret-client-one,k2-secret-client-two",
        "CODECLOUD_ADMIN_KEY": "adm-secret-admin"}
K1, K2, ADM = "k1-secret-client-one", "k2-secret-client-two", "adm-secret-admin"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("keyed"), env=KEYS, name="keyed").start()
    yield s
    s.stop()


@pytest.mark.valgrind
def test_missing_key_is_401(keyed):
    st, _, body = keyed.request("GET", "/v1/languages")
    assert_error(st, body, "unauthorized", expected_status=401)


def test_wrong_key_is_401(keyed):
    for headers in ({"Authorization": "Bearer nope"}, {"X-API-Key": "nope"},
                    {"Authorization": "Bearer " + K1 + "x"}, {"Authorization": "Bearer " + K1[:-1]},
                    {"Authorization": "Bearer "}, {"Authorization": "Basic " + K1},
                    {"X-API-Key": ""}):
        st, _, body = keyed.request("GET", "/v1/languages", headers=headers)
        assert_error(st, body, "unauthorized", expected_status=401)


def test_key_in_query_is_not_accepted_on_plain_routes(keyed):
    st, _, body = keyed.request("GET", "/v1/languages?key=" + K1)
    assert_error(st, body, "unauthorized", expected_status=401)


@pytest.mark.valgrind
@pytest.mark.parametrize("key", [K1, K2, ADM])
def test_bearer_and_x_api_key(keyed, key):
    for headers in ({"Authorization": "Bearer " + key}, {"X-API-Key": key},
                    {"authorization": "bearer " + key}):
        st, _, body = keyed.request("GET", "/v1/languages", headers=headers)
        assert st == 200, (headers, body)
        assert {l["name"] for l in body["languages"]} >= {"python", "c", "ipython"}


def test_service_routes_need_no_key(keyed):
    st, _, body = keyed.request("GET", "/healthz")
    assert st == 200 and body["status"] == "ok"
    st, _, body = keyed.request("GET", "/metrics")
    assert st == 200 and b"cloudcode_http_requests_total" in body


def test_unknown_v1_route_without_key(keyed):
    # either 401 (keys first) or 404 is acceptable; it must be the envelope
    st, _, body = keyed.request("GET", "/v1/nothing-here")
    assert st in (401, 404)
    assert_error(st, body)


def test_keys_never_logged(keyed):
    for key in (K1, K2, ADM):
        keyed.request("GET", "/v1/languages", headers={"Authorization": "Bearer " + key})
        keyed.request("GET", "/v1/languages", headers={"X-API-Key": key})
        keyed.request("GET", "/v1/languages?key=" + key)
        keyed.request("GET", "/v1/languages?a=1&key=" + key + "&b=2")
        keyed.request("GET", "/no/such/route?key=" + key)
        keyed.request("GET", "/healthz?key=" + key)
        keyed.raw(b"GET /v1/languages?key=" + key.encode() + b" HTTP/1.1\r\nbroken header\r\n\r\n")
    # wrong keys are secrets too (a typo of a real one)
    keyed.request("GET", "/v1/languages", headers={"Authorization": "Bearer wrong-secret-xyz"})
    keyed.request("GET", "/v1/languages?key=wrong-secret-xyz")
    st, _, metrics = keyed.request("GET", "/metrics")
    time.sleep(0.1)
    log = keyed.log()
    assert log.count('"event":"request"') >= 10, log[-2000:]
    for secret in (K1, K2, ADM, "wrong-secret-xyz", "secret"):
        assert secret not in log, f"{secret!r} appears in the log"
        assert secret.encode() not in metrics


def test_no_key_on_non_loopback_refuses_to_start(tmp_path):
    """No key configured and a non-loopback listen address: the server must refuse before it
    binds.  (It never serves: it exits at once with a message.)"""
    port = free_port()
    p = subprocess.run([str(binary()), str(DEFAULT_POLICY)], cwd=str(REPO),
                       env=base_env({"CODECLOUD_LISTEN": f"0.0.0.0:{port}"}),
                       capture_output=True, text=True, timeout=slow(10))
    assert p.returncode != 0
    assert p.stderr.strip(), "no message on stderr"
    assert "key" in p.stderr.lower() or "auth" in p.stderr.lower(), p.stderr


def test_keys_configured_on_loopback_starts(start_server):
    srv = start_server(env={"CODECLOUD_API_KEY": K1})
    st, _, body = srv.request("GET", "/v1/languages", headers={"X-API-Key": K1})
    assert st == 200


def test_admin_key_alone_requires_keys(start_server):
    """Only an admin key configured: /v1/ still needs a key, and the admin key works."""
    srv = start_server(env={"CODECLOUD_ADMIN_KEY": ADM})
    st, _, body = srv.request("GET", "/v1/languages")
    assert_error(st, body, "unauthorized", expected_status=401)
    st, _, body = srv.request("GET", "/v1/languages", headers={"Authorization": "Bearer " + ADM})
    assert st == 200


def test_no_key_on_loopback_is_open(server):
    st, _, body = server.request("GET", "/v1/languages")
    assert st == 200


def test_auth_none_check():
    p = run_cli("--check", POLICIES / "auth_none.lua")
    assert p.returncode == 0, p.stderr


def test_auth_none_starts_on_loopback(start_server):
    srv = start_server(POLICIES / "auth_none.lua")
    st, _, body = srv.request("GET", "/v1/languages")
    assert st == 200


def test_bad_auth_value_is_refused(policy_file):
    f = policy_file('local images = require "cloudcode.images"\n'
                    'return { role = "backend", auth = "nobody",\n'
                    '  images = images.default }\n')
    p = run_cli("--check", f)
    assert p.returncode != 0
    assert p.stderr.startswith(f"{f}:2: "), p.stderr
