/* session.c — interactive sessions.
 *
 * A session owns its sandbox, its output record, its long-poll waiters and
 * its WebSocket clients.  When the program ends its container goes back to
 * the pool (which resets it for the next session or run: a DELETE is answered
 * once that reset is done) or is removed at once; the session itself stays
 * readable for the policy's ended_retention_s and is then freed by the reaper.  One reaper
 * timer serves every session: idle, lifetime and retention deadlines, and
 * long-poll deadlines, at REAPER_MS granularity. */
#include "session.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/utf8.h"
#include "base/util.h"
#include "http/reply.h"
#include "http/ws.h"
#include "notebook.h"
#include "policy/app.h"
#include "pool.h"
#include "uidpool.h"

#define REAPER_MS 50
/* How long a DELETE waits for the launcher to report the killed program's end
 * (it drains for 100 ms and reaps for at most 2 s) before it removes the
 * container without that report. */
#define KILL_WAIT_MS 3000
/* Bytes of output a single long-poll or WebSocket message carries at most. */
#define READ_CHUNK (256 * 1024)

struct waiter {
    struct request *req;
    struct session *s;
    uint64_t cursor;
    double deadline_ms;
    struct waiter *next;
};

struct wsclient {
    struct ws *ws;
    struct session *s;
    uint64_t cursor;
    struct wsclient *next;
};

enum file_op { FILE_GET, FILE_PUT, FILE_LIST };

struct pending_file {
    uint32_t rid;
    enum file_op op;
    struct request *req;
    struct pending_file *next;
};

/* A DELETE answered once the program is stopped. */
struct pending_delete {
    struct request *req;
    struct pending_delete *next;
};

struct session {
    char id[32];
    char key_hash[65];
    struct program prog;
    struct sandbox *sb;
    unsigned uid;
    int warm;                 /* the sandbox came from the pool (its session label is empty) */
    int reusable;             /* the launcher reported the end, and no OOM kill: the pool may reset it */
    struct pool_entry *returning;   /* the pool resets the container: DELETEs wait for it */
    enum session_state state;
    int compiling;
    int has_exit;
    int exit_code;
    int signo;
    json_t *compile;
    double created_ms, last_active_ms, ended_ms;
    struct outrec rec;
    buf_t stdin_queue;        /* input that arrived while starting */
    int eof_requested;
    struct request *create_req;
    struct waiter *waiters;
    struct wsclient *clients;
    struct pending_file *files;
    struct pending_delete *deletes;
    int killing;              /* SIGKILL sent for a DELETE: its exit frame ends the session */
    struct notebook *nb;      /* cells (execute), for a notebook language once its program runs */
    double kill_deadline_ms;
    struct session *prev, *next;
};

static struct session *sessions;
static uv_timer_t reaper;
static int reaper_running;

static const char *const state_names[] = {"starting", "running", "exited", "timeout",
                                          "memory_limit", "output_limit", "killed", "lost"};

const char *session_state_name(enum session_state st) { return state_names[st]; }
int session_ended(const struct session *s) { return s->state >= SESSION_EXITED; }

size_t session_count_live(void) {
    size_t n = 0;
    for (struct session *s = sessions; s; s = s->next) n += !session_ended(s);
    return n;
}

size_t session_count_for_key(const char *key_hash) {
    size_t n = 0;
    for (struct session *s = sessions; s; s = s->next) n += !session_ended(s) && strcmp(s->key_hash, key_hash) == 0;
    return n;
}

size_t session_count_for_language(const char *language) {
    size_t n = 0;
    for (struct session *s = sessions; s; s = s->next)
        n += !session_ended(s) && strcmp(s->prog.language, language) == 0;
    return n;
}

static double now_ms(void) { return wall_clock_ms(); }

void session_touch(struct session *s) { s->last_active_ms = now_ms(); }

static void rfc3339(json_t *obj, const char *key, double ms) {
    char ts[32];
    format_rfc3339_ms(ts, ms);
    json_object_set_new(obj, key, json_string(ts));
}

static double expires_ms(const struct session *s) {
    if (session_ended(s)) return s->ended_ms + (double)app_config()->ended_retention_ms;
    double idle = s->last_active_ms + (double)s->prog.limits.idle_timeout_s * 1000.0;
    double life = s->created_ms + (double)s->prog.limits.lifetime_s * 1000.0;
    return idle < life ? idle : life;
}

static json_t *signal_json(int signo) {
    if (!signo) return json_null();
    const char *abbrev = sigabbrev_np(signo);
    char name[32];
    snprintf(name, sizeof name, "SIG%s", abbrev ? abbrev : "UNKNOWN");
    return json_string(name);
}

json_t *session_json(const struct session *s) {
    json_t *o = json_pack("{s:s,s:s,s:s}", "id", s->id, "language", s->prog.language, "state",
                          state_names[s->state]);
    json_object_set_new(o, "exit_code", s->has_exit && !s->signo ? json_integer(s->exit_code) : json_null());
    json_object_set_new(o, "signal", signal_json(s->signo));
    rfc3339(o, "created_at", s->created_ms);
    rfc3339(o, "last_active_at", s->last_active_ms);
    rfc3339(o, "expires_at", expires_ms(s));
    json_object_set_new(o, "output_bytes", json_integer((json_int_t)outrec_end(&s->rec)));
    json_object_set_new(o, "tty", json_boolean(s->prog.tty));
    if (s->compile) json_object_set_new(o, "compile", json_incref(s->compile));
    return o;
}

