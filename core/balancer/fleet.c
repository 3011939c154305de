/* fleet.c — the balancer's fleet of backends: the shared set in Redis, our own
 * health checks, and the admin routes that change the set.
 *
 * Redis keys (docs/balancer.md lists them all):
 *   cc:backends            hash  url -> {"draining":bool}: the set every balancer uses
 *   cc:backend_boot        hash  url -> the boot id last seen in its /healthz
 *   cc:resv:<url>          zset  placement reservations (see placement.c) */
#include "fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "clients/redis.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "policy/app.h"

/* Consecutive failed checks before a backend is unhealthy; passes to be healthy again. */
#define FAILS_TO_UNHEALTHY 2
#define PASSES_TO_HEALTHY 1

static struct fleet_backend *all;
static uv_timer_t tick;
static int running;

struct fleet_backend *fleet_list(void) { return all; }

struct fleet_backend *fleet_find(const char *url) {
    for (struct fleet_backend *b = all; b; b = b->next)
        if (strcmp(b->url, url) == 0) return b;
    return NULL;
}

int fleet_any_healthy(void) {
    for (struct fleet_backend *b = all; b; b = b->next)
        if (b->healthy) return 1;
    return 0;
}

int fleet_gone(const struct fleet_backend *b) {
    if (b->healthy) return 0;
    if (b->refused) return 1;
    return b->unhealthy_since > 0 &&
           wall_clock_ms() - b->unhealthy_since > (double)app_config()->backend_lost_after_ms;
}

json_t *fleet_json(const struct fleet_backend *b) {
    return json_pack("{s:s,s:i,s:i,s:b,s:b}", "url", b->url, "sessions", b->sessions, "capacity", b->capacity,
                     "healthy", b->healthy, "draining", b->draining);
}

json_t *fleet_json_for_policy(const struct fleet_backend *b) {
    json_t *j = fleet_json(b);
    json_object_set_new(j, "reserved", json_integer(b->reserved));
    return j;
}

/* ud is the backend's URL (copied): the backend may be gone by the reply. */
static void on_reserved_count(void *ud, redisReply *r, const char *err) {
    (void)err;
    struct fleet_backend *b = fleet_find(ud);
    if (b && r && r->type == REDIS_REPLY_INTEGER) b->reserved = (int)r->integer;
    free(ud);
}

int fleet_url_valid(const char *url) {
    if (strncmp(url, "http://", 7) != 0) return 0;
    const char *hp = url + 7;
    if (strpbrk(hp, "/?#@ ") || strlen(url) >= sizeof ((struct fleet_backend *)0)->url) return 0;
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp || !colon[1]) return 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return *end == '\0' && port > 0 && port <= 65535;
}

static struct fleet_backend *fleet_add_local(const char *url) {
    struct fleet_backend *b = fleet_find(url);
    if (b) return b;
    b = calloc(1, sizeof *b);
    if (!b) return NULL;
    snprintf(b->url, sizeof b->url, "%s", url);
    b->next = all;
    all = b;
    return b;
}

static void fleet_remove_local(struct fleet_backend *gone) {
    for (struct fleet_backend **pp = &all; *pp; pp = &(*pp)->next) {
        if (*pp == gone) {
            *pp = gone->next;
            if (gone->check) proxy_cancel(gone->check);
            free(gone);
            return;
        }
    }
}

/* ---- health checks ---------------------------------------------------------------- */

static void store_boot_id(struct fleet_backend *b) {
    const char *argv[] = {"HSET", "cc:backend_boot", b->url, b->boot_id};
    REDIS_ARGV(NULL, NULL, argv);
}

/* A draining backend leaves the set once it has had no live session (or has
 * been gone) for the retention, so its ended sessions stay readable. */
static void maybe_remove_drained(struct fleet_backend *b) {
    if (!b->draining) return;
    if (b->sessions > 0 && !fleet_gone(b)) {
        b->drained_since = 0;
        return;
    }
    double now = wall_clock_ms();
    if (!b->drained_since) b->drained_since = now;
    if (now - b->drained_since < (double)app_config()->ended_retention_ms) return;
    const char *del[] = {"HDEL", "cc:backends", b->url};
    REDIS_ARGV(NULL, NULL, del);
    log_msgf(LOG_INFO, "backend_drained", "%s has no session left: removed", b->url);
}

