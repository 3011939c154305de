/* session_routes.h — the /v1/sessions routes. */
#ifndef CC_SESSION_ROUTES_H
#define CC_SESSION_ROUTES_H

void session_routes_init(void);

#endif