/* ---- waking readers ---------------------------------------------------------------- */

static json_t *output_body(struct session *s, uint64_t cursor) {
    uint64_t next, dropped;
    json_t *events = outrec_read(&s->rec, cursor, READ_CHUNK, app_config()->output_events_max, &next, &dropped);
    json_t *body = json_pack("{s:o,s:I,s:I,s:s}", "events", events, "cursor", (json_int_t)next, "dropped",
                             (json_int_t)dropped, "state", state_names[s->state]);
    json_object_set_new(body, "exit_code", s->has_exit && !s->signo ? json_integer(s->exit_code) : json_null());
    json_object_set_new(body, "signal", signal_json(s->signo));
    return body;
}

static void waiter_answer(struct waiter *w) {
    struct session *s = w->s;
    struct waiter **pp = &s->waiters;
    while (*pp && *pp != w) pp = &(*pp)->next;
    if (*pp) *pp = w->next;
    struct request *req = w->req;
    json_t *body = output_body(s, w->cursor);
    free(w);
    reply_json(req, 200, body);
}

static void ws_send_json(struct ws *ws, json_t *msg) {
    char *text = json_text(msg);
    json_decref(msg);
    if (text) ws_send_text(ws, text, strlen(text));
    free(text);
}

/* Output goes to a WebSocket in messages of at most this many raw bytes, and
 * only while the peer keeps up (ws_backed_up): a slow or absent reader falls
 * behind on the record instead of growing our memory. */
#define WS_PIECE (64 * 1024)

struct ws_emit {
    struct wsclient *c;
    int stopped;      /* the peer is behind: the rest waits for on_drain */
};

static void ws_emit_one(void *ud, int stream, const char *data, size_t len, uint64_t end) {
    struct ws_emit *e = ud;
    uint64_t start = end - len;
    while (len && !e->stopped) {
        if (ws_backed_up(e->c->ws)) {
            e->stopped = 1;
            return;
        }
        size_t n = len;
        if (n > WS_PIECE) n = WS_PIECE - utf8_incomplete_tail(data, WS_PIECE); /* never split a character */
        buf_t fixed = BUF_INIT;
        utf8_append_repaired(&fixed, data, n);
        start += n;
        ws_send_json(e->c->ws, json_pack("{s:s,s:s%,s:I}", "type", stream == OUT_STDERR ? "stderr" : "stdout",
                                         "data", fixed.data ? fixed.data : "", fixed.len, "cursor",
                                         (json_int_t)start));
        buf_free(&fixed);
        e->c->cursor = start;
        data += n;
        len -= n;
    }
}

static void wsclient_remove(struct wsclient *c) {
    struct wsclient **pp = &c->s->clients;
    while (*pp && *pp != c) pp = &(*pp)->next;
    if (*pp) *pp = c->next;
    free(c);
}

/* Send a WebSocket client what it has not seen; after the end, the exit. */
static void wsclient_flush(struct wsclient *c) {
    struct session *s = c->s;
    struct ws_emit e = {c, 0};
    outrec_each(&s->rec, c->cursor, ws_emit_one, &e);
    if (session_ended(s) && !e.stopped) {
        json_t *msg = json_pack("{s:s,s:s}", "type", "exit", "state", state_names[s->state]);
        json_object_set_new(msg, "exit_code", s->has_exit && !s->signo ? json_integer(s->exit_code) : json_null());
        json_object_set_new(msg, "signal", signal_json(s->signo));
        ws_send_json(c->ws, msg);
        ws_close(c->ws, 1000, "session ended");
        wsclient_remove(c);
    }
}

static void wake_readers(struct session *s) {
    /* Answer the waiters of now only: an answer may start a new long-poll at
     * once (an internal request), which must wait for the next output. */
    struct waiter *batch = s->waiters;
    s->waiters = NULL;
    while (batch) {
        struct waiter *w = batch;
        batch = w->next;
        w->next = NULL;
        waiter_answer(w); /* no longer listed: it only answers and frees */
    }
    struct wsclient *c = s->clients;
    while (c) {
        struct wsclient *next = c->next;
        wsclient_flush(c);
        c = next;
    }
}

/* The create call is answered once the program runs, or has already ended. */
static void answer_create(struct session *s) {
    if (!s->create_req) return;
    struct request *req = s->create_req;
    s->create_req = NULL;
    json_t *body = json_pack("{s:s,s:s,s:s}", "id", s->id, "language", s->prog.language, "state",
                             state_names[s->state]);
    rfc3339(body, "created_at", s->created_ms);
    if (s->compile) json_object_set_new(body, "compile", json_incref(s->compile));
    reply_json(req, 201, body);
}

/* ---- the end of a session ---------------------------------------------------------- */

