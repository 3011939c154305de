/* balancer.c — placement of new sessions and runs, and routing by session.
 *
 * Redis keys (besides fleet.c's and placement.c's):
 *   cc:session:<id>   hash  backend, boot_id, owner (SHA-256 of the key), language,
 *                           created_at, lost_at (once found lost); expires at
 *                           lifetime + retention + 60 s (E2B's setTimeout resets it from the
 *                           new timeout), or retention after lost/ended */
#include "balancer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "clients/redis.h"
#include "fanout.h"
#include "fleet.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "http/service.h"
#include "placement.h"
#include "policy/app.h"

void balancer_handle_create(struct request *req) { placement_start(req, 0); }
void balancer_handle_run(struct request *req) { placement_start(req, 1); }

/* ---- routing by session ------------------------------------------------------------------- */

/* The session ended: it no longer counts for its key, and its route is kept
 * only as long as the backend keeps it readable. */
static void session_ended(const char *id, const char *owner, const char *url) {
    char key[128], keyset[128], member[256], ttl[32];
    snprintf(key, sizeof key, "cc:session:%s", id);
    placement_keyset_name(keyset, sizeof keyset, owner);
    placement_keyset_member(member, sizeof member, url, id);
    const char *zrem[] = {"ZREM", keyset, member};
    REDIS_ARGV(NULL, NULL, zrem);
    snprintf(ttl, sizeof ttl, "%ld", app_config()->ended_retention_ms / 1000 + 1);
    const char *expire[] = {"EXPIRE", key, ttl};
    REDIS_ARGV(NULL, NULL, expire);
}

/* A request for one session, with its route as Redis holds it. */
struct routed {
    struct request *req;
    char id[64];
    char owner[65];
    char url[128];
    char language[64];
    char created_at[40];
    char lost_at[32];      /* "" until found lost: wall ms it was lost since */
    int lost_is_new;       /* lost_at was computed now, not read from Redis */
    long raw_ms;           /* a dialect's request relayed as it is, for this long (not a /v1 path) */
    long long extend_s;    /* with raw_ms: once it succeeds the session ends this many seconds from now */
    struct proxy_call *call;
};

/* When the session was lost (its backend gone, or restarted since the
 * session was made), or 0 if it is not. */
static double lost_since(const struct routed *rt, const char *boot) {
    if (rt->lost_at[0]) return atof(rt->lost_at);
    struct fleet_backend *b = fleet_find(rt->url);
    if (!b) return 0; /* not in the set any more: asked directly (route_session) */
    int rebooted = boot[0] && b->boot_id[0] && strcmp(boot, b->boot_id) != 0;
    if (!fleet_gone(b) && !rebooted) return 0;
    return rebooted && b->rebooted_at ? b->rebooted_at : b->unhealthy_since ? b->unhealthy_since : wall_clock_ms();
}

/* A lost session as GET /v1/sessions/{id} shows it, from the summary kept at creation. */
static json_t *lost_session_json(const struct routed *rt, double since) {
    char expires[32];
    format_rfc3339_ms(expires, since + (double)app_config()->ended_retention_ms);
    return json_pack("{s:s,s:s,s:s,s:n,s:n,s:s,s:s,s:s,s:i}", "id", rt->id, "language", rt->language, "state",
                     "lost", "exit_code", "signal", "created_at", rt->created_at, "last_active_at",
                     rt->created_at, "expires_at", expires, "output_bytes", 0);
}

/* A gone backend's session: `lost` for the retention counted from when it
 * was lost, then 404. */
