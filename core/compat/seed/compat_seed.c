/* compat_seed.c — the original CloudCode API, mapped onto /v1 sessions.
 *
 * A user_id names one session per key.  Successes are the seed's bodies;
 * errors are text/plain with a real status (the seed answered 500 to
 * everything).  The user_id → session table, read cursors and uploads live
 * in this process, indexed (jansson's objects are hash tables) and bounded in
 * time: an entry goes the policy's seed_ttl_s after its last use, an upload
 * that long after it was made (docs/security.md, "Memory growth"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "compat/compat.h"
#include "http/multipart.h"
#include "http/reply.h"
#include "http/router.h"
#include "policy/app.h"
#include "seed.h"

/* Expired entries are dropped by the next seed request at least this much later. */
#define SWEEP_MS 10000

/* "<key hash>/<user_id>" → {"session": id or "", "cursor": output already
 * returned by /api/session/output, "used": ms, "upload": bytes (kept as an
 * unchecked string), "upload_expires": ms}.  Beside it, key hash → bytes of its
 * uploads, for the per-key cap. */
static json_t *users, *upload_bytes;
static double next_sweep_ms;

void seed_text_reply(struct request *req, int status, const char *text) {
    http_respond(req, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

/* ---- the user table ------------------------------------------------------------------- */

static void upload_drop(json_t *u, const char *key_hash) {
    json_t *up = json_object_get(u, "upload");
    if (!up) return;
    json_int_t left = json_integer_value(json_object_get(upload_bytes, key_hash)) - (json_int_t)json_string_length(up);
    if (left > 0) json_object_set_new(upload_bytes, key_hash, json_integer(left));
    else json_object_del(upload_bytes, key_hash);
    json_object_del(u, "upload");
    json_object_del(u, "upload_expires");
}

/* Drop expired uploads and unused entries; at most every SWEEP_MS (or TTL). */
static void sweep(double now) {
    long ttl = app_config()->seed_ttl_ms;
    if (now < next_sweep_ms) return;
    next_sweep_ms = now + (ttl < SWEEP_MS ? ttl : SWEEP_MS);
    const char *name;
    json_t *u;
    void *iter;
    json_object_foreach_safe(users, iter, name, u) {
        if (json_real_value(json_object_get(u, "upload_expires")) <= now) {
            char key_hash[65];
            snprintf(key_hash, sizeof key_hash, "%.*s", (int)strcspn(name, "/"), name);
            upload_drop(u, key_hash);
        }
        if (!json_object_get(u, "upload") && json_real_value(json_object_get(u, "used")) + ttl <= now)
            json_object_del(users, name);
    }
    metrics_set("cloudcode_seed_users", "", (double)json_object_size(users));
}

/* The caller's entry for user_id (created on demand), or NULL. */
json_t *seed_find_user(const char *key_hash, const char *user_id, int create) {
    char name[64 + 1 + SEED_USER_ID_MAX + 1];
    double now = wall_clock_ms();
    if (!users) users = json_object();
    if (!upload_bytes) upload_bytes = json_object();
    sweep(now);
    if (snprintf(name, sizeof name, "%s/%s", key_hash, user_id) >= (int)sizeof name) return NULL;
    json_t *u = json_object_get(users, name);
    if (!u && create) {
        u = json_pack("{s:s,s:I}", "session", "", "cursor", (json_int_t)0);
        if (json_object_set_new(users, name, u) < 0) return NULL;
        metrics_set("cloudcode_seed_users", "", (double)json_object_size(users));
    }
    if (u) json_object_set_new(u, "used", json_real(now));
    return u;
}

const char *seed_user_session(const json_t *u) {
    const char *id = json_string_value(json_object_get(u, "session"));
    return id ? id : "";
}

/* The user's live upload: its bytes and length, or NULL. */
const char *seed_user_upload(const json_t *u, size_t *len) {
    const json_t *up = json_object_get(u, "upload");
    if (!up || json_real_value(json_object_get(u, "upload_expires")) <= wall_clock_ms()) return NULL;
    *len = json_string_length(up);
    return json_string_value(up);
}

/* An internal request; with `inflight`, *inflight holds it until answered (cb clears it). */
void seed_dispatch(struct request *req, const char *method, const char *target, const char *body,
                   http_response_fn cb, void *ud, struct request **inflight) {
    struct request *sub = http_subrequest(req, method, target, body, body ? strlen(body) : 0, cb, ud);
    if (!sub) {
        seed_text_reply(req, 500, "out of memory");
        return;
    }
    if (inflight) *inflight = sub;   /* before dispatching: the answer may come at once */
    router_dispatch(sub);
}

const char seed_bad_user_id[] = "user_id must be a string of 1 to 128 bytes";

/* The body's user_id (a non-empty string of at most SEED_USER_ID_MAX bytes, no NUL). */
json_t *seed_body_with_user(struct request *req, const char **user_id) {
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    const json_t *id = json_object_get(body, "user_id");
    *user_id = json_string_value(id);
    if (!json_is_object(body) || !*user_id || !**user_id || json_string_length(id) > SEED_USER_ID_MAX ||
        strlen(*user_id) != json_string_length(id)) {
        json_decref(body);
        seed_text_reply(req, 400, seed_bad_user_id);
        return NULL;
    }
    return body;
}

/* ?userId= into out[SEED_USER_ID_MAX + 1]: 1, 0 when absent, -1 once answered 400 (too long). */
static int query_user(struct request *req, char *out) {
    int got = http_query_param(req, "userId", out, SEED_USER_ID_MAX + 1);
    if (got < 0) seed_text_reply(req, 400, seed_bad_user_id);
    return got > 0 && *out ? 1 : got < 0 ? -1 : 0;
}

/* ---- GET / ------------------------------------------------------------------------- */

void seed_handle_root(struct request *req) { seed_text_reply(req, 200, "v1.0"); }

/* ---- output, input, delete ------------------------------------------------------------- */

static json_t *session_user(struct request *req, const char *user_id) {
    json_t *u = user_id ? seed_find_user(req->key_hash, user_id, 0) : NULL;
    if (!u || !*seed_user_session(u)) {
        seed_text_reply(req, 404, "no session for this user_id");
        return NULL;
    }
    return u;
}

struct pending {
    struct request *req;
    char key_hash[65];
    char user_id[SEED_USER_ID_MAX + 1];
};

static struct pending *pending_new(struct request *req, const char *user_id) {
    struct pending *p = calloc(1, sizeof *p);
    p->req = req;
    snprintf(p->key_hash, sizeof p->key_hash, "%s", req->key_hash);
    snprintf(p->user_id, sizeof p->user_id, "%s", user_id);
    return p;
}

/* GET /api/session/output waits as the seed's did: its clients read once after each command, so
 * the answer must hold what that command printed.  It answers once the program has been quiet
 * for seed_output_quiet_ms (since the request, or since its last output), or the session ended,
 * or seed_output_max_ms have passed (a program that has printed nothing at all yet is awaited
 * that long); each step is a /v1 long-poll from the cursor. */
struct output_wait {
    struct request *req;
    char key_hash[65];
    char user_id[SEED_USER_ID_MAX + 1];
    char session_id[64];
    uint64_t cursor;
    uint64_t deadline;     /* loop time (ms) of the last possible answer */
    buf_t text;
};

static void output_poll(struct output_wait *w, long wait_ms);

static void output_answer(struct output_wait *w) {
    json_t *u = seed_find_user(w->key_hash, w->user_id, 0);
    if (u && strcmp(seed_user_session(u), w->session_id) == 0)
        json_object_set_new(u, "cursor", json_integer((json_int_t)w->cursor));
    http_respond(w->req, 200, "text/plain; charset=utf-8", w->text.data ? w->text.data : "", w->text.len, NULL);
    buf_free(&w->text);
    free(w);
}

static void on_output(int status, const char *body, size_t len, void *ud) {
    struct output_wait *w = ud;
    json_t *j = reply_relayed_json(w->req, 200, status, body, len);
    if (!j) {
        buf_free(&w->text);
        free(w);
        return;
    }
    size_t i, before = w->text.len;
    json_t *e;
    json_array_foreach(json_object_get(j, "events"), i, e) buf_append_str(&w->text, json_string_value(json_object_get(e, "data")));
    uint64_t cursor = (uint64_t)json_integer_value(json_object_get(j, "cursor"));
    const char *state = json_string_value(json_object_get(j, "state"));
    int ended = state && strcmp(state, "starting") != 0 && strcmp(state, "running") != 0;
    int progressed = cursor != w->cursor || w->text.len != before;
    w->cursor = cursor;
    json_decref(j);
    uint64_t now = uv_now(app_loop());
    /* No progress means a whole quiet period passed (or the long-poll was clamped to none).  A
     * program that has printed nothing yet is still starting (slowly, on a loaded machine): its
     * first output is awaited until the deadline. */
    if (ended || now >= w->deadline) output_answer(w);
    else if (!progressed && cursor == 0 && app_config()->max_wait_ms > 0) output_poll(w, (long)(w->deadline - now));
    else if (!progressed) output_answer(w);
    else output_poll(w, app_config()->seed_output_quiet_ms);
}

static void output_poll(struct output_wait *w, long wait_ms) {
    uint64_t now = uv_now(app_loop());
    if ((uint64_t)wait_ms > w->deadline - now) wait_ms = (long)(w->deadline - now);
    char target[200];
    snprintf(target, sizeof target, "/v1/sessions/%s/output?cursor=%llu&wait_ms=%ld", w->session_id,
             (unsigned long long)w->cursor, wait_ms);
    struct request *sub = http_subrequest(w->req, "GET", target, NULL, 0, on_output, w);
    if (!sub) {
        output_answer(w);
        return;
    }
    router_dispatch(sub);
}

void seed_handle_output(struct request *req) {
    char user_id[SEED_USER_ID_MAX + 1];
    int got = query_user(req, user_id);
    if (got < 0) return;
    json_t *u = session_user(req, got ? user_id : NULL);
    if (!u) return;
    struct output_wait *w = calloc(1, sizeof *w);
    if (!w) {
        seed_text_reply(req, 500, "out of memory");
        return;
    }
    w->req = req;
    snprintf(w->key_hash, sizeof w->key_hash, "%s", req->key_hash);
    snprintf(w->user_id, sizeof w->user_id, "%s", user_id);
    snprintf(w->session_id, sizeof w->session_id, "%s", seed_user_session(u));
    w->cursor = (uint64_t)json_integer_value(json_object_get(u, "cursor"));
    w->deadline = uv_now(app_loop()) + (uint64_t)app_config()->seed_output_max_ms;
    output_poll(w, app_config()->seed_output_quiet_ms);
}

static void on_done_empty(int status, const char *body, size_t len, void *ud) {
    struct pending *p = ud;
    if (status >= 300) reply_relayed_error(p->req, status, body, len);
    else seed_text_reply(p->req, 200, "");
    free(p);
}

void seed_handle_input(struct request *req) {
    const char *user_id;
    json_t *body = seed_body_with_user(req, &user_id);
    if (!body) return;
    const char *input = json_string_value(json_object_get(body, "input"));
    json_t *u = session_user(req, user_id);
    if (u && !input) {
        seed_text_reply(req, 400, "input must be a string");
    } else if (u) {
        /* The seed sent input as a line; the literal ENTER is just the newline. */
        buf_t line = BUF_INIT;
        if (strcmp(input, "ENTER") != 0) buf_append_str(&line, input);
        buf_append(&line, "\n", 1);
        json_t *v1 = json_pack("{s:s%}", "data", line.data, line.len);
        char *text = json_text(v1);
        char target[128];
        snprintf(target, sizeof target, "/v1/sessions/%s/input", seed_user_session(u));
        seed_dispatch(req, "POST", target, text, on_done_empty, pending_new(req, user_id), NULL);
        free(text);
        json_decref(v1);
        buf_free(&line);
    }
    json_decref(body);
}

void seed_handle_delete(struct request *req) {
    const char *user_id;
    json_t *body = seed_body_with_user(req, &user_id);
    if (!body) return;
    json_t *u = session_user(req, user_id);
    if (u) {
        char target[128];
        snprintf(target, sizeof target, "/v1/sessions/%s", seed_user_session(u));
        json_object_set_new(u, "session", json_string(""));
        seed_dispatch(req, "DELETE", target, NULL, on_done_empty, pending_new(req, user_id), NULL);
    }
    json_decref(body);
}

/* ---- files --------------------------------------------------------------------------------- */

struct upload_ctx {
    const struct multipart_part *file;
    struct multipart_part copy;
};

static int on_part(void *ud, const struct multipart_part *p) {
    struct upload_ctx *ctx = ud;
    if (strcmp(p->name, "file") == 0 && !ctx->file) {
        ctx->copy = *p;
        ctx->file = &ctx->copy;
    }
    return 0;
}

void seed_handle_upload(struct request *req) {
    const char *user_id = req->params[0];
    char boundary[80], err[128];
    const char *ctype = http_header(req, "content-type");
    struct upload_ctx ctx = {0};
    if (!*user_id || strlen(user_id) > SEED_USER_ID_MAX) {
        seed_text_reply(req, 400, seed_bad_user_id);
        return;
    }
    if (!ctype || multipart_boundary(ctype, boundary, sizeof boundary) < 0) {
        seed_text_reply(req, 400, "the body must be multipart/form-data with a boundary");
        return;
    }
    if (multipart_parse(req->body.data, req->body.len, boundary, on_part, &ctx, err, sizeof err) < 0) {
        seed_text_reply(req, 400, err);
        return;
    }
    if (!ctx.file) {
        seed_text_reply(req, 400, "the form needs a part named file");
        return;
    }
    /* The key's other uploads (an expired one counts until the next sweep). */
    json_t *u = seed_find_user(req->key_hash, user_id, 1);
    json_t *data = u ? json_stringn_nocheck(ctx.file->data, ctx.file->len) : NULL;
    size_t others = (size_t)json_integer_value(json_object_get(upload_bytes, req->key_hash)) -
                    json_string_length(json_object_get(u, "upload"));
    if (!data || others + ctx.file->len > app_config()->seed_upload_max_bytes) {
        char why[128];
        snprintf(why, sizeof why, "uploads are limited to %zu bytes per key (the policy's seed_upload_max_bytes)",
                 app_config()->seed_upload_max_bytes);
        json_decref(data);
        seed_text_reply(req, 413, why);
        return;
    }
    upload_drop(u, req->key_hash);
    json_object_set_new(u, "upload", data);
    json_object_set_new(u, "upload_expires", json_real(wall_clock_ms() + (double)app_config()->seed_ttl_ms));
    json_object_set_new(upload_bytes, req->key_hash, json_integer((json_int_t)(others + ctx.file->len)));
    const char *host = http_header(req, "host");
    buf_t url = BUF_INIT;
    buf_printf(&url, "http://%s/api/files/get?userId=", host ? host : app_config()->listen);
    for (const char *s = user_id; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("-._~", *s))
            buf_append(&url, s, 1);
        else buf_printf(&url, "%%%02X", (unsigned char)*s);
    }
    http_respond(req, 200, "text/plain; charset=utf-8", url.data, url.len, NULL);
    buf_free(&url);
}

void seed_handle_file_get(struct request *req) {
    char user_id[SEED_USER_ID_MAX + 1];
    int got = query_user(req, user_id);
    if (got < 0) return;
    json_t *u = got ? seed_find_user(req->key_hash, user_id, 0) : NULL;
    size_t len;
    const char *data = u ? seed_user_upload(u, &len) : NULL;
    if (!data) {
        seed_text_reply(req, 404, "no uploaded file for that userId");
        return;
    }
    http_respond(req, 200, "application/octet-stream", data, len, NULL);
}

/* ---- metrics ---------------------------------------------------------------------------------- */

static void on_count(int status, const char *body, size_t len, void *ud) {
    struct request *req = ud;
    json_t *j = reply_relayed_json(req, 200, status, body, len);
    if (!j) return;
    int n = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "sessions"), i, s) {
        const char *st = json_string_value(json_object_get(s, "state"));
        n += st && (strcmp(st, "running") == 0 || strcmp(st, "starting") == 0);
    }
    json_decref(j);
    char text[32];
    snprintf(text, sizeof text, "%d", n);
    seed_text_reply(req, 200, text);
}

