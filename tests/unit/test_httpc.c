/* test_httpc.c — httpc.c against a tiny in-process server (TCP and unix socket). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "clients/httpc.h"
#include "unit.h"
#include "unit_loop.h"


/* ---- the server: answers by path; after an upgrade it echoes ----------------------- */

struct peer {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
    } s;
    buf_t in;
    int upgraded;
};

static void peer_closed(uv_handle_t *h) {
    struct peer *p = h->data;
    buf_free(&p->in);
    free(p);
}

static void sent(uv_write_t *w, int status) {
    (void)status;
    free(w);
}

static void send_str(struct peer *p, const char *data, size_t len) {
    uv_write_t *w = malloc(sizeof *w + len);
    memcpy(w + 1, data, len);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    uv_write(w, &p->s.stream, &b, 1, sent);
}
#define SEND(p, lit) send_str(p, lit, strlen(lit))

static void answer(struct peer *p) {
    char *end = strstr(p->in.data, "\r\n\r\n");
    if (!end) return;
    size_t head = (size_t)(end - p->in.data) + 4;
    size_t body = 0;
    char *cl = strcasestr(p->in.data, "Content-Length: ");
    if (cl && cl < end) body = strtoul(cl + 16, NULL, 10);
    if (p->in.len < head + body) return;
    const char *req = p->in.data;
    if (!strncmp(req, "GET /cl ", 8)) {
        SEND(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello");
    } else if (!strncmp(req, "GET /chunked ", 13)) {
        SEND(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n");
        SEND(p, "8\r\nlo world\r\n0\r\n\r\n");
    } else if (!strncmp(req, "POST /attach", 12)) {
        p->upgraded = 1;
        /* The head and the first stream bytes in one write, as Docker may send them. */
        SEND(p, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nLEFTOVER");
    } else if (!strncmp(req, "POST /echo ", 11)) {
        char h[96];
        snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body);
        send_str(p, h, strlen(h));
        send_str(p, p->in.data + head, body);
    } else if (!strncmp(req, "GET /eof ", 9)) {
        SEND(p, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof");
        uv_close((uv_handle_t *)&p->s, peer_closed);
        return;
    } else if (!strncmp(req, "GET /bad ", 9)) {
        SEND(p, "HTTP/1.1 2x0 Broken\r\n\r\n");
    }
    /* /silent: nothing */
    buf_consume(&p->in, head + body);
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct peer *p = s->data;
    if (n < 0) {
        free(b->base);
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, peer_closed);
        return;
    }
    if (p->upgraded) {
        send_str(p, b->base, (size_t)n);   /* echo the raw stream */
    } else {
        buf_append(&p->in, b->base, (size_t)n);
        answer(p);
    }
    free(b->base);
}

static void on_peer(uv_stream_t *server, int status) {
    if (status < 0) return;
    struct peer *p = calloc(1, sizeof *p);
    if (server->type == UV_TCP) uv_tcp_init(loop, &p->s.tcp);
    else uv_pipe_init(loop, &p->s.pipe, 0);
    p->s.stream.data = p;
    uv_accept(server, &p->s.stream);
    uv_read_start(&p->s.stream, unit_alloc, peer_read);
}

/* ---- a client's view ------------------------------------------------------------------ */

struct seen {
    int status;
    char xtest[16];
    buf_t data;
    int complete, error, closed, drained;
    int err;
    char why[256];
};

static void c_response(struct httpc *c, void *ud, int status, const struct httpc_header *h,
                       size_t n) {
    (void)c;
    struct seen *s = ud;
    s->status = status;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(h[i].name, "X-Test")) snprintf(s->xtest, sizeof s->xtest, "%s", h[i].value);
}
static void c_data(struct httpc *c, void *ud, const char *d, size_t n) {
    (void)c;
    buf_append(&((struct seen *)ud)->data, d, n);
}
static void c_complete(struct httpc *c, void *ud) {
    (void)c;
    ((struct seen *)ud)->complete++;
}
static void c_error(struct httpc *c, void *ud, int err, const char *why) {
    (void)c;
    struct seen *s = ud;
    s->error++;
    s->err = err;
    snprintf(s->why, sizeof s->why, "%s", why);
}
static void c_drain(struct httpc *c, void *ud) {
    (void)c;
    ((struct seen *)ud)->drained++;
}
static void c_close(struct httpc *c, void *ud) {
    (void)c;
    ((struct seen *)ud)->closed++;
}
static const struct httpc_callbacks cbs = {c_response, c_data, c_complete, c_error, c_drain,
                                           c_close};

static struct httpc *get(const struct hostaddr *a, const char *path, struct seen *s) {
    memset(s, 0, sizeof *s);
    struct httpc *c = httpc_connect(loop, a, 2000, &cbs, s);
    httpc_request(c, "GET", path, NULL, NULL, 0);
    return c;
}

int main(void) {
    loop = uv_default_loop();
    uv_tcp_t server;
    char hostport[64];
    CHECK(listen_local(&server, on_peer, hostport, sizeof hostport) == 0);
    struct hostaddr tcp;
    CHECK(hostaddr_parse(hostport, &tcp) == 0);

    /* Content-Length body, a header, then our close. */
    struct seen s;
    struct httpc *c = get(&tcp, "/cl", &s);
    CHECK(run_until(&s.complete, 2000));
    CHECK(s.status == 200);
    CHECK_STR(s.xtest, "yes");
    CHECK(s.data.len == 5 && memcmp(s.data.data, "hello", 5) == 0);
    httpc_close(c);
    CHECK(run_until(&s.closed, 1000));
    CHECK(s.error == 0);
    buf_free(&s.data);

    /* Chunked body, then a second request on the same kept-alive connection. */
    c = get(&tcp, "/chunked", &s);
    CHECK(run_until(&s.complete, 2000));
    CHECK(s.data.len == 11 && memcmp(s.data.data, "hello world", 11) == 0);
    buf_reset(&s.data);
    httpc_request(c, "POST", "/echo", "Content-Type: text/plain\r\n", "ping", 4);
    CHECK(RUN_UNTIL(s.complete == 2 || s.error, 2000));
    CHECK(s.complete == 2);
    CHECK(s.data.len == 4 && memcmp(s.data.data, "ping", 4) == 0);
    CHECK(httpc_queued(c) == 0);
    httpc_close(c);
    CHECK(run_until(&s.closed, 1000));
    buf_free(&s.data);

    /* Upgrade: the bytes that came with the 101 head, then raw writes echoed back. */
    memset(&s, 0, sizeof s);
    c = httpc_connect(loop, &tcp, 2000, &cbs, &s);
    httpc_request(c, "POST", "/attach?stream=1&stdin=1",
                  "Connection: Upgrade\r\nUpgrade: tcp\r\n", NULL, 0);
    CHECK(RUN_UNTIL(s.data.len >= 8 || s.error, 2000));
    CHECK(s.status == 101);
    CHECK(httpc_upgraded(c));
    CHECK(s.complete == 0);
    CHECK(s.data.len == 8 && memcmp(s.data.data, "LEFTOVER", 8) == 0);
    CHECK(httpc_write(c, "\x00\x01raw", 5) == 0);
    CHECK(RUN_UNTIL(s.data.len >= 13 || s.error, 2000));
    CHECK(s.data.len == 13 && memcmp(s.data.data + 8, "\x00\x01raw", 5) == 0);
    httpc_close(c);
    CHECK(run_until(&s.closed, 1000));
    CHECK(s.error == 0);
    buf_free(&s.data);

    /* A body that ends with the connection, then the peer's close as UV_EOF. */
    c = get(&tcp, "/eof", &s);
    CHECK(run_until(&s.closed, 2000));
    CHECK(s.complete == 1);
    CHECK(s.data.len == 9 && memcmp(s.data.data, "until-eof", 9) == 0);
    CHECK(s.error == 1 && s.err == UV_EOF);
    buf_free(&s.data);

    /* A malformed status line → UV_EPROTO. */
    c = get(&tcp, "/bad", &s);
    CHECK(run_until(&s.closed, 2000));
    CHECK(s.error == 1 && s.err == UV_EPROTO);
    buf_free(&s.data);

    /* Idle timeout. */
    c = get(&tcp, "/silent", &s);
    httpc_set_idle_timeout(c, 150);
    CHECK(run_until(&s.closed, 2000));
    CHECK(s.error == 1 && s.err == UV_ETIMEDOUT);
    buf_free(&s.data);

    /* Connect refused: a port nobody listens on any more. */
    uv_tcp_t gone;
    char gone_at[64];
    CHECK(listen_local(&gone, on_peer, gone_at, sizeof gone_at) == 0);
    uv_close((uv_handle_t *)&gone, NULL);
    struct hostaddr refused;
    CHECK(hostaddr_parse(gone_at, &refused) == 0);
    c = get(&refused, "/cl", &s);
    CHECK(run_until(&s.closed, 2000));
    CHECK(s.error == 1 && s.err == UV_ECONNREFUSED);
    CHECK(s.complete == 0);
    buf_free(&s.data);

    /* A name to resolve (localhost through getaddrinfo), closed while resolving. */
    struct hostaddr named = tcp;
    strcpy(named.host, "localhost");
    c = get(&named, "/cl", &s);
    httpc_close(c);
    CHECK(run_until(&s.closed, 2000));
    CHECK(s.error == 0);
    buf_free(&s.data);
    c = get(&named, "/cl", &s);
    CHECK(run_until(&s.complete, 2000) || s.error);   /* localhost may be ::1 only */
    httpc_close(c);
    CHECK(run_until(&s.closed, 1000));
    buf_free(&s.data);

    /* A unix socket. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/cc-test-httpc-%d.sock", (int)getpid());
    unlink(path);
    uv_pipe_t userver;
    uv_pipe_init(loop, &userver, 0);
    CHECK(uv_pipe_bind(&userver, path) == 0);
    CHECK(uv_listen((uv_stream_t *)&userver, 16, on_peer) == 0);
    struct hostaddr ua;
    char spec[80];
    snprintf(spec, sizeof spec, "unix://%s", path);
    CHECK(hostaddr_parse(spec, &ua) == 0 && ua.is_unix);
    c = get(&ua, "/chunked", &s);
    CHECK(run_until(&s.complete, 2000));
    CHECK(s.data.len == 11);
    httpc_close(c);
    CHECK(run_until(&s.closed, 1000));
    buf_free(&s.data);
    struct hostaddr nosock = ua;
    strcat(nosock.path, ".none");
    c = get(&nosock, "/cl", &s);
    CHECK(run_until(&s.closed, 1000));
    CHECK(s.error == 1 && s.err == UV_ENOENT);
    buf_free(&s.data);

    /* hostaddr forms. */
    struct hostaddr h;
    CHECK(hostaddr_parse("[::1]:4243", &h) == 0 && !strcmp(h.host, "::1") && h.port == 4243);
    CHECK(hostaddr_parse("tcp://docker:2375", &h) == 0 && !strcmp(h.host, "docker"));
    CHECK(hostaddr_parse("http://10.0.0.1:8081/", &h) == 0 && h.port == 8081);
    CHECK(hostaddr_parse("localhost", &h) < 0);
    CHECK(hostaddr_parse("host:99999", &h) < 0);

    uv_close((uv_handle_t *)&server, NULL);
    uv_close((uv_handle_t *)&userver, NULL);
    int never = 0;
    run_until(&never, 50);
    uv_run(loop, UV_RUN_NOWAIT);
    unlink(path);
    CHECK(uv_loop_close(loop) == 0);
    return unit_report();
}