static void answer_lost(struct request *req, const struct routed *rt) {
    const char *id = rt->id;
    double now = wall_clock_ms(), since = rt->lost_at[0] ? atof(rt->lost_at) : now;
    if (now - since > (double)app_config()->ended_retention_ms) {
        reply_error(req, 404, "not_found", "no such session");
        return;
    }
    if (rt->lost_is_new) {
        char key[128];
        snprintf(key, sizeof key, "cc:session:%s", id);
        const char *hset[] = {"HSETNX", key, "lost_at", rt->lost_at};
        REDIS_ARGV(NULL, NULL, hset);
        session_ended(id, rt->owner, rt->url);
    }
    const char *sub = req->path + strlen("/v1/sessions/") + strlen(id);
    if (strcmp(req->method, "DELETE") == 0) {
        reply_no_content(req);
    } else if (strcmp(req->method, "GET") == 0 && *sub == '\0') {
        reply_json(req, 200, lost_session_json(rt, since));
    } else if (strcmp(req->method, "GET") == 0 && strcmp(sub, "/output") == 0) {
        reply_json(req, 200, json_pack("{s:[],s:i,s:i,s:s,s:n,s:n}", "events", "cursor", 0, "dropped", 0,
                                       "state", "lost", "exit_code", "signal"));
    } else {
        reply_error(req, 409, "conflict", "the session is lost: its backend is gone");
    }
}

static void copy_field(redisReply *r, const char *name, char *out, size_t len) {
    out[0] = '\0';
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, name) == 0) snprintf(out, len, "%s", r->element[i + 1]->str);
}

/* A backend no longer in the set (drained and removed) may still hold the
 * session's end for its retention: ask it; if nobody listens, it is lost. */
static void on_relayed_to_removed(void *ud, const struct proxy_answer *a) {
    struct routed *rt = ud;
    struct request *req = rt->req;
    http_set_abort(req, NULL, NULL);
    if (a->status) http_respond(req, a->status, a->content_type, a->body, a->len, NULL);
    else if (a->refused) answer_lost(req, rt);
    else reply_error(req, 503, "unavailable", "%s", a->err ? a->err : "the backend did not answer");
    free(rt);
}

static void on_removed_abort(struct request *req, void *ud) {
    struct routed *rt = ud;
    proxy_cancel(rt->call);
    free(rt);
    reply_error(req, 503, "unavailable", "the client went away");
}

static long relay_timeout(const struct request *req, const char *id) {
    char wait[32];
    long timeout = app_config()->backend_timeout_ms;
    if (http_query_param(req, "wait_ms", wait, sizeof wait) > 0) {
        long w = atol(wait);
        timeout += w < app_config()->max_wait_ms ? w : app_config()->max_wait_ms;
    }
    const char *sub = req->path + strlen("/v1/sessions/") + strlen(id);
    if (strcmp(sub, "/execute") == 0) timeout += 600000; /* the cell's own bound is the backend's */
    return timeout;
}

/* Routes seen recently, so that a session's requests do not each wait on
 * Redis: a route never changes once written.  An entry lives ROUTE_CACHE_MS
 * and is dropped on DELETE; a collision just evicts. */
#define ROUTE_CACHE_SLOTS 4096
#define ROUTE_CACHE_MS 5000

struct cached_route {
    char id[64];
    char owner[65];
    char url[128];
    char boot[64];
    char language[64];
    char created_at[40];
    double at;
    int ended;          /* its end is already recorded in Redis */
};

static struct cached_route *route_cache;

static struct cached_route *cache_slot(const char *id) {
    if (!route_cache) route_cache = calloc(ROUTE_CACHE_SLOTS, sizeof *route_cache);
    if (!route_cache) return NULL;
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return &route_cache[h % ROUTE_CACHE_SLOTS];
}

static void cache_drop(const char *id) {
    struct cached_route *e = cache_slot(id);
    if (e && strcmp(e->id, id) == 0) e->id[0] = '\0';
}

/* What the backend's answers about a session teach us. */
struct observed {
    char id[64];
    char owner[65];
    char url[128];
    long long extend_s;
};

/* The backend moved the session's end to extend_s from now: its route, and its
 * entries in its key's set and its backend's index, live as long as it does. */