static void on_health(void *ud, const struct proxy_answer *a) {
    struct fleet_backend *b = ud;
    b->check = NULL;
    json_t *h = a->status == 200 ? json_loadb(a->body, a->len, JSON_ALLOW_NUL, NULL) : NULL;
    const char *boot = json_string_value(json_object_get(h, "boot_id"));
    if (h && boot) {
        b->fails = 0;
        b->refused = 0;
        if (++b->passes >= PASSES_TO_HEALTHY) {
            if (!b->healthy) log_msgf(LOG_INFO, "backend_healthy", "%s", b->url);
            b->healthy = 1;
            b->unhealthy_since = 0;
        }
        b->sessions = (int)json_integer_value(json_object_get(h, "sessions"));
        b->capacity = (int)json_integer_value(json_object_get(h, "capacity"));
        if (strcmp(b->boot_id, boot) != 0) {
            if (b->boot_id[0]) b->rebooted_at = wall_clock_ms();
            snprintf(b->boot_id, sizeof b->boot_id, "%s", boot);
            store_boot_id(b);
        }
        /* A reservation lapses once a report begun after its create's reply
         * counts the session itself. */
        char key[200], before[32];
        snprintf(key, sizeof key, "cc:resv:%s", b->url);
        snprintf(before, sizeof before, "(%.0f", b->check_started);
        const char *argv[] = {"ZREMRANGEBYSCORE", key, "-inf", before};
        REDIS_ARGV(NULL, NULL, argv);
        const char *card[] = {"ZCARD", key};
        char *url = strdup(b->url);
        if (url) REDIS_ARGV(on_reserved_count, url, card);
    } else {
        b->passes = 0;
        b->refused = a->refused;
        if (++b->fails >= FAILS_TO_UNHEALTHY || a->refused) {
            if (b->healthy) log_msgf(LOG_WARN, "backend_unhealthy", "%s: %s", b->url, a->err ? a->err : "bad /healthz");
            b->healthy = 0;
            if (!b->unhealthy_since) b->unhealthy_since = wall_clock_ms();
        }
    }
    maybe_remove_drained(b);
    json_decref(h);
}

static void check(struct fleet_backend *b) {
    if (b->check) return;
    b->check_started = wall_clock_ms();
    long timeout = app_config()->health_interval_ms < app_config()->backend_timeout_ms
                       ? app_config()->health_interval_ms : app_config()->backend_timeout_ms;
    b->check = proxy_send(b->url, "GET", "/healthz", NULL, NULL, 0, timeout < 200 ? 200 : timeout, on_health, b);
}

/* The shared set: add what others added, drop what was removed, learn drains. */
static void on_backend_set(void *ud, redisReply *r, const char *err) {
    (void)ud;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (err) log_msgf(LOG_DEBUG, "backends", "cannot read the backend set: %s", err);
        for (struct fleet_backend *b = all; b; b = b->next) check(b);
        return;
    }
    for (struct fleet_backend *b = all; b; b = b->next) b->known = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        struct fleet_backend *b = fleet_add_local(r->element[i]->str);
        if (!b) continue;
        b->known = 1;
        json_t *v = json_loads(r->element[i + 1]->str, 0, NULL);
        b->draining = json_is_true(json_object_get(v, "draining"));
        json_decref(v);
    }
    struct fleet_backend *b = all;
    while (b) {
        struct fleet_backend *next = b->next;
        if (!b->known) fleet_remove_local(b);
        else check(b);
        b = next;
    }
}

static void on_tick(uv_timer_t *t) {
    (void)t;
    const char *argv[] = {"HGETALL", "cc:backends"};
    REDIS_ARGV(on_backend_set, NULL, argv);
}

/* ---- admin routes ------------------------------------------------------------------- */

void fleet_handle_list(struct request *req) {
    json_t *list = json_array();
    for (struct fleet_backend *b = all; b; b = b->next) json_array_append_new(list, fleet_json(b));
    reply_json(req, 200, json_pack("{s:o}", "backends", list));
}

