/* judge0_show.c — how a stored submission is shown (its fields, texts as text or base64) and
 * the routes that show or delete stored ones: one, a batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "http/reply.h"
#include "judge0.h"

/* Judge0's submission attributes, in its serializer's order. */
static const char *const attributes[] = {
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at", "finished_at",
    "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit", "cpu_extra_time", "wall_time_limit",
    "memory_limit", "stack_limit", "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit", "max_file_size", "compile_output", "exit_code", "exit_signal",
    "message", "wall_time", "compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
    "additional_files", "enable_network", "status", "language",
};
#define NATTRIBUTES (sizeof attributes / sizeof attributes[0])
static const char *const default_fields[] = {"token", "time", "memory", "stdout", "stderr", "compile_output",
                                             "message", "status"};
/* Texts kept as base64 (see judge0.h). */
static const char *const texts[] = {"source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output"};

static int is_text(const char *field) {
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(texts[i], field) == 0) return 1;
    return 0;
}

/* ---- showing a submission --------------------------------------------------------------------- */

/* The fields a request asks for (?fields=a,b or *), or NULL after answering 400. */
json_t *j0_requested_fields(struct request *req) {
    char q[1024];
    int have = http_query_param(req, "fields", q, sizeof q);
    json_t *fields = json_array(), *invalid = json_array();
    if (have > 0) {
        char *save = NULL;
        for (char *tok = strtok_r(q, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            size_t i;
            if (strcmp(tok, "*") == 0) {
                json_array_clear(fields);
                for (i = 0; i < NATTRIBUTES; i++) json_array_append_new(fields, json_string(attributes[i]));
                break;
            }
            for (i = 0; i < NATTRIBUTES && strcmp(attributes[i], tok); i++)
                ;
            json_array_append_new(i < NATTRIBUTES ? fields : invalid, json_string(tok));
        }
    }
    if (json_array_size(invalid)) {
        buf_t msg = BUF_INIT;
        buf_append_str(&msg, "invalid fields: [");
        size_t i;
        json_t *f;
        json_array_foreach(invalid, i, f) buf_printf(&msg, "%s%s", i ? ", " : "", json_string_value(f));
        buf_append_str(&msg, "]");
        j0_error(req, 400, msg.data);
        buf_free(&msg);
        json_decref(fields);
        json_decref(invalid);
        return NULL;
    }
    json_decref(invalid);
    if (!json_array_size(fields))
        for (size_t i = 0; i < sizeof default_fields / sizeof default_fields[0]; i++)
            json_array_append_new(fields, json_string(default_fields[i]));
    return fields;
}

int j0_base64_requested(struct request *req) {
    char v[16];
    return http_query_param(req, "base64_encoded", v, sizeof v) > 0 && strcmp(v, "true") == 0;
}

json_t *j0_show(const json_t *sub, const json_t *fields, int base64) {
    json_t *defaults = NULL;
    if (!fields) {
        fields = defaults = json_array();
        for (size_t i = 0; i < sizeof default_fields / sizeof default_fields[0]; i++)
            json_array_append_new(defaults, json_string(default_fields[i]));
    }
    json_t *out = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *name = json_string_value(f);
        const json_t *v = json_object_get(sub, name);
        if (strcmp(name, "status") == 0) {
            int id = (int)json_integer_value(json_object_get(sub, "status_id"));
            json_object_set_new(out, name, json_pack("{s:i,s:s}", "id", id, "description", j0_status_name(id) ?: ""));
        } else if (strcmp(name, "language") == 0) {
            json_object_set_new(out, name, json_pack("{s:O,s:O}", "id", json_object_get(sub, "language_id"), "name",
                                                     json_object_get(sub, "_language_name")));
        } else if (is_text(name) && json_is_string(v) && !base64) {
            buf_t raw = BUF_INIT;
            j0_decode64(json_string_value(v), json_string_length(v), &raw);
            json_t *s = utf8_valid(raw.data, raw.len) ? json_stringn(raw.data, raw.len) : NULL;
            buf_free(&raw);
            if (!s) {
                json_decref(out);
                json_decref(defaults);
                return NULL;
            }
            json_object_set_new(out, name, s);
        } else if (strcmp(name, "message") == 0 && json_is_string(v) && base64) {
            char *enc = j0_encode64(json_string_value(v), json_string_length(v));
            json_object_set_new(out, name, json_string(enc));
            free(enc);
        } else {
            json_object_set_new(out, name, v ? json_incref((json_t *)v) : json_null());
        }
    }
    json_decref(defaults);
    return out;
}

/* A look-up in the store for a request: what to do with the submissions found. The client may go
 * away meanwhile (the store's answer can come from Redis later): then only this is freed. */
struct lookup {
    struct request *req;
    json_t *fields;
    int base64;
    void (*then)(struct lookup *l, const json_t *found);
};

static void lookup_abort(struct request *req, void *ud) {
    (void)req;
    ((struct lookup *)ud)->req = NULL;
}

static void on_found(void *ud, const json_t *found) {
    struct lookup *l = ud;
    if (l->req) {
        http_set_abort(l->req, NULL, NULL);
        if (found) l->then(l, found);
        else j0_error(l->req, 500, "out of memory");
    }
    json_decref(l->fields);
    free(l);
}