static void fail_pending_files(struct session *s) {
    while (s->files) {
        struct pending_file *f = s->files;
        s->files = f->next;
        reply_error(f->req, 409, "conflict", "the session has ended");
        free(f);
    }
}

static void answer_deletes(struct session *s) {
    while (s->deletes) {
        struct pending_delete *d = s->deletes;
        s->deletes = d->next;
        reply_no_content(d->req);
        free(d);
    }
}

/* What a cell that was running when the session ended is told. */
static const char *notebook_end_reason(const struct session *s, enum session_state st) {
    static char why[96];
    if (st == SESSION_EXITED && s->signo) snprintf(why, sizeof why, "the interpreter was killed by signal %d", s->signo);
    else if (st == SESSION_EXITED) snprintf(why, sizeof why, "the interpreter exited with code %d", s->exit_code);
    else snprintf(why, sizeof why, "the session ended (%s)", state_names[st]);
    return why;
}

/* The pool has reset the session's container (or discarded it). */
static void returned(void *ud) {
    struct session *s = ud;
    s->returning = NULL;
    answer_deletes(s);
}

/* A pool container whose program's end the launcher reported goes back to the
 * pool; any other is removed (a cold one carries this session's label). */
static void give_back_sandbox(struct session *s) {
    struct sandbox *sb = s->sb;
    unsigned uid = s->uid;
    s->sb = NULL;
    s->uid = 0;
    if (sb && s->warm && s->reusable) {
        s->returning = pool_return(sb, uid, &s->prog, returned, s);
        return;
    }
    if (sb) sandbox_destroy(sb);
    if (uid) uidpool_give(uid);
}

static void session_end(struct session *s, enum session_state st) {
    if (session_ended(s)) return;
    s->state = st;
    s->ended_ms = now_ms();
    give_back_sandbox(s);
    outrec_flush(&s->rec);
    buf_free(&s->stdin_queue);
    fail_pending_files(s);
    if (!s->returning) answer_deletes(s);
    if (s->nb) notebook_ended(s->nb, notebook_end_reason(s, st));
    char labels[64];
    snprintf(labels, sizeof labels, "state=\"%s\"", state_names[st]);
    metrics_add(METRIC_COUNTER, "cloudcode_sessions_ended_total", labels, 1);
    answer_create(s);
    wake_readers(s);
    backend_load_changed();
}

static void session_free(struct session *s) {
    if (s->prev) s->prev->next = s->next; else sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    while (s->waiters) waiter_answer(s->waiters);
    while (s->clients) {
        ws_close(s->clients->ws, 1001, "session gone");
        wsclient_remove(s->clients);
    }
    fail_pending_files(s);
    pool_return_cancel(s->returning);
    answer_deletes(s);
    notebook_free(s->nb);
    if (s->sb) sandbox_destroy(s->sb);
    if (s->uid) uidpool_give(s->uid);
    program_free(&s->prog);
    outrec_free(&s->rec);
    buf_free(&s->stdin_queue);
    json_decref(s->compile);
    free(s);
}

/* ---- the sandbox's reports ---------------------------------------------------------- */

static void on_channel(struct sandbox *sb, void *ud, const char *data, size_t len) {
    (void)sb;
    struct session *s = ud;
    if (s->nb) notebook_channel(s->nb, data, len);
}

/* A frame to the launcher could not be sent (a bug: the program was bounded
 * when read).  A create still waiting is answered 500 and the session
 * forgotten; a running session ends `lost`.  Never left hanging. */
static void start_failed(struct session *s, const char *what) {
    log_msgf(LOG_ERROR, "session_start", "session %s: %s could not be sent to the sandbox", s->id, what);
    if (s->create_req) {
        struct request *req = s->create_req;
        s->create_req = NULL;
        reply_error(req, 500, "internal", "the program's %s could not be sent to its sandbox", what);
        session_end(s, SESSION_LOST);
        session_free(s);
        return;
    }
    session_end(s, SESSION_LOST);
}

static void start_program(struct session *s) {
    s->compiling = 0;
    json_t *argv = program_argv(&s->prog, json_object_get(s->prog.image, "run"));
    json_array_extend(argv, s->prog.args);
    json_t *env = backend_program_env(&s->prog);
    /* A notebook language's program is the driver: it gets the channel for execute. */
    if (json_is_true(json_object_get(s->prog.image, "notebook")) && !s->nb) s->nb = notebook_new();
    if (s->nb) sandbox_set_channel_callback(s->sb, on_channel);
    struct sandbox_exec ex = {
        .argv = argv, .env = env, .tty = s->prog.tty, .cols = (uint16_t)s->prog.cols,
        .rows = (uint16_t)s->prog.rows, .timeout_ms = (uint32_t)s->prog.limits.timeout_ms,
        .output_limit = (uint64_t)s->prog.limits.output_bytes, .notebook = s->nb != NULL,
    };
    int rc = sandbox_exec(s->sb, &ex);
    json_decref(argv);
    json_decref(env);
    if (rc < 0) {
        start_failed(s, "command");
        return;
    }
    if ((s->prog.stdin_data && sandbox_input(s->sb, s->prog.stdin_data, s->prog.stdin_len) < 0) ||
        (s->stdin_queue.len && sandbox_input(s->sb, s->stdin_queue.data, s->stdin_queue.len) < 0) ||
        (s->eof_requested && sandbox_eof(s->sb) < 0)) {
        start_failed(s, "input");
        return;
    }
    buf_free(&s->stdin_queue);
    s->state = SESSION_RUNNING;
    answer_create(s);
}

