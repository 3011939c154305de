/* attach.c — the launcher protocol over a hijacked attach stream. */

/* The launcher's own codec (launcher/frame.c and the byte queue it is built on) is
 * compiled into this file, so both ends of the wire share one frame reader and one
 * set of constants. Its byte queue uses the same function names as core/buf.h, so
 * every one of its functions gets an `lc_` prefix here; this file therefore must not
 * include core/buf.h. Its allocation helpers come from launcher/util.c, which we
 * do not link (it holds the launcher's die()): they are defined below. */
#define buf_init lc_buf_init
#define buf_free lc_buf_free
#define buf_consume lc_buf_consume
#define buf_clear lc_buf_clear
#define buf_truncate lc_buf_truncate
#define buf_trim lc_buf_trim
#define buf_append lc_buf_append
#define buf_put_u8 lc_buf_put_u8
#define buf_put_u16 lc_buf_put_u16
#define buf_put_u32 lc_buf_put_u32
#define buf_put_u64 lc_buf_put_u64
#define buf_printf lc_buf_printf
#define frame_reader_init lc_frame_reader_init
#define frame_reader_free lc_frame_reader_free
#define frame_reader_feed lc_frame_reader_feed
#define frame_reader_ready lc_frame_reader_ready
#define frame_reader_next lc_frame_reader_next
#define frame_parse_hello lc_frame_parse_hello
#define frame_parse_u64 lc_frame_parse_u64
#define frame_parse_rid lc_frame_parse_rid
#define frame_parse_signal lc_frame_parse_signal
#define frame_parse_resize lc_frame_parse_resize
#define frame_parse_file lc_frame_parse_file
#define frame_parse_put lc_frame_parse_put
#define frame_parse_get lc_frame_parse_get
#define frame_parse_exec lc_frame_parse_exec
#define exec_msg_free lc_exec_msg_free
#define frame_put_ready lc_frame_put_ready
#define frame_put_data lc_frame_put_data
#define frame_put_exit lc_frame_put_exit
#define frame_put_reply lc_frame_put_reply
#define frame_put_channel lc_frame_put_channel
#define xmalloc lc_xmalloc
#define xrealloc lc_xrealloc
#define xstrdup lc_xstrdup
#define now_ms lc_now_ms
#define die lc_die
#define set_nonblocking lc_set_nonblocking

#include <stddef.h>
/* Declared static before launcher/util.h declares them, so they stay in this file. */
static void *lc_xmalloc(size_t n);
static void *lc_xrealloc(void *p, size_t n);
static char *lc_xstrdup(const char *s);

#include "../launcher/buf.c"
#include "../launcher/frame.c"

#include "attach.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "httpc.h"
#include "log.h"

#define DEFAULT_TIMEOUT_MS 10000u
#define INPUT_CHUNK (64u << 10)
#define STDERR_KEEP 1024
#define REFUSAL_KEEP 512
/* A Y answering a hello with a nonce: 00 00 00 11 'Y' next_seq(8) nonce(8). */
#define SYNC_LEN 21

/* The launcher's codec cannot report allocation failure: neither can we, usefully. */
static void *lc_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}
static void *lc_xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) abort();
    return p;
}
static char *lc_xstrdup(const char *s) {
    char *p = strdup(s);
    if (!p) abort();
    return p;
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

    /* Docker's stream multiplexing: an 8-byte header before each chunk. */
    unsigned char mux_hdr[8];
    size_t mux_hdr_len;
    size_t mux_left;       /* payload bytes of the current chunk still to come */
    int mux_stream;

    /* Until the Y matching our nonce, stdout is scanned, not framed. */
    int synced, hello_sent;
    unsigned char nonce[8];
    unsigned char window[SYNC_LEN];
    size_t window_len;

    struct frame_reader reader;
    struct buf out;        /* the frame being encoded */
    struct buf held;       /* frames written while no stream was attached */
    char err[STDERR_KEEP]; /* the launcher's stderr, or the engine's refusal */
    size_t err_len;
};

/* ---- streams -------------------------------------------------------------------------- */