static void on_added(void *ud, redisReply *r, const char *err) {
    struct request *req = ud;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        reply_error(req, 503, "unavailable", "Redis is unavailable: %s", err ? err : "bad reply");
        return;
    }
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    struct fleet_backend *b = fleet_add_local(json_string_value(json_object_get(body, "url")));
    if (b) b->known = 1;
    if (b) check(b);
    reply_json(req, r->integer ? 201 : 200, b ? fleet_json(b) : json_object());
    json_decref(body);
}

void fleet_handle_add(struct request *req) {
    json_t *body = request_json_object(req);
    if (!body) return;
    const char *url = json_string_value(json_object_get(body, "url"));
    if (!url || !fleet_url_valid(url)) {
        reply_error(req, 400, "bad_request", "url must be http://host:port with no path, query or user info");
    } else {
        const char *argv[] = {"HSETNX", "cc:backends", url, "{\"draining\":false}"};
        REDIS_ARGV(on_added, req, argv);
    }
    json_decref(body);
}

struct drain {
    struct request *req;
    char url[128];
};

static void on_drain_set(void *ud, redisReply *r, const char *err) {
    struct drain *d = ud;
    if (!r) reply_error(d->req, 503, "unavailable", "Redis is unavailable: %s", err ? err : "");
    else reply_no_content(d->req);
    free(d);
}

static void on_drain_lookup(void *ud, redisReply *r, const char *err) {
    struct drain *d = ud;
    if (!r) {
        reply_error(d->req, 503, "unavailable", "Redis is unavailable: %s", err ? err : "");
        free(d);
        return;
    }
    if (r->type != REDIS_REPLY_STRING) {
        reply_error(d->req, 404, "not_found", "no backend %s", d->url);
        free(d);
        return;
    }
    json_t *v = json_loads(r->str, 0, NULL);
    if (!v) v = json_object();
    json_object_set_new(v, "draining", json_true());
    char *text = json_text(v);
    json_decref(v);
    struct fleet_backend *b = fleet_find(d->url);
    if (b) b->draining = 1;
    const char *argv[] = {"HSET", "cc:backends", d->url, text};
    REDIS_ARGV(on_drain_set, d, argv);
    free(text);
}

void fleet_handle_remove(struct request *req) {
    struct drain *d = request_calloc(req, sizeof *d);
    if (!d) return;
    d->req = req;
    if (http_query_param(req, "url", d->url, sizeof d->url) <= 0) {
        free(d);
        reply_error(req, 400, "bad_request", "DELETE /v1/backends needs ?url=<url-encoded backend URL>");
        return;
    }
    const char *argv[] = {"HGET", "cc:backends", d->url};
    REDIS_ARGV(on_drain_lookup, d, argv);
}

/* ---- start and stop ------------------------------------------------------------------- */

/* CODECLOUD_BACKENDS only adds URLs that Redis does not hold yet. */
static void seed_backends(void) {
    size_t i;
    json_t *u;
    json_array_foreach(app_config()->backends, i, u) {
        const char *url = json_string_value(u);
        if (!fleet_url_valid(url)) {
            log_msgf(LOG_WARN, "backends", "ignoring bad backend URL '%s'", url);
            continue;
        }
        const char *argv[] = {"HSETNX", "cc:backends", url, "{\"draining\":false}"};
        REDIS_ARGV(NULL, NULL, argv);
    }
}

/* Redis is (back) up: a Redis that lost its data gets our view back (with
 * drains), then CODECLOUD_BACKENDS adds what it still lacks. */
static void on_redis_connected(void) {
    for (struct fleet_backend *b = all; b; b = b->next) {
        const char *value = b->draining ? "{\"draining\":true}" : "{\"draining\":false}";
        const char *argv[] = {"HSETNX", "cc:backends", b->url, value};
        REDIS_ARGV(NULL, NULL, argv);
    }
    seed_backends();
}

void fleet_start(void) {
    redis_on_connect(on_redis_connected);
    uv_timer_init(app_loop(), &tick);
    uv_timer_start(&tick, on_tick, 50, (uint64_t)app_config()->health_interval_ms);
    running = 1;
}

void fleet_stop(void) {
    if (running) uv_close((uv_handle_t *)&tick, NULL);
    running = 0;
    while (all) fleet_remove_local(all);
}