static void on_ready(struct sandbox *sb, void *ud) {
    struct session *s = ud;
    size_t i;
    json_t *f;
    json_array_foreach(s->prog.files, i, f) {
        const json_t *content = json_object_get(f, "content");
        if (sandbox_send_file(sb, json_string_value(json_object_get(f, "name")), json_string_value(content),
                              json_string_length(content)) < 0) {
            start_failed(s, "files");
            return;
        }
    }
    /* The files are in the container now: drop our copy. */
    json_array_clear(s->prog.files);
    const json_t *compile = json_object_get(s->prog.image, "compile");
    if (!json_is_array(compile)) {
        start_program(s);
        return;
    }
    s->compiling = 1;
    json_t *env = backend_program_env(&s->prog), *argv = program_argv(&s->prog, compile);
    const struct program_limits *l = &s->prog.limits;
    struct sandbox_exec ex = {
        .argv = argv, .env = env, .stdin_closed = 1,
        .timeout_ms = (uint32_t)(l->compile_timeout_ms ? l->compile_timeout_ms : l->timeout_ms ? l->timeout_ms : 60000),
        .output_limit = (uint64_t)l->output_bytes,
    };
    int rc = sandbox_exec(sb, &ex);
    json_decref(argv);
    json_decref(env);
    if (rc < 0) start_failed(s, "compile command");
}

static void on_data(struct sandbox *sb, void *ud, int stream, const char *data, size_t len) {
    (void)sb;
    struct session *s = ud;
    /* The compiler's output goes into the record as stderr (api.md). */
    if (outrec_append(&s->rec, s->compiling ? OUT_STDERR : stream, data, len)) wake_readers(s);
}

static void on_exit_frame(struct sandbox *sb, void *ud, const struct launcher_exit *ex) {
    (void)sb;
    struct session *s = ud;
    /* Every process of the program is gone now: unless one hit the memory
     * limit, the container can serve another program after the pool's reset. */
    s->reusable = ex->oom_kills == 0 && ex->seq != 0;
    if (s->killing) {
        /* A DELETE's SIGKILL. */
        session_end(s, SESSION_KILLED);
        return;
    }
    if (s->compiling) {
        if (ex->reason == EXIT_REASON_NORMAL && ex->signo == 0 && ex->exit_code == 0) {
            s->compile = json_pack("{s:i,s:s,s:s}", "exit_code", 0, "stdout", "", "stderr", "");
            s->reusable = 0;   /* the program runs now */
            start_program(s);
            return;
        }
        s->compile = json_pack("{s:o,s:s,s:s}", "exit_code", ex->signo ? json_null() : json_integer(ex->exit_code),
                               "stdout", "", "stderr", "");
        /* The compiler's text is in the record: copy it into the report too. */
        uint64_t next, dropped;
        json_t *events = outrec_read(&s->rec, 0, READ_CHUNK, SIZE_MAX, &next, &dropped);
        buf_t text = BUF_INIT;
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e) buf_append_str(&text, json_string_value(json_object_get(e, "data")));
        json_object_set_new(s->compile, "stderr", json_stringn(text.data ? text.data : "", text.len));
        buf_free(&text);
        json_decref(events);
    }
    s->has_exit = 1;
    s->exit_code = ex->exit_code;
    s->signo = ex->signo;
    enum session_state st = ex->reason == EXIT_REASON_TIMEOUT        ? SESSION_TIMEOUT
                          : ex->reason == EXIT_REASON_OUTPUT_LIMIT ? SESSION_OUTPUT_LIMIT
                          : ex->oom_kills > 0 ? SESSION_MEMORY_LIMIT
                                              : SESSION_EXITED;
    session_end(s, st);
}

static void on_lost(struct sandbox *sb, void *ud, enum sandbox_lost_reason why, const char *text) {
    (void)sb;
    struct session *s = ud;
    s->sb = NULL; /* a lost sandbox frees itself */
    log_msgf(LOG_WARN, "session_lost", "session %s: %s", s->id, text);
    if (s->create_req && why != SANDBOX_LOST_OOM) {
        /* Never started: the create fails, and the session is forgotten. */
        struct request *req = s->create_req;
        s->create_req = NULL;
        backend_reply_lost(req, &s->prog, text, why == SANDBOX_LOST_NO_IMAGE);
        session_end(s, SESSION_LOST);
        session_free(s);
        return;
    }
    session_end(s, s->killing ? SESSION_KILLED : why == SANDBOX_LOST_OOM ? SESSION_MEMORY_LIMIT : SESSION_LOST);
}

