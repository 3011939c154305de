/* service.h — the service routes every role serves: /healthz and /metrics. */
#ifndef CC_SERVICE_H
#define CC_SERVICE_H

#include <jansson.h>

#include "router.h"

/* A role's view of its health, from state its timers keep (never a call made
 * per request).  Fills "sessions", "capacity", "checks"; returns 0 ok,
 * 1 degraded, 2 unavailable. */
typedef int (*service_health_fn)(json_t *body);

/* The role's name and health for /healthz, and the service metrics. */
void service_init(const char *role_name, service_health_fn health);

/* GET /healthz and GET /metrics, on both roles (core/routes.c). */
route_handler service_handle_healthz, service_handle_metrics;

#endif