void seed_handle_count(struct request *req) { seed_dispatch(req, "GET", "/v1/sessions?mine=1", NULL, on_count, req, NULL); }

static void on_has(int status, const char *body, size_t len, void *ud) {
    struct request *req = ud;
    json_t *j = status == 200 ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const char *st = json_string_value(json_object_get(j, "state"));
    int live = st && (strcmp(st, "running") == 0 || strcmp(st, "starting") == 0);
    json_decref(j);
    seed_text_reply(req, live ? 200 : 404, live ? "true" : "false");
}

void seed_handle_has(struct request *req) {
    char user_id[SEED_USER_ID_MAX + 1];
    int got = query_user(req, user_id);
    if (got < 0) return;
    json_t *u = got ? seed_find_user(req->key_hash, user_id, 0) : NULL;
    if (!u || !*seed_user_session(u)) {
        seed_text_reply(req, 404, "false");
        return;
    }
    char target[128];
    snprintf(target, sizeof target, "/v1/sessions/%s", seed_user_session(u));
    seed_dispatch(req, "GET", target, NULL, on_has, req, NULL);
}

static void on_backend_added(int status, const char *body, size_t len, void *ud) {
    struct request *req = ud;
    if (status >= 300) reply_relayed_error(req, status, body, len);
    else seed_text_reply(req, 200, "");
}

void seed_handle_lb_add(struct request *req) {
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    const char *server = json_string_value(json_object_get(body, "server"));
    if (!server) {
        seed_text_reply(req, 400, "the body must be JSON with a server string (host:port)");
    } else {
        json_t *v1 = json_pack("{s:s+}", "url", strncmp(server, "http://", 7) == 0 ? "" : "http://", server);
        char *text = json_text(v1);
        seed_dispatch(req, "POST", "/v1/backends", text, on_backend_added, req, NULL);
        free(text);
        json_decref(v1);
    }
    json_decref(body);
}

/* A backend keeps the user_id table (a balancer relays by user_id: balancer_seed.c). */
void compat_seed_init(void) {
    if (app_config()->role == ROLE_BACKEND) metrics_declare(METRIC_GAUGE, "cloudcode_seed_users", "");
}

void compat_seed_free(void) {
    json_decref(users);
    json_decref(upload_bytes);
    users = upload_bytes = NULL;
}
