/* balancer_seed.c — the seed's API through a balancer.
 *
 * The seed's routes carry a user_id (in the body, the query or the path), and
 * every request of one user_id must reach the backend that holds its session
 * and its uploads: the balancer pins a user_id to a backend in Redis
 *   cc:seed:<key hash>:<user_id>   string  backend url, expires seed_pin_ttl_s after last use
 * at its first create or upload, and relays every later request there
 * unchanged.  That first request is placed like a /v1 session
 * (placement_relay: the key's count, admit with kind "session" and dialect
 * "seed", pick_backend, a reservation held until the backend answered, lapsing
 * after a create's 200 and released otherwise).  `count` sums the caller's
 * sessions over the backends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer/balancer.h"
#include "balancer/fanout.h"
#include "balancer/fleet.h"
#include "balancer/placement.h"
#include "clients/redis.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "policy/app.h"
#include "seed.h"

struct seed_route {
    struct request *req;
    char pin[300];
    int create;         /* POST /api/session/create */
    int may_place;      /* create and upload place a user_id that has no pin yet */
    int placed_once;    /* lost one race to pin it: the next GET must find the winner's pin */
    char chosen[128];   /* the backend being pinned */
    struct placement *placement; /* its reservation on `chosen`, held until the backend answered */
};

static void route_seed(struct seed_route *sr);

/* The policy's pin lifetime as Redis's EX argument. */
static const char *pin_ttl(char buf[24]) {
    snprintf(buf, 24, "%ld", app_config()->seed_pin_ttl_s);
    return buf;
}

/* The backend answered a placed request: a created session keeps the place it was reserved. */
static void on_placed_answer(void *ud, int status, const char *body, size_t len) {
    (void)body;
    (void)len;
    struct seed_route *sr = ud;
    placement_finish(sr->placement, sr->create && status == 200);
    free(sr);
}

/* A known pin: its lifetime is refreshed (a lost refresh only shortens it) and the request goes on. */
static void relay_to(struct seed_route *sr, const char *url) {
    char ttl[24];
    const char *argv[] = {"SET", sr->pin, url, "EX", pin_ttl(ttl)};
    REDIS_ARGV(NULL, NULL, argv);
    long timeout = app_config()->backend_timeout_ms + app_config()->compile_allowance_ms;
    if (sr->placement) {
        proxy_relay(sr->req, url, timeout, on_placed_answer, sr);
        return;
    }
    proxy_relay(sr->req, url, timeout, NULL, NULL);
    free(sr);
}

/* A new pin is answered for only once Redis holds it: a next request of that user_id (through
 * any balancer) must find it, and of two balancers placing one user_id at once, the first pin
 * wins (NX) and the other request follows it. */
static void on_pinned(void *ud, redisReply *r, const char *err) {
    struct seed_route *sr = ud;
    if (r && r->type == REDIS_REPLY_STATUS) {
        char url[sizeof sr->chosen];
        snprintf(url, sizeof url, "%s", sr->chosen);
        relay_to(sr, url);
        return;
    }
    /* Not placed here after all: the reservation goes back. */
    placement_finish(sr->placement, 0);
    sr->placement = NULL;
    if (r && r->type == REDIS_REPLY_NIL && !sr->placed_once) {
        sr->placed_once = 1;
        route_seed(sr);
        return;
    }
    reply_error(sr->req, 503, "unavailable", "cannot pin the user_id in Redis: %s",
                err ? err : r ? "unexpected reply" : "no reply");
    free(sr);
}

static void on_placed(struct placement *p, struct request *req, const char *url, void *ud) {
    (void)req;
    struct seed_route *sr = ud;
    if (!url) {
        free(sr); /* answered (refused, no room, Redis) or the client left */
        return;
    }
    sr->placement = p;
    snprintf(sr->chosen, sizeof sr->chosen, "%s", url);
    char ttl[24];
    const char *argv[] = {"SET", sr->pin, sr->chosen, "EX", pin_ttl(ttl), "NX"};
    REDIS_ARGV(on_pinned, sr, argv);
}

/* A new user_id goes where the policy would put a new session, admitted and reserved as one. */
static void place_user(struct seed_route *sr) {
    json_t *body = sr->create ? json_loadb(sr->req->body.data, sr->req->body.len, 0, NULL) : NULL;
    placement_relay(sr->req, "session", "seed", json_string_value(json_object_get(body, "language")), on_placed, sr);
    json_decref(body);
}

