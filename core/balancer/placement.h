/* placement.h — where a new session or run goes (balancer): admission with
 * the key's fleet-wide count, the policy's pick, an atomic reservation in
 * Redis, the backend's answer (placing again after its 429), and the
 * session's route recorded before the client hears of it. */
#ifndef CC_PLACEMENT_H
#define CC_PLACEMENT_H

#include "http/http.h"

void placement_start(struct request *req, int is_run);
/* The backend the policy's pick_backend chooses for a dialect's request ({kind = kind}) among the
 * healthy, non-draining ones, or NULL after answering (503 when it chose none). */
struct fleet_backend;
struct fleet_backend *placement_pick_for(struct request *req, const char *kind);
/* The key's set of live sessions and runs in Redis, for routes that learn a
 * session ended. */
void placement_keyset_name(char *out, size_t len, const char *key_hash);
void placement_keyset_member(char *out, size_t len, const char *backend_url, const char *id);

#endif
