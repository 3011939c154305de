/* balancer_e2b.c — E2B's sandbox calls and setTimeout through a balancer:
 * relayed unchanged to the backend holding the sandbox's session (its route
 * in Redis), whose own E2B dialect serves them.  The other control-plane
 * calls need no relay: they are internal /v1 requests, which the balancer
 * places and routes itself. */
#include <string.h>

#include "balancer/balancer.h"
#include "e2b.h"
#include "policy/app.h"

/* As long as a cell or a command may take (both bounded on the backend). */
#define E2B_RELAY_MS (11 * 60 * 1000L)

int e2b_relay_to_backend(struct request *req, const char *sandbox_id) {
    if (app_config()->role != ROLE_BALANCER) return -1;
    /* setTimeout keeps the route as long as the sandbox now lives. */
    long long extend_s = 0;
    size_t plen = strlen(req->path);
    if (plen > 8 && strcmp(req->path + plen - 8, "/timeout") == 0) {
        json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
        const json_t *t = json_object_get(body, "timeout");
        extend_s = json_is_integer(t) ? json_integer_value(t) : 0;
        json_decref(body);
    }
    balancer_relay_session(req, sandbox_id, app_config()->backend_timeout_ms + E2B_RELAY_MS, extend_s);
    return 0;
}
