/* test_http.c — HTTP/1.1 connections (core/http) through a real loopback socket: the server side
 * runs on this test's loop, the client is a plain non-blocking socket read between loop turns.
 * Only the public headers are used (http.h, reply.h), so the files behind them may move. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "http/http.h"
#include "unit.h"
#include "unit_app.h"
#include "unit_loop.h"

static const char policy[] =
    "return { role = 'backend', listen = '127.0.0.1:0',\n"
    "  max_header_bytes = 1024, max_url_bytes = 256, max_body_bytes = 2048,\n"
    "  read_timeout_ms = 300, keepalive_timeout_ms = 1000, lingering_close_ms = 200 }\n";

/* ---- the server: a listener of our own, the dispatcher below -------------------------- */

static uv_tcp_t listener;
static int port;
static int dispatched;
static struct request *held;    /* a request /hold left unanswered */
static int aborted;             /* its abort handler ran */

static void on_held_abort(struct request *req, void *ud) {
    (void)ud;
    CHECK(req == held);
    held = NULL;
    aborted++;
}

/* /echo answers "METHOD target body"; /hold keeps the request; /stream answers in chunks. */
static void dispatch(struct request *req) {
    dispatched++;
    if (strcmp(req->path, "/hold") == 0) {
        held = req;
        http_set_abort(req, on_held_abort, NULL);
        return;
    }
    if (strcmp(req->path, "/stream") == 0) {
        http_stream_start(req, 200, "text/plain");
        http_stream_write(req, "abcdefghijklmnopq", 17); /* sizes are hex: 11 */
        http_stream_write(req, "rs", 2);
        http_stream_end(req);
        return;
    }
    buf_t out = BUF_INIT;
    buf_printf(&out, "%s %s ", req->method, req->target);
    buf_append(&out, req->body.data, req->body.len);
    http_respond(req, 200, "text/plain", out.data, out.len, NULL);
    buf_free(&out);
}

static void on_connection(uv_stream_t *s, int status) {
    if (status == 0) http_conn_accept(s, dispatch);
}

static void start_server(void) {
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    CHECK(uv_tcp_init(loop, &listener) == 0);
    CHECK(uv_tcp_bind(&listener, (struct sockaddr *)&a, 0) == 0);
    CHECK(uv_listen((uv_stream_t *)&listener, 16, on_connection) == 0);
    int len = sizeof a;
    CHECK(uv_tcp_getsockname(&listener, (struct sockaddr *)&a, &len) == 0);
    port = ntohs(a.sin_port);
}

/* ---- the client ----------------------------------------------------------------------- */

struct client {
    int fd;
    buf_t in;      /* what the server sent and the test has not taken yet */
    int eof;       /* the server closed (or reset) the connection */
    int head;      /* the next response answers a HEAD: no body, whatever its length says */
};

