/* judge0_store.c — where submissions are kept until their retention ends.
 *
 * Every server keeps the submissions it runs in memory: one JSON object,
 * token → submission (jansson's hash table).  A finished submission carries
 * "_expires" (ms of the loop clock); expired ones are swept at most once a
 * second, on the next put or find.  Submissions that have not finished never
 * expire here: the queue's bound bounds them.  Past MAX_STORED finished ones
 * the oldest to expire go first.
 *
 * Behind a balancer any balancer must answer any token, so a balancer also
 * writes every state of a submission to Redis (cc:judge0:<token>, JSON,
 * EX retention once finished, EX UNFINISHED_TTL_S before), and finds there
 * what it does not hold itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/redis.h"
#include "http/reply.h"
#include "judge0.h"
#include "policy/app.h"

#define MAX_STORED 20000
#define SWEEP_EVERY_MS 1000
/* A submission whose balancer died before it finished is forgotten after this. */
#define UNFINISHED_TTL_S 86400

static json_t *store;
static uint64_t last_sweep;

static int shared(void) { return app_config()->role == ROLE_BALANCER; }

static void sweep(int force) {
    uint64_t now = uv_now(app_loop());
    if (!store || (!force && now - last_sweep < SWEEP_EVERY_MS)) return;
    last_sweep = now;
    const char *token;
    json_t *sub;
    void *iter;
    json_object_foreach_safe(store, iter, token, sub) {
        const json_t *exp = json_object_get(sub, "_expires");
        if (json_is_integer(exp) && (uint64_t)json_integer_value(exp) <= now) json_object_del(store, token);
    }
}

/* Over the cap: the finished submission that expires first makes room. */
static void make_room(void) {
    while (json_object_size(store) >= MAX_STORED) {
        const char *token, *oldest = NULL;
        json_int_t when = 0;
        json_t *sub;
        json_object_foreach(store, token, sub) {
            const json_t *exp = json_object_get(sub, "_expires");
            if (json_is_integer(exp) && (!oldest || json_integer_value(exp) < when)) {
                oldest = token;
                when = json_integer_value(exp);
            }
        }
        if (!oldest) return; /* only unfinished ones: the queue bounds those */
        json_object_del(store, oldest);
    }
}

static void redis_key(char *out, size_t len, const char *token) { snprintf(out, len, "cc:judge0:%s", token); }

struct sharing {
    void (*stored)(void *ud);
    void *ud;
};

/* Redis answered a SET or a DEL (or failed: this balancer still answers for the submission). */
static void on_shared(void *ud, redisReply *reply, const char *err) {
    (void)reply;
    (void)err;
    struct sharing *s = ud;
    s->stored(s->ud);
    free(s);
}

/* The submission's current state to Redis. "_expires" is this process's clock: left out. */
static void share(const json_t *sub, void (*stored)(void *ud), void *ud) {
    json_t *copy = json_copy((json_t *)sub);
    json_object_del(copy, "_expires");
    char *text = json_text(copy);
    json_decref(copy);
    char key[96], ttl[32];
    redis_key(key, sizeof key, json_string_value(json_object_get(sub, "token")));
    double retention = json_number_value(json_object_get(app_config()->judge0, "retention_s"));
    int finished = json_is_string(json_object_get(sub, "finished_at"));
    snprintf(ttl, sizeof ttl, "%ld", finished ? (long)(retention > 0 ? retention : 3600) : (long)UNFINISHED_TTL_S);
    const char *argv[] = {"SET", key, text ? text : "{}", "EX", ttl};
    struct sharing *s = stored ? malloc(sizeof *s) : NULL;
    if (s) *s = (struct sharing){stored, ud};
    REDIS_ARGV(s ? on_shared : NULL, s, argv);
    free(text);
    if (stored && !s) stored(ud);
}

void j0_store_put(json_t *sub, void (*stored)(void *ud), void *ud) {
    if (!store) store = json_object();
    sweep(0);
    const char *token = json_string_value(json_object_get(sub, "token"));
    if (token && !json_object_get(store, token)) make_room();
    if (token) json_object_set(store, token, sub);
    if (token && shared()) share(sub, stored, ud);
    else if (stored) stored(ud);
    json_decref(sub);
}

/* ---- finding ------------------------------------------------------------------------------------ */

struct finding {
    json_t *found;      /* one slot per token: a submission or null */
    json_t *missing;    /* indexes of `found` to ask Redis for */
    j0_found_fn cb;
    void *ud;
};

static void deliver(struct finding *f) {
    f->cb(f->ud, f->found);
    json_decref(f->found);
    json_decref(f->missing);
    free(f);
}

static void on_mget(void *ud, redisReply *reply, const char *err) {
    struct finding *f = ud;
    (void)err;
    size_t i;
    json_t *at;
    json_array_foreach(f->missing, i, at) {
        redisReply *r = reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements ? reply->element[i] : NULL;
        json_t *sub = r && r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, JSON_ALLOW_NUL, NULL) : NULL;
        if (json_is_object(sub)) json_array_set_new(f->found, (size_t)json_integer_value(at), sub);
        else json_decref(sub);
    }
    deliver(f);
}

void j0_store_find(const json_t *tokens, j0_found_fn cb, void *ud) {
    sweep(0);
    struct finding *f = calloc(1, sizeof *f);
    if (!f) {
        cb(ud, NULL);
        return;
    }
    f->found = json_array();
    f->missing = json_array();
    f->cb = cb;
    f->ud = ud;
    size_t i;
    json_t *t;
    json_array_foreach(tokens, i, t) {
        json_t *sub = store ? json_object_get(store, json_string_value(t)) : NULL;
        json_array_append_new(f->found, sub ? json_incref(sub) : json_null());
        if (!sub) json_array_append_new(f->missing, json_integer((json_int_t)i));
    }
    if (!shared() || !json_array_size(f->missing) || !redis_ready()) {
        deliver(f);
        return;
    }
    size_t n = json_array_size(f->missing) + 1;
    const char **argv = calloc(n, sizeof *argv);
    size_t *lens = calloc(n, sizeof *lens);
    char (*keys)[96] = calloc(n, sizeof *keys);
    if (!argv || !lens || !keys) {
        free(argv);
        free(lens);
        free(keys);
        deliver(f);
        return;
    }
    argv[0] = "MGET";
    lens[0] = strlen(argv[0]);
    json_array_foreach(f->missing, i, t) {
        redis_key(keys[i + 1], sizeof keys[i + 1], json_string_value(json_array_get(tokens, (size_t)json_integer_value(t))));
        argv[i + 1] = keys[i + 1];
        lens[i + 1] = strlen(keys[i + 1]);
    }
    redis_command(on_mget, f, (int)n, argv, lens);
    free(argv);
    free(lens);
    free(keys);
}

void j0_store_delete(const char *token, void (*deleted)(void *ud), void *ud) {
    if (store) json_object_del(store, token);
    if (!shared()) {
        if (deleted) deleted(ud);
        return;
    }
    char key[96];
    redis_key(key, sizeof key, token);
    const char *argv[] = {"DEL", key};
    struct sharing *s = deleted ? malloc(sizeof *s) : NULL;
    if (s) *s = (struct sharing){deleted, ud};
    REDIS_ARGV(s ? on_shared : NULL, s, argv);
    if (deleted && !s) deleted(ud);
}

void j0_store_free(void) {
    json_decref(store);
    store = NULL;
}
