/* attach.c — the launcher protocol over a hijacked attach stream. Every frame is encoded and
 * decoded by the launcher's own codec (launcher/frame.h), linked into the server as is. */
#include "attach.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"
#include "clients/docker_demux.h"
#include "clients/httpc.h"
#include "launcher/frame.h"
#include "launcher/xalloc.h"

#define DEFAULT_TIMEOUT_MS 10000u
#define INPUT_CHUNK (64u << 10)
#define STDERR_KEEP 1024
#define REFUSAL_KEEP 512
/* A Y answering a hello with a nonce: 00 00 00 11 'Y' next_seq(8) nonce(8). */
#define SYNC_LEN (FRAME_HEADER_LEN + 1 + 8 + 8)

/* The codec cannot report allocation failure (launcher/xalloc.h); neither could we, usefully:
 * as for any small allocation of the server's, running out aborts. */
void xalloc_failed(size_t n) {
    (void)n;
    abort();
}

struct attach {
    uv_loop_t *loop;
    struct hostaddr engine;
    unsigned timeout_ms;
    struct httpc *http;    /* the current stream; NULL between streams */
    int https_open;        /* streams not yet closed, the current one included */
    struct attach_callbacks cb;
    void *ud;
    char id[72];
    int status;            /* of the engine's answer to the attach request */
    int attached;          /* the current stream got its 101 */
    int closed;

    struct docker_demux mux;   /* Docker's stream multiplexing: stdout and stderr */

    /* Until the Y matching our nonce, stdout is scanned, not framed. */
    int synced, hello_sent;
    uint64_t nonce;
    unsigned char window[SYNC_LEN];
    size_t window_len;

    struct frame_reader reader;
    struct lbuf out;       /* the frame being encoded */
    struct lbuf held;      /* frames written while no stream was attached */
    char err[STDERR_KEEP]; /* the launcher's stderr, or the engine's refusal */
    size_t err_len;
};

/* ---- streams -------------------------------------------------------------------------- */

static void maybe_free(struct attach *a) {
    if (!a->closed || a->https_open) return;
    frame_reader_free(&a->reader);
    lbuf_free(&a->out);
    lbuf_free(&a->held);
    free(a);
}

static void http_closed(struct httpc *c, void *ud) {
    (void)c;
    struct attach *a = ud;
    a->https_open--;
    maybe_free(a);
}

/* Forget the current stream; its callbacks are ignored from now on. */
static void drop_stream(struct attach *a) {
    if (!a->http) return;
    struct httpc *c = a->http;
    a->http = NULL;
    a->attached = 0;
    httpc_close(c);
}

static void stream_end(struct attach *a, enum attach_end end, const char *why) {
    if (a->closed || !a->http) return;
    drop_stream(a);
    if (a->cb.on_stream_end) a->cb.on_stream_end(a, a->ud, end, why);
}

void attach_close(struct attach *a) {
    if (!a || a->closed) return;
    a->closed = 1;
    drop_stream(a);
    maybe_free(a);
}

size_t attach_queued(const struct attach *a) {
    return (a->http ? httpc_queued(a->http) : 0) + lbuf_used(&a->held);
}
const char *attach_stderr(const struct attach *a) { return a->err; }

/* ---- frames from the launcher ----------------------------------------------------------- */

/* Bytes of the current stream may still be delivered: a callback can close the
 * attach or end the stream, and what followed in the same read is then dropped. */
static int live(const struct attach *a) { return !a->closed && a->attached; }

