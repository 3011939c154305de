/* seed_create.c — the seed's session create: its program from the body, an upload (ours or a
 * peer backend's) or a fetched file_url, then a /v1 session for the user_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include "clients/fetch.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "http/router.h"
#include "policy/app.h"
#include "seed.h"

#define FETCH_TIMEOUT_MS (app_config()->file_url_timeout_ms) /* the policy's */

/* ---- create ------------------------------------------------------------------------- */

struct create {
    struct request *req;
    char key_hash[65];
    char user_id[SEED_USER_ID_MAX + 1];
    char lang[64];
    char *v1_body;
    struct fetch *fetch;     /* file_url from another host, in flight */
    struct request *sub;     /* the internal request in flight */
    struct proxy_call *peer; /* an upload on a peer backend, in flight */
};

static void create_free(struct create *c) {
    free(c->v1_body);
    free(c);
}

/* Answer the create's client (NULL: it left) and free the create. */
static void create_answer(struct create *c, int status, const char *text) {
    if (c->req) {
        http_set_abort(c->req, NULL, NULL);
        seed_text_reply(c->req, status, text);
    }
    create_free(c);
}

static void create_relay_error(struct create *c, int status, const char *body, size_t len) {
    if (c->req) {
        http_set_abort(c->req, NULL, NULL);
        reply_relayed_error(c->req, status, body, len);
    }
    create_free(c);
}

/* The client left: a fetch in flight stops; an internal request in flight is
 * cancelled (a session being created ends at once) and its answer, which
 * follows, frees the create.  The request is answered here, for nobody. */
static void on_create_abort(struct request *req, void *ud) {
    struct create *c = ud;
    c->req = NULL;
    seed_text_reply(req, 500, "the client went away");
    if (c->sub) {
        http_request_cancel(c->sub);
    } else {
        fetch_cancel(c->fetch);
        create_free(c);
    }
}

static void on_created(int status, const char *body, size_t len, void *ud) {
    struct create *c = ud;
    c->sub = NULL;
    if (status != 201) {
        create_relay_error(c, status, body, len);
        return;
    }
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    json_t *u = seed_find_user(c->key_hash, c->user_id, 1);
    if (u) {
        json_object_set_new(u, "session", json_string(json_string_value(json_object_get(j, "id")) ?: ""));
        json_object_set_new(u, "cursor", json_integer(0));
    }
    json_decref(j);
    create_answer(c, 200, "");
}

static void on_previous(int status, const char *body, size_t len, void *ud) {
    struct create *c = ud;
    c->sub = NULL;
    json_t *j = status == 200 ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const char *state = json_string_value(json_object_get(j, "state"));
    int live = state && (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0);
    json_decref(j);
    if (live || !c->req) {
        create_answer(c, 409, "a session for this user_id is already running");
        return;
    }
    seed_dispatch(c->req, "POST", "/v1/sessions", c->v1_body, on_created, c, &c->sub);
}

/* The program is known (a file, or the language's REPL from seed_languages): create the
 * session, after checking that the user_id has no live one. */
static void create_with(struct create *c, const char *code, size_t len) {
    struct request *req = c->req;
    json_t *v1 = json_pack("{s:s,s:s%,s:b}", "language", c->lang, "code", code, len, "tty", 1);
    c->v1_body = v1 ? json_text(v1) : NULL;
    json_decref(v1);
    if (!c->v1_body || memchr(code, '\0', len)) {
        create_answer(c, 400, "the file must be UTF-8 text");
        return;
    }
    json_t *u = seed_find_user(c->key_hash, c->user_id, 0);
    if (u && *seed_user_session(u)) {
        char target[128];
        snprintf(target, sizeof target, "/v1/sessions/%s", seed_user_session(u));
        seed_dispatch(req, "GET", target, NULL, on_previous, c, &c->sub);
    } else {
        seed_dispatch(req, "POST", "/v1/sessions", c->v1_body, on_created, c, &c->sub);
    }
}

/* ---- file_url from another host: fetched by us ---- */

static void on_fetched(void *ud, const char *data, size_t len, const char *err) {
    struct create *c = ud;
    c->fetch = NULL;
    if (err) {
        create_answer(c, 400, err);
        return;
    }
    create_with(c, data, len);
}

static int host_allowed(const char *host) {
    size_t i;
    json_t *h;
    json_array_foreach(app_config()->file_url_hosts, i, h) {
        const char *allowed = json_string_value(h);
        size_t n = strlen(allowed);
        if (n >= 2 && allowed[0] == '[' && allowed[n - 1] == ']') allowed++, n -= 2; /* "[::1]" */
        if (strlen(host) == n && strncasecmp(allowed, host, n) == 0) return 1;
    }
    return 0;
}

static void fetch_file(struct create *c, const char *url) {
    const struct config *cfg = app_config();
    char host[256], scheme[16], err[512];
    if (fetch_url_host(url, host, sizeof host, scheme, sizeof scheme) < 0) {
        create_answer(c, 400, "file_url is not a valid URL");
        return;
    }
    if (!host_allowed(host)) {
        snprintf(err, sizeof err, "file_url must be a URL returned by /api/files/add, or name a host the "
                                  "policy allows (file_url_hosts): %s is not allowed", host);
        create_answer(c, 400, err);
        return;
    }
    struct fetch_opts o = {.max_bytes = app_config()->seed_upload_max_bytes,
                           .timeout_ms = FETCH_TIMEOUT_MS,
                           .allow_loopback = cfg->file_url_test_allow_loopback,
                           .ca_file = cfg->file_url_test_ca_file};
    c->fetch = fetch_start(app_loop(), url, &o, on_fetched, c, err, sizeof err);
    if (!c->fetch) create_answer(c, 400, err);
}

