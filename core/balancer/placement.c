/* placement.c — placing new sessions and runs on backends.
 *
 * Redis keys used here (docs/balancer.md lists them all):
 *   cc:keyset:<hash>  zset  the key's sessions and runs, member "<backend url> <id>",
 *                           score = when it expires at the latest (ms)
 *   cc:resv:<url>     zset  reservations: member = placement id, score = when it may
 *                           lapse (a health report begun after that drops it)
 *   cc:session:<id>   hash  the session's route (see balancer.c)
 *
 * A placement is always waiting on exactly one thing (a Redis reply, a
 * backend's answer, or the fan-out that recounts the key's sessions).  When
 * the client leaves, the placement is only marked (req = NULL) and that one
 * callback cleans up, releasing any reservation it holds.
 *
 * A dialect's request (placement_relay: a seed user_id's first create or upload,
 * a keyless Piston execute or connect) takes the same count, admission, pick and
 * reservation, then goes to the dialect, which relays it unchanged and reports
 * the answer (placement_finish): the reservation lapses or is released as for /v1. */
#include "placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "clients/redis.h"
#include "fleet.h"
#include "http/hooks.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "policy/app.h"

#define MAX_EXCLUDED 16

static const char reserve_script[] =
    "local n = redis.call('ZCARD', KEYS[1]) "
    "if tonumber(ARGV[1]) + n >= tonumber(ARGV[2]) then return 0 end "
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4]) "
    "redis.call('PEXPIRE', KEYS[1], 3600000) "
    "return 1";

struct placement {
    struct request *req;      /* NULL once the client has left or the request was handed over */
    char key_hash[65];        /* the caller's, kept for clean-ups after it left */
    int is_run;
    json_t *body;             /* /v1: the request's; a dialect's: {kind, dialect, language} */
    placement_placed_fn placed; /* a dialect's (NULL: /v1, forwarded here) */
    void *placed_ud;
    int handed_over;          /* placed() had the backend: placement_finish frees */
    char excluded[MAX_EXCLUDED][128];
    int nexcluded;
    char url[128];
    char boot_id[64];
    char resv_id[40];
    int reserved;             /* holds a reservation on url */
    struct proxy_call *call;
    long long lifetime_s;
    long long key_count;      /* live sessions and runs of the key */
    int recount_pending;
    /* A created session's answer, sent once its route is stored. */
    int status;
    char *answer;
    size_t answer_len;
    char ctype[128];
    char session_id[64];
};

void placement_keyset_name(char *out, size_t len, const char *key_hash) {
    snprintf(out, len, "cc:keyset:%s", key_hash[0] ? key_hash : "open");
}

void placement_keyset_member(char *out, size_t len, const char *backend_url, const char *id) {
    snprintf(out, len, "%s %s", backend_url, id);
}

static long long limit_default(const char *name, long long fallback) {
    const json_t *v = json_object_get(json_object_get(app_config()->limits, name), "default");
    return json_is_number(v) ? (long long)json_number_value(v) : fallback;
}

static void release_reservation(struct placement *p) {
    if (!p->reserved) return;
    p->reserved = 0;
    char key[200];
    snprintf(key, sizeof key, "cc:resv:%s", p->url);
    const char *argv[] = {"ZREM", key, p->resv_id};
    REDIS_ARGV(NULL, NULL, argv);
}

/* The backend took what was placed: the reservation lapses at the first health report begun after
 * its answer (one that counts what it took). */
static void lapse_reservation(struct placement *p) {
    if (!p->reserved) return;
    p->reserved = 0;
    char key[200], now[32];
    snprintf(key, sizeof key, "cc:resv:%s", p->url);
    snprintf(now, sizeof now, "%.0f", wall_clock_ms());
    const char *argv[] = {"ZADD", key, "XX", now, p->resv_id};
    REDIS_ARGV(NULL, NULL, argv);
}

static void keyset_remove(struct placement *p, const char *id) {
    char keyset[128], member[256];
    placement_keyset_name(keyset, sizeof keyset, p->key_hash);
    placement_keyset_member(member, sizeof member, p->url, id);
    const char *argv[] = {"ZREM", keyset, member};
    REDIS_ARGV(NULL, NULL, argv);
}