static void observe_extension(void *ud, int status, const char *body, size_t len) {
    (void)body;
    (void)len;
    struct observed *o = ud;
    if (status >= 200 && status < 300) {
        long long ttl_s = o->extend_s + app_config()->ended_retention_ms / 1000 + 60;
        char key[128], ttl[32], keyset[128], member[256], expiry[32], index[200];
        snprintf(key, sizeof key, "cc:session:%s", o->id);
        snprintf(ttl, sizeof ttl, "%lld", ttl_s);
        const char *expire[] = {"EXPIRE", key, ttl};
        REDIS_ARGV(NULL, NULL, expire);
        placement_keyset_name(keyset, sizeof keyset, o->owner);
        placement_keyset_member(member, sizeof member, o->url, o->id);
        snprintf(expiry, sizeof expiry, "%.0f", wall_clock_ms() + (double)ttl_s * 1000.0);
        const char *zadd[] = {"ZADD", keyset, "XX", expiry, member};
        REDIS_ARGV(NULL, NULL, zadd);
        snprintf(index, sizeof index, "cc:backend_sessions:%s", o->url);
        const char *zidx[] = {"ZADD", index, "XX", expiry, o->id};
        REDIS_ARGV(NULL, NULL, zidx);
    }
    free(o);
}

/* A 404 from the session's own backend (to its owner or an admin: strangers
 * never reach it) means the backend forgot it: the route goes.  A final state
 * means it no longer counts for its key, and its route lives only as long as
 * the backend keeps it readable. */
static void observe_session(void *ud, int status, const char *body, size_t len) {
    struct observed *o = ud;
    if (status == 404) {
        char key[128], keyset[128], member[256];
        snprintf(key, sizeof key, "cc:session:%s", o->id);
        placement_keyset_name(keyset, sizeof keyset, o->owner);
        placement_keyset_member(member, sizeof member, o->url, o->id);
        const char *del[] = {"DEL", key};
        REDIS_ARGV(NULL, NULL, del);
        const char *zrem[] = {"ZREM", keyset, member};
        REDIS_ARGV(NULL, NULL, zrem);
        cache_drop(o->id);
    } else if (status == 200) {
        json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
        const char *state = json_string_value(json_object_get(j, "state"));
        if (state && strcmp(state, "running") != 0 && strcmp(state, "starting") != 0) {
            struct cached_route *e = cache_slot(o->id);
            int known_ended = e && strcmp(e->id, o->id) == 0 && e->ended;
            if (!known_ended) session_ended(o->id, o->owner, o->url);
            if (e && strcmp(e->id, o->id) == 0) e->ended = 1;
        }
        json_decref(j);
    }
    free(o);
}

