/* e2b_api.c — E2B's control plane (E2B_API_URL): sandboxes are sessions.
 *
 *   POST /sandboxes, /v2/sandboxes            POST /v1/sessions (templateID -> language)
 *   GET /sandboxes, /v2/sandboxes              GET /v1/sessions (the live ones)
 *   GET /sandboxes/{id}                        GET /v1/sessions/{id}
 *   POST [/v2]/sandboxes/{id}/connect          GET /v1/sessions/{id} (live: 200, else 404)
 *   POST /sandboxes/{id}/timeout               the session's deadline (on its backend)
 *   DELETE /sandboxes/{id}                     DELETE /v1/sessions/{id}
 *
 * Every call carries the key as X-API-KEY; errors are E2B's {"code","message"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/session.h"
#include "base/util.h"
#include "e2b.h"
#include "http/reply.h"
#include "http/router.h"
#include "policy/app.h"

/* E2B's default sandbox timeout, in seconds. */
#define E2B_DEFAULT_TIMEOUT_S 300

void e2b_sub(struct request *req, const char *owner, const char *method, const char *target, const char *body,
             size_t len, http_response_fn cb, void *ud) {
    struct request *sub = http_subrequest(req, method, target, body, len, cb, ud);
    if (!sub) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    if (owner) {
        sub->preauth = 1;
        sub->is_admin = 0;
        snprintf(sub->key_hash, sizeof sub->key_hash, "%s", owner);
    }
    router_dispatch(sub);
}

void e2b_access_token(const char *owner, const char *id, char out[65]) {
    char both[160];
    int n = snprintf(both, sizeof both, "%s:%s", owner, id);
    sha256_hex(both, n > 0 && (size_t)n < sizeof both ? (size_t)n : 0, out);
}

int e2b_session_target(char *out, size_t n, const char *id, const char *suffix) {
    size_t len = strlen(id);
    if (len == 0 || len >= 64 || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len)
        return -1;
    return snprintf(out, n, "/v1/sessions/%s%s", id, suffix) < (int)n ? 0 : -1;
}

/* A /v1 session as E2B lists it. */
static json_t *sandbox_json(const json_t *session) {
    const char *lang = json_string_value(json_object_get(session, "language"));
    return json_pack("{s:O,s:s,s:s,s:O,s:O,s:s,s:i,s:i,s:{},s:s}", "sandboxID", json_object_get(session, "id"),
                     "templateID", lang ? lang : "", "clientID", "cloudcode", "startedAt",
                     json_object_get(session, "created_at"), "endAt", json_object_get(session, "expires_at"),
                     "state", "running", "cpuCount", 1, "memoryMB", 0, "metadata", "envdVersion", E2B_ENVD_VERSION);
}

/* What create and connect answer: where and how to reach the sandbox. */
static json_t *connection_json(const struct request *req, const char *id, const char *template) {
    char token[65];
    e2b_access_token(req->key_hash, id, token);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:n}", "sandboxID", id, "templateID", template, "clientID", "cloudcode",
                     "envdVersion", E2B_ENVD_VERSION, "envdAccessToken", token, "domain");
}

/* ---- create ----------------------------------------------------------------------------- */

struct create {
    struct request *req;
    char template[128];
};

static void on_created(int status, const char *body, size_t len, void *ud) {
    struct create *c = ud;
    if (status != 201) reply_relayed_error(c->req, status, body, len);
    else {
        json_t *j = json_loadb(body, len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id) reply_json(c->req, 201, connection_json(c->req, id, c->template));
        else reply_error(c->req, 502, "e2b", "the session was not created");
        json_decref(j);
    }
    free(c);
}

void e2b_handle_create(struct request *req) {
    json_t *body = request_json_object(req);
    if (!body) return;
    const json_t *tv = json_object_get(body, "templateID"), *timeout = json_object_get(body, "timeout");
    const char *template = json_is_string(tv) ? json_string_value(tv) : "code-interpreter-v1";
    const char *language = json_string_value(json_object_get(app_config()->e2b_templates, template));
    long long seconds = json_is_integer(timeout) && json_integer_value(timeout) > 0 ? json_integer_value(timeout)
                                                                                     : E2B_DEFAULT_TIMEOUT_S;
    struct create *c = calloc(1, sizeof *c);
    /* An E2B sandbox lives until its timeout, busy or not: idle and lifetime alike. */
    json_t *v1 = json_pack("{s:s,s:{s:I,s:I}}", "language", language ? language : template, "limits", "lifetime_s",
                           (json_int_t)seconds, "idle_timeout_s", (json_int_t)seconds);
    char *text = v1 ? json_text(v1) : NULL;
    json_decref(v1);
    if (!c || !text || strlen(template) >= sizeof c->template) {
        free(c);
        if (text) reply_error(req, 400, "e2b", "templateID is too long");
        else reply_error(req, 500, "internal", "out of memory");
        free(text);
        json_decref(body);
        return;
    }
    c->req = req;
    snprintf(c->template, sizeof c->template, "%s", template);
    json_decref(body);
    e2b_sub(req, NULL, "POST", "/v1/sessions", text, strlen(text), on_created, c);
    free(text);
}

