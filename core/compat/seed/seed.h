/* seed.h — what the seed dialect's backend half shares: compat_seed.c (the user_id table and
 * the routes) and seed_create.c (a session's create). */
#ifndef CC_SEED_H
#define CC_SEED_H

#include <jansson.h>
#include <stddef.h>

#include "http/http.h"

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

/* POST /api/session/create (seed_create.c). */
void seed_handle_create(struct request *req);

#endif
