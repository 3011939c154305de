/* auth.h — API keys: who is calling, and may they call this route. */
#ifndef CC_AUTH_H
#define CC_AUTH_H

#include "http.h"
#include "router.h"

/* Check the caller against the route's access; fills req->is_admin and
 * req->key_hash.  On refusal replies 401/403 and returns -1. */
int auth_check(struct request *req, enum access access, int key_in_query);
/* Whether any key is configured at all (if none, everyone is admin). */
int auth_keys_configured(void);

#endif
