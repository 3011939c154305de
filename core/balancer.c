/* balancer.c — placement of new sessions and runs, and routing by session.
 *
 * Redis keys (besides backends.c's and placement.c's):
 *   cc:session:<id>   hash  backend, boot_id, owner (SHA-256 of the key), language,
 *                           created_at, lost_at (once found lost); expires at
 *                           lifetime + retention + 60 s, or retention after lost/ended */
#include "balancer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "backends.h"
#include "fanout.h"
#include "placement.h"
#include "log.h"
#include "proxy.h"
#include "redis.h"
#include "reply.h"
#include "router.h"
#include "service.h"
#include "util.h"

static void redis_argv(redis_cb cb, void *ud, int argc, const char **argv) {
    size_t lens[16];
    for (int i = 0; i < argc && i < 16; i++) lens[i] = strlen(argv[i]);
    redis_command(cb, ud, argc, argv, lens);
}

static void handle_create(struct request *req) { placement_start(req, 0); }
static void handle_run(struct request *req) { placement_start(req, 1); }

/* ---- routing by session ------------------------------------------------------------------- */

struct routed {
    struct request *req;
    char id[64];
};

/* The session ended: it no longer counts for its key, and its route is kept
 * only as long as the backend keeps it readable. */
static void session_ended(const char *id, const char *owner, const char *url) {
    char key[128], keyset[128], member[256], ttl[32];
    snprintf(key, sizeof key, "cc:session:%s", id);
    placement_keyset_name(keyset, sizeof keyset, owner);
    placement_keyset_member(member, sizeof member, url, id);
    const char *zrem[] = {"ZREM", keyset, member};
    redis_argv(NULL, NULL, 3, zrem);
    snprintf(ttl, sizeof ttl, "%ld", app_config()->ended_retention_ms / 1000 + 1);
    const char *expire[] = {"EXPIRE", key, ttl};
    redis_argv(NULL, NULL, 3, expire);
}

/* A gone backend's session, from the summary kept at creation: `lost` for
 * the retention counted from when it was first found lost, then 404. */
static void answer_lost(struct request *req, const char *id, redisReply *r, const char *owner, const char *url) {
    const char *language = "", *created = "", *lost_at = NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "language") == 0) language = r->element[i + 1]->str;
        if (strcmp(r->element[i]->str, "created_at") == 0) created = r->element[i + 1]->str;
        if (strcmp(r->element[i]->str, "lost_at") == 0) lost_at = r->element[i + 1]->str;
    }
    double now = wall_clock_ms(), since = lost_at ? atof(lost_at) : now;
    if (now - since > (double)app_config()->ended_retention_ms) {
        reply_error(req, 404, "not_found", "no such session");
        return;
    }
    if (!lost_at) {
        char key[128], at[32];
        snprintf(key, sizeof key, "cc:session:%s", id);
        snprintf(at, sizeof at, "%.0f", now);
        const char *hset[] = {"HSETNX", key, "lost_at", at};
        redis_argv(NULL, NULL, 4, hset);
        session_ended(id, owner, url);
    }
    char expires[32];
    format_rfc3339_ms(expires, since + (double)app_config()->ended_retention_ms);
    const char *sub = req->path + strlen("/v1/sessions/") + strlen(id);
    if (strcmp(req->method, "DELETE") == 0) {
        reply_no_content(req);
    } else if (strcmp(req->method, "GET") == 0 && *sub == '\0') {
        reply_json(req, 200, json_pack("{s:s,s:s,s:s,s:n,s:n,s:s,s:s,s:s,s:i}", "id", id, "language", language,
                                       "state", "lost", "exit_code", "signal", "created_at", created,
                                       "last_active_at", created, "expires_at", expires, "output_bytes", 0));
    } else if (strcmp(req->method, "GET") == 0 && strcmp(sub, "/output") == 0) {
        reply_json(req, 200, json_pack("{s:[],s:i,s:i,s:s,s:n,s:n}", "events", "cursor", 0, "dropped", 0,
                                       "state", "lost", "exit_code", "signal"));
    } else {
        reply_error(req, 409, "conflict", "the session is lost: its backend is gone");
    }
}

static int field_is(redisReply *r, const char *name, const char *value, const char **out) {
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, name) == 0) {
            if (out) *out = r->element[i + 1]->str;
            return value ? strcmp(r->element[i + 1]->str, value) == 0 : 1;
        }
    }
    return 0;
}

static void on_session_route(void *ud, redisReply *r, const char *err) {
    struct routed *rt = ud;
    struct request *req = rt->req;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", err ? err : "bad reply");
        free(rt);
        return;
    }
    const char *owner = NULL, *url = NULL, *boot = NULL;
    field_is(r, "owner", NULL, &owner);
    field_is(r, "backend", NULL, &url);
    field_is(r, "boot_id", NULL, &boot);
    if (!owner || !url || (!req->is_admin && strcmp(owner, req->key_hash) != 0)) {
        if (strcmp(req->method, "DELETE") == 0 && !owner) reply_no_content(req);
        else reply_error(req, 404, "not_found", "no such session");
        free(rt);
        return;
    }
    struct backend *b = backends_find(url);
    if (!b || backend_gone(b) || (boot && b->boot_id[0] && strcmp(boot, b->boot_id) != 0)) {
        answer_lost(req, rt->id, r, owner, url);
        free(rt);
        return;
    }
    if (!b->healthy) {
        reply_error(req, 503, "unavailable", "the session's backend is unhealthy");
        free(rt);
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) session_ended(rt->id, owner, url);
    char ws_suffix[8];
    snprintf(ws_suffix, sizeof ws_suffix, "/ws");
    size_t plen = strlen(req->path);
    if (plen > 3 && strcmp(req->path + plen - 3, ws_suffix) == 0) {
        proxy_tunnel(req, url);
    } else {
        char wait[32];
        long timeout = app_config()->backend_timeout_ms;
        if (http_query_param(req, "wait_ms", wait, sizeof wait) > 0) {
            long w = atol(wait);
            timeout += w < app_config()->max_wait_ms ? w : app_config()->max_wait_ms;
        }
        const char *sub = req->path + strlen("/v1/sessions/") + strlen(rt->id);
        if (strcmp(sub, "/execute") == 0) timeout += 600000; /* a cell's own bound is enforced by the backend */
        proxy_relay(req, url, timeout);
    }
    free(rt);
}

