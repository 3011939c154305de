/* docker.h — the Docker Engine API over libcurl's multi interface, on the uv loop.
 *
 * JSON calls and the /events stream never block the loop: libcurl's sockets are
 * watched with uv_poll and its timeouts with one uv_timer (curl_multi_socket_action).
 * The hijacked attach stream does not go through here (libcurl cannot take over
 * an upgraded connection): see httpc.h and attach.h, which connect to
 * docker_hostaddr(). */
#ifndef CC_DOCKER_H
#define CC_DOCKER_H

#include <jansson.h>
#include <uv.h>

#include "base/hostaddr.h"

#define DOCKER_API_PREFIX "/v1.41"
/* A response body larger than this fails the call: a misbehaving engine
 * cannot grow our memory without bound. */
#define DOCKER_MAX_BODY (8u << 20)

struct docker;
struct docker_call;

/* `host` as in CODECLOUD_DOCKER_HOST: `unix:///path` or `host:port`.
 * NULL if it does not parse or libcurl cannot start. */
struct docker *docker_new(uv_loop_t *loop, const char *host);
/* Cancel every call and the events stream (none of their callbacks runs), release
 * every handle, then call on_closed (may be NULL) and free `d`. Safe from inside
 * any docker callback. */
void docker_close(struct docker *d, void (*on_closed)(void *ud), void *ud);

const struct hostaddr *docker_hostaddr(const struct docker *d);
uv_loop_t *docker_loop(const struct docker *d);

/* The http_status of a call whose transport failed because it ran out of time (connecting
 * or the whole call): callers tell a slow engine from a broken one by it, not by the text. */
#define DOCKER_TIMED_OUT (-1)

/* The call ended. http_status is 0 (DOCKER_TIMED_OUT for a timeout) and `error` says why when
 * the transport failed (connect, reset, timeout, body too large); otherwise `error` is NULL and `body`
 * is the response parsed as JSON, or NULL if empty or not JSON (borrowed: valid
 * during the callback only). Engine errors come as {"message": "..."} bodies. */
typedef void (*docker_done_fn)(void *ud, long http_status, json_t *body, const char *error);

/* `path` is below the API version, e.g. "/containers/json?all=1"; `body` is
 * borrowed and may be NULL; timeout_ms 0 means the default (30 s).
 * NULL only on allocation failure or after docker_close. */
struct docker_call *docker_call(struct docker *d, const char *method, const char *path,
                                json_t *body, unsigned timeout_ms, docker_done_fn cb, void *ud);
/* `cb` never runs after this; the call's memory is released now or as soon as
 * libcurl lets go of it. Safe from inside any docker callback. Not after the
 * call's callback has returned, nor after docker_close (the call is gone). */
void docker_call_cancel(struct docker_call *c);

/* The events stream: one GET /events that stays open. Each JSON line goes to
 * on_event (borrowed); when the stream ends for any reason, on_broken runs once
 * and the call is finished (the caller reconnects with a backoff).
 * `filters_json` is the raw filters object, e.g. {"type":["container"]}; may be NULL.
 * Cancel it with docker_call_cancel. */
typedef void (*docker_event_fn)(void *ud, json_t *ev);
typedef void (*docker_broken_fn)(void *ud, const char *why);
struct docker_call *docker_events(struct docker *d, const char *filters_json,
                                  docker_event_fn on_event, docker_broken_fn on_broken, void *ud);

/* Percent-encode `s` for a query string (caller frees). */
char *docker_urlencode(const char *s);

/* ---- helpers built on docker_call ------------------------------------------------ */

/* GET /_ping with a short timeout: `cb` gets the call's http_status (200: the engine answered;
 * DOCKER_TIMED_OUT: not in time, as a busy engine may not) and, unless 200, why. */
struct docker_call *docker_ping(struct docker *d, unsigned timeout_ms,
                                void (*cb)(void *ud, long status, const char *why), void *ud);

/* DELETE /containers/{id}?force=1&v=1. ok is 1 if removed or already gone. cb may be NULL. */
struct docker_call *docker_remove(struct docker *d, const char *id,
                                  void (*cb)(void *ud, int ok, const char *why), void *ud);

#endif
