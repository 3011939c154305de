/* proxy.h — the balancer's calls to backends: one request, the whole
 * response buffered (every answer of the API is bounded), or a WebSocket
 * relayed byte for byte after the upgrade. */
#ifndef CC_PROXY_H
#define CC_PROXY_H

#include <stddef.h>

#include "http.h"

struct proxy_call;

/* A backend's answer, borrowed for the callback's time. */
struct proxy_answer {
    int status;               /* 0: no answer; `err` says why */
    const char *content_type; /* NULL: none */
    const char *body;
    size_t len;
    const char *err;
    int refused;              /* the backend refused the connection (it is not there at all) */
};

typedef void (*proxy_done_fn)(void *ud, const struct proxy_answer *a);

/* Send `method target` to `backend_url` (http://host:port) with the client's
 * credentials taken from `creds` (NULL: the fleet's first admin key, if any).
 * cb may be NULL. */
struct proxy_call *proxy_send(const char *backend_url, const char *method, const char *target,
                              const struct request *creds, const char *body, size_t len, long timeout_ms,
                              proxy_done_fn cb, void *ud);
/* cb never runs after this. */
void proxy_cancel(struct proxy_call *c);

/* Sees the backend's answer before the client does (status 0: none); called
 * exactly once, so it may free ud. */
typedef void (*proxy_observe_fn)(void *ud, int status, const char *body, size_t len);

/* Answer `req` with the backend's response unchanged (503 if it does not
 * answer within timeout_ms).  observe may be NULL. */
void proxy_relay(struct request *req, const char *backend_url, long timeout_ms, proxy_observe_fn observe, void *ud);
/* Close the kept-alive connections (shutdown). */
void proxy_pool_close(void);
/* Relay a WebSocket upgrade and then the bytes both ways, without bound.  observe (may be NULL)
 * sees the backend's answer to the upgrade once: 101, the status of another answer, or 0 when
 * there was none (no connection, the client or the backend left first). */
void proxy_tunnel(struct request *req, const char *backend_url, proxy_observe_fn observe, void *ud);

#endif
