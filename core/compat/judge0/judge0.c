/* judge0.c — Judge0 CE 1.13.1's API (config/routes.rb) on a backend and on a
 * balancer: submissions (one, a batch, waited for or queued), languages,
 * statuses and the information routes.  A submission's fields are read
 * with Judge0's defaults, bounds and 422 messages (app/models/submission.rb)
 * and shown as its serializer shows them: the requested fields, texts as
 * text or as Ruby's base64.  Keys are ours, presented as X-Auth-Token (or
 * any header /v1 takes); a submission is visible to its own key only. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base/utf8.h"
#include "base/util.h"
#include "compat/compat.h"
#include "http/reply.h"
#include "http/router.h"
#include "judge0.h"
#include "policy/app.h"

#define JUDGE0_VERSION "1.13.1"

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

double j0_conf(const char *name, double def) {
    const json_t *v = json_object_get(json_object_get(app_config()->judge0, "config"), name);
    return json_is_number(v) ? json_number_value(v) : def;
}

int j0_conf_flag(const char *name, int def) {
    const json_t *v = json_object_get(json_object_get(app_config()->judge0, "config"), name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static void j0_error(struct request *req, int status, const char *msg) {
    reply_json(req, status, json_pack("{s:s}", "error", msg));
}

static int is_text(const char *field) {
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(texts[i], field) == 0) return 1;
    return 0;
}

/* ---- languages: the policy's Judge0 ids against /v1/languages --------------------------------- */

/* The /v1 language an id names, among the available ones of `langs` (/v1/languages' body), with
 * Judge0's display name filled in from its real version; NULL when it is not offered here. */
static const json_t *resolve_id(const json_t *langs, json_int_t id, char *name, size_t namelen) {
    size_t i, k, m;
    json_t *e, *n, *l, *a;
    json_array_foreach(json_object_get(app_config()->judge0, "languages"), i, e) {
        if (json_integer_value(json_object_get(e, "id")) != id) continue;
        json_array_foreach(json_object_get(e, "names"), k, n) {
            json_array_foreach(json_object_get(langs, "languages"), m, l) {
                int named = json_equal(json_object_get(l, "name"), n);
                size_t q;
                json_array_foreach(json_object_get(l, "aliases"), q, a) named |= json_equal(a, n);
                if (!named || json_is_false(json_object_get(l, "available"))) continue;
                const char *pattern = json_string_value(json_object_get(e, "name"));
                const char *version = json_string_value(json_object_get(l, "version"));
                const char *pct = pattern ? strstr(pattern, "%s") : NULL;
                if (pct) snprintf(name, namelen, "%.*s%s%s", (int)(pct - pattern), pattern, version ? version : "", pct + 2);
                else snprintf(name, namelen, "%s", pattern ? pattern : json_string_value(json_object_get(l, "name")));
                return l;
            }
        }
    }
    return NULL;
}

/* Work that needs /v1/languages first: the client's request and what to do with the list. */
struct with_languages {
    struct request *req;
    void (*then)(struct request *req, const json_t *langs);
};

static void on_languages(struct request *sub, int status, const char *ctype, const char *body, size_t len, void *ud) {
    (void)sub;
    (void)ctype;
    struct with_languages *w = ud;
    json_t *langs = status == 200 ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    if (!langs) j0_error(w->req, status && status != 200 ? status : 500, "cannot list the languages");
    else w->then(w->req, langs);
    json_decref(langs);
    free(w);
}

static void with_languages(struct request *req, void (*then)(struct request *, const json_t *)) {
    struct with_languages *w = malloc(sizeof *w);
    struct request *sub = w ? http_subrequest(req, "GET", "/v1/languages", NULL, 0, on_languages, w) : NULL;
    if (!sub) {
        free(w);
        j0_error(req, 500, "out of memory");
        return;
    }
    w->req = req;
    w->then = then;
    router_dispatch(sub);
}