/* ---- list, info, connect ------------------------------------------------------------------ */

static int session_live(const json_t *s) {
    const char *state = json_string_value(json_object_get(s, "state"));
    return state && (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0);
}

/* A live /v1 session as E2B lists a sandbox (an ended one is not listed). */
static json_t *live_sandbox_json(const json_t *s) { return session_live(s) ? sandbox_json(s) : NULL; }

static void on_listed(int status, const char *body, size_t len, void *ud) {
    reply_relayed_list(ud, status, body, len, "sessions", live_sandbox_json);
}

void e2b_handle_list(struct request *req) { e2b_sub(req, NULL, "GET", "/v1/sessions?mine=1", NULL, 0, on_listed, req); }

/* GET /v1/sessions/{id} first: for info, connect, and kill (whose DELETE
 * would answer 204 again for an ended session, where E2B says 404). */
enum lookup_for { FOR_INFO, FOR_CONNECT, FOR_KILL };

struct lookup {
    struct request *req;
    enum lookup_for purpose;
};

static void on_killed(int status, const char *body, size_t len, void *ud) {
    struct request *req = ud;
    if (status == 204) reply_no_content(req);
    else if (status == 404) reply_error(req, 404, "e2b", "sandbox %s not found", req->params[0]);
    else reply_relayed_error(req, status, body, len);
}

static void on_looked_up(int status, const char *body, size_t len, void *ud) {
    struct lookup *l = ud;
    struct request *req = l->req;
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *lang = json_string_value(json_object_get(j, "language"));
    char target[128];
    if (status != 200 && status != 404) reply_relayed_error(req, status, body, len);
    else if (!session_live(j)) reply_error(req, 404, "e2b", "sandbox %s not found", req->params[0]);
    else if (l->purpose == FOR_CONNECT) reply_json(req, 200, connection_json(req, req->params[0], lang ? lang : ""));
    else if (l->purpose == FOR_INFO) reply_json(req, 200, sandbox_json(j));
    else if (e2b_session_target(target, sizeof target, req->params[0], "") == 0)
        e2b_sub(req, NULL, "DELETE", target, NULL, 0, on_killed, req);
    json_decref(j);
    free(l);
}

static void look_up(struct request *req, enum lookup_for purpose) {
    char target[128];
    if (e2b_session_target(target, sizeof target, req->params[0], "") < 0) {
        reply_error(req, 404, "e2b", "sandbox %s not found", req->params[0]);
        return;
    }
    struct lookup *l = request_calloc(req, sizeof *l);
    if (!l) return;
    l->req = req;
    l->purpose = purpose;
    e2b_sub(req, NULL, "GET", target, NULL, 0, on_looked_up, l);
}

void e2b_handle_info(struct request *req) { look_up(req, FOR_INFO); }
void e2b_handle_connect(struct request *req) { look_up(req, FOR_CONNECT); }
void e2b_handle_kill(struct request *req) { look_up(req, FOR_KILL); }

/* ---- timeout ------------------------------------------------------------------------------- */

void e2b_handle_timeout(struct request *req) {
    if (e2b_relay_to_backend(req, req->params[0]) == 0) return;
    json_t *body = request_json_object(req);
    if (!body) return;
    const json_t *t = json_object_get(body, "timeout");
    struct session *s = session_find_live(req->params[0]);
    if (!json_is_integer(t) || json_integer_value(t) < 0) reply_error(req, 400, "e2b", "timeout must be seconds >= 0");
    else if (!s || (!req->is_admin && strcmp(session_owner(s), req->key_hash) != 0))
        reply_error(req, 404, "e2b", "sandbox %s not found", req->params[0]);
    else {
        session_set_deadline(s, json_integer_value(t));
        reply_no_content(req);
    }
    json_decref(body);
}

/* ---- start -------------------------------------------------------------------------------- */

/* The routes are core/routes.c's; what starts here is the shutdown of E2B's commands. */
void compat_e2b_init(void) { backend_at_shutdown(e2b_exec_stop_all); }
