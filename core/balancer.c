/* balancer.c — placement of new sessions and runs, and routing by session.
 *
 * Redis keys besides backends.c's:
 *   cc:session:<id>   hash  backend, boot_id, owner (SHA-256 of the key), language,
 *                           created_at; expires at lifetime + retention + 60 s
 *   cc:keyset:<hash>  zset  the key's live sessions and runs, score = expiry (ms)
 *   cc:resv:<url>     zset  reservations: member = placement id, score = when it
 *                           may lapse (a health report begun after it drops it)
 *
 * Placement reserves a slot atomically (a Lua script in Redis) so that many
 * balancers placing at once never overshoot a backend's capacity. */
#include "balancer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "backends.h"
#include "fanout.h"
#include "hooks.h"
#include "log.h"
#include "proxy.h"
#include "redis.h"
#include "reply.h"
#include "router.h"
#include "service.h"
#include "util.h"

#define MAX_EXCLUDED 16
/* A reservation whose create has not answered lapses after this. */
#define RESERVATION_HOLD_MS 60000
/* Added to a run's own timeout for its compile step. */
#define COMPILE_ALLOWANCE_MS 60000

static const char reserve_script[] =
    "local n = redis.call('ZCARD', KEYS[1]) "
    "if tonumber(ARGV[1]) + n >= tonumber(ARGV[2]) then return 0 end "
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4]) "
    "redis.call('PEXPIRE', KEYS[1], 3600000) "
    "return 1";

/* ---- small Redis helpers ------------------------------------------------------------ */

static void redis_argv(redis_cb cb, void *ud, int argc, const char **argv) {
    size_t lens[16];
    for (int i = 0; i < argc && i < 16; i++) lens[i] = strlen(argv[i]);
    redis_command(cb, ud, argc, argv, lens);
}

static void keyset_name(char *out, size_t len, const char *key_hash) {
    snprintf(out, len, "cc:keyset:%s", key_hash[0] ? key_hash : "open");
}

static long long policy_limit_default(const char *name, long long fallback) {
    const json_t *v = json_object_get(json_object_get(app_config()->limits, name), "default");
    return json_is_number(v) ? (long long)json_number_value(v) : fallback;
}

/* ---- placement ------------------------------------------------------------------------ */

struct placement {
    struct request *req;
    int is_run;
    json_t *body;
    char excluded[MAX_EXCLUDED][128];
    int nexcluded;
    char url[128];
    char boot_id[64];
    char resv_id[40];
    struct proxy_call *call;
    long long lifetime_s;
};

static void placement_free(struct placement *p) {
    json_decref(p->body);
    free(p);
}

static int excluded(const struct placement *p, const char *url) {
    for (int i = 0; i < p->nexcluded; i++)
        if (strcmp(p->excluded[i], url) == 0) return 1;
    return 0;
}

static void exclude(struct placement *p, const char *url) {
    if (p->nexcluded < MAX_EXCLUDED) snprintf(p->excluded[p->nexcluded++], 128, "%s", url);
}

static void release_reservation(const struct placement *p) {
    char key[200];
    snprintf(key, sizeof key, "cc:resv:%s", p->url);
    const char *argv[] = {"ZREM", key, p->resv_id};
    redis_argv(NULL, NULL, 3, argv);
}

static void place(struct placement *p);

static void on_abort_placement(struct request *req, void *ud) {
    struct placement *p = ud;
    (void)req;
    if (p->call) {
        proxy_cancel(p->call);
        release_reservation(p);
    }
    p->req = NULL;
    reply_error(req, 503, "unavailable", "the client went away");
    placement_free(p);
}