static void on_reply(struct sandbox *sb, void *ud, uint32_t rid, int status, const char *data, size_t len) {
    (void)sb;
    struct session *s = ud;
    struct pending_file **pp = &s->files;
    while (*pp && (*pp)->rid != rid) pp = &(*pp)->next;
    struct pending_file *f = *pp;
    if (!f) return;
    *pp = f->next;
    struct request *req = f->req;
    enum file_op op = f->op;
    free(f);
    switch (status) {
    case REPLY_OK: break;
    case REPLY_NOT_FOUND: reply_error(req, 404, "not_found", "no such file in the session's working directory"); return;
    case REPLY_BAD_PATH: reply_error(req, 400, "bad_request", "the path leaves the working directory or crosses a symlink"); return;
    case REPLY_IS_DIR: reply_error(req, 400, "bad_request", "the path names a folder"); return;
    case REPLY_NOT_REGULAR: reply_error(req, 400, "bad_request", "the path names no regular file (a FIFO, a socket ...)"); return;
    case REPLY_TOO_LARGE:
        if (op == FILE_GET) reply_error(req, 413, "payload_too_large", "the file is larger than a GET returns (4 MiB)");
        else reply_error(req, 413, "payload_too_large", "no space for the file: %.*s", (int)(len > 200 ? 200 : len), data);
        return;
    case REPLY_DENIED:
        reply_error(req, 409, "conflict", "the program's modes forbid it, or the file is busy: %.*s", (int)(len > 200 ? 200 : len), data);
        return;
    default: reply_error(req, 500, "internal", "the sandbox could not do it: %.*s", (int)(len > 200 ? 200 : len), data); return;
    }
    if (op == FILE_GET) {
        http_respond(req, 200, "application/octet-stream", data, len, NULL);
    } else if (op == FILE_PUT) {
        reply_no_content(req);
    } else {
        /* Records of u64 size, u16 path length, path. */
        json_t *list = json_array();
        const unsigned char *p = (const unsigned char *)data, *end = p + len;
        while (end - p >= 10) {
            uint64_t size = 0;
            for (int i = 0; i < 8; i++) size = size << 8 | p[i];
            size_t plen = (size_t)p[8] << 8 | p[9];
            p += 10;
            if ((size_t)(end - p) < plen) break;
            json_array_append_new(list, json_pack("{s:s%,s:I}", "path", (const char *)p, plen, "size", (json_int_t)size));
            p += plen;
        }
        reply_json(req, 200, json_pack("{s:o}", "files", list));
    }
}

static const struct sandbox_callbacks session_callbacks = {on_ready, on_data, on_exit_frame, on_reply, on_lost};

/* ---- creating ------------------------------------------------------------------------ */

static void on_create_abort(struct request *req, void *ud) {
    (void)req;
    struct session *s = ud;
    /* The client that asked is gone: nobody knows the id, so end it now. */
    struct request *r = s->create_req;
    s->create_req = NULL;
    reply_error(r, 500, "internal", "the client went away");
    session_end(s, SESSION_KILLED);
}

void session_create(struct request *req) {
    if (!backend_engine_ok()) {
        reply_error(req, 503, "unavailable", "the Docker engine is unreachable");
        return;
    }
    struct session *s = calloc(1, sizeof *s);
    if (!s) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    json_t *counts = backend_counts(req->key_hash);
    int rc = program_from_request(req, PROGRAM_SESSION, counts, &s->prog);
    json_decref(counts);
    if (rc < 0) {
        free(s);
        return;
    }
    s->uid = uidpool_take(app_config()->uid_min, app_config()->uid_max);
    if (!s->uid || random_id(s->id, sizeof s->id, 16) < 0) {
        if (s->uid) uidpool_give(s->uid);
        program_free(&s->prog);
        free(s);
        reply_error_with(req, 429, "too_many_sessions", json_pack("{s:s}", "scope", "server"), "no sandbox uid is free");
        return;
    }
    snprintf(s->key_hash, sizeof s->key_hash, "%s", req->key_hash);
    s->created_ms = s->last_active_ms = now_ms();
    outrec_init(&s->rec, app_config()->output_keep_bytes);
    s->state = SESSION_STARTING;
    s->create_req = req;
    s->next = sessions;
    if (sessions) sessions->prev = s;
    sessions = s;
    metrics_add(METRIC_COUNTER, "cloudcode_sessions_created_total", "", 1);
    backend_load_changed();
    http_set_abort(req, on_create_abort, s);
    /* A warm container runs on_ready (and answers the create) before this returns. */
    int started = backend_sandbox_start(&s->prog, &s->uid, s->id, &session_callbacks, s, &s->sb);
    s->warm = started == 1;
    if (started < 0) {
        s->create_req = NULL;
        reply_error(req, 500, "internal", "cannot start a sandbox");
        session_end(s, SESSION_LOST);
        session_free(s);
    }
}

/* ---- lookups and listing -------------------------------------------------------------- */

static int visible_to(const struct session *s, const struct request *req) {
    return req->is_admin || strcmp(s->key_hash, req->key_hash) == 0;
}

static struct session *find(const char *id) {
    for (struct session *s = sessions; s; s = s->next)
        if (strcmp(s->id, id) == 0) return s;
    return NULL;
}

