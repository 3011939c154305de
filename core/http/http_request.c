/* http_request.c — a request's object: made and freed, its headers and query parameters read,
 * and internal subrequests (a request made by the server itself, answered to a callback). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

void request_free(struct request *req) {
    free(req->target);
    free(req->path);
    free(req->query);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    for (int i = 0; i < req->nparams; i++) free(req->params[i]);
    buf_free(&req->body);
    free(req);
}

struct request *request_new(struct conn *c) {
    struct request *req = calloc(1, sizeof *req);
    if (!req) return NULL;
    req->conn = c;
    req->start_ns = uv_hrtime();
    req->route = "unmatched";
    return req;
}

const char *http_header(const struct request *req, const char *lname) {
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, lname) == 0) return req->headers[i].value;
    return NULL;
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

int http_percent_decode(const char *in, size_t inlen, char *out, size_t outlen, int plus_is_space) {
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        if (o + 1 >= outlen) return -1;
        if (in[i] == '%') {
            if (i + 2 >= inlen) return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (in[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return 0;
}

int http_query_param(const struct request *req, const char *name, char *out, size_t len) {
    size_t nlen = strlen(name);
    const char *q = req->query;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t plen = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', plen);
        size_t klen = eq ? (size_t)(eq - q) : plen;
        if (klen == nlen && memcmp(q, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : q + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;
            return http_percent_decode(v, vlen, out, len, 1) < 0 ? -1 : 1;
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* ---- internal requests -------------------------------------------------------------- */

struct request *http_subrequest(const struct request *parent, const char *method, const char *target,
                                const void *body, size_t len, http_response_fn on_response, void *ud) {
    struct request *req = request_new(NULL);
    if (!req) return NULL;
    snprintf(req->method, sizeof req->method, "%s", method);
    req->target = strdup(target);
    const char *q = strchr(target, '?');
    req->path = q ? strndup(target, (size_t)(q - target)) : strdup(target);
    req->query = strdup(q ? q + 1 : "");
    req->headers = calloc(parent->nheaders ? parent->nheaders : 1, sizeof *req->headers);
    if (!req->target || !req->path || !req->query || !req->headers) {
        request_free(req);
        return NULL;
    }
    /* The caller's credentials and content type: the subrequest acts for it. */
    for (size_t i = 0; i < parent->nheaders; i++) {
        const char *n = parent->headers[i].name;
        if (strcmp(n, "authorization") && strcmp(n, "x-api-key") && strcmp(n, "x-auth-token") && strcmp(n, "origin"))
            continue;
        req->headers[req->nheaders].name = strdup(n);
        req->headers[req->nheaders].value = strdup(parent->headers[i].value);
        req->nheaders++;
    }
    buf_append(&req->body, body ? body : "", body ? len : 0);
    req->on_response = on_response;
    req->response_ud = ud;
    return req;
}

void http_request_cancel(struct request *req) {
    void (*fn)(struct request *, void *) = req->on_abort;
    void *ud = req->abort_ud;
    if (!fn) return;
    http_set_abort(req, NULL, NULL);
    fn(req, ud);
}

void http_request_discard(struct request *req) { request_free(req); }