static void record_session(struct placement *p, const char *id) {
    char key[128], keyset[128], created[32], expiry[32], ttl[32];
    snprintf(key, sizeof key, "cc:session:%s", id);
    format_rfc3339_ms(created, wall_clock_ms());
    long long ttl_s = p->lifetime_s + app_config()->ended_retention_ms / 1000 + 60;
    snprintf(ttl, sizeof ttl, "%lld", ttl_s);
    const char *lang = json_string_value(json_object_get(p->body, "language"));
    const char *hset[] = {"HSET", key, "backend", p->url, "boot_id", p->boot_id, "owner", p->req->key_hash,
                          "language", lang ? lang : "", "created_at", created};
    redis_argv(NULL, NULL, 12, hset);
    const char *expire[] = {"EXPIRE", key, ttl};
    redis_argv(NULL, NULL, 3, expire);
    keyset_name(keyset, sizeof keyset, p->req->key_hash);
    snprintf(expiry, sizeof expiry, "%.0f", wall_clock_ms() + (double)ttl_s * 1000.0);
    const char *zadd[] = {"ZADD", keyset, expiry, id};
    redis_argv(NULL, NULL, 4, zadd);
    /* The reservation now lapses at the first health report begun after this reply. */
    char resv[200], now[32];
    snprintf(resv, sizeof resv, "cc:resv:%s", p->url);
    snprintf(now, sizeof now, "%.0f", wall_clock_ms());
    const char *xx[] = {"ZADD", resv, "XX", now, p->resv_id};
    redis_argv(NULL, NULL, 5, xx);
}

static void on_backend_answer(void *ud, int status, const char *ctype, const char *body, size_t len,
                              const char *err, int refused) {
    struct placement *p = ud;
    p->call = NULL;
    struct request *req = p->req;
    if (status == 0) {
        release_reservation(p);
        if (refused) {
            /* Nothing listens there: nothing was created, place elsewhere. */
            exclude(p, p->url);
            place(p);
            return;
        }
        req->on_abort = NULL;
        reply_error(req, 503, "unavailable", "%s", err ? err : "the backend did not answer");
        placement_free(p);
        return;
    }
    json_t *answer = json_loadb(body, len, 0, NULL);
    const char *scope = json_string_value(json_object_get(json_object_get(answer, "error"), "scope"));
    if (status == 429 && scope && strcmp(scope, "server") == 0) {
        /* That backend is full after all: place again, once per backend. */
        json_decref(answer);
        release_reservation(p);
        exclude(p, p->url);
        place(p);
        return;
    }
    if (!p->is_run && status == 201 && json_is_string(json_object_get(answer, "id")))
        record_session(p, json_string_value(json_object_get(answer, "id")));
    else release_reservation(p);
    json_decref(answer);
    req->on_abort = NULL;
    http_respond(req, status, ctype, body, len, NULL);
    placement_free(p);
}

static void forward(struct placement *p) {
    struct request *req = p->req;
    long long timeout = app_config()->backend_timeout_ms;
    const json_t *t = json_object_get(json_object_get(p->body, "limits"), "timeout_ms");
    if (p->is_run) timeout += (json_is_integer(t) ? json_integer_value(t) : policy_limit_default("timeout_ms", 10000)) + COMPILE_ALLOWANCE_MS;
    else timeout += COMPILE_ALLOWANCE_MS;
    p->call = proxy_send(p->url, "POST", req->target, req, req->body.data, req->body.len, (long)timeout,
                         on_backend_answer, p);
    if (!p->call) {
        release_reservation(p);
        req->on_abort = NULL;
        reply_error(req, 503, "unavailable", "cannot reach the backend %s", p->url);
        placement_free(p);
    }
}

static void on_reserved(void *ud, redisReply *r, const char *err) {
    struct placement *p = ud;
    struct request *req = p->req;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        req->on_abort = NULL;
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", err ? err : (r && r->str ? r->str : "bad reply"));
        placement_free(p);
        return;
    }
    if (r->integer == 0) {
        exclude(p, p->url); /* full, counting reservations of other balancers */
        place(p);
        return;
    }
    struct backend *b = backends_find(p->url);
    if (b) b->reserved++; /* until the next health report recounts */
    forward(p);
}

