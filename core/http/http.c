/* http.c — HTTP/1.1 connections and requests on llhttp. */
#include "http.h"

#include <ctype.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "policy/app.h"
#include "reply.h"

/* Bytes read ahead of the request being handled (pipelining) before we stop
 * reading from the socket until the response is out. */
#define PIPELINE_READAHEAD (64 * 1024)
/* Answers written but not yet taken by the kernel above which no further
 * pipelined request is handled (nor read): a client that sends and never
 * reads holds at most this plus one answer (Redis's client output buffer
 * limit, as backpressure rather than a kill). */
#define WRITE_BACKLOG_PAUSE (64 * 1024)

/* CLOSING: our last bytes are being flushed (then the write side is shut);
 * LINGERING: the write side is shut and the peer's remaining bytes are read
 * and dropped, so that closing does not reset the connection under the
 * answer before the peer has read it (nginx's lingering close);
 * CLOSED: the handles are being closed. */
enum conn_state { CONN_IDLE, CONN_READING, CONN_HANDLING, CONN_RAW, CONN_CLOSING, CONN_LINGERING, CONN_CLOSED };

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    llhttp_t parser;
    http_dispatch_fn dispatch;
    enum conn_state state;
    struct request *req;     /* the request being parsed or handled */
    buf_t pending;           /* bytes read but not parsed yet */
    buf_t hfield, hvalue;    /* the header being parsed */
    size_t header_bytes;
    int error_status;        /* set by a parser callback that refused the request */
    const char *error_code;
    int in_process;          /* conn_process is on the stack: do not re-enter */
    int read_stopped;
    int open_handles;
    int linger;              /* after the shutdown, drain what the peer still sends */
    int raw_overflow;        /* an upgraded connection passed its backlog cap: dropped */
    int raw_want_drain;      /* the raw owner is told when the backlog has gone down */
    size_t write_queue;
    const struct conn_raw *raw;
    void *raw_ud;
    unsigned char addr[16];  /* the peer's address, for the per-address cap */
    size_t addrlen;
    struct conn *prev, *next;          /* open connections (not closing) */
    struct conn *lru_prev, *lru_next;  /* evictable: idle or closing, oldest first */
    int on_lru;
};

struct write_req {
    uv_write_t w;
    struct conn *conn;
    size_t len;
    char data[];
};

static struct conn *all_conns;     /* open, newest first */
static struct conn *lru_head, *lru_tail;
static size_t conn_count;          /* every connection until its socket is closed */
static size_t conn_closed;         /* of which are being closed (CONN_CLOSED) */
static llhttp_settings_t parser_settings;

static void conn_process(struct conn *c);
static void conn_end(struct conn *c, int linger);
static void conn_abort(struct conn *c);
static void conn_arm_timer(struct conn *c, long ms);
static void conn_resume_reading(struct conn *c);
static void on_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void request_orphan(struct request *req);
static void request_free(struct request *req);

size_t http_conn_count(void) { return conn_count; }

/* ---- requests ------------------------------------------------------------------- */

static void request_free(struct request *req) {
    free(req->target);
    free(req->path);
    free(req->query);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    for (int i = 0; i < req->nparams; i++) free(req->params[i]);
    buf_free(&req->body);
    free(req);
}

static struct request *request_new(struct conn *c) {
    struct request *req = calloc(1, sizeof *req);
    if (!req) return NULL;
    req->conn = c;
    req->start_ns = uv_hrtime();
    req->route = "unmatched";
    return req;
}

const char *http_header(const struct request *req, const char *lname) {
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, lname) == 0) return req->headers[i].value;
    return NULL;
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