struct session *session_lookup(struct request *req) {
    struct session *s = req->nparams ? find(req->params[0]) : NULL;
    if (!s || !visible_to(s, req) || s->create_req) {
        reply_error(req, 404, "not_found", "no such session");
        return NULL;
    }
    session_touch(s);
    return s;
}

struct session *session_find_live(const char *id) {
    struct session *s = find(id);
    return s && !s->create_req && !session_ended(s) ? s : NULL;
}

const char *session_id(const struct session *s) { return s->id; }
const char *session_owner(const struct session *s) { return s->key_hash; }
const char *session_container(const struct session *s) { return s->sb ? sandbox_container_id(s->sb) : ""; }
unsigned session_uid(const struct session *s) { return s->uid; }
const struct program *session_program(const struct session *s) { return &s->prog; }

static long long limit_max(const char *name, long long fallback) {
    const json_t *max = json_object_get(json_object_get(app_config()->limits, name), "max");
    return json_is_number(max) ? (long long)json_number_value(max) : fallback;
}

void session_set_deadline(struct session *s, long long seconds) {
    double now = now_ms();
    long long lifetime = (long long)((now - s->created_ms) / 1000.0) + seconds;
    long long life_max = limit_max("lifetime_s", lifetime), idle_max = limit_max("idle_timeout_s", seconds);
    s->prog.limits.lifetime_s = lifetime < life_max ? lifetime : life_max;
    s->prog.limits.idle_timeout_s = seconds < idle_max ? seconds : idle_max;
    s->last_active_ms = now;
}

void session_list(struct request *req) {
    char mine[8];
    int only_mine = http_query_param(req, "mine", mine, sizeof mine) > 0 && strcmp(mine, "0") != 0;
    json_t *list = json_array();
    for (struct session *s = sessions; s; s = s->next) {
        if (s->create_req) continue;
        if (only_mine || !req->is_admin ? strcmp(s->key_hash, req->key_hash) == 0 : 1)
            json_array_append_new(list, session_json(s));
    }
    reply_json(req, 200, json_pack("{s:o}", "sessions", list));
}

/* ---- input, signals, resize -------------------------------------------------------- */

void session_input(struct request *req, struct session *s, const char *data, size_t len, int eof) {
    if (session_ended(s)) {
        reply_error(req, 409, "conflict", "the session has ended (%s)", state_names[s->state]);
        return;
    }
    if (s->eof_requested && !s->prog.tty && (len || eof)) {
        reply_error(req, 409, "conflict", "input after eof");
        return;
    }
    if (len) {
        size_t backlog = s->sb ? sandbox_input_backlog(s->sb) : s->stdin_queue.len;
        if (backlog + len > app_config()->stdin_backlog_bytes) {
            reply_error(req, 409, "conflict", "the program has not read its input: the stdin backlog is full (%zu bytes)",
                        app_config()->stdin_backlog_bytes);
            return;
        }
        if (s->state == SESSION_STARTING) buf_append(&s->stdin_queue, data, len);
        else sandbox_input(s->sb, data, len);
    }
    if (eof) {
        if (!s->prog.tty) s->eof_requested = 1;
        if (s->state == SESSION_RUNNING) sandbox_eof(s->sb);
        else s->eof_requested = 1;
    }
    reply_no_content(req);
}

void session_signal(struct request *req, struct session *s, int signo) {
    if (session_ended(s)) {
        reply_error(req, 409, "conflict", "the session has ended (%s)", state_names[s->state]);
        return;
    }
    if (s->state == SESSION_RUNNING) sandbox_signal(s->sb, signo);
    reply_no_content(req);
}

void session_resize(struct request *req, struct session *s, int cols, int rows) {
    if (session_ended(s)) {
        reply_error(req, 409, "conflict", "the session has ended (%s)", state_names[s->state]);
        return;
    }
    if (!s->prog.tty) {
        reply_error(req, 409, "conflict", "resize needs a tty session");
        return;
    }
    if (s->state == SESSION_RUNNING) sandbox_resize(s->sb, (uint16_t)cols, (uint16_t)rows);
    reply_no_content(req);
}

/* ---- notebook cells ------------------------------------------------------------------------ */

void session_execute(struct request *req, struct session *s, const char *code, size_t len, uint32_t timeout_ms) {
    if (!s->nb) {
        reply_error(req, 409, "conflict", "execute needs a notebook session (ipython)");
        return;
    }
    if (session_ended(s) || !s->sb) {
        reply_error(req, 409, "conflict", "the session has ended (%s)", state_names[s->state]);
        return;
    }
    notebook_execute(s->nb, s->sb, req, code, len, timeout_ms, (uint64_t)s->prog.limits.output_bytes);
}

/* ---- output ---------------------------------------------------------------------------- */

static void on_waiter_abort(struct request *req, void *ud) {
    struct session *s = ud;
    for (struct waiter *w = s->waiters; w; w = w->next) {
        if (w->req == req) {
            waiter_answer(w);
            return;
        }
    }
}