static void on_pin(void *ud, redisReply *r, const char *err) {
    struct seed_route *sr = ud;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        reply_error(sr->req, 503, "unavailable", "Redis is unavailable: %s", err ? err : "error reply");
        free(sr);
        return;
    }
    if (r->type == REDIS_REPLY_STRING) {
        struct fleet_backend *b = fleet_find(r->str);
        if (b && b->healthy) {
            char url[128];
            snprintf(url, sizeof url, "%s", r->str);
            relay_to(sr, url);
            return;
        }
        if (b && !fleet_gone(b)) {
            reply_error(sr->req, 503, "unavailable", "the backend holding this user_id is unhealthy");
            free(sr);
            return;
        }
    }
    if (sr->may_place && !sr->placed_once) {
        place_user(sr);
        return;
    }
    reply_error(sr->req, 404, "not_found", "no session for this user_id");
    free(sr);
}

/* The user_id of a seed request, wherever that route carries it. */
static int user_of(struct request *req, char *out, size_t len) {
    if (strncmp(req->path, "/api/files/add/", 15) == 0) {
        snprintf(out, len, "%s", req->params[0]);
        return 0;
    }
    if (strcmp(req->method, "GET") == 0) return http_query_param(req, "userId", out, len) > 0 ? 0 : -1;
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    const char *u = json_string_value(json_object_get(body, "user_id"));
    int ok = u && *u && strlen(u) < len;
    if (ok) snprintf(out, len, "%s", u);
    json_decref(body);
    return ok ? 0 : -1;
}

static void route_seed(struct seed_route *sr) {
    const char *argv[] = {"GET", sr->pin};
    REDIS_ARGV(on_pin, sr, argv);
}

/* A create whose file_url is an upload of another user_id (one of ours: /api/files/get?userId=)
 * may land on another backend than that upload: the URL is rewritten to name the backend holding
 * the upload, from which the create's backend fetches it (backends list each other in their
 * policy's file_url_peers). */
static void on_upload_pin(void *ud, redisReply *r, const char *err) {
    (void)err;
    struct seed_route *sr = ud;
    struct fleet_backend *b = r && r->type == REDIS_REPLY_STRING ? fleet_find(r->str) : NULL;
    json_t *body = b ? json_loadb(sr->req->body.data, sr->req->body.len, 0, NULL) : NULL;
    const char *url = json_string_value(json_object_get(body, "file_url"));
    const char *ours = url ? strstr(url, "/api/files/get?userId=") : NULL;
    if (ours) {
        char *moved = NULL;
        if (asprintf(&moved, "%s%s", b->url, ours) >= 0) {
            json_object_set_new(body, "file_url", json_string(moved));
            char *text = json_text(body);
            if (text) {
                buf_reset(&sr->req->body);
                buf_append_str(&sr->req->body, text);
            }
            free(text);
            free(moved);
        }
    }
    json_decref(body);
    route_seed(sr);
}

/* The user_id whose upload a create's file_url names, if it is one of ours. */
static int upload_owner(struct request *req, char *out, size_t len) {
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    const char *url = json_string_value(json_object_get(body, "file_url"));
    const char *ours = url ? strstr(url, "/api/files/get?userId=") : NULL;
    int rc = -1;
    if (ours) {
        const char *raw = ours + strlen("/api/files/get?userId=");
        rc = http_percent_decode(raw, strlen(raw), out, len, 1) < 0 || !*out ? -1 : 0;
    }
    json_decref(body);
    return rc;
}

void balancer_seed_relay(struct request *req) {
    char user_id[SEED_USER_ID_MAX + 1];
    if (user_of(req, user_id, sizeof user_id) < 0) {
        reply_error(req, 400, "bad_request", "the request needs a user_id (1 to 128 bytes)");
        return;
    }
    if (!redis_ready()) {
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", redis_status());
        return;
    }
    struct seed_route *sr = request_calloc(req, sizeof *sr);
    if (!sr) return;
    sr->req = req;
    int create = strcmp(req->path, "/api/session/create") == 0;
    sr->create = create;
    sr->may_place = create || strncmp(req->path, "/api/files/add/", 15) == 0;
    const char *key = req->key_hash[0] ? req->key_hash : "open";
    snprintf(sr->pin, sizeof sr->pin, "cc:seed:%s:%s", key, user_id);
    char owner[SEED_USER_ID_MAX + 1];
    if (create && upload_owner(req, owner, sizeof owner) == 0) {
        char pin[300];
        snprintf(pin, sizeof pin, "cc:seed:%s:%s", key, owner);
        const char *argv[] = {"GET", pin};
        REDIS_ARGV(on_upload_pin, sr, argv);
        return;
    }
    route_seed(sr);
}

static void on_counts(struct request *req, json_t *answers, void *ud) {
    (void)ud;
    json_int_t total = 0;
    size_t i;
    json_t *a;
    json_array_foreach(answers, i, a) total += json_integer_value(a);
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)total);
    http_respond(req, 200, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

void balancer_seed_count(struct request *req) { fanout_get(req, req->target, on_counts, NULL); }