static void uncount_run(struct placement *p) {
    char run_id[64];
    snprintf(run_id, sizeof run_id, "run:%s", p->resv_id);
    keyset_remove(p, run_id);
}

static void placement_free(struct placement *p) {
    release_reservation(p);
    if (p->placed && !p->handed_over) p->placed(NULL, NULL, NULL, p->placed_ud);
    json_decref(p->body);
    free(p->answer);
    free(p);
}

/* 1 (and the placement is freed) if the client has left meanwhile. */
static int client_left(struct placement *p) {
    if (p->req) return 0;
    placement_free(p);
    return 1;
}

static void fail(struct placement *p, int status, const char *code, const char *scope, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fail(struct placement *p, int status, const char *code, const char *scope, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct request *req = p->req;
    http_set_abort(req, NULL, NULL);
    if (scope) reply_error_with(req, status, code, json_pack("{s:s}", "scope", scope), "%s", msg);
    else reply_error(req, status, code, "%s", msg);
    placement_free(p);
}

static void on_abort(struct request *req, void *ud) {
    struct placement *p = ud;
    p->req = NULL;
    if (p->call) {
        /* Waiting on the backend: nothing else will call back. */
        proxy_cancel(p->call);
        p->call = NULL;
        placement_free(p);
    }
    reply_error(req, 503, "unavailable", "the client went away");
}

static int any_healthy(void) {
    for (struct fleet_backend *b = fleet_list(); b; b = b->next)
        if (b->healthy && !fleet_gone(b)) return 1;
    return 0;
}

/* ---- the backend's answer -------------------------------------------------------------- */

static void place(struct placement *p);

static void answer_client(struct placement *p) {
    struct request *req = p->req;
    http_set_abort(req, NULL, NULL);
    http_respond(req, p->status, p->ctype[0] ? p->ctype : NULL, p->answer ? p->answer : "", p->answer_len, NULL);
    placement_free(p);
}

/* The session is in its key's set (Redis answers one connection's commands in order, so the
 * reply to the last ZADD follows the keyset's): only now is the client answered, so that its next
 * create, through any balancer, counts this session. */
static void on_session_counted(void *ud, redisReply *r, const char *err) {
    (void)r;
    (void)err;
    struct placement *p = ud;
    if (client_left(p)) return;
    answer_client(p);
}

/* The route is stored: only now may the client use the session. */
static void on_route_stored(void *ud, redisReply *r, const char *err) {
    struct placement *p = ud;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        /* Unroutable: do not leave it running. */
        char target[128];
        snprintf(target, sizeof target, "/v1/sessions/%s", p->session_id);
        proxy_send(p->url, "DELETE", target, p->req, NULL, 0, app_config()->backend_timeout_ms, NULL, NULL);
        if (client_left(p)) return;
        fail(p, 503, "unavailable", NULL, "Redis is unavailable: %s", err ? err : "error reply");
        return;
    }
    char key[128], ttl[32], keyset[128], member[256], expiry[32];
    long long ttl_s = p->lifetime_s + app_config()->ended_retention_ms / 1000 + 60;
    snprintf(key, sizeof key, "cc:session:%s", p->session_id);
    snprintf(ttl, sizeof ttl, "%lld", ttl_s);
    const char *expire[] = {"EXPIRE", key, ttl};
    REDIS_ARGV(NULL, NULL, expire);
    lapse_reservation(p);
    if (client_left(p)) return;
    placement_keyset_name(keyset, sizeof keyset, p->key_hash);
    placement_keyset_member(member, sizeof member, p->url, p->session_id);
    snprintf(expiry, sizeof expiry, "%.0f", wall_clock_ms() + (double)ttl_s * 1000.0);
    const char *zadd[] = {"ZADD", keyset, expiry, member};
    REDIS_ARGV(NULL, NULL, zadd);
    /* The backend's index: what to list as lost if the backend goes away. */
    char index[200];
    snprintf(index, sizeof index, "cc:backend_sessions:%s", p->url);
    const char *zidx[] = {"ZADD", index, expiry, p->session_id};
    REDIS_ARGV(on_session_counted, p, zidx);
}

