/* httpc.c — HTTP/1.1 client on a uv stream, llhttp in response mode. */
#include "httpc.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define MAX_HEADERS 100
#define MAX_HEADER_BYTES (64u << 10)
#define READ_BUF_SIZE (64u << 10)

struct httpc {
    uv_loop_t *loop;
    union {
        uv_pipe_t pipe;
        uv_tcp_t tcp;
        uv_stream_t stream;
        uv_handle_t handle;
    } s;
    uv_timer_t timer;          /* connect timeout, then idle timeout; also defers early errors */
    uv_connect_t connect_req;
    uv_getaddrinfo_t gai;
    struct hostaddr addr;
    struct httpc_callbacks cb;
    void *ud;

    llhttp_t parser;
    buf_t hdr;                 /* "name\0value\0..." of the response being parsed */
    size_t hdr_off[2 * MAX_HEADERS];
    size_t n_hdr_parts;        /* names and values completed so far */

    buf_t pending;             /* written before the connection was up */
    size_t queued;
    unsigned idle_ms;
    int deferred_err;          /* an error found inside a call of ours, reported from the timer */
    const char *deferred_what;
    int connected, upgraded, head_request, read_paused;
    int keep_alive;            /* the last response allows another request */
    int closing, gai_pending, handles_open;
};

struct wreq {
    uv_write_t req;
    struct httpc *c;
    size_t len;
    char data[];
};

/* Every read lands here and is consumed before read_cb returns (single thread),
 * so one buffer serves every connection: idle connections cost no read buffer. */
static char shared_rbuf[READ_BUF_SIZE];
static int shared_rbuf_busy;

static void start_reading(struct httpc *c);

/* ---- closing ---------------------------------------------------------------------- */

static void maybe_free(struct httpc *c) {
    if (c->handles_open || c->gai_pending) return;
    if (c->cb.on_close) c->cb.on_close(c, c->ud);
    buf_free(&c->hdr);
    buf_free(&c->pending);
    free(c);
}

static void handle_closed(uv_handle_t *h) {
    struct httpc *c = h->data;
    c->handles_open--;
    maybe_free(c);
}

void httpc_close(struct httpc *c) {
    if (!c || c->closing) return;
    c->closing = 1;
    if (c->gai_pending) uv_cancel((uv_req_t *)&c->gai);
    uv_close(&c->s.handle, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void fail(struct httpc *c, int err, const char *fmt, const char *detail) {
    if (c->closing) return;
    char why[256];
    snprintf(why, sizeof why, fmt, detail);
    if (c->cb.on_error) c->cb.on_error(c, c->ud, err, why);
    httpc_close(c);
}

static void fail_uv(struct httpc *c, int err, const char *what) {
    char why[160];
    snprintf(why, sizeof why, "%s: %s", what, uv_strerror(err));
    fail(c, err, "%s", why);
}

/* ---- timers ----------------------------------------------------------------------- */

static void timer_fired(uv_timer_t *t) {
    struct httpc *c = t->data;
    if (c->deferred_err) fail_uv(c, c->deferred_err, c->deferred_what);
    else if (!c->connected) fail(c, UV_ETIMEDOUT, "%s", "connect timed out");
    else fail(c, UV_ETIMEDOUT, "%s", "no data within the idle timeout");
}

static void arm_idle(struct httpc *c) {
    if (c->idle_ms && c->connected && !c->closing && !c->deferred_err)
        uv_timer_start(&c->timer, timer_fired, c->idle_ms, 0);
}

void httpc_set_callbacks(struct httpc *c, const struct httpc_callbacks *cb, void *ud) {
    c->cb = *cb;
    c->ud = ud;
}

int httpc_reusable(const struct httpc *c) {
    return c->keep_alive && c->connected && !c->closing && !c->upgraded && !c->deferred_err;
}

void httpc_set_idle_timeout(struct httpc *c, unsigned ms) {
    c->idle_ms = ms;
    if (!c->connected || c->closing) return;
    if (ms) arm_idle(c);
    else uv_timer_stop(&c->timer);
}

/* Report an error found inside one of our functions from the loop, not from
 * under the caller's feet. */
static void defer_error(struct httpc *c, int err, const char *what) {
    if (c->deferred_err) return;
    c->deferred_err = err;
    c->deferred_what = what;
    uv_timer_start(&c->timer, timer_fired, 0, 0);
}

/* ---- writing ---------------------------------------------------------------------- */

static void write_done(uv_write_t *req, int status) {
    struct wreq *w = (struct wreq *)req;
    struct httpc *c = w->c;
    c->queued -= w->len;
    free(w);
    if (c->closing) return;
    if (status < 0) {
        fail_uv(c, status, "write");
        return;
    }
    if (c->queued == 0 && c->cb.on_drain) c->cb.on_drain(c, c->ud);
}

static int write_now(struct httpc *c, const char *data, size_t len) {
    if (c->s.stream.write_queue_size == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write(&c->s.stream, &b, 1);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && n != UV_EAGAIN) {
            defer_error(c, n, "write");
            return 0;   /* reported through on_error */
        }
        if (len == 0) return 0;
    }
    struct wreq *w = malloc(sizeof *w + len);
    if (!w) return -1;
    w->c = c;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, &c->s.stream, &b, 1, write_done);
    if (rc < 0) {
        free(w);
        defer_error(c, rc, "write");
        return 0;
    }
    c->queued += len;
    return 0;
}

