"""CORS: only the policy's cors_origins get Access-Control headers and preflight answers."""
import json

from conftest import POLICIES


def start(start_server, origins):
    return start_server(POLICIES / "settings.lua",
                        env={"CODECLOUD_TEST_SETTINGS": json.dumps({"cors_origins": origins})})


def test_allowed_origin_gets_headers_and_preflight(start_server):
    srv = start(start_server, ["https://app.example"])
    status, headers, _ = srv.request("GET", "/healthz", headers={"Origin": "https://app.example"})
    assert status == 200 and headers["access-control-allow-origin"] == "https://app.example"
    status, headers, _ = srv.request("OPTIONS", "/v1/sessions", headers={"Origin": "https://app.example"})
    assert status == 204, status
    assert set(headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    assert "X-API-Key" in headers["access-control-allow-headers"]


def test_other_origins_get_nothing(start_server):
    srv = start(start_server, ["https://app.example"])
    status, headers, _ = srv.request("GET", "/healthz", headers={"Origin": "https://evil.example"})
    assert status == 200 and "access-control-allow-origin" not in headers
    status, headers, body = srv.request("OPTIONS", "/v1/sessions", headers={"Origin": "https://evil.example"})
    assert status == 405 and "access-control-allow-origin" not in headers, (status, body)


def test_no_origins_by_default(server):
    status, headers, _ = server.request("GET", "/healthz", headers={"Origin": "https://app.example"})
    assert status == 200 and "access-control-allow-origin" not in headers