static void list_languages(struct request *req, const json_t *langs) {
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(app_config()->judge0, "languages"), i, e) {
        char name[128];
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        if (resolve_id(langs, id, name, sizeof name)) json_array_append_new(out, json_pack("{s:I,s:s}", "id", id, "name", name));
    }
    reply_json(req, 200, out);
}

static void handle_languages(struct request *req) { with_languages(req, list_languages); }

static json_t *joined_argv(const json_t *argv) {
    if (!json_is_array(argv)) return json_null();
    buf_t b = BUF_INIT;
    size_t i;
    json_t *a;
    json_array_foreach(argv, i, a) {
        if (i) buf_append(&b, " ", 1);
        buf_append_str(&b, json_string_value(a) ?: "");
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return s;
}

static void show_language(struct request *req, const json_t *langs) {
    char name[128], *end;
    long id = strtol(req->params[0], &end, 10);
    const json_t *l = *end ? NULL : resolve_id(langs, id, name, sizeof name);
    if (!l) {
        j0_error(req, 404, "Not Found");
        return;
    }
    /* The commands are known where the image map is (a backend); a balancer shows null. */
    const json_t *entry = json_object_get(app_config()->images, json_string_value(json_object_get(l, "name")));
    const json_t *file = json_object_get(entry, "file");
    reply_json(req, 200, json_pack("{s:i,s:s,s:b,s:o,s:o,s:o}", "id", (int)id, "name", name, "is_archived", 0,
                                   "source_file", json_is_string(file) ? json_incref((json_t *)file) : json_null(),
                                   "compile_cmd", joined_argv(json_object_get(entry, "compile")), "run_cmd",
                                   joined_argv(json_object_get(entry, "run"))));
}

static void handle_language(struct request *req) { with_languages(req, show_language); }

/* ---- showing a submission --------------------------------------------------------------------- */

/* The fields a request asks for (?fields=a,b or *), or NULL after answering 400. */
static json_t *requested_fields(struct request *req) {
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

static int base64_requested(struct request *req) {
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

#define NOT_UTF8 "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter"

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
    json_t *fields = requested_fields(req);
    if (!fields) return;
    struct lookup *l = calloc(1, sizeof *l);
    if (!l) {
        json_decref(fields);
        j0_error(req, 500, "out of memory");
        return;
    }
    l->req = req;
    l->fields = fields;
    l->base64 = base64_requested(req);
    l->then = then;
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
    else if (!out) j0_error(l->req, 400, NOT_UTF8);
    else reply_json(l->req, 200, out);
}

static void look_up_param(struct request *req, void (*then)(struct lookup *, const json_t *)) {
    json_t *tokens = json_pack("[s]", req->params[0]);
    look_up(req, tokens, then);
    json_decref(tokens);
}

static void handle_show(struct request *req) { look_up_param(req, show_one); }

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
        json_t *out = j0_show(sub, l->fields, 1);
        j0_store_delete(json_string_value(json_object_get(sub, "token")));
        reply_json(l->req, 200, out);
    }
}

