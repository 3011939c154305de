/* reply.c — JSON responses and the error envelope. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *json_text(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

static void reply_json_headers(struct request *req, int status, json_t *body, const char *headers) {
    char *text = json_text(body);
    json_decref(body);
    if (!text) {
        http_respond(req, 500, "application/json",
                     "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the response\"}}", 68,
                     NULL);
        return;
    }
    http_respond(req, status, "application/json", text, strlen(text), headers);
    free(text);
}

void reply_json(struct request *req, int status, json_t *body) { reply_json_headers(req, status, body, NULL); }

static void reply_error_v(struct request *req, int status, const char *code, json_t *extra, const char *headers,
                          const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (req->error_shape == ERRORS_TEXT) {
        json_decref(extra);
        http_respond(req, status, "text/plain; charset=utf-8", msg, strlen(msg), headers);
        return;
    }
    if (req->error_shape == ERRORS_E2B) {
        json_decref(extra);
        json_t *e = json_pack("{s:i,s:s}", "code", status, "message", msg);
        reply_json_headers(req, status, e ? e : json_pack("{s:i,s:s}", "code", status, "message", "(message is not UTF-8)"),
                           headers);
        return;
    }
    json_t *err = json_pack("{s:s,s:s}", "code", code, "message", msg);
    if (!err) err = json_pack("{s:s,s:s}", "code", code, "message", "(message is not UTF-8)");
    if (extra) json_object_update(err, extra);
    json_decref(extra);
    if (req->error_shape == ERRORS_MESSAGE) {
        /* Piston's shape: the message alone. */
        json_t *m = json_pack("{s:O}", "message", json_object_get(err, "message"));
        json_decref(err);
        reply_json_headers(req, status, m, headers);
        return;
    }
    reply_json_headers(req, status, json_pack("{s:o}", "error", err), headers);
}

void reply_error(struct request *req, int status, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(req, status, code, NULL, NULL, fmt, ap);
    va_end(ap);
}

void reply_error_headers(struct request *req, int status, const char *code, const char *headers, const char *fmt,
                         ...) {
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(req, status, code, NULL, headers, fmt, ap);
    va_end(ap);
}

void reply_error_with(struct request *req, int status, const char *code, json_t *extra,
                      const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(req, status, code, extra, NULL, fmt, ap);
    va_end(ap);
}

void reply_no_content(struct request *req) { http_respond(req, 204, NULL, "", 0, NULL); }

const char *reply_error_message(const char *body, size_t len, char *out, size_t outlen) {
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    snprintf(out, outlen, "%s", msg ? msg : "request failed");
    json_decref(j);
    return out;
}

json_t *request_json_object(struct request *req) {
    json_error_t jerr;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &jerr);
    if (!json_is_object(body)) {
        reply_error(req, 400, "bad_request", "the body must be a JSON object (%s)", body ? "not an object" : jerr.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

void *request_calloc(struct request *req, size_t size) {
    void *p = calloc(1, size);
    if (!p) reply_error(req, 500, "internal", "out of memory");
    return p;
}
