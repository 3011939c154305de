/* placement.h — where a new session or run goes (balancer): admission with
 * the key's fleet-wide count, the policy's pick, an atomic reservation in
 * Redis, the backend's answer (placing again after its 429), and the
 * session's route recorded before the client hears of it. */
#ifndef CC_PLACEMENT_H
#define CC_PLACEMENT_H

#include <jansson.h>

#include "http/http.h"

void placement_start(struct request *req, int is_run);
/* Ask the policy's pick_backend for `body` among the healthy, non-draining backends that `skip`
 * (NULL: none) does not skip: *chosen is its choice, or NULL when it chose none (or there was
 * none to choose from).  -1 if the hook failed: the request is then answered (hook_ask). */
struct fleet_backend;
int placement_pick(struct request *req, const json_t *body, int (*skip)(const char *url, const void *ud),
                   const void *ud, struct fleet_backend **chosen);
/* The key's set of live sessions and runs in Redis, for routes that learn a
 * session ended. */
void placement_keyset_name(char *out, size_t len, const char *key_hash);
void placement_keyset_member(char *out, size_t len, const char *backend_url, const char *id);

#endif
