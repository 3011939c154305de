/* compat_piston_ws.c — Piston v2's WebSocket /api/v2/connect, on a /v1
 * interactive session: `init` creates it, `data` is its stdin, `signal` its
 * signals, and its output comes back by long-polls, as `data` messages, then
 * `exit` and close 4999.  Close codes as Piston's: 4000 already initialized,
 * 4001 initialization timeout, 4002 notified error, 4003 not yet
 * initialized, 4004 only stdin is writable, 4005 invalid signal.
 *
 * The connection outlives neither its socket nor its internal requests: it
 * is freed when the socket is gone and the last internal request answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/session.h"
#include "http/reply.h"
#include "http/ws.h"
#include "piston.h"
#include "policy/app.h"

#define INIT_TIMEOUT_MS 1000
#define POLL_WAIT_MS 25000

struct pconn {
    struct ws *ws;             /* NULL once the socket is gone */
    struct request *creds;     /* kept credentials for internal requests */
    struct job *job;
    uv_timer_t init_timer;
    int timer_open;
    int pending;               /* internal requests in flight */
    int initialized;
    int drain_wait;            /* the peer is behind: poll again once it has read */
    char session_id[64];
    uint64_t cursor;
    buf_t early_stdin;         /* stdin sent after init, before the session exists (bounded) */
};

/* A client may write stdin as soon as it sent init (Piston's CLI does): kept until the session
 * starts, at most this much. */
#define EARLY_STDIN_MAX (1u << 20)

static void pconn_maybe_free(struct pconn *pc) {
    if (pc->ws || pc->pending || pc->timer_open) return;
    if (pc->job) job_free(pc->job);
    buf_free(&pc->early_stdin);
    http_request_discard(pc->creds);
    free(pc);
}

static void on_timer_closed(uv_handle_t *h) {
    struct pconn *pc = h->data;
    pc->timer_open = 0;
    pconn_maybe_free(pc);
}

static void stop_timer(struct pconn *pc) {
    if (pc->timer_open && !uv_is_closing((uv_handle_t *)&pc->init_timer))
        uv_close((uv_handle_t *)&pc->init_timer, on_timer_closed);
}

static void send_json(struct pconn *pc, json_t *msg) {
    char *text = json_text(msg);
    json_decref(msg);
    if (text && pc->ws) ws_send_text(pc->ws, text, strlen(text));
    free(text);
}

/* Close with a Piston code; the session, if any, is stopped. */
static void finish(struct pconn *pc, uint16_t code, const char *reason);

static void sub(struct pconn *pc, const char *method, const char *target, const char *body, http_response_fn cb) {
    pc->pending++;
    dispatch_sub(pc->creds, method, target, body, body ? strlen(body) : 0, cb, pc, NULL);
}

static void on_ignored(int status, const char *body, size_t len, void *ud) {
    (void)status, (void)body, (void)len;
    struct pconn *pc = ud;
    pc->pending--;
    pconn_maybe_free(pc);
}

static void send_stdin(struct pconn *pc, const char *data, size_t len) {
    json_t *in = json_pack("{s:s%}", "data", data, len);
    char *text = in ? json_text(in) : NULL;
    char target[160];
    snprintf(target, sizeof target, "/v1/sessions/%s/input", pc->session_id);
    if (text) sub(pc, "POST", target, text, on_ignored);
    free(text);
    json_decref(in);
}

static void finish(struct pconn *pc, uint16_t code, const char *reason) {
    stop_timer(pc);
    if (pc->session_id[0]) {
        char target[128];
        snprintf(target, sizeof target, "/v1/sessions/%s", pc->session_id);
        pc->session_id[0] = '\0';
        sub(pc, "DELETE", target, NULL, on_ignored);
    }
    if (pc->ws) {
        ws_close(pc->ws, code, reason);
        pc->ws = NULL;
    }
    pconn_maybe_free(pc);
}

static void notify_error(struct pconn *pc, const char *msg) {
    send_json(pc, json_pack("{s:s,s:s}", "type", "error", "message", msg));
    finish(pc, 4002, "Notified Error");
}

/* ---- output ------------------------------------------------------------------------------ */

static void poll_output(struct pconn *pc);