void session_output(struct request *req, struct session *s, uint64_t cursor, long wait_ms) {
    if (cursor > outrec_end(&s->rec)) {
        reply_error(req, 400, "bad_request", "cursor %llu is beyond the end of the output (%llu)",
                    (unsigned long long)cursor, (unsigned long long)outrec_end(&s->rec));
        return;
    }
    if (wait_ms > app_config()->max_wait_ms) wait_ms = app_config()->max_wait_ms;
    if (wait_ms <= 0 || cursor < outrec_end(&s->rec) || session_ended(s) || app_shutting_down()) {
        reply_json(req, 200, output_body(s, cursor));
        return;
    }
    struct waiter *w = calloc(1, sizeof *w);
    if (!w) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    w->req = req;
    w->s = s;
    w->cursor = cursor;
    w->deadline_ms = now_ms() + (double)wait_ms;
    w->next = s->waiters;
    s->waiters = w;
    http_set_abort(req, on_waiter_abort, s);
}

/* ---- WebSocket --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int signo;
} signals[] = {{"INT", SIGINT}, {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"HUP", SIGHUP},
               {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};

int session_signal_number(const char *name) {
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (strcmp(signals[i].name, name) == 0) return signals[i].signo;
    return 0;
}

static void ws_error(struct ws *ws, const char *code, const char *msg) {
    ws_send_json(ws, json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "code", code, "message", msg));
}

static void on_ws_text(struct ws *ws, void *ud, const char *data, size_t len) {
    struct wsclient *c = ud;
    struct session *s = c->s;
    session_touch(s);
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type) {
        ws_error(ws, "bad_request", "a message is a JSON object with a \"type\"");
    } else if (session_ended(s)) {
        ws_error(ws, "conflict", "the session has ended");
    } else if (strcmp(type, "input") == 0) {
        const json_t *d = json_object_get(msg, "data");
        if (!json_is_string(d)) ws_error(ws, "bad_request", "input needs a string \"data\"");
        else if (s->eof_requested && !s->prog.tty) ws_error(ws, "conflict", "input after eof");
        else if ((s->sb ? sandbox_input_backlog(s->sb) : s->stdin_queue.len) + json_string_length(d) > app_config()->stdin_backlog_bytes)
            ws_error(ws, "conflict", "the stdin backlog is full");
        else if (s->state == SESSION_STARTING) buf_append(&s->stdin_queue, json_string_value(d), json_string_length(d));
        else sandbox_input(s->sb, json_string_value(d), json_string_length(d));
    } else if (strcmp(type, "eof") == 0) {
        if (!s->prog.tty) s->eof_requested = 1;
        if (s->state == SESSION_RUNNING) sandbox_eof(s->sb);
    } else if (strcmp(type, "signal") == 0) {
        const char *name = json_string_value(json_object_get(msg, "signal"));
        int signo = name ? session_signal_number(name) : 0;
        if (!signo) ws_error(ws, "bad_request", "signal must be one of INT TERM KILL HUP QUIT USR1 USR2");
        else if (s->state == SESSION_RUNNING) sandbox_signal(s->sb, signo);
    } else if (strcmp(type, "resize") == 0) {
        const json_t *cols = json_object_get(msg, "cols"), *rows = json_object_get(msg, "rows");
        if (!s->prog.tty) ws_error(ws, "conflict", "resize needs a tty session");
        else if (!json_is_integer(cols) || !json_is_integer(rows) || json_integer_value(cols) < 1 ||
                 json_integer_value(rows) < 1 || json_integer_value(cols) > 1000 || json_integer_value(rows) > 1000)
            ws_error(ws, "bad_request", "resize needs integer cols and rows from 1 to 1000");
        else if (s->state == SESSION_RUNNING)
            sandbox_resize(s->sb, (uint16_t)json_integer_value(cols), (uint16_t)json_integer_value(rows));
    } else {
        ws_error(ws, "bad_request", "unknown message type");
    }
    json_decref(msg);
}

static void on_ws_close(struct ws *ws, void *ud) {
    (void)ws;
    wsclient_remove(ud);
}

static void on_ws_drain(struct ws *ws, void *ud) {
    (void)ws;
    wsclient_flush(ud);
}

static const struct ws_callbacks ws_cbs = {on_ws_text, on_ws_close, on_ws_drain};

void session_websocket(struct request *req, struct session *s, uint64_t cursor) {
    if (cursor > outrec_end(&s->rec)) {
        reply_error(req, 400, "bad_request", "cursor is beyond the end of the output");
        return;
    }
    int open = 0;
    for (struct wsclient *o = s->clients; o; o = o->next) open++;
    if (open >= app_config()->max_ws_per_session) {
        reply_error(req, 429, "rate_limited", "the session has %d WebSockets open, the most the policy allows "
                    "(max_ws_per_session)", open);
        return;
    }
    struct wsclient *c = calloc(1, sizeof *c);
    if (!c) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    c->s = s;
    c->cursor = cursor;
    c->ws = ws_accept(req, &ws_cbs, c);
    if (!c->ws) {
        free(c);
        return;
    }
    c->next = s->clients;
    s->clients = c;
    ws_start(c->ws);
    wsclient_flush(c);
}

/* ---- files ---------------------------------------------------------------------------- */