/* Decide where a request for a known session goes. */
static void route_session(struct routed *rt, const char *boot) {
    struct request *req = rt->req;
    /* A raw request without a key (E2B's sandbox calls) carries its dialect's own
     * proof, which the backend checks. */
    int capability = rt->raw_ms && !req->key_hash[0];
    if (!capability && !req->is_admin && strcmp(rt->owner, req->key_hash) != 0) {
        reply_error(req, 404, "not_found", "no such session");
        free(rt);
        return;
    }
    struct fleet_backend *b = fleet_find(rt->url);
    double since = lost_since(rt, boot);
    if (rt->raw_ms && (since > 0 || !b || !b->healthy)) {
        /* E2B's proxy answers 502 for a sandbox that is not running. */
        reply_error(req, 502, "unavailable", "the sandbox is not running: its backend is gone or unhealthy");
        free(rt);
        return;
    }
    if (rt->raw_ms) {
        struct observed *o = rt->extend_s > 0 ? calloc(1, sizeof *o) : NULL;
        if (o) {
            snprintf(o->id, sizeof o->id, "%s", rt->id);
            snprintf(o->owner, sizeof o->owner, "%s", rt->owner);
            snprintf(o->url, sizeof o->url, "%s", rt->url);
            o->extend_s = rt->extend_s;
        }
        proxy_relay(req, rt->url, rt->raw_ms, o ? observe_extension : NULL, o);
        free(rt);
        return;
    }
    if (since > 0) {
        /* Lost since the backend went away, whenever this session is first read. */
        if (!rt->lost_at[0]) {
            snprintf(rt->lost_at, sizeof rt->lost_at, "%.0f", since);
            rt->lost_is_new = 1;
        }
        cache_drop(rt->id);
        answer_lost(req, rt);
        free(rt);
        return;
    }
    if (b && !b->healthy) {
        reply_error(req, 503, "unavailable", "the session's backend is unhealthy");
        free(rt);
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        cache_drop(rt->id);
        session_ended(rt->id, rt->owner, rt->url);
    }
    size_t plen = strlen(req->path);
    if (b && plen > 3 && strcmp(req->path + plen - 3, "/ws") == 0) {
        proxy_tunnel(req, rt->url, NULL, NULL);
    } else if (b) {
        /* Below /files a 404 is a missing file, not a forgotten session. */
        const char *sub = req->path + strlen("/v1/sessions/") + strlen(rt->id);
        struct observed *o = strncmp(sub, "/files", 6) == 0 ? NULL : calloc(1, sizeof *o);
        if (o) {
            snprintf(o->id, sizeof o->id, "%s", rt->id);
            snprintf(o->owner, sizeof o->owner, "%s", rt->owner);
            snprintf(o->url, sizeof o->url, "%s", rt->url);
        }
        proxy_relay(req, rt->url, relay_timeout(req, rt->id), o ? observe_session : NULL, o);
    } else {
        rt->call = proxy_send(rt->url, req->method, req->target, req, req->body.data, req->body.len,
                              relay_timeout(req, rt->id), on_relayed_to_removed, rt);
        if (rt->call) {
            http_set_abort(req, on_removed_abort, rt);
            return; /* rt is freed by on_relayed_to_removed */
        }
        answer_lost(req, rt);
    }
    free(rt);
}

static void on_session_route(void *ud, redisReply *r, const char *err) {
    struct routed *rt = ud;
    struct request *req = rt->req;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", err ? err : "bad reply");
        free(rt);
        return;
    }
    char boot[64];
    copy_field(r, "owner", rt->owner, sizeof rt->owner);
    copy_field(r, "backend", rt->url, sizeof rt->url);
    copy_field(r, "boot_id", boot, sizeof boot);
    copy_field(r, "language", rt->language, sizeof rt->language);
    copy_field(r, "created_at", rt->created_at, sizeof rt->created_at);
    copy_field(r, "lost_at", rt->lost_at, sizeof rt->lost_at);
    if (!rt->url[0]) {
        if (rt->raw_ms) reply_error(req, 502, "unavailable", "no such sandbox");
        else if (strcmp(req->method, "DELETE") == 0) reply_no_content(req);
        else reply_error(req, 404, "not_found", "no such session");
        free(rt);
        return;
    }
    struct cached_route *e = rt->lost_at[0] ? NULL : cache_slot(rt->id);
    if (e) {
        snprintf(e->id, sizeof e->id, "%s", rt->id);
        snprintf(e->owner, sizeof e->owner, "%s", rt->owner);
        snprintf(e->url, sizeof e->url, "%s", rt->url);
        snprintf(e->boot, sizeof e->boot, "%s", boot);
        snprintf(e->language, sizeof e->language, "%s", rt->language);
        snprintf(e->created_at, sizeof e->created_at, "%s", rt->created_at);
        e->at = wall_clock_ms();
    }
    route_session(rt, boot);
}