/* ---- an upload on a peer backend: fetched from it ---- */

/* Backends that trust each other (they accept the same keys) list each other in the policy's
 * file_url_peers ("host:port"): a file URL of /api/files/add naming one of them is fetched from it
 * over http with the caller's own credentials, so its upload check is the caller's.  Then
 * `base` is "http://host:port". */
static int peer_of(const char *url, char *base, size_t len) {
    if (strncmp(url, "http://", 7) != 0) return 0;
    const char *authority = url + 7;
    size_t n = strcspn(authority, "/?#");
    if (n == strlen(app_config()->listen) && strncasecmp(authority, app_config()->listen, n) == 0) return 0;
    size_t i;
    json_t *p;
    json_array_foreach(app_config()->file_url_peers, i, p) {
        const char *peer = json_string_value(p);
        if (strlen(peer) == n && strncasecmp(peer, authority, n) == 0) {
            snprintf(base, len, "http://%.*s", (int)n, authority);
            return 1;
        }
    }
    return 0;
}

static void on_peer_abort(struct request *req, void *ud) {
    (void)req;
    struct create *c = ud;
    proxy_cancel(c->peer);
    create_free(c);
}

static void on_peer_file(void *ud, const struct proxy_answer *a) {
    struct create *c = ud;
    c->peer = NULL;
    http_set_abort(c->req, NULL, NULL);
    if (a->status == 200) {
        create_with(c, a->body, a->len);
        return;
    }
    char msg[300];
    if (a->status == 404) snprintf(msg, sizeof msg, "no uploaded file for that userId (uploads live the policy's seed_ttl_s, 10 minutes by default)");
    else snprintf(msg, sizeof msg, "the backend holding file_url did not give it: %s", a->err ? a->err : "refused");
    seed_text_reply(c->req, a->status == 404 ? 404 : 502, msg);
    create_free(c);
}

static void peer_file(struct create *c, const char *base, const char *ours) {
    c->peer = proxy_send(base, "GET", ours, c->req, NULL, 0, FETCH_TIMEOUT_MS, on_peer_file, c);
    if (!c->peer) {
        seed_text_reply(c->req, 500, "out of memory");
        create_free(c);
        return;
    }
    http_set_abort(c->req, on_peer_abort, c);
}

/* Our own file URL, from /api/files/add: resolved here, never fetched (the
 * Host it names may be a balancer's or a proxy's). */
static void own_file(struct create *c, const char *ours) {
    char owner[SEED_USER_ID_MAX * 3 + 1];
    const char *raw = ours + strlen("/api/files/get?userId=");
    if (http_percent_decode(raw, strlen(raw), owner, sizeof owner, 1) < 0) {
        create_answer(c, 400, "file_url names no valid userId");
        return;
    }
    json_t *u = seed_find_user(c->key_hash, owner, 0);
    size_t len;
    const char *data = u ? seed_user_upload(u, &len) : NULL;
    if (!data) {
        create_answer(c, 404, "no uploaded file for that userId (uploads live the policy's seed_ttl_s, 10 minutes by default)");
        return;
    }
    create_with(c, data, len);
}

/* "language must be one of ...": the names of the policy's seed_languages. */
static const char *unknown_language(char *out, size_t len) {
    size_t n = (size_t)snprintf(out, len, "language must be one of the policy's seed_languages:");
    const char *name;
    const json_t *e;
    json_object_foreach(app_config()->seed_languages, name, e) {
        if (n < len) n += (size_t)snprintf(out + n, len - n, " %s", name);
    }
    return out;
}

void seed_handle_create(struct request *req) {
    const char *user_id;
    json_t *body = seed_body_with_user(req, &user_id);
    if (!body) return;
    const char *language = json_string_value(json_object_get(body, "language"));
    const json_t *url = json_object_get(body, "file_url");
    const char *file_url = json_string_value(url);
    /* The policy's seed_languages: our language, and the program run without a file_url. */
    const json_t *entry = language ? json_object_get(app_config()->seed_languages, language) : NULL;
    const char *lang = json_string_value(json_object_get(entry, "language"));
    const char *repl = json_string_value(json_object_get(entry, "repl"));
    struct create *c = NULL;
    char why[600];
    if (!lang || strlen(lang) >= sizeof c->lang) {
        seed_text_reply(req, 400, unknown_language(why, sizeof why));
    } else if (url && !json_is_string(url) && !json_is_null(url)) {
        seed_text_reply(req, 400, "file_url must be a string");
    } else if (!repl && !(file_url && *file_url)) {
        snprintf(why, sizeof why, "a %s session needs a file_url", language);
        seed_text_reply(req, 400, why);
    } else if (!(c = calloc(1, sizeof *c))) seed_text_reply(req, 500, "out of memory");
    else {
        c->req = req;
        http_set_abort(req, on_create_abort, c);
        snprintf(c->key_hash, sizeof c->key_hash, "%s", req->key_hash);
        snprintf(c->user_id, sizeof c->user_id, "%s", user_id);
        snprintf(c->lang, sizeof c->lang, "%s", lang);
        const char *ours = file_url ? strstr(file_url, "/api/files/get?userId=") : NULL;
        char peer[300];
        if (!file_url || !*file_url) create_with(c, repl, strlen(repl));
        else if (ours && peer_of(file_url, peer, sizeof peer)) peer_file(c, peer, ours);
        else if (ours) own_file(c, ours);
        else fetch_file(c, file_url);
    }
    json_decref(body);
}
