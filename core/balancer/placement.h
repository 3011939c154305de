/* placement.h — where a new session or run goes (balancer): admission with
 * the key's fleet-wide count, the policy's pick, an atomic reservation in
 * Redis, the backend's answer (placing again after its 429), and the
 * session's route recorded before the client hears of it.  A dialect's
 * request that the balancer relays unchanged is placed the same way up to the
 * reservation, then handed to the dialect (placement_relay). */
#ifndef CC_PLACEMENT_H
#define CC_PLACEMENT_H

#include "http/http.h"

/* A /v1 create (POST /v1/sessions) or run (is_run: /v1/run, /v1/judge), answered here. */
void placement_start(struct request *req, int is_run);

/* A dialect's request, relayed unchanged by the dialect once placed.  Called exactly once: with
 * the chosen backend's `url` (the reservation on it is held; `req` is now the dialect's to relay
 * and answer, and placement_finish(p, ...) must follow once the backend answered or the relay
 * ended), or with p, req and url NULL when the placement ended without a backend (the request was
 * answered, or its client left): then only `ud` is the dialect's to free. */
struct placement;
typedef void (*placement_placed_fn)(struct placement *p, struct request *req, const char *url, void *ud);
/* Place `req` as a "session" or a "run" (`kind`) of the dialect `dialect` ("seed", "piston") in
 * `language` (NULL: unknown): the key's count, the policy's admit ({kind, dialect, language, ...};
 * its refusal answered in the route's error shape), pick_backend ({kind, dialect, language}) and
 * a reservation, a full backend excluded and another picked.  A run counts for its key until
 * placement_finish. */
void placement_relay(struct request *req, const char *kind, const char *dialect, const char *language,
                     placement_placed_fn placed, void *ud);
/* The relayed request is over: `taken` (the backend created what was placed) lets the reservation
 * lapse at the next health report begun from now, as a /v1 create's 201 does; otherwise it is
 * released at once.  Frees p. */
void placement_finish(struct placement *p, int taken);

/* The backend the policy's pick_backend chooses for a dialect's request that places nothing
 * (anonymous Piston's runtimes list: {kind = kind}) among the healthy, non-draining ones, or NULL after answering (503 when it chose none). */
struct fleet_backend;
struct fleet_backend *placement_pick_for(struct request *req, const char *kind);
/* The key's set of live sessions and runs in Redis, for routes that learn a
 * session ended. */
void placement_keyset_name(char *out, size_t len, const char *key_hash);
void placement_keyset_member(char *out, size_t len, const char *backend_url, const char *id);

#endif