int httpc_write(struct httpc *c, const void *data, size_t len) {
    if (c->closing) return -1;
    if (len == 0) return 0;
    if (!c->connected) {
        if (buf_append(&c->pending, data, len) < 0) return -1;
        c->queued += len;
        return 0;
    }
    return write_now(c, data, len);
}

size_t httpc_queued(const struct httpc *c) { return c->queued; }

static int has_header(const char *headers, const char *name) {
    size_t n = strlen(name);
    for (const char *p = headers; p && *p;) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') return 1;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

int httpc_request(struct httpc *c, const char *method, const char *target,
                  const char *extra_headers, const void *body, size_t body_len) {
    if (c->closing) return -1;
    buf_t req = BUF_INIT;
    int rc = buf_printf(&req, "%s %s HTTP/1.1\r\n", method, target);
    if (!has_header(extra_headers, "Host")) {
        char host[300];
        if (c->addr.is_unix) snprintf(host, sizeof host, "localhost");
        else hostaddr_format(&c->addr, host, sizeof host);
        rc |= buf_printf(&req, "Host: %s\r\n", host);
    }
    if (extra_headers) rc |= buf_append_str(&req, extra_headers);
    int wants_length = body_len || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
                       !strcmp(method, "PATCH");
    if (body_len != HTTPC_BODY_STREAMED && wants_length)
        rc |= buf_printf(&req, "Content-Length: %zu\r\n", body_len);
    rc |= buf_append(&req, "\r\n", 2);
    if (body_len != HTTPC_BODY_STREAMED && body_len) rc |= buf_append(&req, body, body_len);
    if (rc == 0) {
        c->head_request = strcmp(method, "HEAD") == 0;
        rc = httpc_write(c, req.data, req.len);
    }
    buf_free(&req);
    return rc;
}

/* ---- parsing the response ---------------------------------------------------------- */

static struct httpc *of(llhttp_t *p) { return p->data; }

static int header_bytes(llhttp_t *p, const char *at, size_t len) {
    struct httpc *c = of(p);
    if (c->hdr.len + len > MAX_HEADER_BYTES || buf_append(&c->hdr, at, len) < 0) return -1;
    return 0;
}

/* A name or a value ended: terminate it and remember where the next one starts. */
static int header_part_done(llhttp_t *p) {
    struct httpc *c = of(p);
    if (c->n_hdr_parts + 1 >= 2 * MAX_HEADERS || buf_append(&c->hdr, "", 1) < 0) return -1;
    c->n_hdr_parts++;
    c->hdr_off[c->n_hdr_parts] = c->hdr.len;
    return 0;
}

static int on_message_begin(llhttp_t *p) {
    struct httpc *c = of(p);
    buf_reset(&c->hdr);
    c->n_hdr_parts = 0;
    c->hdr_off[0] = 0;
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    struct httpc *c = of(p);
    struct httpc_header h[MAX_HEADERS];
    size_t n = c->n_hdr_parts / 2;
    for (size_t i = 0; i < n; i++) {
        h[i].name = c->hdr.data + c->hdr_off[2 * i];
        h[i].value = c->hdr.data + c->hdr_off[2 * i + 1];
    }
    if (c->cb.on_response) c->cb.on_response(c, c->ud, p->status_code, h, n);
    if (c->closing) return -1;
    return c->head_request ? 1 : 0;   /* 1: a HEAD response has no body */
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    struct httpc *c = of(p);
    if (c->cb.on_data) c->cb.on_data(c, c->ud, at, len);
    return c->closing ? -1 : 0;
}

static int on_message_complete(llhttp_t *p) {
    struct httpc *c = of(p);
    if (llhttp_get_upgrade(p)) return 0;   /* raw mode follows, no "complete" */
    c->keep_alive = llhttp_should_keep_alive(p);
    if (c->cb.on_complete) c->cb.on_complete(c, c->ud);
    return c->closing ? -1 : 0;
}

/* The callbacks every connection's parser calls (llhttp keeps a pointer to them). */
static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = header_bytes,
    .on_header_value = header_bytes,
    .on_header_field_complete = header_part_done,
    .on_header_value_complete = header_part_done,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void parse(struct httpc *c, const char *data, size_t len) {
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    if (c->closing) return;
    if (err == HPE_PAUSED_UPGRADE) {
        c->upgraded = 1;
        const char *rest = llhttp_get_error_pos(&c->parser);
        size_t used = rest ? (size_t)(rest - data) : len;
        /* Bytes that came in the same read as the 101 head belong to the stream. */
        if (used < len && c->cb.on_data) c->cb.on_data(c, c->ud, data + used, len - used);
        return;
    }
    if (err != HPE_OK) {
        char why[200];
        snprintf(why, sizeof why, "bad response: %s (%s)", llhttp_errno_name(err),
                 llhttp_get_error_reason(&c->parser) ? llhttp_get_error_reason(&c->parser) : "");
        fail(c, UV_EPROTO, "%s", why);
    }
}

/* ---- reading ---------------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)h;
    (void)suggested;
    if (!shared_rbuf_busy) {
        shared_rbuf_busy = 1;
        *b = uv_buf_init(shared_rbuf, sizeof shared_rbuf);
    } else {
        char *p = malloc(READ_BUF_SIZE);
        *b = uv_buf_init(p, p ? READ_BUF_SIZE : 0);
    }
}

static void release_rbuf(const uv_buf_t *b) {
    if (b->base == shared_rbuf) shared_rbuf_busy = 0;
    else free(b->base);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct httpc *c = s->data;
    if (n > 0 && !c->closing) {
        arm_idle(c);
        if (c->upgraded) {
            if (c->cb.on_data) c->cb.on_data(c, c->ud, b->base, (size_t)n);
        } else {
            parse(c, b->base, (size_t)n);
        }
    } else if (n == UV_EOF && !c->closing) {
        if (!c->upgraded) {
            /* A body delimited by the end of the connection completes here. */
            llhttp_errno_t err = llhttp_finish(&c->parser);
            if (err != HPE_OK && !c->closing) {
                fail(c, UV_EPROTO, "%s", "connection closed in the middle of a response");
            }
        }
        fail(c, UV_EOF, "%s", "connection closed by the peer");
    } else if (n < 0 && !c->closing) {
        fail_uv(c, (int)n, "read");
    }
    release_rbuf(b);
}