static void store_route(struct placement *p) {
    char key[128], created[32];
    snprintf(key, sizeof key, "cc:session:%s", p->session_id);
    format_rfc3339_ms(created, wall_clock_ms());
    const char *lang = json_string_value(json_object_get(p->body, "language"));
    const char *hset[] = {"HSET", key, "backend", p->url, "boot_id", p->boot_id, "owner", p->key_hash,
                          "language", lang ? lang : "", "created_at", created};
    REDIS_ARGV(on_route_stored, p, hset);
}

/* Place again, p->url excluded.  The list fills only once MAX_EXCLUDED backends have turned this
 * one placement away: answer then, rather than drop the exclusion and ask one of them again. */
static void place_elsewhere(struct placement *p) {
    if (p->nexcluded == MAX_EXCLUDED) {
        log_msgf(LOG_WARN, "placement_exhausted", "%d backends turned one placement away (MAX_EXCLUDED)", MAX_EXCLUDED);
        fail(p, 503, "unavailable", NULL, "%d backends were tried and none took it", MAX_EXCLUDED);
        return;
    }
    snprintf(p->excluded[p->nexcluded++], sizeof p->excluded[0], "%s", p->url);
    place(p);
}

static void on_backend_answer(void *ud, const struct proxy_answer *a) {
    struct placement *p = ud;
    p->call = NULL;
    if (p->is_run) uncount_run(p);
    if (a->status == 0) {
        release_reservation(p);
        if (a->refused) {
            /* Nothing listens there, so nothing was created: place elsewhere. */
            place_elsewhere(p);
            return;
        }
        fail(p, 503, "unavailable", NULL, "%s", a->err ? a->err : "the backend did not answer");
        return;
    }
    json_t *answer = json_loadb(a->body, a->len, JSON_ALLOW_NUL, NULL);
    const char *scope = json_string_value(json_object_get(json_object_get(answer, "error"), "scope"));
    if (a->status == 429 && scope && strcmp(scope, "server") == 0) {
        /* That backend is full after all: place again, once per backend. */
        json_decref(answer);
        release_reservation(p);
        place_elsewhere(p);
        return;
    }
    p->status = a->status;
    p->answer = malloc(a->len + 1);
    if (p->answer) memcpy(p->answer, a->body, a->len);
    p->answer_len = p->answer ? a->len : 0;
    snprintf(p->ctype, sizeof p->ctype, "%s", a->content_type ? a->content_type : "application/json");
    const char *id = json_string_value(json_object_get(answer, "id"));
    if (!p->is_run && a->status == 201 && id) {
        snprintf(p->session_id, sizeof p->session_id, "%s", id);
        json_decref(answer);
        store_route(p);
        return;
    }
    json_decref(answer);
    release_reservation(p);
    answer_client(p);
}

/* How long the backend may take: a run also its timeout (the request's or the policy's default). */
static long long forward_timeout_ms(const struct placement *p) {
    long long timeout = app_config()->backend_timeout_ms + app_config()->compile_allowance_ms;
    if (!p->is_run) return timeout;
    /* A judge (/v1/judge) runs the program once per test case, each with its own timeout. */
    const json_t *t = json_object_get(json_object_get(p->body, "limits"), "timeout_ms");
    long long each = json_is_integer(t) ? json_integer_value(t) : limit_default("timeout_ms", 10000);
    const json_t *cases = json_object_get(p->body, "cases");
    size_t i;
    json_t *c;
    timeout += json_array_size(cases) ? 0 : each;
    json_array_foreach(cases, i, c) {
        const json_t *ct = json_object_get(json_object_get(c, "limits"), "timeout_ms");
        timeout += json_is_integer(ct) ? json_integer_value(ct) : each;
    }
    return timeout;
}

/* A run counts for its key while it runs (at most `timeout_ms`, should its end be missed). */
static void count_run(struct placement *p, long long timeout_ms) {
    char keyset[128], member[256], run_id[64], expiry[32];
    placement_keyset_name(keyset, sizeof keyset, p->key_hash);
    snprintf(run_id, sizeof run_id, "run:%s", p->resv_id);
    placement_keyset_member(member, sizeof member, p->url, run_id);
    snprintf(expiry, sizeof expiry, "%.0f", wall_clock_ms() + (double)timeout_ms);
    const char *zadd[] = {"ZADD", keyset, expiry, member};
    REDIS_ARGV(NULL, NULL, zadd);
}

