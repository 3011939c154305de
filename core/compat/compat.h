/* compat.h — the older API dialects, served by translating to and from the
 * /v1 routes with internal requests: what main.c starts and stops of them (their routes are
 * core/routes.c's). */
#ifndef CC_COMPAT_H
#define CC_COMPAT_H

void compat_seed_init(void);
void compat_seed_free(void);
void compat_e2b_init(void);

#endif
