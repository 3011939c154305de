/* seed.h — what the seed dialect's backend half shares: compat_seed.c (the user_id table and
 * the routes' handlers) and seed_create.c (a session's create); and the handlers of both halves,
 * for core/routes.c. */
#ifndef CC_SEED_H
#define CC_SEED_H

#include <jansson.h>
#include <stddef.h>

#include "http/http.h"
#include "http/router.h"

#define SEED_USER_ID_MAX 128

extern const char seed_bad_user_id[];

/* text/plain with `status`: the seed's answers and errors. */
void seed_text_reply(struct request *req, int status, const char *text);
/* The caller's entry for user_id (created on demand), or NULL; its use is noted. */
json_t *seed_find_user(const char *key_hash, const char *user_id, int create);
/* The entry's session id ("" when none). */
const char *seed_user_session(const json_t *u);
/* The entry's live upload: its bytes and *len, or NULL. */
const char *seed_user_upload(const json_t *u, size_t *len);
/* An internal request for `req`; with `inflight`, *inflight holds it until answered (cb clears it). */
void seed_dispatch(struct request *req, const char *method, const char *target, const char *body,
                   http_response_fn cb, void *ud, struct request **inflight);
/* The body with its user_id (1 to SEED_USER_ID_MAX bytes, no NUL), or NULL after answering 400. */
json_t *seed_body_with_user(struct request *req, const char **user_id);

/* A backend serves the seed's API (compat_seed.c; POST /api/session/create: seed_create.c). */
route_handler seed_handle_root, seed_handle_create, seed_handle_output, seed_handle_input, seed_handle_delete;
route_handler seed_handle_upload, seed_handle_file_get, seed_handle_count, seed_handle_has;
/* POST /load_balancer/add, on a balancer: the seed's way to add a backend. */
route_handler seed_handle_lb_add;
/* A balancer relays a user_id's request to the backend pinned to it, and sums the counts of all
 * (balancer_seed.c). */
route_handler balancer_seed_relay, balancer_seed_count;

#endif