/* The dialect relays the request from here on; placement_finish follows. */
static void hand_over(struct placement *p) {
    struct request *req = p->req;
    http_set_abort(req, NULL, NULL);
    p->req = NULL;
    p->handed_over = 1;
    p->placed(p, req, p->url, p->placed_ud);
}

void placement_finish(struct placement *p, int taken) {
    if (p->is_run) uncount_run(p);
    if (taken) lapse_reservation(p);
    placement_free(p); /* releases a reservation not lapsed */
}

static void forward(struct placement *p) {
    struct request *req = p->req;
    long long timeout = forward_timeout_ms(p);
    if (p->is_run) count_run(p, timeout);
    if (p->placed) {
        hand_over(p);
        return;
    }
    p->call = proxy_send(p->url, "POST", req->target, req, req->body.data, req->body.len, (long)timeout,
                         on_backend_answer, p);
    if (!p->call) fail(p, 503, "unavailable", NULL, "cannot reach the backend %s", p->url);
}

static void on_reserved(void *ud, redisReply *r, const char *err) {
    struct placement *p = ud;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) p->reserved = 1;
    if (client_left(p)) return; /* releases what it just took */
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        fail(p, 503, "unavailable", NULL, "Redis is unavailable: %s", err ? err : (r && r->str ? r->str : "bad reply"));
        return;
    }
    if (!p->reserved) {
        /* Full, counting reservations of other balancers. */
        place_elsewhere(p);
        return;
    }
    struct fleet_backend *b = fleet_find(p->url);
    if (b) b->reserved++; /* until the next health report recounts */
    forward(p);
}

static int is_excluded(const char *url, const void *ud) {
    const struct placement *p = ud;
    for (int i = 0; i < p->nexcluded; i++)
        if (strcmp(p->excluded[i], url) == 0) return 1;
    return 0;
}

/* Ask the policy's pick_backend for `body` among the healthy, non-draining backends that `skip`
 * (NULL: none) does not skip: *chosen is its choice, or NULL when it chose none (or there was
 * none to choose from).  -1 if the hook failed: the request is then answered (hook_ask). */
static int placement_pick(struct request *req, const json_t *body, int (*skip)(const char *url, const void *ud),
                          const void *ud, struct fleet_backend **chosen) {
    json_t *candidates = json_array(), *res = NULL;
    for (struct fleet_backend *b = fleet_list(); b; b = b->next)
        if (b->healthy && !fleet_gone(b) && !b->draining && !(skip && skip(b->url, ud)))
            json_array_append_new(candidates, fleet_json_for_policy(b));
    json_t *args = json_pack("[o,O]", candidates, body);
    int rc = json_array_size(candidates) ? hook_ask(req, "pick_backend", args, &res) : 0;
    json_decref(args);
    const char *url = json_string_value(json_array_get(res, 0));
    *chosen = url ? fleet_find(url) : NULL;
    if (*chosen && skip && skip((*chosen)->url, ud)) *chosen = NULL;
    json_decref(res);
    return rc;
}

struct fleet_backend *placement_pick_for(struct request *req, const char *kind) {
    struct fleet_backend *b;
    json_t *what = json_pack("{s:s}", "kind", kind);
    int rc = placement_pick(req, what, NULL, NULL, &b);
    json_decref(what);
    if (rc == 0 && !b) reply_error(req, 503, "unavailable", "no healthy backend can take a %s request", kind);
    return b;
}

