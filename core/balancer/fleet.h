/* fleet.h — the balancer's fleet, its view of its backends: the set kept in Redis
 * (shared by every balancer), and each one's health from our own checks of
 * its /healthz. */
#ifndef CC_FLEET_H
#define CC_FLEET_H

#include <jansson.h>
#include <stdint.h>

#include "http/router.h"

struct fleet_backend {
    char url[128];
    int known;              /* listed in Redis at the last refresh */
    int healthy;            /* the last checks passed (with hysteresis) */
    int draining;
    int sessions, capacity;
    int reserved;           /* placements not yet counted in `sessions` (all balancers) */
    char boot_id[64];       /* from its /healthz */
    int refused;            /* the last check was refused: nobody listens there */
    double unhealthy_since; /* wall ms, 0 while healthy */
    double drained_since;
    double rebooted_at;     /* wall ms when a new boot id was first seen */   /* wall ms: draining with no live session (or gone) since */
    int fails, passes;      /* consecutive results */
    struct proxy_call *check;
    double check_started;
    struct fleet_backend *next;
};

void fleet_start(void);
void fleet_stop(void);
struct fleet_backend *fleet_list(void);
struct fleet_backend *fleet_find(const char *url);
/* Gone: refused, or unhealthy longer than backend_lost_after_s. */
int fleet_gone(const struct fleet_backend *b);
/* {url, sessions, capacity, healthy, draining} for /v1/backends. */
json_t *fleet_json(const struct fleet_backend *b);
/* The same plus "reserved", for the policy's pick_backend. */
json_t *fleet_json_for_policy(const struct fleet_backend *b);
/* A URL as api.md wants it (http://host:port, nothing else): 0, or -1. */
int fleet_url_valid(const char *url);
/* The admin routes GET, POST and DELETE /v1/backends (core/routes.c). */
route_handler fleet_handle_list, fleet_handle_add, fleet_handle_remove;
int fleet_any_healthy(void);

#endif
