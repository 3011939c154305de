/* compat.h — the older API dialects, served by translating to and from the
 * /v1 routes with internal requests: Piston v2 and the seed's API. */
#ifndef CC_COMPAT_H
#define CC_COMPAT_H

void compat_piston_init(void);
void compat_piston_ws_init(void);
void compat_seed_init(void);
void compat_seed_free(void);
void compat_e2b_init(void);
/* The seed's routes on a balancer, relayed by user_id (balancer_seed.c): registered right after
 * the balancer's own. */
void balancer_seed_init(void);

#endif