static void handle_delete(struct request *req) {
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
static int batch_size_ok(struct request *req, size_t n) {
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

static void handle_batch_show(struct request *req) {
    char tokens[4096];
    const char *header = http_header(req, "tokens");
    if (header) snprintf(tokens, sizeof tokens, "%s", header);
    else if (http_query_param(req, "tokens", tokens, sizeof tokens) <= 0) tokens[0] = '\0';
    json_t *list = json_array();
    char *save = NULL;
    for (char *tok = strtok_r(tokens, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        json_array_append_new(list, json_string(tok));
    if (batch_size_ok(req, json_array_size(list)) == 0) look_up(req, list, show_many);
    json_decref(list);
}

/* ---- reading a submission (app/models/submission.rb) -------------------------------------------- */

static void add_error(json_t *errors, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_error(json_t *errors, const char *field, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *list = json_object_get(errors, field);
    if (!list) json_object_set_new(errors, field, list = json_array());
    json_array_append_new(list, json_string(msg));
}

/* A number as Rails reads one: a JSON number or a numeric string; 0 absent, -1 not a number. */
static int read_number(const json_t *v, double *out) {
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    const char *s = json_string_value(v);
    char *end;
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0; /* "" is nil to Rails */
    *out = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1 : 1;
}

static int read_flag(const json_t *v, int def) {
    if (json_is_boolean(v)) return json_is_true(v);
    const char *s = json_string_value(v);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)) return 1;
    if (s && (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)) return 0;
    return def;
}

static int blank(const json_t *v) {
    const char *s = json_string_value(v);
    if (!s) return 1;
    while (*s && isspace((unsigned char)*s)) s++;
    return !*s;
}

/* Judge0's numeric fields: name, its default and maximum in judge0.config, its minimum. */
static const struct {
    const char *name, *max;
    double min;
    int exclusive, decimal;
} numbers[] = {
    {"number_of_runs", "max_number_of_runs", 0, 1, 0},
    {"cpu_time_limit", "max_cpu_time_limit", 0, 0, 1},
    {"cpu_extra_time", "max_cpu_extra_time", 0, 0, 1},
    {"wall_time_limit", "max_wall_time_limit", 1, 0, 1},
    {"memory_limit", "max_memory_limit", 2048, 0, 0},
    {"stack_limit", "max_stack_limit", 0, 0, 0},
    {"max_processes_and_or_threads", "max_max_processes_and_or_threads", 0, 1, 0},
    {"max_file_size", "max_max_file_size", 0, 0, 0},
};

static void read_numbers(const json_t *in, json_t *sub, json_t *errors) {
    static const double defaults[] = {1, 5, 1, 10, 128000, 64000, 60, 1024};
    static const double maxima[] = {20, 15, 5, 20, 512000, 128000, 120, 4096};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const char *name = numbers[i].name;
        double v = j0_conf(name, defaults[i]), max = j0_conf(numbers[i].max, maxima[i]);
        int got = read_number(json_object_get(in, name), &v);
        char maxs[32];
        if (numbers[i].decimal) snprintf(maxs, sizeof maxs, "%.1f", max);
        else snprintf(maxs, sizeof maxs, "%lld", (long long)max);
        if (got < 0) add_error(errors, name, "is not a number");
        else if (numbers[i].exclusive && v <= numbers[i].min) add_error(errors, name, "must be greater than %g", numbers[i].min);
        else if (!numbers[i].exclusive && v < numbers[i].min)
            add_error(errors, name, "must be greater than or equal to %g", numbers[i].min);
        else if (v > max) add_error(errors, name, "must be less than or equal to %s", maxs);
        json_object_set_new(sub, name, numbers[i].decimal ? j0_decimal(v) : json_integer((json_int_t)v));
    }
}

/* A text field: the client's string (base64 when asked) kept as Ruby's base64, or null. */
static void read_text(const json_t *in, const char *name, int base64, json_t *sub, buf_t *raw) {
    const json_t *v = json_object_get(in, name);
    buf_reset(raw);
    if (!json_is_string(v)) {
        json_object_set_new(sub, name, json_null());
        return;
    }
    if (base64) j0_decode64(json_string_value(v), json_string_length(v), raw);
    else buf_append(raw, json_string_value(v), json_string_length(v));
    char *enc = j0_encode64(raw->data ? raw->data : "", raw->len);
    json_object_set_new(sub, name, json_string(enc));
    free(enc);
}

static void read_string(const json_t *in, const char *name, json_t *sub, json_t *errors, size_t max) {
    const json_t *v = json_object_get(in, name);
    if (v && !json_is_null(v) && !json_is_string(v)) add_error(errors, name, "must be a string");
    else if (max && json_string_length(v) > max) add_error(errors, name, "is too long (maximum is %zu characters)", max);
    json_object_set_new(sub, name, json_is_string(v) ? json_incref((json_t *)v) : json_null());
}

/* A new submission from one JSON object: the submission, or NULL with `errors` filled. */
static json_t *read_submission(struct request *req, const json_t *in, int base64, const json_t *langs, json_t *errors) {
    json_t *sub = json_object();
    buf_t raw = BUF_INIT;
    if (!json_is_object(in)) in = sub; /* every field missing */
    read_text(in, "source_code", base64, sub, &raw);
    if (!raw.len || blank(json_object_get(in, "source_code"))) add_error(errors, "source_code", "can't be blank");
    else if (!utf8_valid(raw.data, raw.len)) add_error(errors, "source_code", "must be UTF-8 text here");
    read_text(in, "stdin", base64, sub, &raw);
    if (raw.len && !utf8_valid(raw.data, raw.len)) add_error(errors, "stdin", "must be UTF-8 text here");
    read_text(in, "expected_output", base64, sub, &raw);
    buf_free(&raw);

    double id = 0;
    int have_id = read_number(json_object_get(in, "language_id"), &id);
    char name[128];
    const json_t *lang = have_id > 0 ? resolve_id(langs, (json_int_t)id, name, sizeof name) : NULL;
    if (have_id <= 0) add_error(errors, "language_id", "can't be blank");
    if (!lang) {
        if (have_id > 0) add_error(errors, "language_id", "language with id %lld doesn't exist", (long long)id);
        else add_error(errors, "language_id", "language with id  doesn't exist");
    }
    json_object_set_new(sub, "language_id", have_id > 0 ? json_integer((json_int_t)id) : json_null());
    json_object_set_new(sub, "_language", json_string(lang ? json_string_value(json_object_get(lang, "name")) : ""));
    json_object_set_new(sub, "_language_name", json_string(lang ? name : ""));
    int compiled = lang && json_is_true(json_object_get(lang, "compiled"));

    read_numbers(in, sub, errors);
    read_string(in, "compiler_options", sub, errors, 512);
    read_string(in, "command_line_arguments", sub, errors, 512);
    read_string(in, "callback_url", sub, errors, 0);
    read_string(in, "additional_files", sub, errors, 0);
    if (!blank(json_object_get(sub, "compiler_options"))) {
        if (!j0_conf_flag("enable_compiler_options", 1))
            add_error(errors, "compiler_options", "setting compiler options is not allowed");
        else if (lang && !compiled)
            add_error(errors, "compiler_options", "setting compiler options is only allowed for compiled languages");
        else if (lang && !json_is_true(json_object_get(lang, "compile_options")))
            /* Compiled, but its image entry's compile step has no "{options}" (Java's script). */
            add_error(errors, "compiler_options", "setting compiler options is not allowed for this language");
    }
    if (!blank(json_object_get(sub, "command_line_arguments")) && !j0_conf_flag("enable_command_line_arguments", 1))
        add_error(errors, "command_line_arguments", "setting command line arguments is not allowed");
    if (!blank(json_object_get(sub, "callback_url")) && !j0_conf_flag("enable_callbacks", 1))
        add_error(errors, "callback_url", "setting callback is not allowed");
    else if (!blank(json_object_get(sub, "callback_url"))) {
        const char *why = j0_callback_refused(json_string_value(json_object_get(sub, "callback_url")));
        if (why) add_error(errors, "callback_url", "%s", why);
    }
    const json_t *zip = json_object_get(sub, "additional_files");
    if (!blank(zip) && !j0_conf_flag("enable_additional_files", 1)) {
        add_error(errors, "additional_files", "setting additional files is not allowed");
    } else if (!blank(zip)) {
        /* Always base64, whatever base64_encoded says (as Judge0 reads it). */
        buf_t raw = BUF_INIT;
        char why[300];
        j0_decode64(json_string_value(zip), json_string_length(zip), &raw);
        double max_count = json_number_value(json_object_get(app_config()->judge0, "max_additional_files"));
        json_t *files = j0_unzip(raw.data, raw.len, (size_t)(j0_conf("max_extract_size", 10240) * 1024),
                                 max_count >= 1 ? (size_t)max_count : 100, why, sizeof why);
        if (files) json_object_set_new(sub, "_files", files);
        else add_error(errors, "additional_files", "%s", why);
        char *enc = j0_encode64(raw.data ? raw.data : "", raw.len);
        json_object_set_new(sub, "additional_files", json_string(enc));
        free(enc);
        buf_free(&raw);
    }

    static const char *const flags[] = {"enable_per_process_and_thread_time_limit",
                                        "enable_per_process_and_thread_memory_limit", "redirect_stderr_to_stdout",
                                        "enable_network"};
    static const char *const allowed[] = {"allow_enable_per_process_and_thread_time_limit",
                                          "allow_enable_per_process_and_thread_memory_limit", NULL,
                                          "allow_enable_network"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int v = read_flag(json_object_get(in, flags[i]), j0_conf_flag(flags[i], 0));
        json_object_set_new(sub, flags[i], json_boolean(v));
        if (v && allowed[i] && !j0_conf_flag(allowed[i], 0))
            add_error(errors, flags[i], i == 3 ? "enabling network is not allowed" : "this option cannot be enabled");
    }

    char token[40], hex[33], now[40];
    random_hex(hex, 16);
    /* A UUID v4, as Judge0's SecureRandom.uuid. */
    hex[12] = '4';
    hex[16] = "89ab"[hex[16] % 4];
    snprintf(token, sizeof token, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    json_object_set_new(sub, "token", json_string(token));
    json_object_set_new(sub, "status_id", json_integer(J0_QUEUE));
    json_object_set_new(sub, "created_at", json_string(now));
    static const char *const empty[] = {"finished_at", "time", "memory", "stdout", "stderr", "compile_output",
                                        "exit_code", "exit_signal", "message", "wall_time"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) json_object_set_new(sub, empty[i], json_null());
    json_object_set_new(sub, "_key", json_string(req->key_hash));
    if (json_object_size(errors)) {
        json_decref(sub);
        return NULL;
    }
    return sub;
}

/* ---- creating submissions ----------------------------------------------------------------------- */

static int queue_full(size_t adding) {
    return (double)(j0_run_queued() + adding) > j0_conf("max_queue_size", 100);
}

/* An answer sent once every submission it names is stored (readable on any balancer). It holds
 * one reference of its own until its maker is done with it, so it cannot go out half built. */
struct answer {
    struct request *req; /* NULL once the client went away */
    json_t *body;
    int status;
    int pending;
};

static void answer_abort(struct request *req, void *ud) {
    (void)req;
    ((struct answer *)ud)->req = NULL;
}

static struct answer *answer_new(struct request *req, int status, json_t *body) {
    struct answer *a = calloc(1, sizeof *a);
    if (!a) {
        json_decref(body);
        return NULL;
    }
    *a = (struct answer){req, body, status, 1};
    http_set_abort(req, answer_abort, a);
    return a;
}

static void answer_release(void *ud) {
    struct answer *a = ud;
    if (--a->pending > 0) return;
    if (a->req) {
        http_set_abort(a->req, NULL, NULL);
        reply_json(a->req, a->status, a->body);
    } else {
        json_decref(a->body);
    }
    free(a);
}

/* Stores `sub` for the answer `a`. */
static void store_for(struct answer *a, json_t *sub) {
    a->pending++;
    j0_store_put(json_incref(sub), answer_release, a);
}

struct waiter {
    struct request *req;
    json_t *fields;
    int base64;
};

static void waiter_abort(struct request *req, void *ud) {
    (void)req;
    struct waiter *w = ud;
    j0_run_forget(w);
    json_decref(w->fields);
    free(w);
}

static void waiter_done(json_t *sub, void *ud) {
    struct waiter *w = ud;
    http_set_abort(w->req, NULL, NULL);
    json_t *out = j0_show(sub, w->fields, w->base64);
    if (out) {
        reply_json(w->req, 201, out);
    } else {
        reply_json(w->req, 201, json_pack("{s:s,s:O}", "error", NOT_UTF8, "token", json_object_get(sub, "token")));
    }
    json_decref(w->fields);
    free(w);
}

static void create(struct request *req, const json_t *langs) {
    char wait[16];
    int waiting = http_query_param(req, "wait", wait, sizeof wait) > 0 && strcmp(wait, "true") == 0;
    json_t *fields = requested_fields(req);
    if (!fields) return;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    json_t *errors = json_object();
    json_t *sub = read_submission(req, body, base64_requested(req), langs, errors);
    json_decref(body);
    if (!sub) {
        json_decref(fields);
        reply_json(req, 422, errors);
        return;
    }
    json_decref(errors);
    if (!waiting) {
        /* The token goes out once the submission can be read on any balancer. */
        struct answer *a = answer_new(req, 201, json_pack("{s:O}", "token", json_object_get(sub, "token")));
        if (!a) {
            j0_error(req, 500, "out of memory");
        } else {
            store_for(a, sub);
            if (j0_run_submit(req, sub, 0, NULL, NULL) < 0) {
                a->status = 500;
                json_decref(a->body);
                a->body = json_pack("{s:s}", "error", "out of memory");
            }
            answer_release(a);
        }
        json_decref(sub);
        json_decref(fields);
        return;
    }
    struct waiter *w = calloc(1, sizeof *w);
    if (w) {
        w->req = req;
        w->fields = fields;
        w->base64 = base64_requested(req);
        http_set_abort(req, waiter_abort, w);
        j0_store_put(json_incref(sub), NULL, NULL);
    }
    if (!w || j0_run_submit(req, sub, 1, waiter_done, w) < 0) {
        if (w) {
            j0_store_delete(json_string_value(json_object_get(sub, "token")));
            http_set_abort(req, NULL, NULL);
            free(w);
        }
        json_decref(fields);
        j0_error(req, 500, "out of memory");
    }
    json_decref(sub);
}

static void handle_create(struct request *req) {
    char wait[16];
    int waiting = http_query_param(req, "wait", wait, sizeof wait) > 0 && strcmp(wait, "true") == 0;
    if (waiting && !j0_conf_flag("enable_wait_result", 1)) {
        j0_error(req, 400, "wait not allowed");
        return;
    }
    if (queue_full(1)) {
        j0_error(req, 503, "queue is full");
        return;
    }
    with_languages(req, create);
}

static void batch_create(struct request *req, const json_t *langs) {
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    const json_t *list = json_object_get(body, "submissions");
    if (batch_size_ok(req, json_array_size(list)) < 0) {
        /* answered */
    } else if (queue_full(json_array_size(list))) {
        j0_error(req, 503, "queue is full");
    } else {
        int base64 = base64_requested(req), any = 0;
        json_t *out = json_array();
        struct answer *a = answer_new(req, 201, json_incref(out));
        size_t i;
        json_t *in;
        json_array_foreach(list, i, in) {
            json_t *errors = json_object();
            json_t *sub = a ? read_submission(req, in, base64, langs, errors) : NULL;
            if (sub) {
                store_for(a, sub);
                if (j0_run_submit(req, sub, 0, NULL, NULL) == 0) {
                    json_array_append_new(out, json_pack("{s:O}", "token", json_object_get(sub, "token")));
                    any = 1;
                    json_decref(errors);
                    errors = NULL;
                } else {
                    j0_store_delete(json_string_value(json_object_get(sub, "token")));
                    add_error(errors, "token", "out of memory");
                }
                json_decref(sub);
            }
            if (errors) json_array_append_new(out, errors);
        }
        json_decref(out);
        if (a) {
            a->status = any ? 201 : 422;
            answer_release(a);
        } else {
            j0_error(req, 500, "out of memory");
        }
    }
    json_decref(body);
}

static void handle_batch_create(struct request *req) { with_languages(req, batch_create); }

/* ---- information -------------------------------------------------------------------------------- */

static void handle_statuses(struct request *req) {
    json_t *out = json_array();
    for (int id = 1; id <= J0_EXEC_FORMAT_ERROR; id++)
        json_array_append_new(out, json_pack("{s:i,s:s}", "id", id, "description", j0_status_name(id)));
    reply_json(req, 200, out);
}

static void handle_about(struct request *req) {
    reply_json(req, 200, json_pack("{s:s,s:n,s:n,s:s}", "version", JUDGE0_VERSION, "homepage", "source_code",
                                   "maintainer", "CloudCode (the Judge0 CE " JUDGE0_VERSION " API)"));
}

static void handle_version(struct request *req) {
    http_respond(req, 200, "text/plain; charset=utf-8", JUDGE0_VERSION, strlen(JUDGE0_VERSION), NULL);
}

static void handle_config_info(struct request *req) {
    json_t *conf = json_object_get(app_config()->judge0, "config");
    reply_json(req, 200, json_is_object(conf) ? json_deep_copy(conf) : json_object());
}

static void handle_system_info(struct request *req) {
    struct utsname u;
    struct sysinfo si;
    char mem[64] = "";
    if (sysinfo(&si) == 0) snprintf(mem, sizeof mem, "%.1fGi", (double)si.totalram * si.mem_unit / (1 << 30));
    reply_json(req, 200, json_pack("{s:s,s:i,s:s}", "Architecture", uname(&u) == 0 ? u.machine : "",
                                   "CPU(s)", (int)sysconf(_SC_NPROCESSORS_ONLN), "Mem", mem));
}

static void handle_workers(struct request *req) {
    double workers = json_number_value(json_object_get(app_config()->judge0, "workers"));
    if (workers < 1) workers = 1;
    size_t working = j0_run_working();
    reply_json(req, 200, json_pack("[{s:s,s:I,s:I,s:I,s:I,s:i,s:i}]", "queue", JUDGE0_VERSION, "size",
                                   (json_int_t)j0_run_queued(), "available", (json_int_t)workers, "idle",
                                   (json_int_t)(workers > (double)working ? (size_t)workers - working : 0), "working",
                                   (json_int_t)working, "paused", 0, "failed", 0));
}

static const struct route judge0_routes[] = {
    {"POST", "/submissions/batch", ACCESS_CLIENT, handle_batch_create, 0},
    {"GET", "/submissions/batch", ACCESS_CLIENT, handle_batch_show, 0},
    {"POST", "/submissions", ACCESS_CLIENT, handle_create, 0},
    {"GET", "/submissions/{token}", ACCESS_CLIENT, handle_show, 0},
    {"DELETE", "/submissions/{token}", ACCESS_CLIENT, handle_delete, 0},
    {"GET", "/languages", ACCESS_CLIENT, handle_languages, 0},
    {"GET", "/languages/{id}", ACCESS_CLIENT, handle_language, 0},
    {"GET", "/statuses", ACCESS_CLIENT, handle_statuses, 0},
    {"GET", "/about", ACCESS_CLIENT, handle_about, 0},
    {"GET", "/version", ACCESS_CLIENT, handle_version, 0},
    {"GET", "/config_info", ACCESS_CLIENT, handle_config_info, 0},
    {"GET", "/system_info", ACCESS_CLIENT, handle_system_info, 0},
    {"GET", "/workers", ACCESS_CLIENT, handle_workers, 0},
};

void judge0_init(void) { router_add(judge0_routes, sizeof judge0_routes / sizeof judge0_routes[0]); }

void judge0_free(void) {
    j0_callback_free();
    j0_run_free();
    j0_store_free();
}