static void maybe_free(struct attach *a) {
    if (!a->closed || a->https_open) return;
    frame_reader_free(&a->reader);
    buf_free(&a->out);
    buf_free(&a->held);
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

static void stream_end(struct attach *a, int fatal, const char *why) {
    if (a->closed || !a->http) return;
    drop_stream(a);
    if (a->cb.on_stream_end) a->cb.on_stream_end(a, a->ud, fatal, why);
}

void attach_close(struct attach *a) {
    if (!a || a->closed) return;
    a->closed = 1;
    drop_stream(a);
    maybe_free(a);
}

size_t attach_queued(const struct attach *a) {
    return (a->http ? httpc_queued(a->http) : 0) + buf_used(&a->held);
}
const char *attach_stderr(const struct attach *a) { return a->err; }

/* ---- frames from the launcher ----------------------------------------------------------- */

/* Bytes of the current stream may still be delivered: a callback can close the
 * attach or end the stream, and what followed in the same read is then dropped. */
static int live(const struct attach *a) { return !a->closed && a->attached; }

static uint64_t get_u64(const unsigned char *p) { return be64(p); }

/* One frame; returns -1 if it is malformed. */
static int deliver(struct attach *a, const struct frame *f) {
    const unsigned char *p = f->payload;
    switch (f->type) {
    case FRAME_DATA:
        if (f->len < 9 || (p[8] != STREAM_STDOUT && p[8] != STREAM_STDERR)) return -1;
        a->cb.on_data(a, a->ud, get_u64(p), p[8], (const char *)p + 9, f->len - 9);
        return 0;
    case FRAME_EXIT: {
        if (f->len != 34) return -1;
        struct launcher_exit ex = {
            .seq = get_u64(p),
            .exit_code = (int32_t)be32(p + 8),
            .signo = p[12],
            .reason = p[13],
            .wall_ms = be32(p + 14),
            .cpu_ms = be32(p + 18),
            .maxrss_kb = get_u64(p + 22),
            .oom_kills = be32(p + 30),
        };
        a->cb.on_exit(a, a->ud, &ex);
        return 0;
    }
    case FRAME_REPLY:
        if (f->len < 5) return -1;
        a->cb.on_reply(a, a->ud, be32(p), p[4], (const char *)p + 5, f->len - 5);
        return 0;
    case FRAME_CHANNEL_OUT:
        if (f->len < 8) return -1;
        if (a->cb.on_channel) a->cb.on_channel(a, a->ud, get_u64(p), (const char *)p + 8, f->len - 8);
        return 0;
    case FRAME_READY:
        return 0;   /* a Y to an older hello: already in sync */
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
            stream_end(a, 1, why);
            return;
        }
    }
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
        static const unsigned char head[5] = {0, 0, 0, 17, FRAME_READY};
        if (a->window_len == SYNC_LEN && !memcmp(a->window, head, 5) &&
            !memcmp(a->window + 13, a->nonce, 8)) {
            a->synced = 1;
            a->cb.on_ready(a, a->ud, get_u64(a->window + 5));
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

/* Strip Docker's stream headers: [stream, 0, 0, 0, len(4, big-endian)] payload. */
static void demux(struct attach *a, const unsigned char *p, size_t n) {
    while (n && live(a)) {
        if (a->mux_left == 0) {
            size_t take = 8 - a->mux_hdr_len;
            if (take > n) take = n;
            memcpy(a->mux_hdr + a->mux_hdr_len, p, take);
            a->mux_hdr_len += take;
            p += take;
            n -= take;
            if (a->mux_hdr_len < 8) return;
            a->mux_hdr_len = 0;
            a->mux_stream = a->mux_hdr[0];
            a->mux_left = be32(a->mux_hdr + 4);
            continue;
        }
        size_t take = n < a->mux_left ? n : a->mux_left;
        if (a->mux_stream == 1) from_stdout(a, p, take);
        else if (a->mux_stream == 2) from_stderr(a, p, take);
        a->mux_left -= take;
        p += take;
        n -= take;
    }
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
    if (buf_used(&a->held)) {
        httpc_write(c, buf_head(&a->held), buf_used(&a->held));
        buf_clear(&a->held);
        buf_trim(&a->held);
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
    demux(a, (const unsigned char *)data, len);
    if (c == a->http && !a->closed && a->cb.on_batch_end) a->cb.on_batch_end(a, a->ud);
}

static void http_complete(struct httpc *c, void *ud) {
    struct attach *a = ud;
    if (c != a->http || a->closed) return;
    if (a->attached) {
        stream_end(a, 0, "the engine closed the attach stream");
        return;
    }
    char why[REFUSAL_KEEP + 64];
    json_t *body = json_loads(a->err, 0, NULL);
    const char *msg = json_string_value(json_object_get(body, "message"));
    snprintf(why, sizeof why, "attach refused (HTTP %d): %.400s", a->status, msg ? msg : a->err);
    json_decref(body);
    a->err_len = 0;
    a->err[0] = '\0';
    stream_end(a, 1, why);
}

static void http_error(struct httpc *c, void *ud, int err, const char *why) {
    struct attach *a = ud;
    if (c != a->http || a->closed) return;
    char text[300];
    if (err == UV_EOF) snprintf(text, sizeof text, "the engine closed the attach stream");
    else snprintf(text, sizeof text, "attach stream: %s", why);
    stream_end(a, 0, text);
}

static const struct httpc_callbacks http_cbs = {
    http_response, http_data, http_complete, http_error, NULL, http_closed,
};

/* Open a new stream; the previous one, if any, is dropped. */
static void connect_stream(struct attach *a) {
    drop_stream(a);
    a->status = 0;
    a->mux_hdr_len = a->mux_left = 0;
    a->synced = a->hello_sent = 0;
    a->window_len = 0;
    frame_reader_free(&a->reader);
    frame_reader_init(&a->reader);
    a->http = httpc_connect(a->loop, &a->engine, a->timeout_ms, &http_cbs, a);
    if (!a->http) abort();   /* a small allocation; see lc_xmalloc */
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
    buf_init(&a->out);
    buf_init(&a->held);
    connect_stream(a);
    return a;
}

/* ---- frames to the launcher ------------------------------------------------------------- */

static void frame_begin(struct attach *a, uint8_t type, size_t payload_len) {
    buf_clear(&a->out);
    buf_put_u32(&a->out, (uint32_t)(payload_len + 1));
    buf_put_u8(&a->out, type);
}

static int frame_send(struct attach *a) {
    int rc = 0;
    if (a->http && a->attached) rc = httpc_write(a->http, buf_head(&a->out), buf_used(&a->out));
    else buf_append(&a->held, buf_head(&a->out), buf_used(&a->out));
    buf_clear(&a->out);
    buf_trim(&a->out);
    return rc;
}

static int usable(const struct attach *a, size_t payload_len) {
    return !a->closed && payload_len + 1 <= FRAME_MAX_LEN;
}

int attach_hello(struct attach *a, uint64_t last_seq) {
    if (!usable(a, 16)) return -1;
    if (getrandom(a->nonce, sizeof a->nonce, GRND_NONBLOCK) != (ssize_t)sizeof a->nonce) {
        /* Only needs to differ from earlier hellos on this container's stdout. */
        static uint64_t counter;
        uint64_t v = (uint64_t)time(NULL) * 1000003u ^ ++counter ^ (uintptr_t)a;
        for (int i = 0; i < 8; i++) a->nonce[i] = (unsigned char)(v >> (8 * i));
    }
    a->synced = 0;
    a->hello_sent = 1;
    a->window_len = 0;
    frame_begin(a, FRAME_HELLO, 16);
    buf_put_u64(&a->out, last_seq);
    buf_append(&a->out, a->nonce, 8);
    return frame_send(a);
}

static int send_u64(struct attach *a, uint8_t type, uint64_t v) {
    if (!usable(a, 8)) return -1;
    frame_begin(a, type, 8);
    buf_put_u64(&a->out, v);
    return frame_send(a);
}

static int send_u32(struct attach *a, uint8_t type, uint32_t v) {
    if (!usable(a, 4)) return -1;
    frame_begin(a, type, 4);
    buf_put_u32(&a->out, v);
    return frame_send(a);
}

int attach_ack(struct attach *a, uint64_t seq) { return send_u64(a, FRAME_ACK, seq); }
int attach_list(struct attach *a, uint32_t rid) { return send_u32(a, FRAME_LIST, rid); }
int attach_reset(struct attach *a, uint32_t rid) { return send_u32(a, FRAME_RESET, rid); }

int attach_file(struct attach *a, const char *name, const void *data, size_t len) {
    size_t nlen = strlen(name);
    if (nlen > UINT16_MAX || !usable(a, 2 + nlen + len)) return -1;
    frame_begin(a, FRAME_FILE, 2 + nlen + len);
    buf_put_u16(&a->out, (uint16_t)nlen);
    buf_append(&a->out, name, nlen);
    buf_append(&a->out, data, len);
    return frame_send(a);
}

int attach_put(struct attach *a, uint32_t rid, const char *path, const void *data, size_t len) {
    size_t plen = strlen(path);
    if (plen > UINT16_MAX || !usable(a, 4 + 2 + plen + len)) return -1;
    frame_begin(a, FRAME_PUT, 4 + 2 + plen + len);
    buf_put_u32(&a->out, rid);
    buf_put_u16(&a->out, (uint16_t)plen);
    buf_append(&a->out, path, plen);
    buf_append(&a->out, data, len);
    return frame_send(a);
}

int attach_get(struct attach *a, uint32_t rid, const char *path) {
    size_t plen = strlen(path);
    if (!usable(a, 4 + plen)) return -1;
    frame_begin(a, FRAME_GET, 4 + plen);
    buf_put_u32(&a->out, rid);
    buf_append(&a->out, path, plen);
    return frame_send(a);
}

int attach_exec(struct attach *a, const struct launcher_exec *x) {
    size_t len = 1 + 2 + 2 + 4 + 8 + 2 + 2;
    if (x->argc == 0 || x->argc > UINT16_MAX || x->envc > UINT16_MAX) return -1;
    for (size_t i = 0; i < x->argc; i++) len += strlen(x->argv[i]) + 1;
    for (size_t i = 0; i < x->envc; i++) len += strlen(x->env[i]) + 1;
    if (!usable(a, len)) return -1;
    frame_begin(a, FRAME_EXEC, len);
    buf_put_u8(&a->out, (uint8_t)((x->tty ? 1 : 0) | (x->stdin_closed ? 2 : 0) | (x->notebook ? 4 : 0)));
    buf_put_u16(&a->out, x->cols);
    buf_put_u16(&a->out, x->rows);
    buf_put_u32(&a->out, x->timeout_ms);
    buf_put_u64(&a->out, x->output_limit);
    buf_put_u16(&a->out, (uint16_t)x->argc);
    for (size_t i = 0; i < x->argc; i++) buf_append(&a->out, x->argv[i], strlen(x->argv[i]) + 1);
    buf_put_u16(&a->out, (uint16_t)x->envc);
    for (size_t i = 0; i < x->envc; i++) buf_append(&a->out, x->env[i], strlen(x->env[i]) + 1);
    return frame_send(a);
}

static int send_chunked(struct attach *a, uint8_t type, const void *data, size_t len) {
    const char *p = data;
    do {
        size_t n = len < INPUT_CHUNK ? len : INPUT_CHUNK;
        if (!usable(a, n)) return -1;
        frame_begin(a, type, n);
        buf_append(&a->out, p, n);
        if (frame_send(a) < 0) return -1;
        p += n;
        len -= n;
    } while (len);
    return 0;
}

int attach_input(struct attach *a, const void *data, size_t len) { return send_chunked(a, FRAME_INPUT, data, len); }
int attach_channel(struct attach *a, const void *data, size_t len) {
    return send_chunked(a, FRAME_CHANNEL_IN, data, len);
}

int attach_eof(struct attach *a) {
    if (!usable(a, 0)) return -1;
    frame_begin(a, FRAME_EOF, 0);
    return frame_send(a);
}

int attach_signal(struct attach *a, int signo) {
    if (!usable(a, 1) || signo <= 0 || signo > 255) return -1;
    frame_begin(a, FRAME_SIGNAL, 1);
    buf_put_u8(&a->out, (uint8_t)signo);
    return frame_send(a);
}

int attach_resize(struct attach *a, uint16_t cols, uint16_t rows) {
    if (!usable(a, 4)) return -1;
    frame_begin(a, FRAME_RESIZE, 4);
    buf_put_u16(&a->out, cols);
    buf_put_u16(&a->out, rows);
    return frame_send(a);
}