static void start_reading(struct httpc *c) {
    if (c->read_paused || c->closing || !c->connected) return;
    int rc = uv_read_start(&c->s.stream, alloc_cb, read_cb);
    if (rc < 0) fail_uv(c, rc, "read");
}

void httpc_read_pause(struct httpc *c, int paused) {
    c->read_paused = paused;
    if (!c->connected || c->closing) return;
    if (paused) uv_read_stop(&c->s.stream);
    else start_reading(c);
}

int httpc_upgraded(const struct httpc *c) { return c->upgraded; }

/* ---- connecting ------------------------------------------------------------------- */

static void connect_done(uv_connect_t *req, int status) {
    struct httpc *c = req->data;
    if (c->closing) return;
    if (status < 0) {
        fail_uv(c, status, "connect");
        return;
    }
    c->connected = 1;
    uv_timer_stop(&c->timer);
    arm_idle(c);
    if (!c->addr.is_unix) uv_tcp_nodelay(&c->s.tcp, 1);
    start_reading(c);
    if (c->pending.len && !c->closing) {
        buf_t p = c->pending;
        c->pending = (buf_t)BUF_INIT;
        c->queued -= p.len;
        if (write_now(c, p.data, p.len) < 0) fail(c, UV_ENOMEM, "%s", "out of memory");
        buf_free(&p);
    }
}

static void connect_tcp(struct httpc *c, const struct sockaddr *sa) {
    int rc = uv_tcp_connect(&c->connect_req, &c->s.tcp, sa, connect_done);
    if (rc < 0) defer_error(c, rc, "connect");
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct httpc *c = req->data;
    c->gai_pending = 0;
    if (c->closing) {
        uv_freeaddrinfo(res);
        maybe_free(c);
        return;
    }
    if (status < 0 || !res) fail_uv(c, status < 0 ? status : UV_EAI_NONAME, "resolve");
    else connect_tcp(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

struct httpc *httpc_connect(uv_loop_t *loop, const struct hostaddr *addr,
                            unsigned connect_timeout_ms, const struct httpc_callbacks *cb,
                            void *ud) {
    struct httpc *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->loop = loop;
    c->addr = *addr;
    c->cb = *cb;
    c->ud = ud;
    llhttp_init(&c->parser, HTTP_RESPONSE, &parser_settings);
    c->parser.data = c;

    if (addr->is_unix) uv_pipe_init(loop, &c->s.pipe, 0);
    else uv_tcp_init(loop, &c->s.tcp);
    c->s.handle.data = c;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    c->connect_req.data = c;
    c->gai.data = c;
    uv_timer_start(&c->timer, timer_fired,
                   connect_timeout_ms ? connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS, 0);

    if (addr->is_unix) {
        uv_pipe_connect(&c->connect_req, &c->s.pipe, addr->path, connect_done);
        return c;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(addr->host, addr->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_tcp(c, (struct sockaddr *)&ss);
        return c;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", addr->port);
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(loop, &c->gai, resolved, addr->host, port, &hints);
    if (rc < 0) {
        defer_error(c, rc, "resolve");
    } else {
        c->gai_pending = 1;
    }
    return c;
}
