/* router.h — the route table: match, authenticate, dispatch; 404 and 405.  The table itself,
 * every route of both roles, is core/routes.c. */
#ifndef CC_ROUTER_H
#define CC_ROUTER_H

#include "http.h"
#include "policy/config.h"

enum access {
    ACCESS_OPEN,    /* service routes: no key */
    ACCESS_CLIENT,  /* any client key (admin keys are client keys) */
    ACCESS_ADMIN,   /* admin keys only */
};

/* A route's handler: it answers req, now or later.  Rooms declare theirs with it
 * (`route_handler e2b_handle_create, ...;`) for core/routes.c. */
typedef void route_handler(struct request *req);

/* The roles that serve a route (struct route's roles): bits of enum role. */
#define ON_BACKEND (1u << ROLE_BACKEND)
#define ON_BALANCER (1u << ROLE_BALANCER)
#define ON_BOTH (ON_BACKEND | ON_BALANCER)

struct route {
    unsigned roles; /* ON_BACKEND, ON_BALANCER or ON_BOTH */
    const char *method;
    /* "/v1/sessions/{id}/files/{*}": {name} matches one segment (percent-decoded
     * into req->params), {*} the rest of the path (left encoded). */
    const char *pattern;
    enum access access;
    route_handler *handler;
    unsigned flags;
};

/* No flag: errors go out in the JSON envelope ({"error": {"code", "message"}}), the key comes
 * in a header. */
#define ROUTE_JSON_ERRORS 0u
/* The route also takes the key as ?key= (browsers cannot set WebSocket headers). */
#define ROUTE_KEY_IN_QUERY 1u
/* Errors go out as text/plain lines (the seed's dialect), not the JSON envelope. */
#define ROUTE_TEXT_ERRORS 2u
/* Errors go out as {"message": ...} (Piston's dialect), not the JSON envelope. */
#define ROUTE_MESSAGE_ERRORS 4u
/* Errors go out as E2B's {"code": status, "message"}. */
#define ROUTE_E2B_ERRORS 8u

/* Serve the rows of `table` whose roles hold `role` (the table is kept, not copied).  Requests
 * are matched against them in the table's order, first match wins.  A pattern with more
 * parameters than a request holds aborts the process: it could never match.  Called again, it
 * replaces what was in use (n = 0: no route at all). */
void router_use(const struct route *table, size_t n, enum role role);
void router_dispatch(struct request *req);

#endif
