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
/* The message of a /v1 error answer ({"error":{"message"}}), or NULL. */
const char *v1_error_message(const json_t *answer);
/* A /v1 error answer (an internal request's) relayed to a dialect's caller: its code and message
 * ("request failed" when it has none) with `status`, in the request's error shape; a 422 is 400
 * except in the seed's text shape. */
void reply_relayed_error(struct request *req, int status, const char *body, size_t len);
/* An internal request's answer as JSON when its status is `want`; else NULL after relaying its
 * error (reply_relayed_error), or after answering 500 if it is not JSON. */
json_t *reply_relayed_json(struct request *req, int want, int status, const char *body, size_t len);
/* An internal request's answer {field: [items]} as a dialect's list: 200 with the array of what
 * `map` makes of each item (NULL: left out); else as reply_relayed_json. */
void reply_relayed_list(struct request *req, int status, const char *body, size_t len, const char *field,
                        json_t *(*map)(const json_t *item));

/* The request body as a JSON object, or NULL after answering 400. */
json_t *request_json_object(struct request *req);
/* A zeroed object of `size` bytes for the work of `req`, or NULL after answering 500. */
void *request_calloc(struct request *req, size_t size);
#endif
