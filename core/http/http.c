/* http.c — HTTP/1.1 connections on llhttp: their state machine (reading, handling, writing,
 * closing, timers) and upgrades.  Requests are in http_request.c, parsing in http_parse.c,
 * answers in http_response.c, the connection caps in http_evict.c. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "http_int.h"
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

struct write_req {
    uv_write_t w;
    struct conn *conn;
    size_t len;
    char data[];
};

struct conn *all_conns;     /* open, newest first */
size_t conn_count;          /* every connection until its socket is closed */
size_t conn_closed;         /* of which are being closed (CONN_CLOSED) */

static void conn_process(struct conn *c);
static void conn_resume_reading(struct conn *c);
static void on_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void request_orphan(struct request *req);

size_t http_conn_count(void) { return conn_count; }

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

void conn_write(struct conn *c, const void *data, size_t len) {
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
void conn_abort(struct conn *c) {
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
void conn_end(struct conn *c, int linger) {
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

void conn_close(struct conn *c) { conn_end(c, 0); }

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

/* ---- the end of a request ---------------------------------------------------------- */

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
void request_finish(struct request *req) {
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

/* ---- reading and timers ----------------------------------------------------------- */

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

void conn_arm_timer(struct conn *c, long ms) {
    uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
}


void http_conn_accept(uv_stream_t *server, http_dispatch_fn dispatch) {
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
    llhttp_init(&c->parser, HTTP_REQUEST, http_parser_settings());
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