static void place(struct placement *p) {
    struct request *req = p->req;
    json_t *candidates = json_array();
    int healthy = 0;
    for (struct backend *b = backends_list(); b; b = b->next) {
        if (!b->healthy || backend_gone(b)) continue;
        healthy++;
        if (b->draining || excluded(p, b->url)) continue;
        json_array_append_new(candidates, backend_json_for_policy(b));
    }
    if (!healthy) {
        json_decref(candidates);
        req->on_abort = NULL;
        reply_error(req, 503, "unavailable", "no healthy backend");
        placement_free(p);
        return;
    }
    json_t *args = json_pack("[O,O]", candidates, p->body);
    json_t *res = NULL;
    int rc = 0;
    if (json_array_size(candidates)) {
        req->on_abort = NULL; /* hook_ask may answer the request */
        rc = hook_ask(req, "pick_backend", args, &res);
        if (rc == 0) http_set_abort(req, on_abort_placement, p);
    }
    json_decref(args);
    json_decref(candidates);
    if (rc < 0) {
        placement_free(p);
        return;
    }
    const char *url = json_string_value(json_array_get(res, 0));
    struct backend *b = url ? backends_find(url) : NULL;
    if (!b) {
        json_decref(res);
        req->on_abort = NULL;
        reply_error_with(req, 429, "too_many_sessions", json_pack("{s:s}", "scope", "server"),
                         "every healthy backend is at its session limit");
        placement_free(p);
        return;
    }
    snprintf(p->url, sizeof p->url, "%s", b->url);
    snprintf(p->boot_id, sizeof p->boot_id, "%s", b->boot_id);
    json_decref(res);
    random_hex(p->resv_id, 16);
    char key[200], sessions[16], capacity[16], score[32];
    snprintf(key, sizeof key, "cc:resv:%s", p->url);
    snprintf(sessions, sizeof sessions, "%d", b->sessions);
    snprintf(capacity, sizeof capacity, "%d", b->capacity);
    snprintf(score, sizeof score, "%.0f", wall_clock_ms() + RESERVATION_HOLD_MS);
    const char *argv[] = {"EVAL", reserve_script, "1", key, sessions, capacity, score, p->resv_id};
    redis_argv(on_reserved, p, 8, argv);
}

/* Admission: the key's fleet-wide count from Redis, then the policy's admit. */
static void on_key_count(void *ud, redisReply *r, const char *err) {
    struct placement *p = ud;
    struct request *req = p->req;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        req->on_abort = NULL;
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", err ? err : "bad reply");
        placement_free(p);
        return;
    }
    int server = 0, capacity = 0;
    for (struct backend *b = backends_list(); b; b = b->next)
        if (b->healthy && !b->draining) server += b->sessions, capacity += b->capacity;
    const json_t *given = json_object_get(p->body, "limits");
    json_t *limits = json_is_object(given) ? json_incref((json_t *)given) : json_object();
    json_t *areq = json_pack("{s:s,s:O,s:s,s:o,s:{s:i,s:I},s:i,s:i}", "kind", p->is_run ? "run" : "session",
                             "language", json_object_get(p->body, "language") ?: json_null(), "key", req->key_hash,
                             "limits", limits, "counts", "server",
                             server, "key", (json_int_t)r->integer, "capacity", capacity, "per_key",
                             app_config()->max_sessions_per_key);
    json_t *res = NULL;
    req->on_abort = NULL;
    json_t *args = json_pack("[o]", areq);
    int rc = hook_ask(req, "admit", args, &res);
    json_decref(args);
    if (rc < 0) {
        placement_free(p);
        return;
    }
    if (json_is_null(json_array_get(res, 0)) || json_is_false(json_array_get(res, 0))) {
        const char *reason = json_string_value(json_array_get(res, 1));
        const char *code = json_string_value(json_array_get(res, 2));
        const char *scope = json_string_value(json_array_get(res, 3));
        if (code && (strcmp(code, "too_many_sessions") == 0 || strcmp(code, "rate_limited") == 0))
            reply_error_with(req, 429, code, json_pack("{s:s}", "scope", scope ? scope : "server"), "%s",
                             reason ? reason : "refused");
        else reply_error(req, 403, "forbidden", "%s", reason ? reason : "the policy refused this request");
        json_decref(res);
        placement_free(p);
        return;
    }
    json_decref(res);
    http_set_abort(req, on_abort_placement, p);
    place(p);
}

