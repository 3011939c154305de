/* judge0_store.c — submissions kept in memory until their retention ends.
 *
 * One JSON object, token → submission (jansson's hash table).  A finished
 * submission carries "_expires" (ms of the loop clock); expired ones are
 * swept at most once a second, on the next put or get.  Submissions that
 * have not finished never expire: the queue's bound bounds them.  Past
 * MAX_STORED finished ones the oldest to expire go first. */
#include <string.h>

#include "app.h"
#include "judge0.h"

#define MAX_STORED 20000
#define SWEEP_EVERY_MS 1000

static json_t *store;
static uint64_t last_sweep;

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

void j0_store_put(json_t *sub) {
    if (!store) store = json_object();
    sweep(0);
    const char *token = json_string_value(json_object_get(sub, "token"));
    if (!token) {
        json_decref(sub);
        return;
    }
    if (!json_object_get(store, token)) make_room();
    json_object_set_new(store, token, sub);
}

json_t *j0_store_get(const char *token) {
    sweep(0);
    return store ? json_object_get(store, token) : NULL;
}

void j0_store_delete(const char *token) {
    if (store) json_object_del(store, token);
}

void j0_store_free(void) {
    json_decref(store);
    store = NULL;
}