static void place(struct placement *p) {
    struct request *req = p->req;
    if (!any_healthy()) {
        fail(p, 503, "unavailable", NULL, "no healthy backend");
        return;
    }
    struct fleet_backend *b;
    http_set_abort(req, NULL, NULL); /* hook_ask answers the request if the hook fails */
    if (placement_pick(req, p->body, is_excluded, p, &b) < 0) {
        placement_free(p);
        return;
    }
    http_set_abort(req, on_abort, p);
    if (!b) {
        fail(p, 429, "too_many_sessions", "server", "every healthy backend is at its session limit");
        return;
    }
    snprintf(p->url, sizeof p->url, "%s", b->url);
    snprintf(p->boot_id, sizeof p->boot_id, "%s", b->boot_id);
    random_hex(p->resv_id, 16);
    char key[200], sessions[16], capacity[16], score[32];
    snprintf(key, sizeof key, "cc:resv:%s", p->url);
    snprintf(sessions, sizeof sessions, "%d", b->sessions);
    snprintf(capacity, sizeof capacity, "%d", b->capacity);
    snprintf(score, sizeof score, "%.0f", wall_clock_ms() + (double)app_config()->reservation_hold_ms);
    const char *argv[] = {"EVAL", reserve_script, "1", key, sessions, capacity, score, p->resv_id};
    REDIS_ARGV(on_reserved, p, argv);
}

/* ---- admission ------------------------------------------------------------------------------ */

static void admit(struct placement *p) {
    struct request *req = p->req;
    int server = 0, capacity = 0;
    for (struct fleet_backend *b = fleet_list(); b; b = b->next)
        if (b->healthy && !b->draining) server += b->sessions, capacity += b->capacity;
    const json_t *given = json_object_get(p->body, "limits");
    json_t *limits = json_is_object(given) ? json_incref((json_t *)given) : json_object();
    json_t *areq = json_pack("{s:s,s:O,s:s,s:o,s:{s:i,s:I},s:i,s:i}", "kind", p->is_run ? "run" : "session",
                             "language", json_object_get(p->body, "language") ?: json_null(), "key", req->key_hash,
                             "limits", limits, "counts", "server", server, "key", (json_int_t)p->key_count,
                             "capacity", capacity, "per_key", app_config()->max_sessions_per_key);
    if (p->placed) json_object_set(areq, "dialect", json_object_get(p->body, "dialect"));
    json_t *admitted = NULL;
    http_set_abort(req, NULL, NULL); /* hook_admit answers the request if it refuses */
    int rc = hook_admit(req, areq, &admitted);
    json_decref(areq);
    json_decref(admitted);
    if (rc < 0) {
        placement_free(p);
        return;
    }
    http_set_abort(req, on_abort, p);
    place(p);
}

/* Near the cap the count is checked against the backends themselves, so that
 * sessions which ended on their own (or were lost) stop counting. */
static void on_member_checked(void *ud, const struct proxy_answer *a);

struct member_check {
    struct placement *p;
    char member[256];
};

static void recount_done(struct placement *p) {
    if (--p->recount_pending > 0) return;
    if (client_left(p)) return;
    admit(p);
}

static void drop_member(struct placement *p, const char *member) {
    char keyset[128];
    placement_keyset_name(keyset, sizeof keyset, p->key_hash);
    const char *argv[] = {"ZREM", keyset, member};
    REDIS_ARGV(NULL, NULL, argv);
}

static void on_member_checked(void *ud, const struct proxy_answer *a) {
    struct member_check *mc = ud;
    struct placement *p = mc->p;
    json_t *j = a->status == 200 ? json_loadb(a->body, a->len, JSON_ALLOW_NUL, NULL) : NULL;
    const char *state = json_string_value(json_object_get(j, "state"));
    int live = a->status == 0 || (state && (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0));
    json_decref(j);
    if (!live) {
        drop_member(p, mc->member);
        p->key_count--;
    }
    free(mc);
    recount_done(p);
}

/* 1 (and the placement is answered or freed) if the client left or Redis did not give a reply of `type`. */
static int reply_lacking(struct placement *p, const redisReply *r, int type, const char *err) {
    if (client_left(p)) return 1;
    if (r && r->type == type) return 0;
    fail(p, 503, "unavailable", NULL, "Redis is unavailable: %s", err ? err : "bad reply");
    return 1;
}

