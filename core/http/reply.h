/* reply.h — the one place that shapes JSON responses and the error envelope. */
#ifndef CC_REPLY_H
#define CC_REPLY_H

#include <jansson.h>

#include "http.h"

/* {"error":{"code","message"}} with `status`. */
void reply_error(struct request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with extra fields in the error object (e.g. "scope"); `extra` is stolen. */
void reply_error_with(struct request *req, int status, const char *code, json_t *extra,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same with extra header lines ("Name: value\r\n"...). */
void reply_error_headers(struct request *req, int status, const char *code, const char *headers, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));
/* Serialize `body` (stolen) as the response. */
void reply_json(struct request *req, int status, json_t *body);
void reply_no_content(struct request *req);
/* JSON text of a value as api.md wants it: compact, "/" not escaped. */
char *json_text(const json_t *v);
/* The message of a /v1 error answer ({"error":{"message"}}) into out[len], or "request failed":
 * what a dialect relays, in its own shape, when an internal request failed. */
const char *reply_error_message(const char *body, size_t len, char *out, size_t outlen);

/* The request body as a JSON object, or NULL after answering 400. */
json_t *request_json_object(struct request *req);
/* A zeroed object of `size` bytes for the work of `req`, or NULL after answering 500. */
void *request_calloc(struct request *req, size_t size);
#endif
