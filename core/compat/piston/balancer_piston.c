/* balancer_piston.c — anonymous Piston callers through a balancer.
 *
 * A caller with a key is served by the balancer's own Piston dialect (its
 * internal /v1 requests are placed and relayed with that key).  A caller
 * without one (CODECLOUD_PISTON_OPEN) has no key a backend would accept, so
 * its request is relayed unchanged to a backend whose own Piston dialect
 * serves it anonymously (the backends run with CODECLOUD_PISTON_OPEN too).
 * An execute (a run) and a connect (a session) are placed like /v1's
 * (placement_relay: the anonymous tenant's fleet-wide count, admit,
 * pick_backend, a reservation held until the backend answered); the list of
 * runtimes places nothing and goes to any backend pick_backend names. */
#include <stdio.h>
#include <string.h>

#include "balancer/fleet.h"
#include "balancer/placement.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "piston.h"
#include "policy/app.h"

/* The backend answered (or the relay ended): a run is over; a connect's upgrade holds its session. */
static void on_relayed(void *ud, int status, const char *body, size_t len) {
    (void)body;
    (void)len;
    placement_finish(ud, status == 101);
}

/* A job may run for the policy's longest timeout, plus its compile. */
static long relay_ms(void) {
    const json_t *max = json_object_get(json_object_get(app_config()->limits, "timeout_ms"), "max");
    long run_ms = json_is_number(max) ? (long)json_number_value(max) : 600000;
    return app_config()->backend_timeout_ms + 2 * run_ms + 10000;
}

static void relay_execute(struct placement *p, struct request *req, const char *url, void *ud) {
    (void)ud;
    if (url) proxy_relay(req, url, relay_ms(), on_relayed, p);
}

static void relay_connect(struct placement *p, struct request *req, const char *url, void *ud) {
    (void)ud;
    if (url) proxy_tunnel(req, url, on_relayed, p);
}

int piston_relay_anonymous(struct request *req, int websocket) {
    if (app_config()->role != ROLE_BALANCER || !piston_anonymous(req)) return -1;
    if (websocket) {
        /* The language comes later, in the init message. */
        placement_relay(req, "session", "piston", NULL, relay_connect, NULL);
        return 0;
    }
    if (strcmp(req->method, "POST") == 0) {
        json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
        placement_relay(req, "run", "piston", json_string_value(json_object_get(body, "language")), relay_execute,
                        NULL);
        json_decref(body);
        return 0;
    }
    struct fleet_backend *b = placement_pick_for(req, "piston");
    if (!b) return 0; /* answered */
    char chosen[128];
    snprintf(chosen, sizeof chosen, "%s", b->url);
    proxy_relay(req, chosen, relay_ms(), NULL, NULL);
    return 0;
}
