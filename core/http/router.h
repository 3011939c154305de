/* router.h — the route table: match, authenticate, dispatch; 404 and 405. */
#ifndef CC_ROUTER_H
#define CC_ROUTER_H

#include "http.h"

enum access {
    ACCESS_OPEN,    /* service routes: no key */
    ACCESS_CLIENT,  /* any client key (admin keys are client keys) */
    ACCESS_ADMIN,   /* admin keys only */
};

struct route {
    const char *method;
    /* "/v1/sessions/{id}/files/{*}": {name} matches one segment (percent-decoded
     * into req->params), {*} the rest of the path (left encoded). */
    const char *pattern;
    enum access access;
    void (*handler)(struct request *req);
    unsigned flags;
};

/* The route also takes the key as ?key= (browsers cannot set WebSocket headers). */
#define ROUTE_KEY_IN_QUERY 1u
/* Errors go out as text/plain lines (the seed's dialect), not the JSON envelope. */
#define ROUTE_TEXT_ERRORS 2u
/* Errors go out as {"message": ...} (Piston's dialect), not the JSON envelope. */
#define ROUTE_MESSAGE_ERRORS 4u
/* Errors go out as E2B's {"code": status, "message"}. */
#define ROUTE_E2B_ERRORS 8u

/* Routes are looked up in the order of the tables, first match wins. */
void router_add(const struct route *routes, size_t n);
void router_reset(void);
void router_dispatch(struct request *req);

#endif
