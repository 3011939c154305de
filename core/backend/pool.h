/* pool.h — warm containers: per language, containers created, started and
 * hardened ahead of requests, whose launcher waits for work.
 *
 * The policy's `pools = { python = { min = 2, max = 8, refill_per_s = 4,
 * window_s = 60 } }` says how many spare ready containers each language keeps
 * at least (`min`; 0: none until the language is asked for), how many it may
 * hold at most (`max`), how fast it may create them (`refill_per_s`), and over
 * how long it remembers the demand it sizes itself by (`window_s`).  Pool
 * containers carry the policy's default limits; a request that asks for other
 * memory, cpus or pids gets a container of its own (docs/pools.md).
 * Refilling happens on a timer, never on a request's path. */
#ifndef CC_POOL_H
#define CC_POOL_H

#include <jansson.h>
#include <uv.h>

#include "policy/config.h"
#include "program.h"
#include "sandbox.h"

/* Check the policy's `pools` table against its image map. */
int pool_validate(const struct config *c, struct policy *p, char *err, size_t errlen);

void pool_init(uv_loop_t *loop);
/* Remove every pool container; pool_take and pool_return keep nothing after this. */
void pool_shutdown(void);
void pool_free(void);

/* A ready container for program `p` whose settings equal `want`'s, or NULL;
 * either way the pool counts the language's demand.  On success the caller
 * owns the sandbox and its uid (*uid). */
struct sandbox *pool_take(const struct program *p, const struct sandbox_spec *want, unsigned *uid);

/* A finished run or session gives its container back once the launcher
 * reported the program's end.  If the pool keeps it (reuse on, its settings
 * are the pool's, the recent demand wants it kept) the pool owns it and its
 * uid, resets it (the launcher's `K`), and calls done(ud) once the container
 * can run nothing more of the program — never from inside this call; the
 * returned handle lets the caller cancel that call.  Otherwise the container
 * is removed, the uid given back, and NULL returned (done is not called). */
struct pool_entry;
struct pool_entry *pool_return(struct sandbox *sb, unsigned uid, const struct program *p,
                               void (*done)(void *ud), void *ud);
void pool_return_cancel(struct pool_entry *e);

/* {"python":{"ready":N,"target":N,"error":null|"..."}, ...}; *failing is set
 * when a pool cannot refill. */
json_t *pool_health(int *failing);

#endif
