"""HTTP/1.1 handling: malformed input, limits, timeouts, pipelining, keep-alive, connection caps."""
import json
import socket
import threading
import time

import pytest

from conftest import (POLICIES, assert_error, metric_value, parse_responses, read_all,
                      read_responses, slow)

SETTINGS = POLICIES / "settings.lua"


def settings_env(**kw):
    return {"CODECLOUD_TEST_SETTINGS": json.dumps(kw)}


def only_response(data):
    rs = parse_responses(data)
    assert len(rs) == 1, data[:2000]
    return rs[0]


def expect_error(server, raw, status, code, **kw):
    st, headers, body = only_response(server.raw(raw, **kw))
    assert_error(st, body, code, expected_status=status)
    assert headers.get("content-type", "").startswith("application/json")
    server.alive()
    return headers, body


# ---- malformed input -------------------------------------------------------------------

@pytest.mark.valgrind
def test_malformed_request_line_is_400(server):
    expect_error(server, b"GARBAGE\r\n\r\n", 400, "bad_request")


@pytest.mark.parametrize("raw", [
    b"GET\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"G\x00T /healthz HTTP/1.1\r\n\r\n",
    b"GET /hea lthz HTTP/1.1\r\n\r\n",
], ids=["no-target", "bad-version", "bad-header", "double-content-length",
        "bad-content-length", "bad-chunk-size", "nul-in-method", "space-in-target"])
def test_malformed_requests_are_400(server, raw):
    expect_error(server, raw, 400, "bad_request")


def test_error_response_closes_connection(server):
    with server.connect() as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        data = read_all(s, slow(5))  # returns at EOF: the server closed
    st, headers, _ = only_response(data)
    assert st == 400
    assert headers.get("connection", "").lower() == "close"


# ---- limits ----------------------------------------------------------------------------

@pytest.mark.valgrind
def test_oversized_headers_are_431(server):
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * 1024) + b"\r\n\r\n"
    expect_error(server, raw, 431, "headers_too_large")


def test_many_small_headers_are_431(server):
    raw = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"
    expect_error(server, raw, 431, "headers_too_large")