static void file_op(struct request *req, struct session *s, enum file_op op, const char *path) {
    if (session_ended(s)) {
        reply_error(req, 409, "conflict", "the session has ended (%s)", state_names[s->state]);
        return;
    }
    if (path && !program_valid_path(path)) {
        reply_error(req, 400, "bad_request", "bad path: use /-separated components of [A-Za-z0-9._-], not . or ..");
        return;
    }
    /* A file travels in one P frame (docs/protocol.md): larger ones are refused at once. */
    if (op == FILE_PUT && req->body.len > attach_put_max(strlen(path))) {
        reply_error(req, 413, "payload_too_large", "a file PUT carries at most %zu bytes", attach_put_max(strlen(path)));
        return;
    }
    struct pending_file *f = calloc(1, sizeof *f);
    if (!f) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    f->op = op;
    f->req = req;
    f->rid = op == FILE_GET ? sandbox_get(s->sb, path)
           : op == FILE_PUT ? sandbox_put(s->sb, path, req->body.data, req->body.len)
                            : sandbox_list(s->sb);
    f->next = s->files;
    s->files = f;
}

void session_file_get(struct request *req, struct session *s, const char *path) { file_op(req, s, FILE_GET, path); }
void session_file_put(struct request *req, struct session *s, const char *path) { file_op(req, s, FILE_PUT, path); }
void session_file_list(struct request *req, struct session *s) { file_op(req, s, FILE_LIST, NULL); }

/* ---- delete ---------------------------------------------------------------------------- */

void session_delete(struct request *req) {
    struct session *s = req->nparams ? find(req->params[0]) : NULL;
    if (!s || !visible_to(s, req) || s->create_req) {
        /* Deleting twice is fine (204 while the ended session is retained); an id that never
         * existed, or a stranger's, is 404 either way, so a stranger learns nothing. */
        if (!s || !visible_to(s, req)) reply_error(req, 404, "not_found", "no such session");
        else reply_no_content(req);
        return;
    }
    if (session_ended(s)) {
        reply_no_content(req);
        return;
    }
    struct pending_delete *d = calloc(1, sizeof *d);
    if (!d) {
        session_end(s, SESSION_KILLED);
        reply_no_content(req);
        return;
    }
    /* api.md: the program is stopped when the call returns.  Kill its process
     * group through the launcher, which then kills whatever else runs in the
     * sandbox and reports the end; answer with that report (or after
     * KILL_WAIT_MS, removing the container anyway). */
    d->req = req;
    d->next = s->deletes;
    s->deletes = d;
    if (s->killing) return;
    if (!s->sb || sandbox_signal(s->sb, SIGKILL) < 0) {
        session_end(s, SESSION_KILLED);
        return;
    }
    s->killing = 1;
    s->kill_deadline_ms = now_ms() + KILL_WAIT_MS;
}

/* ---- the reaper --------------------------------------------------------------------------- */

static void on_reap(uv_timer_t *t) {
    (void)t;
    double now = now_ms();
    struct session *s = sessions;
    while (s) {
        struct session *next = s->next;
        if (s->clients) s->last_active_ms = now; /* an open WebSocket is activity */
        if (s->nb && !session_ended(s)) {
            notebook_tick(s->nb, s->sb, now);
            if (notebook_busy(s->nb)) s->last_active_ms = now; /* so is a running cell */
        }
        struct waiter *w = s->waiters;
        while (w) {
            struct waiter *wn = w->next;
            if (w->deadline_ms <= now) waiter_answer(w);
            w = wn;
        }
        if (s->killing && !session_ended(s) && now >= s->kill_deadline_ms) {
            log_msgf(LOG_WARN, "session_kill", "session %s: no end reported %d ms after SIGKILL", s->id, KILL_WAIT_MS);
            session_end(s, SESSION_KILLED);
        }
        if (!s->create_req && now >= expires_ms(s)) {
            if (session_ended(s)) session_free(s);
            else session_end(s, SESSION_KILLED);
        }
        s = next;
    }
}

void session_reaper_start(void) {
    uv_timer_init(app_loop(), &reaper);
    uv_timer_start(&reaper, on_reap, REAPER_MS, REAPER_MS);
    reaper_running = 1;
    metrics_declare(METRIC_COUNTER, "cloudcode_sessions_created_total", "");
    for (int st = SESSION_EXITED; st <= SESSION_LOST; st++) {
        char labels[64];
        snprintf(labels, sizeof labels, "state=\"%s\"", state_names[st]);
        metrics_declare(METRIC_COUNTER, "cloudcode_sessions_ended_total", labels);
    }
}

void session_reaper_stop(void) {
    if (!reaper_running) return;
    reaper_running = 0;
    uv_close((uv_handle_t *)&reaper, NULL);
}

void session_kill_all(void) {
    for (struct session *s = sessions; s; s = s->next) {
        if (s->create_req) {
            struct request *req = s->create_req;
            s->create_req = NULL;
            reply_error(req, 503, "unavailable", "the server is shutting down");
        }
        while (s->clients) {
            ws_close(s->clients->ws, 1001, "server shutting down");
            wsclient_remove(s->clients);
        }
        session_end(s, SESSION_KILLED);
    }
}

void session_free_all(void) {
    while (sessions) session_free(sessions);
}
