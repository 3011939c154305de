/* test_router.c — the route table (core/http/router.c): patterns and their parameters, first match
 * wins, a role's rows, 404 and 405 with the methods allowed, HEAD, CORS preflights, keys, error
 * dialects.  Requests are internal ones (unit_router.h). */
#include <stdlib.h>

#include "base/log.h"
#include "http/http.h"
#include "http/router.h"
#include "unit.h"
#include "unit_app.h"
#include "unit_router.h"

static const char policy[] =
    "return { role = 'backend', listen = '127.0.0.1:0', cors_origins = {'https://ok.example'},\n"
    "  keys = { client = {'client-key'}, admin = {'admin-key'} } }\n";

/* What the last request's handler saw. */
static struct {
    const char *handler;
    int nparams;
    char params[HTTP_MAX_PARAMS][128];
} seen;

static void record(struct request *req, const char *handler) {
    seen.handler = handler;
    seen.nparams = req->nparams;
    for (int i = 0; i < req->nparams; i++) snprintf(seen.params[i], sizeof seen.params[i], "%s", req->params[i]);
    http_respond(req, 200, "text/plain", "", 0, NULL);
}

static void h_list(struct request *req) { record(req, "list"); }
static void h_get(struct request *req) { record(req, "get"); }
static void h_delete(struct request *req) { record(req, "delete"); }
static void h_file(struct request *req) { record(req, "file"); }
static void h_four(struct request *req) { record(req, "four"); }
static void h_fixed(struct request *req) { record(req, "fixed"); }
static void h_client(struct request *req) { record(req, "client"); }
static void h_admin(struct request *req) { record(req, "admin"); }
static void h_text(struct request *req) { record(req, "text"); }

static const struct route table[] = {
    {ON_BOTH, "GET", "/v1/things", ACCESS_OPEN, h_list, 0},
    {ON_BOTH, "GET", "/v1/things/{id}", ACCESS_OPEN, h_get, 0},
    {ON_BOTH, "DELETE", "/v1/things/{id}", ACCESS_OPEN, h_delete, 0},
    {ON_BOTH, "GET", "/v1/things/{id}/files/{*}", ACCESS_OPEN, h_file, 0},
    {ON_BOTH, "GET", "/v1/a/{b}/{c}/{d}/{*}", ACCESS_OPEN, h_four, 0},
    {ON_BOTH, "GET", "/v1/keyed", ACCESS_CLIENT, h_client, 0},
    {ON_BOTH, "POST", "/v1/admin", ACCESS_ADMIN, h_admin, 0},
    {ON_BOTH, "POST", "/text/{x}", ACCESS_OPEN, h_text, ROUTE_TEXT_ERRORS},
    /* Another role's rows are not there at all: not matched, not in a 405's Allow. */
    {ON_BALANCER, "GET", "/v1/things", ACCESS_OPEN, h_fixed, 0},
    {ON_BALANCER, "PATCH", "/v1/things/{id}", ACCESS_OPEN, h_fixed, 0},
    {ON_BALANCER, "GET", "/v1/balanced", ACCESS_OPEN, h_fixed, 0},
    /* Later rows: /v1/things/fixed is shadowed by /v1/things/{id} above. */
    {ON_BACKEND, "GET", "/v1/things/fixed", ACCESS_OPEN, h_fixed, 0},
    {ON_BACKEND, "PUT", "/v1/things/{id}", ACCESS_OPEN, h_fixed, 0},
};

/* Dispatch `method target` with the given headers ("name", "value", ..., NULL). */
static int ask_with(const char *method, const char *target, const char *const *headers) {
    memset(&seen, 0, sizeof seen);
    return unit_ask(method, target, headers);
}

static int ask(const char *method, const char *target) { return ask_with(method, target, NULL); }