static void on_keyset_pruned(void *ud, redisReply *r, const char *err) {
    struct placement *p = ud;
    (void)r;
    (void)err;
    char keyset[128];
    keyset_name(keyset, sizeof keyset, p->req->key_hash);
    const char *argv[] = {"ZCARD", keyset};
    redis_argv(on_key_count, p, 2, argv);
}

static void start_placement(struct request *req, int is_run) {
    if (!redis_ready()) {
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", redis_status());
        return;
    }
    json_t *body = request_json_object(req);
    if (!body) return;
    struct placement *p = calloc(1, sizeof *p);
    p->req = req;
    p->is_run = is_run;
    p->body = body;
    const json_t *life = json_object_get(json_object_get(body, "limits"), "lifetime_s");
    p->lifetime_s = json_is_integer(life) ? json_integer_value(life) : policy_limit_default("lifetime_s", 600);
    char keyset[128], now[32];
    keyset_name(keyset, sizeof keyset, req->key_hash);
    snprintf(now, sizeof now, "%.0f", wall_clock_ms());
    const char *argv[] = {"ZREMRANGEBYSCORE", keyset, "-inf", now};
    redis_argv(on_keyset_pruned, p, 4, argv);
}

static void handle_create(struct request *req) { start_placement(req, 0); }
static void handle_run(struct request *req) { start_placement(req, 1); }

/* ---- routing by session ------------------------------------------------------------------- */

struct routed {
    struct request *req;
    char id[64];
};

/* The session ended: it no longer counts for its key, and its route is kept
 * only as long as the backend keeps it readable. */
static void session_ended(const char *id, const char *owner) {
    char key[128], keyset[128], ttl[32];
    snprintf(key, sizeof key, "cc:session:%s", id);
    keyset_name(keyset, sizeof keyset, owner);
    const char *zrem[] = {"ZREM", keyset, id};
    redis_argv(NULL, NULL, 3, zrem);
    snprintf(ttl, sizeof ttl, "%ld", app_config()->ended_retention_ms / 1000 + 1);
    const char *expire[] = {"EXPIRE", key, ttl};
    redis_argv(NULL, NULL, 3, expire);
}

/* A gone backend's session, from the summary kept at creation. */
static void answer_lost(struct request *req, const char *id, redisReply *r) {
    const char *language = "", *created = "";
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "language") == 0) language = r->element[i + 1]->str;
        if (strcmp(r->element[i]->str, "created_at") == 0) created = r->element[i + 1]->str;
    }
    /* Lost sessions stay readable for the retention, then read 404. */
    char key[128], ttl[32];
    snprintf(key, sizeof key, "cc:session:%s", id);
    snprintf(ttl, sizeof ttl, "%ld", app_config()->ended_retention_ms / 1000 + 1);
    const char *argv[] = {"EXPIRE", key, ttl};
    redis_argv(NULL, NULL, 3, argv);
    const char *sub = req->path + strlen("/v1/sessions/") + strlen(id);
    if (strcmp(req->method, "DELETE") == 0) {
        reply_no_content(req);
    } else if (strcmp(req->method, "GET") == 0 && *sub == '\0') {
        reply_json(req, 200, json_pack("{s:s,s:s,s:s,s:n,s:n,s:s,s:s,s:s,s:i}", "id", id, "language", language,
                                       "state", "lost", "exit_code", "signal", "created_at", created,
                                       "last_active_at", created, "expires_at", created, "output_bytes", 0));
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
        answer_lost(req, rt->id, r);
        free(rt);
        return;
    }
    if (!b->healthy) {
        reply_error(req, 503, "unavailable", "the session's backend is unhealthy");
        free(rt);
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) session_ended(rt->id, owner);
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
    if (redis_start(loop, app_config()->redis, err, errlen) < 0) return -1;
    service_init("balancer", balancer_health);
    backends_routes_init();
    router_add(balancer_routes, sizeof balancer_routes / sizeof balancer_routes[0]);
    backends_start();
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