static void on_members(void *ud, redisReply *r, const char *err) {
    struct placement *p = ud;
    if (reply_lacking(p, r, REDIS_REPLY_ARRAY, err)) return;
    p->key_count = (long long)r->elements;
    p->recount_pending = 1;
    for (size_t i = 0; i < r->elements; i++) {
        const char *member = r->element[i]->str, *space = strchr(member, ' ');
        if (!space || strncmp(space + 1, "run:", 4) == 0) continue; /* runs end on their own, soon */
        char url[128], target[128];
        snprintf(url, sizeof url, "%.*s", (int)(space - member), member);
        struct fleet_backend *b = fleet_find(url);
        if (!b || fleet_gone(b)) {
            drop_member(p, member); /* lost */
            p->key_count--;
            continue;
        }
        struct member_check *mc = calloc(1, sizeof *mc);
        if (!mc) continue;
        mc->p = p;
        snprintf(mc->member, sizeof mc->member, "%s", member);
        snprintf(target, sizeof target, "/v1/sessions/%s", space + 1);
        p->recount_pending++;
        if (!proxy_send(url, "GET", target, p->req, NULL, 0, app_config()->backend_timeout_ms, on_member_checked, mc)) {
            p->recount_pending--;
            free(mc);
        }
    }
    recount_done(p);
}

static void on_key_count(void *ud, redisReply *r, const char *err) {
    struct placement *p = ud;
    if (reply_lacking(p, r, REDIS_REPLY_INTEGER, err)) return;
    p->key_count = r->integer;
    if (p->key_count < app_config()->max_sessions_per_key) {
        admit(p);
        return;
    }
    char keyset[128];
    placement_keyset_name(keyset, sizeof keyset, p->key_hash);
    const char *argv[] = {"ZRANGE", keyset, "0", "-1"};
    REDIS_ARGV(on_members, p, argv);
}

static void on_keyset_pruned(void *ud, redisReply *r, const char *err) {
    (void)r;
    (void)err;
    struct placement *p = ud;
    if (client_left(p)) return;
    char keyset[128];
    placement_keyset_name(keyset, sizeof keyset, p->key_hash);
    const char *argv[] = {"ZCARD", keyset};
    REDIS_ARGV(on_key_count, p, argv);
}

/* 0, or -1 after answering: nothing can be placed now. */
static int can_place(struct request *req) {
    if (!redis_ready()) {
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", redis_status());
        return -1;
    }
    if (!any_healthy()) {
        reply_error(req, 503, "unavailable", "no healthy backend");
        return -1;
    }
    return 0;
}

/* Place `req` (`body` is stolen): first the key's count, then admit, pick, reserve. */
static void start(struct request *req, json_t *body, int is_run, placement_placed_fn placed, void *placed_ud) {
    struct placement *p = request_calloc(req, sizeof *p);
    if (!p) {
        json_decref(body);
        if (placed) placed(NULL, NULL, NULL, placed_ud);
        return;
    }
    p->req = req;
    snprintf(p->key_hash, sizeof p->key_hash, "%s", req->key_hash);
    p->is_run = is_run;
    p->body = body;
    p->placed = placed;
    p->placed_ud = placed_ud;
    const json_t *life = json_object_get(json_object_get(body, "limits"), "lifetime_s");
    p->lifetime_s = json_is_integer(life) ? json_integer_value(life) : limit_default("lifetime_s", 600);
    http_set_abort(req, on_abort, p);
    char keyset[128], now[32];
    placement_keyset_name(keyset, sizeof keyset, req->key_hash);
    snprintf(now, sizeof now, "%.0f", wall_clock_ms());
    const char *argv[] = {"ZREMRANGEBYSCORE", keyset, "-inf", now};
    REDIS_ARGV(on_keyset_pruned, p, argv);
}

void placement_start(struct request *req, int is_run) {
    if (can_place(req) < 0) return;
    json_t *body = request_json_object(req);
    if (!body) return;
    start(req, body, is_run, NULL, NULL);
}

void placement_relay(struct request *req, const char *kind, const char *dialect, const char *language,
                     placement_placed_fn placed, void *ud) {
    if (can_place(req) < 0) {
        placed(NULL, NULL, NULL, ud);
        return;
    }
    start(req, json_pack("{s:s,s:s,s:s?}", "kind", kind, "dialect", dialect, "language", language),
          strcmp(kind, "run") == 0, placed, ud);
}