/* Route `req` for session `id`: as a /v1 request (raw_ms 0) or relayed as it is. */
static void route_by_session(struct request *req, const char *id, long raw_ms, long long extend_s) {
    struct routed *rt = request_calloc(req, sizeof *rt);
    if (!rt) return;
    rt->req = req;
    rt->raw_ms = raw_ms;
    rt->extend_s = extend_s;
    snprintf(rt->id, sizeof rt->id, "%s", id);
    struct cached_route *e = cache_slot(rt->id);
    if (e && strcmp(e->id, rt->id) == 0 && wall_clock_ms() - e->at < ROUTE_CACHE_MS) {
        snprintf(rt->owner, sizeof rt->owner, "%s", e->owner);
        snprintf(rt->url, sizeof rt->url, "%s", e->url);
        snprintf(rt->language, sizeof rt->language, "%s", e->language);
        snprintf(rt->created_at, sizeof rt->created_at, "%s", e->created_at);
        char boot[64];
        snprintf(boot, sizeof boot, "%s", e->boot);
        route_session(rt, boot);
        return;
    }
    if (!redis_ready()) {
        free(rt);
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", redis_status());
        return;
    }
    char key[128];
    snprintf(key, sizeof key, "cc:session:%s", rt->id);
    const char *argv[] = {"HGETALL", key};
    REDIS_ARGV(on_session_route, rt, argv);
}

void balancer_handle_session(struct request *req) { route_by_session(req, req->params[0], 0, 0); }

void balancer_relay_session(struct request *req, const char *id, long timeout_ms, long long extend_s) {
    route_by_session(req, id, timeout_ms > 0 ? timeout_ms : app_config()->backend_timeout_ms, extend_s);
}

/* ---- merged listings ------------------------------------------------------------------------ */

/* GET /v1/sessions: what every healthy backend answers, plus the sessions
 * of backends gone (or restarted) since, from their summaries in Redis:
 *   cc:backend_sessions:<url>  zset  session ids placed there, score = expiry (ms) */
struct listing {
    struct request *req;
    json_t *sessions;
    int pending;         /* Redis replies awaited */
    int only_mine;
};

static void listing_done(struct listing *l) {
    if (--l->pending > 0) return;
    reply_json(l->req, 200, json_pack("{s:o}", "sessions", l->sessions));
    free(l);
}

struct lost_probe {
    struct listing *l;
    struct routed rt;
};

static void on_lost_summary(void *ud, redisReply *r, const char *err) {
    (void)err;
    struct lost_probe *lp = ud;
    struct listing *l = lp->l;
    struct request *req = l->req;
    char boot[64];
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements) {
        copy_field(r, "owner", lp->rt.owner, sizeof lp->rt.owner);
        copy_field(r, "boot_id", boot, sizeof boot);
        copy_field(r, "language", lp->rt.language, sizeof lp->rt.language);
        copy_field(r, "created_at", lp->rt.created_at, sizeof lp->rt.created_at);
        copy_field(r, "lost_at", lp->rt.lost_at, sizeof lp->rt.lost_at);
        int visible = (req->is_admin && !l->only_mine) || strcmp(lp->rt.owner, req->key_hash) == 0;
        double since = visible ? lost_since(&lp->rt, boot) : 0;
        if (since > 0 && wall_clock_ms() - since <= (double)app_config()->ended_retention_ms)
            json_array_append_new(l->sessions, lost_session_json(&lp->rt, since));
    }
    free(lp);
    listing_done(l);
}

static void on_backend_index(void *ud, redisReply *r, const char *err) {
    (void)err;
    struct listing *l = ud;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *entry = r->element[i]->str, *space = strchr(entry, ' ');
        if (!space) continue;
        struct lost_probe *lp = calloc(1, sizeof *lp);
        if (!lp) continue;
        lp->l = l;
        snprintf(lp->rt.url, sizeof lp->rt.url, "%.*s", (int)(space - entry), entry);
        snprintf(lp->rt.id, sizeof lp->rt.id, "%s", space + 1);
        char key[128];
        snprintf(key, sizeof key, "cc:session:%s", lp->rt.id);
        const char *argv[] = {"HGETALL", key};
        l->pending++;
        REDIS_ARGV(on_lost_summary, lp, argv);
    }
    listing_done(l);
}

