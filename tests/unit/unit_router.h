/* unit_router.h — ask the router as a client would: an internal request (http_subrequest)
 * dispatched by router_dispatch, whose answer comes back to a callback and is kept here. */
#ifndef CC_UNIT_ROUTER_H
#define CC_UNIT_ROUTER_H

#include <stdio.h>
#include <string.h>

#include "http/http.h"
#include "http/router.h"

/* What the last unit_ask got. */
static struct {
    int status;
    char body[1024];
} unit_answer;

/* Called (when set) as each answer arrives, after unit_answer holds it: what a test must see at
 * the moment the client is answered. */
static void (*unit_answered)(void);

static inline void unit_on_answer(int status, const char *body, size_t len, void *ud) {
    (void)ud;
    unit_answer.status = status;
    snprintf(unit_answer.body, sizeof unit_answer.body, "%.*s", (int)len, body);
    if (unit_answered) unit_answered();
}

/* Dispatch `method target` with the given headers ("name", "value", ..., NULL; at most 4) and
 * `body` (NULL: none): the answer's status, 0 while it is still to come (a route that waits on
 * the loop), or -1. */
static inline int unit_ask_body(const char *method, const char *target, const char *const *headers,
                                const char *body) {
    memset(&unit_answer, 0, sizeof unit_answer);
    struct http_header h[4];
    struct request parent = {0};
    parent.headers = h;
    for (; headers && headers[0] && parent.nheaders < 4; headers += 2) {
        h[parent.nheaders].name = (char *)headers[0];
        h[parent.nheaders].value = (char *)headers[1];
        parent.nheaders++;
    }
    struct request *req = http_subrequest(&parent, method, target, body, body ? strlen(body) : 0, unit_on_answer, NULL);
    if (!req) return -1;
    router_dispatch(req);
    return unit_answer.status;
}

static inline int unit_ask(const char *method, const char *target, const char *const *headers) {
    return unit_ask_body(method, target, headers, NULL);
}

#endif
