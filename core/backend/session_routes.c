/* session_routes.c — the HTTP side of sessions: read each route's input,
 * find the session, hand over to session.c. */
#include "session_routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/reply.h"
#include "http/ws.h"
#include "notebook.h"
#include "program.h"
#include "session.h"

/* A cursor query parameter: absent is 0; negative, not an integer: 400. */
static int read_cursor(struct request *req, uint64_t *cursor) {
    char text[32];
    int have = http_query_param(req, "cursor", text, sizeof text);
    *cursor = 0;
    if (have == 0) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (have < 0 || text[0] == '\0' || text[0] == '-' || text[0] == '+' || *end || errno) {
        reply_error(req, 400, "bad_request", "cursor must be a non-negative integer");
        return -1;
    }
    *cursor = v;
    return 0;
}

/* The routes that take a JSON body act on (request, session, body): the lookup, the body's
 * parsing (each answers its own error) and its release are here, once. */
typedef void (*session_body_action)(struct request *req, struct session *s, const json_t *body);

static void with_session_body(struct request *req, session_body_action act) {
    struct session *s = session_lookup(req);
    if (!s) return;
    json_t *body = request_json_object(req);
    if (!body) return;
    act(req, s, body);
    json_decref(body);
}

void session_handle_get(struct request *req) {
    struct session *s = session_lookup(req);
    if (s) reply_json(req, 200, session_json(s));
}

static void input_from(struct request *req, struct session *s, const json_t *body) {
    const json_t *data = json_object_get(body, "data"), *eof = json_object_get(body, "eof");
    if ((data && !json_is_string(data) && !json_is_null(data)) || (eof && !json_is_boolean(eof) && !json_is_null(eof))) {
        reply_error(req, 400, "bad_request", "input is {\"data\": string, \"eof\": boolean}");
    } else if (!json_is_string(data) && !json_is_true(eof)) {
        reply_error(req, 400, "bad_request", "input needs \"data\" or \"eof\": true");
    } else {
        session_input(req, s, json_string_value(data), json_is_string(data) ? json_string_length(data) : 0,
                      json_is_true(eof));
    }
}

void session_handle_input(struct request *req) { with_session_body(req, input_from); }

void session_handle_output(struct request *req) {
    struct session *s = session_lookup(req);
    uint64_t cursor;
    if (!s || read_cursor(req, &cursor) < 0) return;
    char text[32];
    long wait_ms = 0;
    int have = http_query_param(req, "wait_ms", text, sizeof text);
    if (have) {
        char *end;
        wait_ms = strtol(text, &end, 10);
        if (have < 0 || text[0] == '\0' || *end || wait_ms < 0) {
            reply_error(req, 400, "bad_request", "wait_ms must be a non-negative integer");
            return;
        }
    }
    session_output(req, s, cursor, wait_ms);
}

void session_handle_ws(struct request *req) {
    if (!ws_is_upgrade(req)) {
        reply_error(req, 400, "bad_request", "this route needs a WebSocket upgrade");
        return;
    }
    struct session *s = session_lookup(req);
    uint64_t cursor;
    if (!s || read_cursor(req, &cursor) < 0) return;
    session_websocket(req, s, cursor);
}

static void signal_from(struct request *req, struct session *s, const json_t *body) {
    const char *name = json_string_value(json_object_get(body, "signal"));
    int signo = name ? session_signal_number(name) : 0;
    if (!signo) reply_error(req, 400, "bad_request", "signal must be one of INT TERM KILL HUP QUIT USR1 USR2");
    else session_signal(req, s, signo);
}

void session_handle_signal(struct request *req) { with_session_body(req, signal_from); }

static void resize_from(struct request *req, struct session *s, const json_t *body) {
    const json_t *cols = json_object_get(body, "cols"), *rows = json_object_get(body, "rows");
    if (!json_is_integer(cols) || !json_is_integer(rows) || json_integer_value(cols) < 1 ||
        json_integer_value(rows) < 1 || json_integer_value(cols) > 1000 || json_integer_value(rows) > 1000)
        reply_error(req, 400, "bad_request", "resize needs integer cols and rows from 1 to 1000");
    else session_resize(req, s, (int)json_integer_value(cols), (int)json_integer_value(rows));
}

void session_handle_resize(struct request *req) { with_session_body(req, resize_from); }

static void execute_from(struct request *req, struct session *s, const json_t *body) {
    const json_t *code = json_object_get(body, "code"), *timeout = json_object_get(body, "timeout_ms");
    if (!json_is_string(code)) {
        reply_error(req, 400, "bad_request", "execute is {\"code\": string, \"timeout_ms\": integer}");
    } else if (timeout && !json_is_null(timeout) &&
               (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
                json_integer_value(timeout) > NOTEBOOK_MAX_TIMEOUT_MS)) {
        reply_error(req, 400, "bad_request", "timeout_ms must be an integer from 1 to %d", NOTEBOOK_MAX_TIMEOUT_MS);
    } else {
        uint32_t ms = json_is_integer(timeout) ? (uint32_t)json_integer_value(timeout) : NOTEBOOK_DEFAULT_TIMEOUT_MS;
        session_execute(req, s, json_string_value(code), json_string_length(code), ms);
    }
}

void session_handle_execute(struct request *req) { with_session_body(req, execute_from); }

/* Whether the decoded path is as long as its escapes say: a %00 would cut it short. */
static int decoded_whole(const char *raw, const char *decoded) {
    size_t escapes = 0;
    for (const char *p = raw; *p; p++) escapes += *p == '%';
    return strlen(decoded) == strlen(raw) - 2 * escapes;
}

/* The {*} path parameter, percent-decoded; 400 if it does not decode or breaks the file-name rule. */
static const char *file_path(struct request *req, char *out, size_t len) {
    const char *raw = req->params[req->nparams - 1];
    if (http_percent_decode(raw, strlen(raw), out, len, 0) < 0 || !decoded_whole(raw, out) ||
        !program_valid_path(out)) {
        reply_error(req, 400, "bad_request", "bad path: use /-separated components of [A-Za-z0-9._-], not . or ..");
        return NULL;
    }
    return out;
}

void session_handle_file_get(struct request *req) {
    char path[1100];
    struct session *s = session_lookup(req);
    if (s && file_path(req, path, sizeof path)) session_file_get(req, s, path);
}

void session_handle_file_put(struct request *req) {
    char path[1100];
    struct session *s = session_lookup(req);
    if (s && file_path(req, path, sizeof path)) session_file_put(req, s, path);
}

void session_handle_file_list(struct request *req) {
    struct session *s = session_lookup(req);
    if (s) session_file_list(req, s);
}