static void on_sessions_gathered(struct request *req, json_t *answers, void *ud) {
    (void)ud;
    struct listing *l = calloc(1, sizeof *l);
    json_t *all = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(answers, i, a) json_array_extend(all, json_object_get(a, "sessions"));
    if (!l || !redis_ready()) {
        free(l);
        reply_json(req, 200, json_pack("{s:o}", "sessions", all));
        return;
    }
    char mine[8];
    l->req = req;
    l->sessions = all;
    l->pending = 1;
    l->only_mine = http_query_param(req, "mine", mine, sizeof mine) > 0 && strcmp(mine, "0") != 0;
    /* One Lua call per backend that lost sessions: its live index, as "<url> <id>". */
    static const char index_script[] =
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) "
        "local out = {} "
        "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do out[#out + 1] = ARGV[2] .. ' ' .. id end "
        "return out";
    for (struct fleet_backend *b = fleet_list(); b; b = b->next) {
        /* Only where sessions can be lost: each one then decides (lost_at, or gone). */
        if (b->healthy && !b->rebooted_at) continue;
        char key[200], now[32];
        snprintf(key, sizeof key, "cc:backend_sessions:%s", b->url);
        snprintf(now, sizeof now, "%.0f", wall_clock_ms());
        const char *argv[] = {"EVAL", index_script, "1", key, now, b->url};
        l->pending++;
        REDIS_ARGV(on_backend_index, l, argv);
    }
    listing_done(l);
}

void balancer_handle_list(struct request *req) {
    fanout_get(req, req->target, on_sessions_gathered, NULL);
}

static char *languages_text; /* the last union gathered, and when */
static double languages_at;

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
    json_t *body = json_pack("{s:o}", "languages", list);
    free(languages_text);
    languages_text = json_text(body);
    languages_at = wall_clock_ms();
    reply_json(req, 200, body);
}

/* The union changes only with the backends' health: answer from the last one
 * gathered for a health interval. */
void balancer_handle_languages(struct request *req) {
    if (languages_text && wall_clock_ms() - languages_at < (double)app_config()->health_interval_ms) {
        http_respond(req, 200, "application/json", languages_text, strlen(languages_text), NULL);
        return;
    }
    fanout_get(req, "/v1/languages", on_languages_gathered, NULL);
}

/* ---- health, start, stop -------------------------------------------------------------------- */

static int balancer_health(json_t *body) {
    int sessions = 0, capacity = 0;
    json_t *backends = json_object();
    for (struct fleet_backend *b = fleet_list(); b; b = b->next) {
        if (b->healthy) sessions += b->sessions, capacity += b->capacity;
        json_object_set_new(backends, b->url, json_string(b->healthy ? "ok" : fleet_gone(b) ? "gone" : "unhealthy"));
    }
    json_object_set_new(body, "sessions", json_integer(sessions));
    json_object_set_new(body, "capacity", json_integer(capacity));
    json_object_set_new(body, "checks", json_pack("{s:s,s:o}", "redis", redis_status(), "backends", backends));
    return redis_ready() && fleet_any_healthy() ? 0 : 2;
}

int balancer_init(uv_loop_t *loop, char *err, size_t errlen) {
    fleet_start(); /* registers its Redis connect hook first */
    const struct config *c = app_config();
    if (redis_start(loop, c->redis, c->redis_connect_timeout_ms, c->redis_command_timeout_ms, err, errlen) < 0) return -1;
    service_init("balancer", balancer_health);
    return 0;
}

static void (*stopped_cb)(void);

static void on_redis_stopped(void) {
    if (stopped_cb) stopped_cb();
}

void balancer_shutdown(void (*done)(void)) {
    stopped_cb = done;
    http_conn_close_upgraded(); /* WebSocket tunnels: the backends end their own sockets */
    fleet_stop();
    proxy_pool_close();
    free(route_cache);
    route_cache = NULL;
    free(languages_text);
    languages_text = NULL;
    redis_stop(on_redis_stopped);
}
