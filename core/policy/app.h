/* app.h — the process-wide state: the loop, the policy in force, its settings.
 *
 * One process, one loop, one Lua state.  The policy may be swapped by SIGHUP;
 * code that needs a setting asks app_config() at the moment it needs it rather
 * than keeping pointers into an old configuration. */
#ifndef CC_APP_H
#define CC_APP_H

#include <uv.h>

#include "config.h"
#include "policy.h"

uv_loop_t *app_loop(void);
const struct config *app_config(void);
struct policy *app_policy(void);
/* A random id for this start of the process (hex). */
const char *app_boot_id(void);
int app_shutting_down(void);
int app_cors_allowed(const char *origin);

/* Install a loaded policy and its settings (main.c at start and on SIGHUP).
 * The previous ones are freed. */
void app_install(struct policy *p, struct config *c);
void app_set_shutting_down(void);
void app_init(uv_loop_t *loop);
void app_free(void);

#endif