/* One frame; returns -1 if it is malformed. */
static int deliver(struct attach *a, const struct frame *f) {
    struct data_msg d;
    struct exit_msg x;
    struct reply_msg r;
    struct ready_msg y;
    switch (f->type) {
    case FRAME_DATA:
        if (frame_parse_data(f, &d) < 0) return -1;
        a->cb.on_data(a, a->ud, d.seq, d.stream, (const char *)d.data, d.len);
        return 0;
    case FRAME_EXIT: {
        if (frame_parse_exit(f, &x) < 0) return -1;
        struct launcher_exit ex = {
            .seq = x.seq,
            .exit_code = x.exit_code,
            .signo = x.signo,
            .reason = x.reason,
            .wall_ms = x.wall_ms,
            .cpu_ms = x.cpu_ms,
            .maxrss_kb = x.maxrss_kb,
            .oom_kills = x.oom_kills,
        };
        a->cb.on_exit(a, a->ud, &ex);
        return 0;
    }
    case FRAME_REPLY:
        if (frame_parse_reply(f, &r) < 0) return -1;
        a->cb.on_reply(a, a->ud, r.rid, r.status, (const char *)r.data, r.len);
        return 0;
    case FRAME_CHANNEL_OUT:
        if (frame_parse_channel_out(f, &d) < 0) return -1;
        if (a->cb.on_channel) a->cb.on_channel(a, a->ud, d.seq, (const char *)d.data, d.len);
        return 0;
    case FRAME_READY:
        return frame_parse_ready(f, &y);   /* a Y to an older hello: already in sync */
    default:
        return -1;
    }
}

static void read_frames(struct attach *a) {
    struct frame f;
    int rc;
    while (live(a) && (rc = frame_reader_next(&a->reader, &f)) != 0) {
        if (rc < 0 || deliver(a, &f) < 0) {
            char why[96];
            snprintf(why, sizeof why, "launcher protocol error (frame type 0x%02x)",
                     rc < 0 ? 0 : f.type);
            stream_end(a, ATTACH_END_PROTOCOL, why);
            return;
        }
    }
}

/* Whether the window is the Y answering our latest hello: one whole frame carrying our nonce. */
static int is_our_ready(const struct attach *a, uint64_t *next_seq) {
    const unsigned char *w = a->window;
    struct frame f = {w[FRAME_HEADER_LEN], w + FRAME_HEADER_LEN + 1, SYNC_LEN - FRAME_HEADER_LEN - 1};
    struct ready_msg y;
    if (be32(w) != SYNC_LEN - FRAME_HEADER_LEN || f.type != FRAME_READY || frame_parse_ready(&f, &y) < 0 ||
        y.nonce != a->nonce)
        return 0;
    *next_seq = y.next_seq;
    return 1;
}

/* Bytes of the launcher's stdout. */
static void from_stdout(struct attach *a, const unsigned char *p, size_t n) {
    while (!a->synced && n && live(a)) {
        if (!a->hello_sent) return;   /* nothing is expected before our hello */
        if (a->window_len == SYNC_LEN) {
            memmove(a->window, a->window + 1, SYNC_LEN - 1);
            a->window_len--;
        }
        a->window[a->window_len++] = *p++;
        n--;
        uint64_t next_seq;
        if (a->window_len == SYNC_LEN && is_our_ready(a, &next_seq)) {
            a->synced = 1;
            a->cb.on_ready(a, a->ud, next_seq);
        }
    }
    if (!n || !live(a)) return;
    frame_reader_feed(&a->reader, p, n);
    read_frames(a);
}

/* Bytes of the launcher's stderr: only ever a last gasp; keep the start, log lines. */
static void from_stderr(struct attach *a, const unsigned char *p, size_t n) {
    size_t room = sizeof a->err - 1 - a->err_len;
    size_t take = n < room ? n : room;
    memcpy(a->err + a->err_len, p, take);
    a->err_len += take;
    a->err[a->err_len] = '\0';
    log_event(LOG_WARN, "launcher_stderr",
              json_pack("{s:s,s:s%}", "container", a->id, "text", (const char *)p, n));
}

/* A piece of the launcher's stdout or stderr; stop once the stream is gone. */
static int from_stream(void *ud, int stream, const char *data, size_t n) {
    struct attach *a = ud;
    if (stream == 1) from_stdout(a, (const unsigned char *)data, n);
    else if (stream == 2) from_stderr(a, (const unsigned char *)data, n);
    return live(a) ? 0 : -1;
}

/* ---- the HTTP side ------------------------------------------------------------------------ */

