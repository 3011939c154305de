/* e2b_interp.c — E2B's code interpreter: POST /execute is the session's
 * notebook execute, answered as newline-delimited JSON; one context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/session.h"
#include "e2b.h"
#include "http/reply.h"

/* A cell runs at most this long (the SDK's own default wait is 60 s). */
#define EXECUTE_TIMEOUT_MS (10 * 60 * 1000)

/* Jupyter's MIME types under the names E2B's results use. */
static const char *result_key(const char *mime) {
    static const char *const map[][2] = {
        {"text/plain", "text"},        {"text/html", "html"},        {"text/markdown", "markdown"},
        {"image/svg+xml", "svg"},      {"image/png", "png"},         {"image/jpeg", "jpeg"},
        {"application/pdf", "pdf"},    {"text/latex", "latex"},      {"application/json", "json"},
        {"application/javascript", "javascript"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(mime, map[i][0]) == 0) return map[i][1];
    return mime;
}

static void ndjson(buf_t *out, json_t *msg) {
    char *text = json_text(msg);
    json_decref(msg);
    if (!text) return;
    buf_append_str(out, text);
    buf_append(out, "\n", 1);
    free(text);
}

static json_t *traceback_text(const json_t *lines) {
    buf_t tb = BUF_INIT;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        if (i) buf_append(&tb, "\n", 1);
        buf_append_str(&tb, json_string_value(l) ? json_string_value(l) : "");
    }
    json_t *s = json_stringn(tb.data ? tb.data : "", tb.len);
    buf_free(&tb);
    return s;
}

static void on_executed(int status, const char *body, size_t len, void *ud) {
    struct request *req = ud;
    json_t *j = json_loadb(body, len, 0, NULL);
    buf_t out = BUF_INIT;
    if (status != 200) {
        /* The answer has begun: a failure is told in-band, as an error of the cell. */
        const char *msg = v1_error_message(j);
        ndjson(&out, json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "name", "SandboxError", "value",
                               msg ? msg : "the cell could not run", "traceback", ""));
    }
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(j, "outputs"), i, o) {
        const char *type = json_string_value(json_object_get(o, "type"));
        if (!type) continue;
        if (strcmp(type, "stream") == 0) {
            const char *name = json_string_value(json_object_get(o, "name"));
            ndjson(&out, json_pack("{s:s,s:O}", "type", name && strcmp(name, "stderr") == 0 ? "stderr" : "stdout",
                                   "text", json_object_get(o, "text")));
        } else if (strcmp(type, "execute_result") == 0 || strcmp(type, "display_data") == 0) {
            json_t *r = json_pack("{s:s,s:b}", "type", "result", "is_main_result", strcmp(type, "execute_result") == 0);
            const char *mime;
            json_t *v;
            json_object_foreach(json_object_get(o, "data"), mime, v) json_object_set(r, result_key(mime), v);
            ndjson(&out, r);
        } else if (strcmp(type, "error") == 0) {
            ndjson(&out, json_pack("{s:s,s:O,s:O,s:o}", "type", "error", "name", json_object_get(o, "ename"), "value",
                                   json_object_get(o, "evalue"), "traceback",
                                   traceback_text(json_object_get(o, "traceback"))));
        }
    }
    const char *st = json_string_value(json_object_get(j, "status"));
    if (st && strcmp(st, "timeout") == 0)
        ndjson(&out, json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "name", "TimeoutError", "value",
                               "the cell ran past its timeout and was interrupted", "traceback", ""));
    if (json_is_integer(json_object_get(j, "execution_count")))
        ndjson(&out, json_pack("{s:s,s:O}", "type", "number_of_executions", "execution_count",
                               json_object_get(j, "execution_count")));
    ndjson(&out, json_pack("{s:s}", "type", "end_of_execution"));
    http_stream_write(req, out.data, out.len);
    http_stream_end(req);
    buf_free(&out);
    json_decref(j);
}

static int python_context(const json_t *language) {
    return !language || json_is_null(language) ||
           (json_is_string(language) && strcmp(json_string_value(language), "python") == 0);
}

void e2b_handle_execute(struct request *req) {
    struct session *s = e2b_sandbox(req, 1);
    if (!s) return;
    json_t *body = request_json_object(req);
    if (!body) return;
    const json_t *code = json_object_get(body, "code");
    char target[128];
    if (!json_is_string(code)) reply_error(req, 400, "e2b", "code must be a string");
    else if (!python_context(json_object_get(body, "language")))
        reply_error(req, 400, "e2b", "only python runs here: a sandbox is one IPython kernel");
    else if (e2b_session_target(target, sizeof target, e2b_sandbox_id(req), "/execute") == 0) {
        json_t *cell = json_pack("{s:O,s:i}", "code", code, "timeout_ms", EXECUTE_TIMEOUT_MS);
        char *text = json_text(cell);
        json_decref(cell);
        /* The head goes now: the SDK's request timeout runs until it comes, and a
         * cell may take longer. */
        if (text) {
            http_stream_start(req, 200, "application/x-ndjson");
            e2b_sub(req, session_owner(s), "POST", target, text, strlen(text), on_executed, req);
        } else reply_error(req, 500, "internal", "out of memory");
        free(text);
    }
    json_decref(body);
}

/* One context per sandbox: its one IPython kernel. */
static json_t *context_json(void) {
    return json_pack("{s:s,s:s,s:s}", "id", "default", "language", "python", "cwd", E2B_HOME);
}

void e2b_handle_context_create(struct request *req) {
    if (!e2b_sandbox(req, 0)) return;
    json_t *body = request_json_object(req);
    if (!body) return;
    if (python_context(json_object_get(body, "language"))) reply_json(req, 200, context_json());
    else reply_error(req, 400, "e2b", "only python runs here: a sandbox is one IPython kernel");
    json_decref(body);
}

void e2b_handle_context_list(struct request *req) {
    if (e2b_sandbox(req, 0)) reply_json(req, 200, json_pack("[o]", context_json()));
}

void e2b_handle_context_default(struct request *req) {
    if (!e2b_sandbox(req, 0)) return;
    if (strcmp(req->params[0], "default") == 0) reply_no_content(req);
    else reply_error(req, 404, "e2b", "context %s not found", req->params[0]);
}