static void handle_session(struct request *req) {
    if (!redis_ready()) {
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", redis_status());
        return;
    }
    struct routed *rt = calloc(1, sizeof *rt);
    rt->req = req;
    snprintf(rt->id, sizeof rt->id, "%s", req->params[0]);
    char key[128];
    snprintf(key, sizeof key, "cc:session:%s", rt->id);
    const char *argv[] = {"HGETALL", key};
    redis_argv(on_session_route, rt, 2, argv);
}

/* ---- merged listings ------------------------------------------------------------------------ */

static void on_sessions_gathered(struct request *req, json_t *answers, void *ud) {
    (void)ud;
    json_t *all = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(answers, i, a) json_array_extend(all, json_object_get(a, "sessions"));
    reply_json(req, 200, json_pack("{s:o}", "sessions", all));
}

static void handle_list(struct request *req) {
    fanout_get(req, req->target, on_sessions_gathered, NULL);
}

static void on_languages_gathered(struct request *req, json_t *answers, void *ud) {
    (void)ud;
    json_t *by_name = json_object(), *list = json_array();
    size_t i, j;
    json_t *a, *lang;
    json_array_foreach(answers, i, a) {
        json_array_foreach(json_object_get(a, "languages"), j, lang) {
            const char *name = json_string_value(json_object_get(lang, "name"));
            json_t *seen = name ? json_object_get(by_name, name) : NULL;
            if (!name) continue;
            if (!seen) {
                json_object_set(by_name, name, lang);
                json_array_append(list, lang);
            } else if (json_is_true(json_object_get(lang, "available"))) {
                json_object_set_new(seen, "available", json_true());
            }
        }
    }
    json_decref(by_name);
    reply_json(req, 200, json_pack("{s:o}", "languages", list));
}

static void handle_languages(struct request *req) { fanout_get(req, "/v1/languages", on_languages_gathered, NULL); }

static const struct route balancer_routes[] = {
    {"GET", "/v1/languages", ACCESS_CLIENT, handle_languages, 0},
    {"POST", "/v1/run", ACCESS_CLIENT, handle_run, 0},
    {"POST", "/v1/sessions", ACCESS_CLIENT, handle_create, 0},
    {"GET", "/v1/sessions", ACCESS_CLIENT, handle_list, 0},
    {"GET", "/v1/sessions/{id}", ACCESS_CLIENT, handle_session, 0},
    {"DELETE", "/v1/sessions/{id}", ACCESS_CLIENT, handle_session, 0},
    {"GET", "/v1/sessions/{id}/ws", ACCESS_CLIENT, handle_session, ROUTE_KEY_IN_QUERY},
    {"GET", "/v1/sessions/{id}/{*}", ACCESS_CLIENT, handle_session, 0},
    {"POST", "/v1/sessions/{id}/{*}", ACCESS_CLIENT, handle_session, 0},
    {"PUT", "/v1/sessions/{id}/{*}", ACCESS_CLIENT, handle_session, 0},
};

/* ---- health, start, stop -------------------------------------------------------------------- */

static int balancer_health(json_t *body) {
    int sessions = 0, capacity = 0;
    json_t *backends = json_object();
    for (struct backend *b = backends_list(); b; b = b->next) {
        if (b->healthy) sessions += b->sessions, capacity += b->capacity;
        json_object_set_new(backends, b->url, json_string(b->healthy ? "ok" : backend_gone(b) ? "gone" : "unhealthy"));
    }
    json_object_set_new(body, "sessions", json_integer(sessions));
    json_object_set_new(body, "capacity", json_integer(capacity));
    json_object_set_new(body, "checks", json_pack("{s:s,s:o}", "redis", redis_status(), "backends", backends));
    return redis_ready() && backends_any_healthy() ? 0 : 2;
}

int balancer_init(uv_loop_t *loop, char *err, size_t errlen) {
    backends_routes_init();
    backends_start(); /* registers its Redis connect hook first */
    if (redis_start(loop, app_config()->redis, err, errlen) < 0) return -1;
    service_init("balancer", balancer_health);
    router_add(balancer_routes, sizeof balancer_routes / sizeof balancer_routes[0]);
    return 0;
}

static void (*stopped_cb)(void);

static void on_redis_stopped(void) {
    if (stopped_cb) stopped_cb();
}

void balancer_shutdown(void (*done)(void)) {
    stopped_cb = done;
    backends_stop();
    redis_stop(on_redis_stopped);
}