static void http_response(struct httpc *c, void *ud, int status, const struct httpc_header *h,
                          size_t nh) {
    (void)h;
    (void)nh;
    struct attach *a = ud;
    if (c != a->http || a->closed) return;
    a->status = status;
    if (status != 101 && status != 200) return;   /* the refusal's body comes next */
    /* 101 is the upgrade we asked for; an engine that ignores Upgrade hijacks with
     * 200 and a body that lasts as long as the connection: the same bytes. */
    a->attached = 1;
    httpc_set_idle_timeout(c, 0);
    if (lbuf_used(&a->held)) {
        httpc_write(c, lbuf_head(&a->held), lbuf_used(&a->held));
        lbuf_clear(&a->held);
        lbuf_trim(&a->held);
    }
    if (a->cb.on_attached) a->cb.on_attached(a, a->ud);
}

static void http_data(struct httpc *c, void *ud, const char *data, size_t len) {
    struct attach *a = ud;
    if (c != a->http || a->closed) return;
    if (!a->attached) {
        size_t room = REFUSAL_KEEP - a->err_len;
        if (len > room) len = room;
        memcpy(a->err + a->err_len, data, len);
        a->err_len += len;
        a->err[a->err_len] = '\0';
        return;
    }
    docker_demux_feed(&a->mux, data, len, from_stream, a);
    if (c == a->http && !a->closed && a->cb.on_batch_end) a->cb.on_batch_end(a, a->ud);
}

static void http_complete(struct httpc *c, void *ud) {
    struct attach *a = ud;
    if (c != a->http || a->closed) return;
    if (a->attached) {
        stream_end(a, ATTACH_END_CLOSED, "the engine closed the attach stream");
        return;
    }
    char why[REFUSAL_KEEP + 64];
    json_t *body = json_loads(a->err, 0, NULL);
    const char *msg = json_string_value(json_object_get(body, "message"));
    snprintf(why, sizeof why, "attach refused (HTTP %d): %.400s", a->status, msg ? msg : a->err);
    json_decref(body);
    a->err_len = 0;
    a->err[0] = '\0';
    stream_end(a, ATTACH_END_REFUSED, why);
}

static void http_error(struct httpc *c, void *ud, int err, const char *why) {
    struct attach *a = ud;
    if (c != a->http || a->closed) return;
    char text[300];
    if (err == UV_EOF) snprintf(text, sizeof text, "the engine closed the attach stream");
    else snprintf(text, sizeof text, "attach stream: %s", why);
    stream_end(a, err == UV_ETIMEDOUT ? ATTACH_END_TIMED_OUT : ATTACH_END_CLOSED, text);
}

static const struct httpc_callbacks http_cbs = {
    http_response, http_data, http_complete, http_error, NULL, http_closed,
};

/* Open a new stream; the previous one, if any, is dropped. */
static void connect_stream(struct attach *a) {
    drop_stream(a);
    a->status = 0;
    a->mux = (struct docker_demux){0};
    a->synced = a->hello_sent = 0;
    a->window_len = 0;
    frame_reader_free(&a->reader);
    frame_reader_init(&a->reader);
    a->http = httpc_connect(a->loop, &a->engine, a->timeout_ms, &http_cbs, a);
    if (!a->http) abort();   /* a small allocation; see xalloc_failed */
    a->https_open++;
    /* Until the 101, silence for timeout_ms is a failure (the idle timer); after it, none. */
    httpc_set_idle_timeout(a->http, a->timeout_ms);
    char target[160];
    snprintf(target, sizeof target,
             "/v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1", a->id);
    httpc_request(a->http, "POST", target, "Connection: Upgrade\r\nUpgrade: tcp\r\n", NULL, 0);
}

void attach_reconnect(struct attach *a) {
    if (!a->closed) connect_stream(a);
}

struct attach *attach_open(uv_loop_t *loop, const struct hostaddr *engine, const char *container_id,
                           unsigned timeout_ms, const struct attach_callbacks *cb, void *ud) {
    if (strlen(container_id) >= sizeof ((struct attach *)0)->id) return NULL;
    struct attach *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->loop = loop;
    a->engine = *engine;
    a->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
    a->cb = *cb;
    a->ud = ud;
    strcpy(a->id, container_id);
    frame_reader_init(&a->reader);
    lbuf_init(&a->out);
    lbuf_init(&a->held);
    connect_stream(a);
    return a;
}

/* ---- frames to the launcher ------------------------------------------------------------- */

