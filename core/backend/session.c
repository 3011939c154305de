/* session.c — interactive sessions: the registry and the state machine.
 *
 * A session owns its sandbox, its output record, its long-poll waiters and
 * its WebSocket clients.  When the program ends its container goes back to
 * the pool (which resets it for the next session or run: a DELETE is answered
 * once that reset is done) or is removed at once; the session itself stays
 * readable for the policy's ended_retention_s and is then freed by the reaper
 * (session_reaper.c).  The sandbox's reports are in session_sandbox.c,
 * long-polls in session_poll.c, the WebSocket protocol in session_ws.c and
 * files in session_files.c. */
#include "session.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "http/reply.h"
#include "http/ws.h"
#include "notebook.h"
#include "policy/app.h"
#include "pool.h"
#include "session_int.h"
#include "uidpool.h"

struct session *sessions;

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

size_t session_count_for_language(const char *language, size_t *cold) {
    size_t n = 0;
    *cold = 0;
    for (struct session *s = sessions; s; s = s->next) {
        if (session_ended(s) || strcmp(s->prog.language, language) != 0) continue;
        n++;
        *cold += !s->warm;
    }
    return n;
}

void session_touch(struct session *s) { s->last_active_ms = now_ms(); }

static void rfc3339(json_t *obj, const char *key, double ms) {
    char ts[32];
    format_rfc3339_ms(ts, ms);
    json_object_set_new(obj, key, json_string(ts));
}

double session_expires_ms(const struct session *s) {
    if (session_ended(s)) return s->ended_ms + (double)app_config()->ended_retention_ms;
    double idle = s->last_active_ms + (double)s->prog.limits.idle_timeout_s * 1000.0;
    double life = s->created_ms + (double)s->prog.limits.lifetime_s * 1000.0;
    return idle < life ? idle : life;
}

json_t *session_signal_json(int signo) {
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
    json_object_set_new(o, "signal", session_signal_json(s->signo));
    rfc3339(o, "created_at", s->created_ms);
    rfc3339(o, "last_active_at", s->last_active_ms);
    rfc3339(o, "expires_at", session_expires_ms(s));
    json_object_set_new(o, "output_bytes", json_integer((json_int_t)outrec_end(&s->rec)));
    json_object_set_new(o, "tty", json_boolean(s->prog.tty));
    if (s->compile) json_object_set_new(o, "compile", json_incref(s->compile));
    return o;
}

/* ---- waking readers ---------------------------------------------------------------- */

void session_wake_readers(struct session *s) {
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
void session_answer_create(struct session *s) {
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

void session_end(struct session *s, enum session_state st) {
    if (session_ended(s)) return;
    s->state = st;
    s->ended_ms = now_ms();
    give_back_sandbox(s);
    outrec_flush(&s->rec);
    session_fail_files(s);
    if (!s->returning) answer_deletes(s);
    if (s->nb) notebook_ended(s->nb, notebook_end_reason(s, st));
    char labels[64];
    snprintf(labels, sizeof labels, "state=\"%s\"", state_names[st]);
    metrics_add(METRIC_COUNTER, "cloudcode_sessions_ended_total", labels, 1);
    session_answer_create(s);
    session_wake_readers(s);
    backend_load_changed();
}

void session_free(struct session *s) {
    if (s->prev) s->prev->next = s->next; else sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    while (s->waiters) waiter_answer(s->waiters);
    while (s->clients) {
        ws_close(s->clients->ws, 1001, "session gone");
        wsclient_remove(s->clients);
    }
    session_fail_files(s);
    pool_return_cancel(s->returning);
    answer_deletes(s);
    notebook_free(s->nb);
    if (s->sb) sandbox_destroy(s->sb);
    if (s->uid) uidpool_give(s->uid);
    program_free(&s->prog);
    outrec_free(&s->rec);
    json_decref(s->compile);
    free(s);
}
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
    struct session *s = request_calloc(req, sizeof *s);
    if (!s) return;
    if (backend_take_program(req, PROGRAM_SESSION, &s->prog, &s->uid) < 0) {
        free(s);
        return;
    }
    if (random_id(s->id, sizeof s->id, 16) < 0) {
        uidpool_give(s->uid);
        program_free(&s->prog);
        free(s);
        reply_error(req, 500, "internal", "cannot make a session id");
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
        if (sandbox_input_backlog(s->sb) + len > app_config()->stdin_backlog_bytes) {
            reply_error(req, 409, "conflict", "the program has not read its input: the stdin backlog is full (%zu bytes)",
                        app_config()->stdin_backlog_bytes);
            return;
        }
        sandbox_input(s->sb, data, len);
    }
    if (eof) {
        if (!s->prog.tty) s->eof_requested = 1;
        sandbox_eof(s->sb);
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
    /* An ended session's container may still be resetting for its pool: the answer waits for
     * that (pool.c bounds it), so a client that creates its next session right after the
     * DELETE finds the container ready instead of starting a cold one. */
    if (session_ended(s) && !s->returning) {
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
    if (s->killing || session_ended(s)) return;
    if (!s->sb || sandbox_signal(s->sb, SIGKILL) < 0) {
        session_end(s, SESSION_KILLED);
        return;
    }
    s->killing = 1;
    s->kill_deadline_ms = now_ms() + KILL_WAIT_MS;
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
