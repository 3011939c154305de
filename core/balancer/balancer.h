/* balancer.h — the balancer role: places new sessions and runs on backends,
 * routes every later request of a session to its backend. */
#ifndef CC_BALANCER_H
#define CC_BALANCER_H

#include <stddef.h>
#include <uv.h>

#include "http/router.h"
#include "policy/config.h"

int balancer_init(uv_loop_t *loop, char *err, size_t errlen);
void balancer_shutdown(void (*done)(void));
/* Relay `req` unchanged to the backend holding session `id` (a dialect's
 * request that is not a /v1 path), waiting at most timeout_ms for its answer
 * (0: the backend timeout).  One without a key goes on to the backend, which
 * checks the dialect's own proof (E2B's access token).  With extend_s > 0 the
 * request moves the session's end to extend_s from now (E2B's setTimeout):
 * once it succeeds, the route is kept that much longer. */
struct request;
void balancer_relay_session(struct request *req, const char *id, long timeout_ms, long long extend_s);

/* The balancer's /v1 routes (core/routes.c): runs and new sessions are placed, every later
 * request of a session is relayed to its backend, languages and the list gathered from all. */
route_handler balancer_handle_run, balancer_handle_create, balancer_handle_session;
route_handler balancer_handle_languages, balancer_handle_list;

#endif
