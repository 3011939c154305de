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

const char *v1_error_message(const json_t *answer) {
    return json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
}

void reply_relayed_error(struct request *req, int status, const char *body, size_t len) {
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    const char *msg = v1_error_message(j);
    /* Piston and E2B know no 422 (an invalid request is their 400); the seed's text keeps the status. */
    if (status == 422 && req->error_shape != ERRORS_TEXT) status = 400;
    reply_error(req, status, code ? code : "internal", "%s", msg ? msg : "request failed");
    json_decref(j);
}

json_t *reply_relayed_json(struct request *req, int want, int status, const char *body, size_t len) {
    if (status != want) {
        reply_relayed_error(req, status, body, len);
        return NULL;
    }
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    if (!j) reply_error(req, 500, "internal", "an internal request's answer is not JSON");
    return j;
}

void reply_relayed_list(struct request *req, int status, const char *body, size_t len, const char *field,
                        json_t *(*map)(const json_t *item)) {
    json_t *j = reply_relayed_json(req, 200, status, body, len);
    if (!j) return;
    json_t *out = json_array(), *item;
    size_t i;
    json_array_foreach(json_object_get(j, field), i, item) {
        json_t *mapped = map(item);
        if (mapped) json_array_append_new(out, mapped);
    }
    json_decref(j);
    reply_json(req, 200, out);
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