static void client_open(struct client *cl) {
    memset(cl, 0, sizeof *cl);
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A loopback connect completes in the kernel's backlog, before the loop accepts it. */
    CHECK(connect(cl->fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(fcntl(cl->fd, F_SETFL, O_NONBLOCK) == 0);
}

static void client_send(struct client *cl, const char *s) {
    size_t len = strlen(s);
    CHECK(send(cl->fd, s, len, MSG_NOSIGNAL) == (ssize_t)len);
}

/* Take what has arrived; evaluates to 0 so that it can stand first in a RUN_UNTIL condition. */
static int client_pump(struct client *cl) {
    char b[4096];
    for (;;) {
        ssize_t n = recv(cl->fd, b, sizeof b, 0);
        if (n > 0) {
            buf_append(&cl->in, b, (size_t)n);
        } else {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) cl->eof = 1;
            return 0;
        }
    }
}

static void client_close(struct client *cl) {
    close(cl->fd);
    buf_free(&cl->in);
}

struct response {
    int status;
    char head[1024];
    char body[4096];
    size_t body_len;
};

/* A whole response at the front of cl->in: taken into r, 1; else 0.  Bodies are sized by
 * Content-Length or chunked; 1xx answers have none. */
static int take_response(struct client *cl, struct response *r) {
    if (!cl->in.len) return 0;
    const char *end = memmem(cl->in.data, cl->in.len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head_len = (size_t)(end - cl->in.data) + 4;
    if (head_len >= sizeof r->head) return 0;
    memcpy(r->head, cl->in.data, head_len);
    r->head[head_len] = '\0';
    r->status = atoi(r->head + 9);
    r->body_len = 0;
    const char *cl_header = strcasestr(r->head, "\r\nContent-Length: ");
    size_t used = head_len;
    if (cl->head) {
        cl->head = 0;
    } else if (r->status >= 200 && cl_header) {
        size_t n = strtoul(cl_header + 18, NULL, 10);
        if (cl->in.len < head_len + n || n >= sizeof r->body) return 0;
        memcpy(r->body, cl->in.data + head_len, n);
        r->body_len = n;
        used += n;
    } else if (r->status >= 200 && strcasestr(r->head, "\r\nTransfer-Encoding: chunked")) {
        for (;;) {
            const char *p = cl->in.data + used, *crlf = memmem(p, cl->in.len - used, "\r\n", 2);
            if (!crlf) return 0;
            size_t n = strtoul(p, NULL, 16);
            size_t need = (size_t)(crlf - p) + 2 + n + 2;
            if (cl->in.len - used < need || r->body_len + n >= sizeof r->body) return 0;
            memcpy(r->body + r->body_len, crlf + 2, n);
            r->body_len += n;
            used += need;
            if (n == 0) break;
        }
    }
    r->body[r->body_len] = '\0';
    buf_consume(&cl->in, used);
    return 1;
}

/* Wait for the next response (or the time bound): 1 if one came. */
static int await_response(struct client *cl, struct response *r, unsigned ms) {
    int got = 0; /* RUN_UNTIL evaluates its condition once more at the end: take one response */
    RUN_UNTIL(got || client_pump(cl) || (got = take_response(cl, r)), ms);
    return got;
}

/* Wait until the server has closed the connection. */
static int await_eof(struct client *cl, unsigned ms) { return RUN_UNTIL(client_pump(cl) || cl->eof, ms); }

/* ---- the cases ------------------------------------------------------------------------ */

static void test_keep_alive(void) {
    struct client cl;
    struct response r;
    client_open(&cl);
    client_send(&cl, "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 200);
    CHECK_STR(r.body, "GET /echo?a=1 ");
    CHECK(strstr(r.head, "Connection: close") == NULL);
    /* The same connection serves the next request. */
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(await_response(&cl, &r, 2000));
    CHECK_STR(r.body, "POST /echo hello");
    CHECK(!cl.eof);
    /* HEAD: the length of the body, not the body. */
    client_send(&cl, "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    cl.head = 1;
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 200 && strstr(r.head, "Content-Length: 11\r\n") != NULL);
    CHECK(r.body_len == 0);
    /* Idle past keepalive_timeout_ms (1000): closed, without an answer. */
    uint64_t idle_from = uv_now(loop);
    CHECK(await_eof(&cl, 3000));
    CHECK(uv_now(loop) - idle_from >= 900);
    CHECK(cl.in.len == 0);
    client_close(&cl);

    /* Connection: close, and HTTP/1.0 without keep-alive: answered, then closed. */
    const char *closing[] = {"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /echo HTTP/1.0\r\n\r\n"};
    for (int i = 0; i < 2; i++) {
        client_open(&cl);
        client_send(&cl, closing[i]);
        CHECK(await_response(&cl, &r, 2000));
        CHECK(r.status == 200 && strstr(r.head, "Connection: close\r\n") != NULL);
        CHECK(await_eof(&cl, 2000));
        client_close(&cl);
    }
}

static void test_pipelining(void) {
    struct client cl;
    struct response r;
    client_open(&cl);
    dispatched = 0;
    /* Three requests in one write: the second waits until the first is answered. */
    client_send(&cl, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /echo?2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     "GET /echo?3 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(RUN_UNTIL(held != NULL, 2000));
    int never = 0;
    run_until(&never, 100);
    CHECK(dispatched == 1);
    CHECK(!take_response(&cl, &r));
    http_set_abort(held, NULL, NULL);
    http_respond(held, 200, "text/plain", "first", 5, NULL);
    held = NULL;
    CHECK(await_response(&cl, &r, 2000));
    CHECK_STR(r.body, "first");
    CHECK(await_response(&cl, &r, 2000));
    CHECK_STR(r.body, "POST /echo?2 abc");
    CHECK(await_response(&cl, &r, 2000));
    CHECK_STR(r.body, "GET /echo?3 ");
    CHECK(dispatched == 3);

    /* The client goes while its request is held: the abort handler runs once. */
    aborted = 0;
    client_send(&cl, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(RUN_UNTIL(held != NULL, 2000));
    client_close(&cl);
    CHECK(RUN_UNTIL(aborted == 1, 2000));
    CHECK(held == NULL);
}

static void test_bodies(void) {
    struct client cl;
    struct response r;
    client_open(&cl);
    /* Chunked in, chunked out. */
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    CHECK_STR(r.body, "POST /echo hello!!!");
    client_send(&cl, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    CHECK(strstr(r.head, "Transfer-Encoding: chunked\r\n") != NULL);
    CHECK_STR(r.body, "abcdefghijklmnopqrs");
    /* Expect: 100-continue gets the interim answer first. */
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 100);
    client_send(&cl, "ok");
    CHECK(await_response(&cl, &r, 2000));
    CHECK_STR(r.body, "POST /echo ok");
    client_close(&cl);

    /* Both Content-Length and chunked (a request-smuggling shape): 400, closed. */
    client_open(&cl);
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 400);
    CHECK(await_eof(&cl, 2000));
    client_close(&cl);

    /* Over max_body_bytes (2048), by Content-Length and by chunks: 413, closed. */
    client_open(&cl);
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2049\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 413 && strstr(r.body, "payload_too_large") != NULL);
    CHECK(await_eof(&cl, 2000));
    client_close(&cl);
    client_open(&cl);
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[1100];
    snprintf(chunk, sizeof chunk, "400\r\n%01024d\r\n", 0);
    for (int i = 0; i < 3; i++) client_send(&cl, chunk);
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 413);
    client_close(&cl);

    /* An Expect the server does not know: 417. */
    client_open(&cl);
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: later\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 417);
    client_close(&cl);
}

static void test_refused_heads(void) {
    struct client cl;
    struct response r;
    /* Headers over max_header_bytes (1024): 431, closed. */
    client_open(&cl);
    char big[1400];
    snprintf(big, sizeof big, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: %01100d\r\n\r\n", 0);
    client_send(&cl, big);
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 431 && strstr(r.body, "headers_too_large") != NULL);
    CHECK(await_eof(&cl, 2000));
    client_close(&cl);
    /* Just under it: served. */
    client_open(&cl);
    snprintf(big, sizeof big, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: %0900d\r\n\r\n", 0);
    client_send(&cl, big);
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 200);
    client_close(&cl);
    /* A request-target over max_url_bytes (256): 414. */
    client_open(&cl);
    snprintf(big, sizeof big, "GET /%0300d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    client_send(&cl, big);
    CHECK(await_response(&cl, &r, 2000));
    CHECK(r.status == 414);
    client_close(&cl);

    /* Malformed: not HTTP, a header line without a colon, a bad chunk size.  400, closed, and a
     * request pipelined behind it is never handled. */
    const char *malformed[] = {
        "GARBAGE\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /echo HTTP/9.9\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        dispatched = 0;
        client_open(&cl);
        client_send(&cl, malformed[i]);
        CHECK(await_response(&cl, &r, 2000));
        CHECK(r.status == 400);
        CHECK(strstr(r.body, "malformed HTTP request") != NULL);
        CHECK(await_eof(&cl, 2000));
        CHECK(cl.in.len == 0);
        CHECK(dispatched == 0);
        client_close(&cl);
    }
}

static void test_read_timeout(void) {
    struct client cl;
    struct response r;
    /* Half a request: 408 once read_timeout_ms (300) has passed since its first byte. */
    client_open(&cl);
    uint64_t from = uv_now(loop);
    client_send(&cl, "GET /echo HTTP/1.1\r\nHost: x\r\n");
    CHECK(await_response(&cl, &r, 3000));
    CHECK(r.status == 408);
    CHECK(uv_now(loop) - from >= 250);
    CHECK(await_eof(&cl, 2000));
    client_close(&cl);
    /* On a kept-alive connection the read timeout, not the keep-alive one, bounds a request
     * from its first byte. */
    client_open(&cl);
    client_send(&cl, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(await_response(&cl, &r, 2000));
    from = uv_now(loop);
    client_send(&cl, "GET /echo HTTP/1.1\r\n");
    CHECK(await_response(&cl, &r, 3000));
    CHECK(r.status == 408);
    CHECK(uv_now(loop) - from < 800);
    client_close(&cl);
    /* Trickling does not extend it: a byte every 100 ms still gets 408 in time. */
    client_open(&cl);
    from = uv_now(loop);
    client_send(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    int got = 0;
    for (int i = 0; i < 20 && !got; i++) {
        /* Unchecked: once answered, the server may be gone. */
        if (send(cl.fd, "x", 1, MSG_NOSIGNAL) < 0) break;
        int never = 0;
        run_until(&never, 100);
        client_pump(&cl);
        got = take_response(&cl, &r);
    }
    if (!got) got = await_response(&cl, &r, 1000);
    CHECK(got && r.status == 408);
    CHECK(uv_now(loop) - from < 1500);
    client_close(&cl);
    /* A connection that sends nothing is closed after the read timeout, without an answer. */
    client_open(&cl);
    from = uv_now(loop);
    CHECK(await_eof(&cl, 3000));
    CHECK(uv_now(loop) - from >= 250);
    CHECK(cl.in.len == 0);
    client_close(&cl);
}

int main(void) {
    loop = uv_default_loop();
    log_set_min_level(LOG_ERROR);
    if (unit_app_install(loop, policy) < 0) return 1;
    start_server();

    test_keep_alive();
    test_pipelining();
    test_bodies();
    test_refused_heads();
    test_read_timeout();

    /* Every connection is gone once the peers are. */
    CHECK(RUN_UNTIL(http_conn_count() == 0, 3000));
    uv_close((uv_handle_t *)&listener, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    app_free();
    CHECK(uv_loop_close(loop) == 0);
    return unit_report();
}