static void test_patterns(void) {
    CHECK(ask("GET", "/v1/things") == 200);
    CHECK_STR(seen.handler, "list");
    CHECK(seen.nparams == 0);
    /* {name}: one segment, percent-decoded. */
    CHECK(ask("GET", "/v1/things/a%20b") == 200);
    CHECK_STR(seen.handler, "get");
    CHECK(seen.nparams == 1);
    CHECK_STR(seen.params[0], "a b");
    /* {*}: the rest of the path, left encoded. */
    CHECK(ask("GET", "/v1/things/7/files/dir/a%20b.txt") == 200);
    CHECK_STR(seen.handler, "file");
    CHECK(seen.nparams == 2);
    CHECK_STR(seen.params[0], "7");
    CHECK_STR(seen.params[1], "dir/a%20b.txt");
    /* HTTP_MAX_PARAMS parameters in one pattern all arrive. */
    CHECK(ask("GET", "/v1/a/1/2/3/rest/of/it") == 200);
    CHECK(seen.nparams == HTTP_MAX_PARAMS);
    CHECK_STR(seen.params[0], "1");
    CHECK_STR(seen.params[2], "3");
    CHECK_STR(seen.params[3], "rest/of/it");
    /* The query is not part of the path. */
    CHECK(ask("GET", "/v1/things/x?y=/z") == 200);
    CHECK_STR(seen.params[0], "x");
    /* First match wins; the balancer's rows are not this backend's. */
    CHECK(ask("GET", "/v1/things/fixed") == 200);
    CHECK_STR(seen.handler, "get");
    CHECK(ask("PUT", "/v1/things/q") == 200);
    CHECK_STR(seen.handler, "fixed");

    /* What matches nothing: 404, with no handler run. */
    const char *misses[] = {
        "/v1/things/",              /* an empty segment */
        "/v1/things/a/b",           /* two segments for one */
        "/v1/things/7/files/",      /* {*} needs something */
        "/v1/things/%zz",           /* a bad escape */
        "/v1/thing",                /* a prefix */
        "/v1/thingsx",              /* longer */
        "/V1/things",               /* case matters */
        "/v1/things/a%00b",         /* a NUL would cut the parameter short */
        "",
    };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        if (ask("GET", misses[i]) != 404) fprintf(stderr, "GET '%s' matched a route\n", misses[i]);
        CHECK(unit_answer.status == 404);
        CHECK(seen.handler == NULL);
        CHECK(strstr(unit_answer.body, "not_found") != NULL);
    }
    CHECK(ask("GET", "/nope") == 404);
    CHECK(strstr(unit_answer.body, "no route for GET /nope") != NULL);
    CHECK(ask("GET", "/v1/balanced") == 404);
}

static void test_methods(void) {
    /* The path matches, the method does not: 405 naming every method of the path, once each. */
    CHECK(ask("POST", "/v1/things/7") == 405);
    CHECK(seen.handler == NULL);
    CHECK(strstr(unit_answer.body, "method_not_allowed") != NULL);
    CHECK(strstr(unit_answer.body, "use GET, DELETE, PUT") != NULL);
    CHECK(ask("POST", "/v1/things/fixed") == 405); /* two GET routes match: GET is named once */
    CHECK(strstr(unit_answer.body, "use GET, DELETE, PUT\"") != NULL);
    CHECK(ask("DELETE", "/v1/things") == 405);
    CHECK(strstr(unit_answer.body, "use GET\"") != NULL);
    /* HEAD is served by the GET route; other methods are not stand-ins. */
    CHECK(ask("HEAD", "/v1/things") == 200);
    CHECK_STR(seen.handler, "list");
    CHECK(ask("HEAD", "/v1/admin") == 405);
    /* 405 in the route's dialect: text here, the message alone. */
    CHECK(ask("GET", "/text/1") == 405);
    CHECK_STR(unit_answer.body, "GET is not allowed here; use POST");
    /* A CORS preflight from an allowed origin: 204; from another, 405. */
    const char *ok_origin[] = {"origin", "https://ok.example", NULL};
    const char *bad_origin[] = {"origin", "https://evil.example", NULL};
    CHECK(ask_with("OPTIONS", "/v1/things/7", ok_origin) == 204);
    CHECK(ask_with("OPTIONS", "/v1/things/7", bad_origin) == 405);
    CHECK(ask_with("OPTIONS", "/nope", ok_origin) == 404);
}

static void test_keys(void) {
    const char *client[] = {"authorization", "Bearer client-key", NULL};
    const char *admin[] = {"x-api-key", "admin-key", NULL};
    const char *wrong[] = {"authorization", "Bearer nope", NULL};
    CHECK(ask("GET", "/v1/keyed") == 401);
    CHECK(seen.handler == NULL);
    CHECK(ask_with("GET", "/v1/keyed", wrong) == 401);
    CHECK(ask_with("GET", "/v1/keyed", client) == 200);
    CHECK(ask_with("GET", "/v1/keyed", admin) == 200);
    CHECK(ask_with("POST", "/v1/admin", client) == 403);
    CHECK(seen.handler == NULL);
    CHECK(ask_with("POST", "/v1/admin", admin) == 200);
    CHECK_STR(seen.handler, "admin");
    /* An open route needs none; a 405 or 404 is answered before any key is asked for. */
    CHECK(ask("GET", "/v1/things") == 200);
    CHECK(ask("DELETE", "/v1/keyed") == 405);
}

int main(void) {
    log_set_min_level(LOG_ERROR);
    uv_loop_t *loop = uv_default_loop();
    if (unit_app_install(loop, policy) < 0) return 1;
    router_use(table, sizeof table / sizeof table[0], ROLE_BACKEND);
    test_patterns();
    test_methods();
    test_keys();
    /* The same table on a balancer: its rows, in their places. */
    router_use(table, sizeof table / sizeof table[0], ROLE_BALANCER);
    CHECK(ask("GET", "/v1/things") == 200);
    CHECK_STR(seen.handler, "list");
    CHECK(ask("GET", "/v1/balanced") == 200);
    CHECK_STR(seen.handler, "fixed");
    CHECK(ask("POST", "/v1/things/7") == 405);
    CHECK(strstr(unit_answer.body, "use GET, DELETE, PATCH\"") != NULL);
    router_use(NULL, 0, ROLE_BACKEND);
    CHECK(ask("GET", "/v1/things") == 404);
    app_free();
    return unit_report();
}