@pytest.mark.valgrind
def test_long_url_is_414(server):
    raw = b"GET /" + b"a" * (9 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    expect_error(server, raw, 414, "uri_too_long")


def test_long_query_is_414(server):
    raw = b"GET /healthz?q=" + b"a" * (9 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    expect_error(server, raw, 414, "uri_too_long")


def test_url_just_under_limit_is_not_414(server):
    raw = b"GET /healthz?q=" + b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    st, _, body = only_response(server.raw(raw))
    assert st == 200, body


@pytest.mark.valgrind
def test_body_above_limit_content_length_is_413(server):
    # The default policy: 1 MiB.  The server must answer without waiting for the body.
    raw = b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1024 * 1024 + 1)
    with server.connect() as s:
        s.sendall(raw)
        data = read_all(s, slow(5))
    st, _, body = only_response(data)
    assert_error(st, body, "payload_too_large", expected_status=413)
    server.alive()


def test_body_above_limit_chunked_is_413(start_server):
    srv = start_server(SETTINGS, settings_env(max_body_bytes=4096))
    chunk = b"a" * 1000
    raw = b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    st, _, body = only_response(srv.raw(raw))
    assert_error(st, body, "payload_too_large", expected_status=413)
    srv.alive()


def test_body_above_small_limit_content_length_is_413(start_server):
    srv = start_server(SETTINGS, settings_env(max_body_bytes=4096))
    raw = b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nContent-Length: 4097\r\n\r\n" + b"a" * 4097
    st, _, body = only_response(srv.raw(raw))
    assert_error(st, body, "payload_too_large", expected_status=413)
    # exactly at the limit is accepted (the route answers, whatever it says, but not 413)
    raw = (b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4096\r\n\r\n"
           + b"a" * 4096)
    st, _, body = only_response(srv.raw(raw))
    assert st == 405, body
    srv.alive()


# ---- Expect ----------------------------------------------------------------------------

@pytest.mark.valgrind
def test_expect_100_continue(server):
    body = b'{"x":1}'
    with server.connect() as s:
        s.sendall(b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % len(body))
        s.settimeout(slow(5))
        first = b""
        while b"\r\n\r\n" not in first:
            b = s.recv(4096)
            assert b, "connection closed before 100 Continue"
            first += b
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
        rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        s.sendall(body)
        rs, data = read_responses(s, 1, slow(5))
        if rest:
            rs = parse_responses(rest + data)
    st, headers, resp = rs[0]
    # POST on a GET-only route: the final answer follows the 100
    assert_error(st, resp, "method_not_allowed", expected_status=405)


def test_expect_100_continue_over_limit_gets_413_not_100(server):
    raw = (b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
           % (2 * 1024 * 1024))
    data = server.raw(raw)
    assert not data.startswith(b"HTTP/1.1 100"), data[:200]
    st, _, body = only_response(data)
    assert_error(st, body, "payload_too_large", expected_status=413)


@pytest.mark.valgrind
def test_expect_other_is_417(server):
    raw = b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: something-else\r\n\r\n{}"
    expect_error(server, raw, 417, "expectation_failed")


# ---- bodies, pipelining, keep-alive ----------------------------------------------------

def test_chunked_body_accepted(server):
    with server.connect() as s:
        s.sendall(b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        rs, _ = read_responses(s, 2, slow(5))
    assert [r[0] for r in rs] == [405, 200], rs
    assert rs[1][2]["status"] == "ok"


def test_chunked_body_with_trailers_accepted(server):
    with server.connect() as s:
        s.sendall(b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"2\r\n{}\r\n0\r\nX-Trailer: yes\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        rs, _ = read_responses(s, 2, slow(5))
    assert [r[0] for r in rs] == [405, 200], rs


def test_pipelining_three_requests_in_one_write(server):
    with server.connect() as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /v1/languages HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /no/such/route HTTP/1.1\r\nHost: x\r\n\r\n")
        rs, _ = read_responses(s, 3, slow(5))
    assert [r[0] for r in rs] == [200, 200, 404], rs
    assert rs[0][2]["role"] == "backend"
    assert "languages" in rs[1][2]
    assert_error(rs[2][0], rs[2][2], "not_found")


def test_pipelining_then_half_close(server):
    """The client sends three requests and shuts its side: all three are still answered."""
    data = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3, shut_wr=True)
    rs = parse_responses(data)
    assert [r[0] for r in rs] == [200, 200, 200], data[:500]


def test_pipelining_many_small_requests(server):
    n = 200
    with server.connect() as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * n)
        rs, _ = read_responses(s, n, slow(10))
    assert len(rs) == n and all(r[0] == 200 for r in rs)


def test_pipelined_request_after_error_is_not_answered(server):
    """A malformed request closes the connection; what follows it is not processed."""
    data = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    rs = parse_responses(data)
    assert [r[0] for r in rs] == [200, 400], data[:500]


def test_keep_alive_several_requests(server):
    conn = server.connection()
    try:
        from conftest import do_request
        for path, want in [("/healthz", 200), ("/v1/languages", 200), ("/nope", 404),
                           ("/metrics", 200), ("/healthz", 200)]:
            st, headers, body = do_request(conn, "GET", path)
            assert st == want, (path, st, body)
            assert headers.get("connection", "").lower() != "close"
        # the same socket served them all
        assert conn.sock is not None
    finally:
        conn.close()


def test_http10_closes_after_response(server):
    data = server.raw(b"GET /healthz HTTP/1.0\r\n\r\n")
    st, _, body = only_response(data)
    assert st == 200 and body["status"] == "ok"


def test_connection_close_honoured(server):
    with server.connect() as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_all(s, slow(5))
    st, headers, _ = only_response(data)
    assert st == 200 and headers.get("connection", "").lower() == "close"


# ---- timeouts and slow clients ---------------------------------------------------------

@pytest.mark.valgrind
def test_half_request_gets_408(start_server):
    srv = start_server(SETTINGS, settings_env(read_timeout_ms=300))
    with srv.connect() as s:
        t0 = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        data = read_all(s, slow(5))
        took = time.monotonic() - t0
    st, _, body = only_response(data)
    assert_error(st, body, "request_timeout", expected_status=408)
    assert 0.25 <= took <= slow(2), took
    srv.alive()


def test_trickling_client_gets_408(start_server):
    """The read timeout counts from the first byte: trickling bytes does not extend it."""
    srv = start_server(SETTINGS, settings_env(read_timeout_ms=300))
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    with srv.connect() as s:
        t0 = time.monotonic()
        got = b""
        s.settimeout(0.05)
        for ch in req:
            try:
                s.sendall(bytes([ch]))
            except OSError:
                break
            try:
                b = s.recv(4096)
                if b:
                    got += b
                    break
            except socket.timeout:
                pass
            if time.monotonic() - t0 > slow(3):
                break
        got += read_all(s, slow(3))
        took = time.monotonic() - t0
    st, _, body = only_response(got)
    assert_error(st, body, "request_timeout", expected_status=408)
    assert took <= slow(2), took
    srv.alive()


def test_half_body_gets_408(start_server):
    srv = start_server(SETTINGS, settings_env(read_timeout_ms=300))
    data = srv.raw(b"POST /v1/languages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    st, _, body = only_response(data)
    assert_error(st, body, "request_timeout", expected_status=408)
    srv.alive()


def test_idle_keepalive_connection_is_closed_without_a_response(start_server):
    srv = start_server(SETTINGS, settings_env(keepalive_timeout_ms=200))
    with srv.connect() as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        rs, data = read_responses(s, 1, slow(5))
        assert rs[0][0] == 200
        t0 = time.monotonic()
        rest = read_all(s, slow(5))
        assert rest == b"", rest  # closed silently, no 408 on an idle connection
        assert time.monotonic() - t0 < slow(3)


def test_many_idle_and_slow_connections_do_not_block(server):
    idle, slowc = [], []
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for s in slowc:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            stop.wait(0.1)

    try:
        for _ in range(300):
            idle.append(server.connect())
        for _ in range(50):
            c = server.connect()
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slowc.append(c)
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        time.sleep(0.3)
        for _ in range(5):
            t0 = time.monotonic()
            status, _, body = server.request("GET", "/healthz", timeout=slow(2))
            took = time.monotonic() - t0
            assert status == 200, body
            assert took < slow(2), took
        opened = server.metric("cloudcode_connections_open")
        assert opened >= 350, opened
    finally:
        stop.set()
        for s in idle + slowc:
            s.close()
    server.alive()


# ---- routing ---------------------------------------------------------------------------

@pytest.mark.valgrind
def test_unknown_route_404(server):
    st, _, body = server.request("GET", "/no/such/thing")
    assert_error(st, body, "not_found", expected_status=404)
    st, _, body = server.request("GET", "/v1/nope")
    assert_error(st, body, "not_found", expected_status=404)


def test_unknown_route_with_odd_bytes_404(server):
    for path in ["/%FF%FE", "/\"quoted\"", "/a%00b", "/\\x"]:
        raw = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        st, _, body = only_response(server.raw(raw))
        assert_error(st, body, "not_found", expected_status=404)
    raw = b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    st, _, body = only_response(server.raw(raw))
    assert st in (400, 404)
    assert_error(st, body)
    server.alive()


@pytest.mark.valgrind
def test_wrong_method_405_with_allow(server):
    st, headers, body = server.request("POST", "/healthz", body=b"")
    assert_error(st, body, "method_not_allowed", expected_status=405)
    assert "GET" in [m.strip() for m in headers.get("allow", "").split(",")], headers
    st, headers, body = server.request("DELETE", "/v1/languages")
    assert_error(st, body, "method_not_allowed", expected_status=405)
    assert "GET" in headers.get("allow", "")


def test_unknown_method_is_an_error(server):
    data = server.raw(b"BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    st, _, body = only_response(data)
    assert st in (400, 405, 501), st
    assert_error(st, body)


@pytest.mark.valgrind
def test_head_healthz(server):
    with server.connect() as s:
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(slow(5))
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.rstrip().endswith(b"}"):
            b = s.recv(65536)
            if not b:
                break
            data += b
    first_end = data.find(b"\r\n\r\n") + 4
    head = data[:first_end].decode()
    assert head.startswith("HTTP/1.1 200"), head
    assert "content-length:" in head.lower()
    # no body after the HEAD response: the next bytes are the GET's status line
    assert data[first_end:].startswith(b"HTTP/1.1 200"), data
    rest = parse_responses(data[first_end:])
    assert rest[0][2]["status"] == "ok"


def test_metrics_count_errors_by_route_and_status(server):
    server.request("GET", "/no/such/thing")
    st, _, text = server.request("GET", "/metrics")
    text = text.decode()
    assert 'status="404"' in text
    assert any(line.startswith("cloudcode_http_requests_total{") and 'status="404"' in line
               for line in text.splitlines())
