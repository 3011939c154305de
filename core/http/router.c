/* router.c — match a request to a route, check its key, call the handler. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "policy/app.h"
#include "reply.h"

/* The process's route table (core/routes.c) and the role whose rows it serves. */
static const struct route *table;
static size_t table_len;
static unsigned role_bit;

void router_use(const struct route *routes, size_t n, enum role role) {
    /* A pattern with more parameters than a request holds would never match: refuse it now. */
    for (size_t i = 0; i < n; i++) {
        int params = 0;
        for (const char *c = routes[i].pattern; *c; c++) params += *c == '{';
        if (params > HTTP_MAX_PARAMS) {
            fprintf(stderr, "router: %s has more than %d parameters: raise HTTP_MAX_PARAMS\n", routes[i].pattern,
                    HTTP_MAX_PARAMS);
            abort();
        }
    }
    table = routes;
    table_len = n;
    role_bit = 1u << role;
}

static void clear_params(struct request *req) {
    for (int i = 0; i < req->nparams; i++) free(req->params[i]);
    req->nparams = 0;
}

/* 1 if `path` matches `pattern`, capturing parameters into req. */
static int match(const char *pattern, const char *path, struct request *req) {
    clear_params(req);
    const char *p = pattern, *s = path;
    while (*p) {
        if (p[0] == '{' && p[1] == '*') {
            if (*s == '\0' || req->nparams >= HTTP_MAX_PARAMS) return 0;
            req->params[req->nparams++] = strdup(s);
            return 1;
        }
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t seglen = strcspn(s, "/");
            if (!close || seglen == 0 || req->nparams >= HTTP_MAX_PARAMS) return 0;
            char *value = malloc(seglen + 1);
            /* A %00 would cut the value short: "/x/abc%00junk" must not name "abc". */
            if (!value || http_percent_decode(s, seglen, value, seglen + 1, 0) < 0 || memmem(s, seglen, "%00", 3)) {
                free(value);
                return 0;
            }
            req->params[req->nparams++] = value;
            p = close + 1;
            s += seglen;
            continue;
        }
        if (*p != *s) return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

static enum error_shape error_shape_of(const struct route *r) {
    return r->flags & ROUTE_TEXT_ERRORS      ? ERRORS_TEXT
         : r->flags & ROUTE_MESSAGE_ERRORS ? ERRORS_MESSAGE
         : r->flags & ROUTE_E2B_ERRORS     ? ERRORS_E2B
                                           : ERRORS_JSON;
}

void router_dispatch(struct request *req) {
    const struct route *path_match = NULL;
    char allow[128] = "";
    for (size_t i = 0; i < table_len; i++) {
        const struct route *r = &table[i];
        if (!(r->roles & role_bit) || !match(r->pattern, req->path, req)) continue;
        int same = strcmp(r->method, req->method) == 0 ||
                   (strcmp(r->method, "GET") == 0 && strcmp(req->method, "HEAD") == 0);
        if (!same) {
            path_match = r;
            if (!strstr(allow, r->method) && strlen(allow) + strlen(r->method) + 3 < sizeof allow) {
                if (allow[0]) strcat(allow, ", ");
                strcat(allow, r->method);
            }
            continue;
        }
        req->route = r->pattern;
        req->error_shape = error_shape_of(r);
        if (!req->preauth && auth_check(req, r->access, r->flags & ROUTE_KEY_IN_QUERY) < 0) return;
        r->handler(req);
        return;
    }
    clear_params(req);
    const char *origin = http_header(req, "origin");
    if (path_match && strcmp(req->method, "OPTIONS") == 0 && origin && app_cors_allowed(origin)) {
        /* A browser's CORS preflight for an allowed origin (the answer's
         * Allow-Origin is added to every response by http.c). */
        char extra[400];
        snprintf(extra, sizeof extra,
                 "Access-Control-Allow-Methods: %s\r\nAccess-Control-Allow-Headers: Authorization, X-API-Key, "
                 "Content-Type\r\nAccess-Control-Max-Age: 600\r\n",
                 allow);
        req->route = path_match->pattern;
        http_respond(req, 204, NULL, "", 0, extra);
        return;
    }
    if (path_match) {
        req->route = path_match->pattern;
        /* In the shape of the route's dialect: a client of that dialect reads it. */
        req->error_shape = error_shape_of(path_match);
        char extra[160];
        snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
        reply_error_headers(req, 405, "method_not_allowed", extra, "%.16s is not allowed here; use %s", req->method,
                            allow);
        return;
    }
    reply_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
}