static void on_output(int status, const char *body, size_t len, void *ud) {
    struct pconn *pc = ud;
    pc->pending--;
    if (!pc->ws) {
        pconn_maybe_free(pc);
        return;
    }
    json_t *j = status == 200 ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    if (!j) {
        notify_error(pc, "the session's output could not be read");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "events"), i, e)
        send_json(pc, json_pack("{s:s,s:O,s:O}", "type", "data", "stream", json_object_get(e, "stream"), "data",
                                json_object_get(e, "data")));
    pc->cursor = (uint64_t)json_integer_value(json_object_get(j, "cursor"));
    const char *state = json_string_value(json_object_get(j, "state"));
    if (state && strcmp(state, "running") != 0 && strcmp(state, "starting") != 0) {
        send_json(pc, json_pack("{s:s,s:s,s:O,s:O}", "type", "exit", "stage", "run", "code",
                                json_object_get(j, "exit_code"), "signal", json_object_get(j, "signal")));
        pc->session_id[0] = '\0'; /* ended by itself: nothing to stop */
        json_decref(j);
        finish(pc, 4999, "Job Completed");
        return;
    }
    json_decref(j);
    if (ws_backed_up(pc->ws)) pc->drain_wait = 1; /* a peer that does not read stops the polling */
    else poll_output(pc);
}

static void poll_output(struct pconn *pc) {
    char target[160];
    snprintf(target, sizeof target, "/v1/sessions/%s/output?cursor=%llu&wait_ms=%d", pc->session_id,
             (unsigned long long)pc->cursor, POLL_WAIT_MS);
    sub(pc, "GET", target, NULL, on_output);
}

/* ---- init ---------------------------------------------------------------------------------- */

static void on_created(int status, const char *body, size_t len, void *ud) {
    struct pconn *pc = ud;
    pc->pending--;
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (status == 201 && id) snprintf(pc->session_id, sizeof pc->session_id, "%s", id);
    if (!pc->ws) {
        json_decref(j);
        finish(pc, 1000, ""); /* stops the session created meanwhile */
        return;
    }
    if (status != 201 || !id) {
        const char *msg = v1_error_message(j);
        char text[300];
        snprintf(text, sizeof text, "%s", msg ? msg : "the session could not start");
        json_decref(j);
        notify_error(pc, text);
        return;
    }
    const json_t *compile = json_object_get(j, "compile");
    if (pc->job->compiled) {
        send_json(pc, json_pack("{s:s,s:s}", "type", "stage", "stage", "compile"));
        const json_t *code = json_object_get(compile, "exit_code");
        if (json_is_integer(code) && json_integer_value(code) != 0) {
            const char *text = json_string_value(json_object_get(compile, "stderr"));
            if (text && *text) send_json(pc, json_pack("{s:s,s:s,s:s}", "type", "data", "stream", "stderr", "data", text));
            send_json(pc, json_pack("{s:s,s:s,s:O,s:n}", "type", "exit", "stage", "compile", "code", code, "signal"));
            pc->session_id[0] = '\0';
            json_decref(j);
            finish(pc, 4999, "Job Completed");
            return;
        }
        send_json(pc, json_pack("{s:s,s:s,s:i,s:n}", "type", "exit", "stage", "compile", "code", 0, "signal"));
    }
    json_decref(j);
    send_json(pc, json_pack("{s:s,s:s}", "type", "stage", "stage", "run"));
    if (pc->early_stdin.len) send_stdin(pc, pc->early_stdin.data, pc->early_stdin.len);
    buf_free(&pc->early_stdin);
    /* The compiler's text sits at the start of the record as stderr: skip it. */
    pc->cursor = 0;
    poll_output(pc);
}

static void on_job_ready(struct job *jb, json_t *program, const char *err) {
    struct pconn *pc = jb->owner;
    pc->pending--;
    if (!pc->ws) {
        pconn_maybe_free(pc);
        return;
    }
    if (!program) {
        notify_error(pc, err);
        return;
    }
    send_json(pc, json_pack("{s:s,s:s,s:s}", "type", "runtime", "language", jb->language, "version", jb->version));
    char *text = json_text(program);
    sub(pc, "POST", "/v1/sessions", text, on_created);
    free(text);
}

