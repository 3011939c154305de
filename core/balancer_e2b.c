/* balancer_e2b.c — E2B's sandbox calls through a balancer: relayed unchanged
 * to the backend holding the sandbox's session (its route in Redis), whose
 * own E2B dialect serves them.  Control-plane calls need no relay: they are
 * internal /v1 requests, which the balancer places and routes itself. */
#include "app.h"
#include "balancer.h"
#include "e2b.h"

/* As long as a cell or a command may take (both bounded on the backend). */
#define E2B_RELAY_MS (11 * 60 * 1000L)

int e2b_relay_to_backend(struct request *req, const char *sandbox_id) {
    if (app_config()->role != ROLE_BALANCER) return -1;
    balancer_relay_session(req, sandbox_id, app_config()->backend_timeout_ms + E2B_RELAY_MS);
    return 0;
}
