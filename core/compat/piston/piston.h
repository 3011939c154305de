/* piston.h — what the Piston dialect's two halves share: a job (a Piston
 * request resolved to a /v1 program) and internal requests made for it. */
#ifndef CC_PISTON_H
#define CC_PISTON_H

#include <jansson.h>

#include "http/http.h"
#include "http/router.h"

struct job;
/* program is the /v1 body (NULL with `err` when the job cannot run). */
typedef void (*job_ready_fn)(struct job *j, json_t *program, const char *err);

struct job {
    struct request *creds;     /* the request the internal calls act for; NULL once its client left */
    struct request *sub;       /* the internal request in flight, if any */
    json_t *piston;            /* the client's job description (owned) */
    char language[64];
    char version[64];
    int compiled;
    int err_status;            /* with `err`: the HTTP status Piston answers it with */
    job_ready_fn ready;
    void *owner;
};

/* Piston's own validation of a job description: its message, or NULL. */
const char *job_invalid(const json_t *body);
/* Find the runtime (language, aliases, SemVer selector) and build the program. */
void job_resolve(struct job *j);
void job_free(struct job *j);

/* The caller's identity: with CODECLOUD_PISTON_OPEN a caller without a key
 * is the anonymous tenant. */
void piston_identity(struct request *req);
int piston_anonymous(const struct request *req);
/* The anonymous tenant's rate (piston_rate): 0, or -1 once answered 429. */
int piston_admit(struct request *req);
/* A balancer relays an anonymous caller's Piston request to a backend as it
 * is (its own /v1 requests would carry no key a backend accepts): 0, or -1
 * when this is not a balancer or the request was answered. */
int piston_relay_anonymous(struct request *req, int websocket);
/* An internal /v1 request on behalf of `creds`.  With `inflight`, *inflight
 * holds it until it is answered (cb must clear it first), so that it can be
 * cancelled (http_request_cancel) when the client leaves. */
void dispatch_sub(struct request *creds, const char *method, const char *target, const char *body, size_t len,
                  http_response_fn cb, void *ud, struct request **inflight);

/* GET /api/v2/runtimes, POST /api/v2/execute (compat_piston.c) and the WebSocket
 * GET /api/v2/connect (compat_piston_ws.c). */
route_handler piston_handle_runtimes, piston_handle_execute, piston_handle_connect;

#endif
