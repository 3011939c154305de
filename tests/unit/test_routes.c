/* test_routes.c — the process's route table (core/routes.c) as each role serves it: which
 * handler a request reaches, what is 404 on one role and served on the other, a 405's Allow in
 * the dialect's shape, the keys a row asks for.
 *
 * The table is installed as main.c installs it, but from a copy whose handlers only note which
 * real one was chosen: the real ones need a running role (Redis, the engine). */
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/run.h"
#include "backend/session.h"
#include "backend/session_routes.h"
#include "balancer/balancer.h"
#include "balancer/fleet.h"
#include "base/log.h"
#include "compat/e2b/e2b.h"
#include "compat/judge0/judge0.h"
#include "compat/piston/piston.h"
#include "compat/seed/seed.h"
#include "http/service.h"
#include "routes.h"
#include "unit.h"
#include "unit_app.h"
#include "unit_router.h"

static const char policy[] =
    "return { role = 'backend', listen = '127.0.0.1:0', cors_origins = {'https://ok.example'},\n"
    "  keys = { client = {'client-key'}, admin = {'admin-key'} } }\n";

/* A request on the roles of `roles`, with `key` ("": none) and an allowed Origin, and what it
 * must get: the status, the real handler it reaches (NULL: none runs), its first parameter
 * ("": not checked), and `says`, found in the answer's body ("=text": the whole body; "": not checked). */
static const struct expect {
    unsigned roles;
    const char *method, *target, *key;
    int status;
    route_handler *handler;
    const char *param, *says;
} expected[] = {
    {ON_BOTH, "GET", "/healthz", "", 200, service_handle_healthz, "", ""},
    {ON_BOTH, "GET", "/", "", 200, seed_handle_root, "", ""},
    {ON_BOTH, "POST", "/api/v2/execute", "", 200, piston_handle_execute, "", ""},
    {ON_BOTH, "GET", "/api/v2/execute", "", 405, NULL, "", "{\"message\":\"GET is not allowed here; use POST\"}"},
    {ON_BOTH, "GET", "/api/session/create", "client-key", 405, NULL, "", "=GET is not allowed here; use POST"},
    {ON_BOTH, "POST", "/sandboxes/abc/timeout", "admin-key", 200, e2b_handle_timeout, "abc", ""},
    {ON_BOTH, "POST", "/sandboxes", "", 401, NULL, "", "{\"code\":401,"},
    {ON_BOTH, "POST", "/process.Process/Start", "", 200, e2b_handle_process_start, "", ""},
    {ON_BOTH, "POST", "/process.Process/Update", "", 200, e2b_rpc_unimplemented, "Update", ""},
    {ON_BOTH, "GET", "/submissions/batch", "client-key", 200, j0_handle_batch_show, "", ""},
    {ON_BOTH, "GET", "/submissions/tok", "client-key", 200, j0_handle_show, "tok", ""},
    {ON_BOTH, "PUT", "/submissions/batch", "client-key", 405, NULL, "", "use POST, GET, DELETE\""},

    /* A backend serves /v1 and the seed's API itself; the balancer's rows are not there. */
    {ON_BACKEND, "GET", "/v1/languages", "client-key", 200, backend_handle_languages, "", ""},
    {ON_BACKEND, "POST", "/v1/judge", "client-key", 200, judge_handle, "", ""},
    {ON_BACKEND, "POST", "/v1/sessions", "client-key", 200, session_create, "", ""},
    {ON_BACKEND, "GET", "/v1/sessions/abc/files/dir/x.txt", "client-key", 200, session_handle_file_get, "abc", ""},
    {ON_BACKEND, "PUT", "/v1/sessions/abc/files/x", "client-key", 200, session_handle_file_put, "abc", ""},
    {ON_BACKEND, "POST", "/v1/sessions/abc/files/x", "client-key", 405, NULL, "", "use GET, PUT\""},
    {ON_BACKEND, "POST", "/v1/sessions/abc/nothing", "client-key", 404, NULL, "", "not_found"},
    {ON_BACKEND, "GET", "/v1/sessions/abc/ws?key=client-key", "", 200, session_handle_ws, "abc", ""},
    {ON_BACKEND, "POST", "/api/session/create", "client-key", 200, seed_handle_create, "", ""},
    {ON_BACKEND, "GET", "/api/metrics/session/count", "client-key", 200, seed_handle_count, "", ""},
    {ON_BACKEND, "POST", "/load_balancer/add", "admin-key", 404, NULL, "", "not_found"},
    {ON_BACKEND, "OPTIONS", "/load_balancer/add", "", 404, NULL, "", ""},
    {ON_BACKEND, "GET", "/v1/backends", "admin-key", 404, NULL, "", ""},

    /* A balancer places and relays /v1, relays the seed's API by user_id, keeps its fleet. */
    {ON_BALANCER, "GET", "/v1/languages", "client-key", 200, balancer_handle_languages, "", ""},
    {ON_BALANCER, "POST", "/v1/judge", "client-key", 200, balancer_handle_run, "", ""},
    {ON_BALANCER, "POST", "/v1/sessions", "client-key", 200, balancer_handle_create, "", ""},
    {ON_BALANCER, "GET", "/v1/sessions/abc/files/dir/x.txt", "client-key", 200, balancer_handle_session, "abc", ""},
    {ON_BALANCER, "DELETE", "/v1/sessions/abc/files/x", "client-key", 405, NULL, "", "use GET, POST, PUT\""},
    {ON_BALANCER, "POST", "/v1/sessions/abc/nothing", "client-key", 200, balancer_handle_session, "abc", ""},
    {ON_BALANCER, "GET", "/v1/sessions/abc/ws?key=client-key", "", 200, balancer_handle_session, "abc", ""},
    {ON_BALANCER, "GET", "/v1/sessions/abc/output?key=client-key", "", 401, NULL, "", "unauthorized"},
    {ON_BALANCER, "POST", "/api/session/create", "client-key", 200, balancer_seed_relay, "", ""},
    {ON_BALANCER, "GET", "/api/metrics/session/count", "client-key", 200, balancer_seed_count, "", ""},
    {ON_BALANCER, "POST", "/load_balancer/add", "admin-key", 200, seed_handle_lb_add, "", ""},
    {ON_BALANCER, "POST", "/load_balancer/add", "client-key", 403, NULL, "", "=this route needs an admin key"},
    {ON_BALANCER, "OPTIONS", "/load_balancer/add", "", 204, NULL, "", ""},
    {ON_BALANCER, "DELETE", "/v1/backends?url=x", "admin-key", 200, fleet_handle_remove, "", ""},
    {ON_BALANCER, "GET", "/v1/backends", "client-key", 403, NULL, "", "forbidden"},
    {ON_BALANCER, "PUT", "/v1/backends", "admin-key", 405, NULL, "", "use GET, POST, DELETE\""},
};