static void handle_init(struct pconn *pc, json_t *msg) {
    if (pc->initialized) {
        finish(pc, 4000, "Already Initialized");
        return;
    }
    pc->initialized = 1;
    stop_timer(pc);
    const char *why = job_invalid(msg);
    if (why) {
        notify_error(pc, why);
        return;
    }
    struct job *jb = calloc(1, sizeof *jb);
    if (!jb) {
        notify_error(pc, "out of memory");
        return;
    }
    jb->creds = pc->creds;
    jb->piston = json_incref(msg);
    jb->ready = on_job_ready;
    jb->owner = pc;
    pc->job = jb;
    pc->pending++; /* the job's internal request */
    job_resolve(jb);
}

/* ---- messages from the client ----------------------------------------------------------- */

static void on_text(struct ws *ws, void *ud, const char *data, size_t len) {
    (void)ws;
    struct pconn *pc = ud;
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    char target[160];
    if (!type) {
        notify_error(pc, "a message is a JSON object with a type");
    } else if (strcmp(type, "init") == 0) {
        handle_init(pc, msg);
    } else if (!pc->initialized) {
        finish(pc, 4003, "Not yet Initialized");
    } else if (strcmp(type, "data") == 0) {
        const char *stream = json_string_value(json_object_get(msg, "stream"));
        const json_t *d = json_object_get(msg, "data");
        if (!stream || strcmp(stream, "stdin") != 0 || !json_is_string(d)) {
            finish(pc, 4004, "Can only write to stdin");
        } else if (pc->session_id[0]) {
            send_stdin(pc, json_string_value(d), json_string_length(d));
        } else if (pc->early_stdin.len + json_string_length(d) > EARLY_STDIN_MAX) {
            notify_error(pc, "stdin written before the program started is limited to 1 MiB");
        } else {
            buf_append(&pc->early_stdin, json_string_value(d), json_string_length(d));
        }
    } else if (!pc->session_id[0]) {
        finish(pc, 4003, "Not yet Initialized");
    } else if (strcmp(type, "signal") == 0) {
        const char *name = json_string_value(json_object_get(msg, "signal"));
        if (!name || !session_signal_number(name)) {
            finish(pc, 4005, "Invalid signal");
        } else {
            json_t *sg = json_pack("{s:s}", "signal", strncmp(name, "SIG", 3) == 0 ? name + 3 : name);
            char *text = json_text(sg);
            snprintf(target, sizeof target, "/v1/sessions/%s/signal", pc->session_id);
            sub(pc, "POST", target, text, on_ignored);
            free(text);
            json_decref(sg);
        }
    } else {
        notify_error(pc, "unknown message type");
    }
    json_decref(msg);
}

static void on_close(struct ws *ws, void *ud) {
    (void)ws;
    struct pconn *pc = ud;
    pc->ws = NULL;
    finish(pc, 1000, "");
}

static void on_drain(struct ws *ws, void *ud) {
    (void)ws;
    struct pconn *pc = ud;
    if (!pc->drain_wait) return;
    pc->drain_wait = 0;
    poll_output(pc);
}

static const struct ws_callbacks piston_ws_cbs = {on_text, on_close, on_drain};

static void on_init_timeout(uv_timer_t *t) {
    struct pconn *pc = t->data;
    if (!pc->initialized) finish(pc, 4001, "Initialization Timeout");
}

void piston_handle_connect(struct request *req) {
    piston_identity(req);
    if (!ws_is_upgrade(req)) {
        reply_json(req, 400, json_pack("{s:s}", "message", "this route needs a WebSocket upgrade"));
        return;
    }
    if (piston_admit(req) < 0 || piston_relay_anonymous(req, 1) == 0) return;
    struct pconn *pc = calloc(1, sizeof *pc);
    if (!pc) {
        reply_json(req, 500, json_pack("{s:s}", "message", "out of memory"));
        return;
    }
    pc->creds = http_subrequest(req, "GET", req->path, NULL, 0, NULL, NULL);
    if (!pc->creds) {
        free(pc);
        reply_json(req, 500, json_pack("{s:s}", "message", "out of memory"));
        return;
    }
    memcpy(pc->creds->key_hash, req->key_hash, sizeof pc->creds->key_hash);
    pc->ws = ws_accept(req, &piston_ws_cbs, pc);
    if (!pc->ws) {
        http_request_discard(pc->creds);
        free(pc);
        return;
    }
    uv_timer_init(app_loop(), &pc->init_timer);
    pc->init_timer.data = pc;
    pc->timer_open = 1;
    uv_timer_start(&pc->init_timer, on_init_timeout, INIT_TIMEOUT_MS, 0);
    ws_start(pc->ws);
}
