/* backend.h — the backend role: sessions and runs in sandbox containers. */
#ifndef CC_BACKEND_H
#define CC_BACKEND_H

#include <stddef.h>
#include <uv.h>

#include "http/router.h"
#include "policy/config.h"

/* Check the backend's settings (the image map) after a (re)load. */
int backend_validate(const struct config *c, struct policy *p, char *err, size_t errlen);
int backend_init(uv_loop_t *loop, char *err, size_t errlen);
/* End every session and run, remove our containers, then call `done`. */
void backend_shutdown(void (*done)(void));
void backend_free(void);
/* Call `stop` at shutdown once the runs are ended, before the pools (a dialect's own work in
 * sandboxes: E2B's commands).  At most BACKEND_MAX_STOPS; one more aborts. */
#define BACKEND_MAX_STOPS 4
void backend_at_shutdown(void (*stop)(void));

/* GET /v1/languages: the image map with each image's availability. */
route_handler backend_handle_languages;

#endif