static struct route *copy; /* route_table with `note` for every handler */
static enum role serving;
static route_handler *reached;
static char first_param[128];

/* The row the router took is the first of this role with the request's method (GET for a HEAD)
 * and the pattern it set in req->route: an earlier one would have been taken instead. */
static void note(struct request *req) {
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    for (size_t i = 0; i < route_table_len && !reached; i++)
        if ((copy[i].roles & (1u << serving)) && strcmp(copy[i].method, method) == 0 &&
            strcmp(copy[i].pattern, req->route) == 0)
            reached = route_table[i].handler;
    snprintf(first_param, sizeof first_param, "%s", req->nparams ? req->params[0] : "");
    http_respond(req, 200, "text/plain", "", 0, NULL);
}

static void check(const struct expect *e) {
    char bearer[64];
    snprintf(bearer, sizeof bearer, "Bearer %s", e->key);
    const char *headers[] = {"origin", "https://ok.example", e->key[0] ? "authorization" : NULL, bearer, NULL};
    reached = NULL;
    first_param[0] = '\0';
    int status = unit_ask(e->method, e->target, headers);
    int ok = status == e->status && reached == e->handler && (!e->param[0] || strcmp(first_param, e->param) == 0) &&
             (!e->says[0] || (e->says[0] == '=' ? strcmp(unit_answer.body, e->says + 1) == 0
                                                : strstr(unit_answer.body, e->says) != NULL));
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  on the %s: %s %s got %d %s\n", serving == ROLE_BACKEND ? "backend" : "balancer",
                e->method, e->target, status, unit_answer.body);
}

int main(void) {
    log_set_min_level(LOG_ERROR);
    uv_loop_t *loop = uv_default_loop();
    if (unit_app_install(loop, policy) < 0) return 1;
    copy = malloc(route_table_len * sizeof *copy);
    if (!copy) return 1;
    memcpy(copy, route_table, route_table_len * sizeof *copy);
    for (size_t i = 0; i < route_table_len; i++) {
        CHECK(route_table[i].handler != NULL);
        CHECK(route_table[i].roles != 0 && (route_table[i].roles & ~ON_BOTH) == 0);
        copy[i].handler = note;
    }
    for (serving = ROLE_BACKEND; serving <= ROLE_BALANCER; serving++) {
        router_use(copy, route_table_len, serving);
        for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
            if (expected[i].roles & (1u << serving)) check(&expected[i]);
    }
    router_use(NULL, 0, ROLE_BACKEND);
    free(copy);
    app_free();
    return unit_report();
}