int http_percent_decode(const char *in, size_t inlen, char *out, size_t outlen, int plus_is_space) {
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        if (o + 1 >= outlen) return -1;
        if (in[i] == '%') {
            if (i + 2 >= inlen) return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (in[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return 0;
}

int http_query_param(const struct request *req, const char *name, char *out, size_t len) {
    size_t nlen = strlen(name);
    const char *q = req->query;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t plen = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', plen);
        size_t klen = eq ? (size_t)(eq - q) : plen;
        if (klen == nlen && memcmp(q, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : q + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;
            return http_percent_decode(v, vlen, out, len, 1) < 0 ? -1 : 1;
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* ---- the evictable list ------------------------------------------------------------ */

/* Connections that hold no request (idle keep-alive, fresh, or closing) in the
 * order they became so: at the connection cap the oldest is closed to make
 * room, so idle sockets cannot lock new clients out. */
static void lru_remove(struct conn *c) {
    if (!c->on_lru) return;
    if (c->lru_prev) c->lru_prev->lru_next = c->lru_next; else lru_head = c->lru_next;
    if (c->lru_next) c->lru_next->lru_prev = c->lru_prev; else lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
    c->on_lru = 0;
}

static void lru_append(struct conn *c) {
    lru_remove(c);
    c->lru_prev = lru_tail;
    if (lru_tail) lru_tail->lru_next = c; else lru_head = c;
    lru_tail = c;
    c->on_lru = 1;
}

/* ---- writing ---------------------------------------------------------------------- */

static int conn_backed_up(const struct conn *c) { return c->write_queue > WRITE_BACKLOG_PAUSE; }

static void conn_resume_parsing(struct conn *c) {
    if (c->in_process || conn_backed_up(c) || (c->state != CONN_IDLE && c->state != CONN_READING)) return;
    conn_resume_reading(c);
    if (c->pending.len) conn_process(c);
}

static void on_write_done(uv_write_t *w, int status) {
    struct write_req *wr = (struct write_req *)w;
    struct conn *c = wr->conn;
    c->write_queue -= wr->len;
    free(wr);
    if (status < 0) return; /* a failed write shows up as a read error or EOF */
    switch (c->state) {
    case CONN_CLOSING:
        /* Still flushing: the deadline counts from the last progress. */
        conn_arm_timer(c, app_config()->lingering_close_ms);
        break;
    case CONN_IDLE:
    case CONN_READING:
        conn_resume_parsing(c);
        break;
    case CONN_RAW:
        if (c->raw_want_drain && !conn_backed_up(c)) {
            c->raw_want_drain = 0;
            if (c->raw && c->raw->on_drain) c->raw->on_drain(c->raw_ud);
        }
        break;
    default:
        break;
    }
}

static void conn_write(struct conn *c, const void *data, size_t len) {
    if (c->state >= CONN_CLOSING || c->raw_overflow || len == 0) return;
    if (c->state == CONN_RAW && c->write_queue + len > app_config()->ws_backlog_bytes) {
        /* A peer that does not read: drop it, from the loop rather than under
         * the writer (which may be walking a list of such connections). */
        log_msgf(LOG_WARN, "backlog_exceeded", "an upgraded connection has %zu bytes unsent; closing it",
                 c->write_queue + len);
        c->raw_overflow = 1;
        c->read_stopped = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
        uv_timer_start(&c->timer, on_timer, 0, 0);
        return;
    }
    struct write_req *wr = malloc(sizeof *wr + len);
    if (!wr) {
        conn_abort(c);
        return;
    }
    wr->conn = c;
    wr->len = len;
    memcpy(wr->data, data, len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)len);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write_done) < 0) {
        free(wr);
        conn_abort(c);
        return;
    }
    c->write_queue += len;
}

/* ---- closing ---------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
    struct conn *c = h->data;
    if (--c->open_handles > 0) return;
    conn_count--;
    if (c->state == CONN_CLOSED) conn_closed--;
    metrics_gauge_set(METRIC_CONNECTIONS_OPEN, (double)conn_count);
    buf_free(&c->pending);
    buf_free(&c->hfield);
    buf_free(&c->hvalue);
    free(c);
}

/* Close the socket now, dropping whatever is unsent. */
static void conn_abort(struct conn *c) {
    if (c->state < CONN_CLOSING) conn_end(c, 0); /* tells the request's or the tunnel's owner */
    if (c->state == CONN_CLOSED) return;          /* which may have closed it already */
    c->state = CONN_CLOSED;
    conn_closed++;
    lru_remove(c);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *sreq, int status) {
    struct conn *c = sreq->data;
    free(sreq);
    if (c->state != CONN_CLOSING) return; /* aborted meanwhile */
    if (status < 0 || !c->linger) {
        conn_abort(c);
        return;
    }
    /* Our answer is out and the peer has our FIN: read and drop what it still
     * sends until it closes too, for a bounded time. */
    c->state = CONN_LINGERING;
    conn_arm_timer(c, app_config()->lingering_close_ms);
    c->read_stopped = 0;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) conn_abort(c);
}

/* The request is done with (or the peer is gone): notify the owner of what
 * runs on the connection, flush what is queued, shut the write side down and,
 * with `linger`, drain the peer's bytes before closing.  Until the socket is
 * closed the connection still counts, and is the first to go at the cap. */
static void conn_end(struct conn *c, int linger) {
    if (c->state >= CONN_CLOSING) return;
    enum conn_state was = c->state;
    c->state = CONN_CLOSING;
    c->linger = linger && !app_shutting_down();
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->prev) c->prev->next = c->next; else all_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    lru_append(c);
    conn_arm_timer(c, app_config()->lingering_close_ms);

    struct request *req = c->req;
    c->req = NULL;
    if (req && was == CONN_HANDLING) request_orphan(req);
    else if (req) request_free(req);
    if (was == CONN_RAW && c->raw && c->raw->on_close) c->raw->on_close(c->raw_ud);
    if (c->state != CONN_CLOSING) return; /* an owner aborted it */

    uv_shutdown_t *sreq = malloc(sizeof *sreq);
    if (sreq) {
        sreq->data = c;
        if (uv_shutdown(sreq, (uv_stream_t *)&c->tcp, on_shutdown) == 0) return;
        free(sreq);
    }
    conn_abort(c);
}

static void conn_close(struct conn *c) { conn_end(c, 0); }

void http_conn_close_upgraded(void) {
    struct conn *c = all_conns;
    while (c) {
        struct conn *next = c->next;
        if (c->state == CONN_RAW) conn_close(c);
        c = next;
    }
}

void http_conn_close_all(void) {
    struct conn *c = all_conns;
    while (c) {
        struct conn *next = c->next;
        if (c->state == CONN_IDLE || c->state == CONN_READING) conn_close(c);
        c = next;
    }
}

/* ---- responses -------------------------------------------------------------------- */

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* The status line and headers into `head`; the caller adds the body so that a
 * whole response leaves in one write (and one TCP segment when it fits). */
static void format_head(buf_t *head_out, struct request *req, int status, const char *content_type,
                        long long length, const char *extra) {
    buf_t head = *head_out;
    buf_printf(&head, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    if (content_type) buf_printf(&head, "Content-Type: %s\r\n", content_type);
    if (length >= 0) buf_printf(&head, "Content-Length: %lld\r\n", length);
    else buf_append_str(&head, "Transfer-Encoding: chunked\r\n");
    if (!req->keep_alive) buf_append_str(&head, "Connection: close\r\n");
    const char *origin = http_header(req, "origin");
    if (origin && app_cors_allowed(origin))
        buf_printf(&head, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
    if (extra) buf_append_str(&head, extra);
    buf_append_str(&head, "\r\n");
    *head_out = head;
}

static void request_account(struct request *req) {
    double secs = (double)(uv_hrtime() - req->start_ns) / 1e9;
    metrics_observe_request(req->route, req->status, secs);
    log_request(req->method, req->route, req->path ? req->path : "", req->status, secs * 1000.0);
}

/* The client left while the request was being handled.  Without an abort
 * handler the request is orphaned: whoever holds it answers it later, and
 * that answer (going nowhere) frees it.  With one, the handler is told and
 * the request is freed when it returns: the one place that decides. */
static void request_orphan(struct request *req) {
    req->conn = NULL;
    void (*fn)(struct request *, void *) = req->on_abort;
    if (!fn) return;
    req->aborting = 1;
    fn(req, req->abort_ud);
    if (!req->finished) {
        req->status = 499; /* nginx's "client closed request", for logs and metrics only */
        request_account(req);
    }
    request_free(req);
}

/* The request is done: account for it, then go on with the connection. */
static void request_finish(struct request *req) {
    request_account(req);
    struct conn *c = req->conn;
    if (!c) {
        if (req->aborting) req->finished = 1; /* request_orphan frees it */
        else request_free(req);
        return;
    }
    int keep = req->keep_alive && !req->upgrade && !app_shutting_down();
    c->req = NULL;
    request_free(req);
    if (c->state != CONN_HANDLING) return;
    if (!keep) {
        conn_end(c, 1); /* the peer may still be sending what we refused */
        return;
    }
    c->state = CONN_IDLE;
    lru_append(c);
    llhttp_resume(&c->parser);
    conn_arm_timer(c, app_config()->keepalive_timeout_ms);
    conn_resume_parsing(c);
}

void http_respond(struct request *req, int status, const char *content_type, const void *body,
                  size_t len, const char *extra_headers) {
    req->status = status;
    if (req->on_response && !req->responded) {
        req->responded = 1;
        req->on_response(req, status, content_type, body, len, req->response_ud);
    } else if (req->conn && !req->responded) {
        req->responded = 1;
        buf_t out = BUF_INIT;
        format_head(&out, req, status, content_type, (long long)len, extra_headers);
        if (strcmp(req->method, "HEAD") != 0) buf_append(&out, body, len);
        conn_write(req->conn, out.data, out.len);
        buf_free(&out);
    }
    request_finish(req);
}

void http_stream_start(struct request *req, int status, const char *content_type) {
    req->status = status;
    req->streaming = 1;
    if (!req->conn) return;
    req->responded = 1;
    buf_t head = BUF_INIT;
    format_head(&head, req, status, content_type, -1, NULL);
    conn_write(req->conn, head.data, head.len);
    buf_free(&head);
}

void http_stream_write(struct request *req, const void *data, size_t len) {
    if (!req->conn || len == 0) return;
    buf_t chunk = BUF_INIT;
    buf_printf(&chunk, "%zx\r\n", len);
    buf_append(&chunk, data, len);
    buf_append(&chunk, "\r\n", 2);
    conn_write(req->conn, chunk.data, chunk.len);
    buf_free(&chunk);
}

void http_stream_end(struct request *req) {
    if (req->conn) conn_write(req->conn, "0\r\n\r\n", 5);
    request_finish(req);
}

void http_set_abort(struct request *req, void (*fn)(struct request *, void *), void *ud) {
    req->on_abort = fn;
    req->abort_ud = fn ? ud : NULL;
}

/* ---- internal requests -------------------------------------------------------------- */

struct request *http_subrequest(const struct request *parent, const char *method, const char *target,
                                const void *body, size_t len, http_response_fn on_response, void *ud) {
    struct request *req = request_new(NULL);
    if (!req) return NULL;
    snprintf(req->method, sizeof req->method, "%s", method);
    req->target = strdup(target);
    const char *q = strchr(target, '?');
    req->path = q ? strndup(target, (size_t)(q - target)) : strdup(target);
    req->query = strdup(q ? q + 1 : "");
    req->headers = calloc(parent->nheaders ? parent->nheaders : 1, sizeof *req->headers);
    if (!req->target || !req->path || !req->query || !req->headers) {
        request_free(req);
        return NULL;
    }
    /* The caller's credentials and content type: the subrequest acts for it. */
    for (size_t i = 0; i < parent->nheaders; i++) {
        const char *n = parent->headers[i].name;
        if (strcmp(n, "authorization") && strcmp(n, "x-api-key") && strcmp(n, "x-auth-token") && strcmp(n, "origin"))
            continue;
        req->headers[req->nheaders].name = strdup(n);
        req->headers[req->nheaders].value = strdup(parent->headers[i].value);
        req->nheaders++;
    }
    buf_append(&req->body, body ? body : "", body ? len : 0);
    req->on_response = on_response;
    req->response_ud = ud;
    return req;
}

void http_request_cancel(struct request *req) {
    void (*fn)(struct request *, void *) = req->on_abort;
    void *ud = req->abort_ud;
    if (!fn) return;
    http_set_abort(req, NULL, NULL);
    fn(req, ud);
}

void http_request_discard(struct request *req) { request_free(req); }

/* ---- upgrades --------------------------------------------------------------------- */

struct conn *http_upgrade(struct request *req, const char *response_head, const struct conn_raw *raw,
                          void *ud) {
    struct conn *c = req->conn;
    req->status = 101;
    req->responded = 1;
    if (!c) {
        request_finish(req);
        return NULL;
    }
    conn_write(c, response_head, strlen(response_head));
    c->state = CONN_RAW;
    c->raw = raw;
    c->raw_ud = ud;
    request_finish(req);
    uv_timer_stop(&c->timer);
    return c;
}

void conn_raw_start(struct conn *c) {
    if (c->state != CONN_RAW) return;
    if (c->pending.len) {
        buf_t rest = c->pending;
        c->pending = (buf_t)BUF_INIT;
        c->raw->on_data(c->raw_ud, rest.data, rest.len);
        buf_free(&rest);
    }
    conn_resume_reading(c);
}

void conn_raw_write(struct conn *c, const void *data, size_t len) {
    if (c->state == CONN_RAW) conn_write(c, data, len);
}

int conn_raw_dropped(const struct conn *c) { return c->raw_overflow; }

void conn_raw_pause(struct conn *c, int paused) {
    if (c->state != CONN_RAW || c->raw_overflow || paused == c->read_stopped) return;
    if (paused) {
        c->read_stopped = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
    } else {
        conn_resume_reading(c);
    }
}

int conn_raw_backed_up(struct conn *c) {
    if (!conn_backed_up(c)) return 0;
    c->raw_want_drain = 1;
    return 1;
}

void conn_raw_close(struct conn *c) {
    c->raw = NULL; /* the owner asked: it needs no on_close */
    conn_close(c);
}

/* ---- parsing ---------------------------------------------------------------------- */

static struct conn *parser_conn(llhttp_t *p) { return p->data; }

static int refuse(struct conn *c, int status, const char *code) {
    c->error_status = status;
    c->error_code = code;
    return -1;
}

static int on_message_begin(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    c->req = request_new(c);
    if (!c->req) return -1;
    c->header_bytes = 0;
    c->state = CONN_READING;
    lru_remove(c);
    /* The whole request must arrive within the read timeout, counted from its
     * first byte: a client trickling bytes cannot hold the connection. */
    conn_arm_timer(c, app_config()->read_timeout_ms);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (c->hvalue.len + len > app_config()->max_url_bytes) return refuse(c, 414, "uri_too_long");
    return buf_append(&c->hvalue, at, len);
}

static int on_url_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    struct request *req = c->req;
    req->target = buf_steal(&c->hvalue);
    if (!req->target) return -1;
    const char *q = strchr(req->target, '?');
    req->path = q ? strndup(req->target, (size_t)(q - req->target)) : strdup(req->target);
    req->query = strdup(q ? q + 1 : "");
    snprintf(req->method, sizeof req->method, "%s", llhttp_method_name(p->method));
    return req->path && req->query ? 0 : -1;
}

static int header_bytes(struct conn *c, size_t len) {
    c->header_bytes += len;
    return c->header_bytes > app_config()->max_header_bytes ? refuse(c, 431, "headers_too_large") : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (header_bytes(c, len) < 0) return -1;
    return buf_append(&c->hfield, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (header_bytes(c, len) < 0) return -1;
    return buf_append(&c->hvalue, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    struct request *req = c->req;
    struct http_header *h = realloc(req->headers, (req->nheaders + 1) * sizeof *h);
    if (!h) return -1;
    req->headers = h;
    if (buf_append(&c->hfield, "", 0) < 0 || buf_append(&c->hvalue, "", 0) < 0) return -1;
    for (size_t i = 0; i < c->hfield.len; i++) c->hfield.data[i] = (char)tolower((unsigned char)c->hfield.data[i]);
    h[req->nheaders].name = buf_steal(&c->hfield);
    h[req->nheaders].value = buf_steal(&c->hvalue);
    req->nheaders++;
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    struct request *req = c->req;
    size_t limit = app_config()->max_body_bytes;
    if (p->flags & F_CONTENT_LENGTH && p->content_length > limit)
        return refuse(c, 413, "payload_too_large");
    const char *expect = http_header(req, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) return refuse(c, 417, "expectation_failed");
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c, cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (c->req->body.len + len > app_config()->max_body_bytes) return refuse(c, 413, "payload_too_large");
    return buf_append(&c->req->body, at, len);
}

static int on_message_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    c->req->keep_alive = llhttp_should_keep_alive(p);
    c->req->upgrade = p->upgrade;
    if (c->req->body.data == NULL) buf_append(&c->req->body, "", 0); /* always NUL-terminated */
    return HPE_PAUSED;
}

static void send_parse_error(struct conn *c, llhttp_errno_t err) {
    if (!c->req) c->req = request_new(c);
    if (!c->req) {
        conn_close(c);
        return;
    }
    struct request *req = c->req;
    req->keep_alive = 0;
    c->state = CONN_HANDLING;
    if (c->error_status) {
        const char *what = c->error_status == 413 ? "the request body is larger than the limit"
                         : c->error_status == 414 ? "the request line is longer than the limit"
                         : c->error_status == 431 ? "the request headers are larger than the limit"
                                                  : "the Expect header must be 100-continue";
        reply_error(req, c->error_status, c->error_code, "%s", what);
    } else {
        reply_error(req, 400, "bad_request", "malformed HTTP request: %s", llhttp_errno_name(err));
    }
}

/* Feed what is pending to the parser until a request is complete. */
static void conn_process(struct conn *c) {
    c->in_process = 1;
    while (c->pending.len && (c->state == CONN_IDLE || c->state == CONN_READING) && !conn_backed_up(c)) {
        llhttp_errno_t err = llhttp_execute(&c->parser, c->pending.data, c->pending.len);
        if (err == HPE_OK) {
            buf_reset(&c->pending);
            break;
        }
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            buf_consume(&c->pending, (size_t)(pos - c->pending.data));
            c->state = CONN_HANDLING;
            uv_timer_stop(&c->timer);
            c->dispatch(c->req);
            continue;
        }
        buf_reset(&c->pending);
        send_parse_error(c, err);
        break;
    }
    c->in_process = 0;
}

/* ---- reading and timers ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    static char slab[64 * 1024];
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof slab); /* single-threaded: one slab is enough */
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    struct conn *c = s->data;
    if (nread < 0) {
        /* The peer is done sending: what we queued still goes out.  A reset,
         * or the end of a lingering drain, closes at once. */
        if (nread == UV_EOF && c->state < CONN_CLOSING) conn_close(c);
        else conn_abort(c);
        return;
    }
    if (nread == 0 || c->state == CONN_LINGERING) return; /* dropped */
    if (c->state == CONN_RAW) {
        if (c->raw && c->raw->on_data && !c->raw_overflow) c->raw->on_data(c->raw_ud, buf->base, (size_t)nread);
        return;
    }
    if (buf_append(&c->pending, buf->base, (size_t)nread) < 0) {
        conn_abort(c);
        return;
    }
    if ((c->state != CONN_IDLE && c->state != CONN_READING) || conn_backed_up(c)) {
        /* Busy, or its answers are not being read: hold what came, up to a point. */
        if (c->pending.len > PIPELINE_READAHEAD && !c->read_stopped) {
            c->read_stopped = 1;
            uv_read_stop(s);
        }
        return;
    }
    conn_process(c);
}

static void conn_resume_reading(struct conn *c) {
    if (c->read_stopped && c->state < CONN_CLOSING) {
        c->read_stopped = 0;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void on_timer(uv_timer_t *t) {
    struct conn *c = t->data;
    switch (c->state) {
    case CONN_READING:
        c->state = CONN_HANDLING;
        c->req->keep_alive = 0;
        reply_error(c->req, 408, "request_timeout", "the request was not received in full within %ld ms",
                    app_config()->read_timeout_ms);
        break;
    case CONN_IDLE:
        conn_close(c);
        break;
    case CONN_RAW:          /* over its backlog cap (conn_write) */
    case CONN_CLOSING:      /* the peer does not take our last bytes */
    case CONN_LINGERING:    /* nor stops sending */
        conn_abort(c);
        break;
    default:
        break;
    }
}

static void conn_arm_timer(struct conn *c, long ms) {
    uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
}

/* The peer's address as bytes (IPv4 or IPv6), for the per-address cap. */
static void conn_peer(struct conn *c) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    c->addrlen = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0) return;
    if (ss.ss_family == AF_INET) {
        memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        c->addrlen = 4;
    } else if (ss.ss_family == AF_INET6) {
        memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        c->addrlen = 16;
    }
}

static int same_peer(const struct conn *a, const struct conn *b) {
    return a->addrlen && a->addrlen == b->addrlen && memcmp(a->addr, b->addr, a->addrlen) == 0;
}

/* Make room for `c` if it is over a cap: close the oldest connection holding
 * no request (of its own address for the per-address cap).  0 if there is
 * room now, -1 if every connection is busy. */
static int make_room(struct conn *c) {
    int per_address = app_config()->max_connections_per_address;
    if (per_address > 0 && c->addrlen) {
        int n = 0;
        for (struct conn *o = all_conns; o; o = o->next) n += same_peer(o, c);
        for (struct conn *o = lru_head; o; o = o->lru_next) n += o->state >= CONN_CLOSING && same_peer(o, c);
        if (n >= per_address) { /* with c, one too many */
            struct conn *victim = lru_head;
            while (victim && !same_peer(victim, c)) victim = victim->lru_next;
            if (!victim) return -1;
            conn_abort(victim);
        }
    }
    if (conn_count - conn_closed > (size_t)app_config()->max_connections) {
        if (!lru_head) return -1;
        conn_abort(lru_head);
    }
    return 0;
}

void http_conn_accept(uv_stream_t *server, http_dispatch_fn dispatch) {
    if (!parser_settings.on_message_begin) {
        llhttp_settings_init(&parser_settings);
        parser_settings.on_message_begin = on_message_begin;
        parser_settings.on_url = on_url;
        parser_settings.on_url_complete = on_url_complete;
        parser_settings.on_header_field = on_header_field;
        parser_settings.on_header_value = on_header_value;
        parser_settings.on_header_value_complete = on_header_value_complete;
        parser_settings.on_headers_complete = on_headers_complete;
        parser_settings.on_body = on_body;
        parser_settings.on_message_complete = on_message_complete;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return;
    conn_count++;
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->open_handles = 1;
        c->tcp.data = c;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->dispatch = dispatch;
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    conn_peer(c);
    metrics_gauge_set(METRIC_CONNECTIONS_OPEN, (double)conn_count);
    int room = make_room(c);
    c->next = all_conns;
    if (all_conns) all_conns->prev = c;
    all_conns = c;
    if (room < 0) {
        /* Over a cap with every connection busy: say so and close, without
         * reading a request. */
        c->req = request_new(c);
        if (!c->req) {
            conn_abort(c);
            return;
        }
        c->state = CONN_HANDLING;
        reply_error(c->req, 503, "unavailable", "the server has too many open connections");
        return;
    }
    /* Until its first request is complete a connection gets the read timeout,
     * not the keep-alive timeout: sockets that send nothing are dropped soon. */
    c->state = CONN_IDLE;
    lru_append(c);
    conn_arm_timer(c, app_config()->read_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}