/* Looks up `tokens` for `req` (with its ?fields and ?base64_encoded), then `then`. */
static void look_up(struct request *req, const json_t *tokens, void (*then)(struct lookup *, const json_t *)) {
    struct lookup *l = malloc(sizeof *l);
    if (!l) {
        j0_error(req, 500, "out of memory");
        return;
    }
    json_t *fields = j0_requested_fields(req);
    if (!fields) { /* answered 400 */
        free(l);
        return;
    }
    *l = (struct lookup){req, fields, j0_base64_requested(req), then};
    http_set_abort(req, lookup_abort, l);
    j0_store_find(tokens, on_found, l);
}

/* A submission of the caller's, or NULL (another key's is not found either). */
static const json_t *owned(const struct request *req, const json_t *sub) {
    const char *owner = json_string_value(json_object_get(sub, "_key"));
    return json_is_object(sub) && owner && strcmp(owner, req->key_hash) == 0 ? sub : NULL;
}

static void show_one(struct lookup *l, const json_t *found) {
    const json_t *sub = owned(l->req, json_array_get(found, 0));
    json_t *out = sub ? j0_show(sub, l->fields, l->base64) : NULL;
    if (!sub) j0_error(l->req, 404, "Not Found");
    else if (!out) j0_error(l->req, 400, J0_NOT_UTF8);
    else reply_json(l->req, 200, out);
}

static void look_up_param(struct request *req, void (*then)(struct lookup *, const json_t *)) {
    json_t *tokens = json_pack("[s]", req->params[0]);
    look_up(req, tokens, then);
    json_decref(tokens);
}

void j0_handle_show(struct request *req) { look_up_param(req, show_one); }

/* A DELETE is answered once Redis no longer holds the submission: a GET through another
 * balancer right after the answer must not find it. */
struct deletion {
    struct request *req;    /* NULL once the client went away */
    json_t *out;            /* the submission as it was, the answer */
};

static void deletion_abort(struct request *req, void *ud) {
    (void)req;
    ((struct deletion *)ud)->req = NULL;
}

static void deleted(void *ud) {
    struct deletion *d = ud;
    if (d->req) {
        http_set_abort(d->req, NULL, NULL);
        reply_json(d->req, 200, d->out);
    } else {
        json_decref(d->out);
    }
    free(d);
}

static void delete_one(struct lookup *l, const json_t *found) {
    const json_t *sub = owned(l->req, json_array_get(found, 0));
    int status = (int)json_integer_value(json_object_get(sub, "status_id"));
    char msg[128];
    if (!sub) {
        j0_error(l->req, 404, "Not Found");
    } else if (status == J0_QUEUE || status == J0_PROCESSING) {
        snprintf(msg, sizeof msg, "submission cannot be deleted because its status is %d (%s)", status,
                 j0_status_name(status));
        j0_error(l->req, 400, msg);
    } else {
        /* Judge0 answers with base64 so the data always survives the delete. */
        struct deletion *d = malloc(sizeof *d);
        json_t *out = j0_show(sub, l->fields, 1);
        if (!d || !out) {
            free(d);
            json_decref(out);
            j0_error(l->req, 500, "out of memory");
            return;
        }
        *d = (struct deletion){l->req, out};
        http_set_abort(l->req, deletion_abort, d);
        j0_store_delete(json_string_value(json_object_get(sub, "token")), deleted, d);
    }
}

void j0_handle_delete(struct request *req) {
    if (!j0_conf_flag("enable_submission_delete", 1)) j0_error(req, 400, "delete not allowed");
    else look_up_param(req, delete_one);
}

static void show_many(struct lookup *l, const json_t *found) {
    int bad = 0;
    json_t *out = json_array();
    size_t i;
    json_t *sub;
    json_array_foreach(found, i, sub) {
        json_t *shown = owned(l->req, sub) ? j0_show(sub, l->fields, l->base64) : json_null();
        bad |= !shown;
        json_array_append_new(out, shown ? shown : json_null());
    }
    if (bad) {
        json_decref(out);
        j0_error(l->req, 400, "some attributes for one or more submissions cannot be converted to UTF-8, use "
                              "base64_encoded=true query parameter");
    } else {
        reply_json(l->req, 200, json_pack("{s:o}", "submissions", out));
    }
}

/* The size of a batch against Judge0's bound: 0, or -1 after answering 400. */
int j0_batch_size_ok(struct request *req, size_t n) {
    double max = j0_conf("max_submission_batch_size", 20);
    char msg[128];
    if (!j0_conf_flag("enable_batched_submissions", 1)) {
        j0_error(req, 400, "batched submissions are not allowed");
    } else if ((double)n > max) {
        snprintf(msg, sizeof msg, "number of submissions in a batch should be less than or equal to %g", max);
        j0_error(req, 400, msg);
    } else if (!n) {
        j0_error(req, 400, "there should be at least one submission in a batch");
    } else {
        return 0;
    }
    return -1;
}

void j0_handle_batch_show(struct request *req) {
    char tokens[4096];
    const char *header = http_header(req, "tokens");
    if (header) snprintf(tokens, sizeof tokens, "%s", header);
    else if (http_query_param(req, "tokens", tokens, sizeof tokens) <= 0) tokens[0] = '\0';
    json_t *list = json_array();
    char *save = NULL;
    for (char *tok = strtok_r(tokens, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        json_array_append_new(list, json_string(tok));
    if (j0_batch_size_ok(req, json_array_size(list)) == 0) look_up(req, list, show_many);
    json_decref(list);
}