/* Sends the frame just encoded into a->out, or holds it until the stream is attached. */
static int frame_send(struct attach *a) {
    int rc = 0;
    if (a->http && a->attached) rc = httpc_write(a->http, lbuf_head(&a->out), lbuf_used(&a->out));
    else lbuf_append(&a->held, lbuf_head(&a->out), lbuf_used(&a->out));
    lbuf_clear(&a->out);
    lbuf_trim(&a->out);
    return rc;
}

int attach_hello(struct attach *a, uint64_t last_seq) {
    if (a->closed) return -1;
    if (getrandom(&a->nonce, sizeof a->nonce, GRND_NONBLOCK) != (ssize_t)sizeof a->nonce) {
        /* Only needs to differ from earlier hellos on this container's stdout. */
        static uint64_t counter;
        a->nonce = (uint64_t)time(NULL) * 1000003u ^ ++counter ^ (uintptr_t)a;
    }
    a->synced = 0;
    a->hello_sent = 1;
    a->window_len = 0;
    struct hello_msg h = {.last_seq = last_seq, .has_nonce = true, .nonce = a->nonce};
    frame_put_hello(&a->out, &h);
    return frame_send(a);
}

int attach_ack(struct attach *a, uint64_t seq) {
    if (a->closed) return -1;
    frame_put_ack(&a->out, seq);
    return frame_send(a);
}

int attach_list(struct attach *a, uint32_t rid) {
    if (a->closed) return -1;
    frame_put_list(&a->out, rid);
    return frame_send(a);
}

int attach_reset(struct attach *a, uint32_t rid, uint64_t memory_slack) {
    if (a->closed) return -1;
    frame_put_reset(&a->out, rid, memory_slack);
    return frame_send(a);
}

int attach_file(struct attach *a, const char *name, const void *data, size_t len) {
    if (a->closed) return -1;
    struct file_msg m = {.path = name, .path_len = strlen(name), .data = data, .data_len = len};
    return frame_put_file(&a->out, &m) < 0 ? -1 : frame_send(a);
}

int attach_put(struct attach *a, uint32_t rid, const char *path, const void *data, size_t len) {
    if (a->closed) return -1;
    struct file_msg m = {.rid = rid, .path = path, .path_len = strlen(path), .data = data, .data_len = len};
    return frame_put_put(&a->out, &m) < 0 ? -1 : frame_send(a);
}

size_t attach_put_max(size_t path_len) { return frame_put_room(path_len); }

int attach_get(struct attach *a, uint32_t rid, const char *path) {
    if (a->closed) return -1;
    struct file_msg m = {.rid = rid, .path = path, .path_len = strlen(path)};
    return frame_put_get(&a->out, &m) < 0 ? -1 : frame_send(a);
}

int attach_exec(struct attach *a, const struct launcher_exec *x) {
    if (a->closed || x->argc == 0) return -1;
    return frame_put_exec(&a->out, &x->opts, x->argv, x->argc, x->env, x->envc) < 0 ? -1 : frame_send(a);
}

/* I and C: a write of any size, as frames of at most INPUT_CHUNK bytes. */
static int send_chunked(struct attach *a, int (*put)(struct lbuf *, const void *, size_t), const void *data,
                        size_t len) {
    const char *p = data;
    do {
        size_t n = len < INPUT_CHUNK ? len : INPUT_CHUNK;
        if (a->closed || put(&a->out, p, n) < 0 || frame_send(a) < 0) return -1;
        p += n;
        len -= n;
    } while (len);
    return 0;
}

int attach_input(struct attach *a, const void *data, size_t len) {
    return send_chunked(a, frame_put_input, data, len);
}

int attach_channel(struct attach *a, const void *data, size_t len) {
    return send_chunked(a, frame_put_channel_in, data, len);
}

int attach_eof(struct attach *a) {
    if (a->closed) return -1;
    frame_put_eof(&a->out);
    return frame_send(a);
}

int attach_signal(struct attach *a, int signo) {
    if (a->closed || signo <= 0 || signo > 255) return -1;
    frame_put_signal(&a->out, (uint8_t)signo);
    return frame_send(a);
}

int attach_resize(struct attach *a, uint16_t cols, uint16_t rows) {
    if (a->closed) return -1;
    frame_put_resize(&a->out, cols, rows);
    return frame_send(a);
}
