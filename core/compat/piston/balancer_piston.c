/* balancer_piston.c — anonymous Piston callers through a balancer.
 *
 * A caller with a key is served by the balancer's own Piston dialect (its
 * internal /v1 requests are placed and relayed with that key).  A caller
 * without one (CODECLOUD_PISTON_OPEN) has no key a backend would accept, so
 * its request is relayed unchanged to a backend picked like a new session's,
 * whose own Piston dialect serves it anonymously (the backends run with
 * CODECLOUD_PISTON_OPEN too). */
#include <stdio.h>

#include "balancer/fleet.h"
#include "balancer/placement.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "piston.h"
#include "policy/app.h"

int piston_relay_anonymous(struct request *req, int websocket) {
    if (app_config()->role != ROLE_BALANCER || !piston_anonymous(req)) return -1;
    struct fleet_backend *b = placement_pick_for(req, "piston");
    if (!b) return 0; /* answered */
    char chosen[128];
    snprintf(chosen, sizeof chosen, "%s", b->url);
    if (websocket) {
        proxy_tunnel(req, chosen);
        return 0;
    }
    /* The job may run for the policy's longest timeout, plus its compile. */
    const json_t *max = json_object_get(json_object_get(app_config()->limits, "timeout_ms"), "max");
    long run_ms = json_is_number(max) ? (long)json_number_value(max) : 600000;
    proxy_relay(req, chosen, app_config()->backend_timeout_ms + 2 * run_ms + 10000, NULL, NULL);
    return 0;
}
