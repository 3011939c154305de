/* program.c — read and check the program of a run or a session. */
#include "program.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "http/hooks.h"
#include "http/reply.h"
#include "policy/app.h"

int program_valid_path(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 1024) return 0;
    const char *s = name;
    while (*s) {
        size_t seg = strcspn(s, "/");
        if (seg == 0 || seg > 255) return 0;
        if ((seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.')) return 0;
        for (size_t i = 0; i < seg; i++) {
            char ch = s[i];
            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-'))
                return 0;
        }
        s += seg;
        if (*s == '/') {
            s++;
            if (*s == '\0') return 0; /* a trailing slash names a folder */
        }
    }
    return 1;
}

void program_free(struct program *p) {
    json_decref(p->image);
    json_decref(p->files);
    json_decref(p->args);
    json_decref(p->compile_options);
    json_decref(p->sources);
    free(p->main_name);
    free(p->stdin_data);
    memset(p, 0, sizeof *p);
}

static int bad(struct request *req, const char *fmt, const char *what) {
    reply_error(req, 400, "bad_request", fmt, what);
    return -1;
}

/* A file's content as bytes: `encoding` "utf8" (the default: the string itself) or "base64". */
static json_t *file_content(struct request *req, const json_t *f) {
    const json_t *content = json_object_get(f, "content"), *enc = json_object_get(f, "encoding");
    const char *e = json_string_value(enc);
    if (!enc || json_is_null(enc) || (e && strcmp(e, "utf8") == 0)) return json_incref((json_t *)content);
    if (!e || strcmp(e, "base64") != 0) {
        bad(req, "%s: a file's encoding is utf8 or base64", "files");
        return NULL;
    }
    buf_t bytes = BUF_INIT;
    json_t *out = NULL;
    if (base64_decode(json_string_value(content), json_string_length(content), &bytes) < 0)
        reply_error(req, 400, "bad_request", "file '%.200s' is not valid base64",
                    json_string_value(json_object_get(f, "name")));
    else
        out = json_stringn_nocheck(bytes.data ? bytes.data : "", bytes.len); /* bytes, not text */
    buf_free(&bytes);
    return out;
}

static const char *file_name(const json_t *f) { return json_string_value(json_object_get(f, "name")); }

/* The files with the main file's extension (none: those without one), main first. */
static json_t *sources_of(const struct program *p) {
    const char *base = strrchr(p->main_name, '/');
    const char *ext = strrchr(base ? base + 1 : p->main_name, '.');
    json_t *out = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(p->files, i, f) {
        const char *name = file_name(f), *b = strrchr(name, '/');
        const char *e = strrchr(b ? b + 1 : name, '.');
        if ((!ext && !e) || (ext && e && strcmp(e, ext) == 0)) json_array_append_new(out, json_string(name));
    }
    return out;
}

/* `code` is the main file's content; `main` may name the main file: the one `code` is written
 * to, or (without `code`) one of `files`, which then comes first. */
static int read_files(struct request *req, const json_t *body, struct program *p, size_t *total) {
    const json_t *code = json_object_get(body, "code"), *main = json_object_get(body, "main");
    if (code && !json_is_string(code) && !json_is_null(code)) return bad(req, "%s must be a string", "code");
    if (main && !json_is_null(main) && (!json_is_string(main) || !program_valid_path(json_string_value(main))))
        return bad(req, "%s must be a file name", "main");
    const char *main_name = json_is_string(main) ? json_string_value(main)
                                                 : json_string_value(json_object_get(p->image, "file"));
    p->main_name = strdup(main_name);
    p->files = json_array();
    if (!p->main_name || !p->files) return bad(req, "%s", "out of memory");
    p->has_code = json_is_string(code);
    if (p->has_code) {
        json_array_append_new(p->files, json_pack("{s:s,s:O}", "name", main_name, "content", code));
        *total += json_string_length(code);
    }
    const json_t *files = json_object_get(body, "files");
    if (files && !json_is_null(files) && !json_is_array(files))
        return bad(req, "%s must be a list of {name, content}", "files");
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        const json_t *name = json_object_get(f, "name"), *content = json_object_get(f, "content");
        if (!json_is_string(name) || !json_is_string(content))
            return bad(req, "%s: every file needs a string name and a string content", "files");
        const char *n = json_string_value(name);
        if (!program_valid_path(n)) {
            reply_error(req, 400, "bad_request",
                        "bad file name '%.200s': use /-separated components of [A-Za-z0-9._-], not . or ..", n);
            return -1;
        }
        int is_main = strcmp(n, main_name) == 0;
        if (is_main && (p->has_code || !json_is_string(main))) {
            reply_error(req, 400, "bad_request", "file name '%s' is the main file's name", n);
            return -1;
        }
        size_t j;
        json_t *prev;
        json_array_foreach(p->files, j, prev) {
            if (strcmp(file_name(prev), n) == 0) {
                reply_error(req, 400, "bad_request", "file name '%.200s' appears twice", n);
                return -1;
            }
        }
        json_t *bytes = file_content(req, f);
        if (!bytes) return -1;
        *total += json_string_length(bytes);
        json_array_insert_new(p->files, is_main ? 0 : json_array_size(p->files),
                              json_pack("{s:O,s:o}", "name", name, "content", bytes));
        p->has_code |= is_main;
    }
    if (json_is_string(main) && !p->has_code) {
        reply_error(req, 400, "bad_request", "main '%.200s' is neither code nor one of files", main_name);
        return -1;
    }
    p->sources = sources_of(p);
    return 0;
}

/* A program's `args` (or `compile_options`: `field`), bounded by the policy so that every one can
 * be framed for the launcher and passed to execve: a longer list is refused here, never left to
 * hang (docs/security.md).  Absent or null: an empty list. */
static int read_args(struct request *req, const json_t *body, const char *field, json_t *out) {
    const struct config *c = app_config();
    const json_t *args = json_object_get(body, field);
    size_t i, bytes = 0;
    json_t *a;
    if (!args || json_is_null(args)) return 0;
    if (!json_is_array(args)) return bad(req, "%s must be a list of strings", field);
    if (json_array_size(args) > c->args_max) {
        reply_error(req, 400, "bad_request", "%s has %zu entries; the limit is %zu", field, json_array_size(args),
                    c->args_max);
        return -1;
    }
    json_array_foreach(args, i, a) {
        if (!json_is_string(a)) return bad(req, "%s must be a list of strings", field);
        size_t len = json_string_length(a);
        if (memchr(json_string_value(a), '\0', len)) return bad(req, "%s cannot contain NUL characters", field);
        bytes += len + 1;
        if (bytes > c->args_max_bytes) {
            reply_error(req, 400, "bad_request", "%s are more than %zu bytes together (the limit)", field,
                        c->args_max_bytes);
            return -1;
        }
        json_array_append(out, a);
    }
    return 0;
}

/* Whether an image entry's compile step takes the request's `compile_options` (a "{options}" token). */
int program_takes_options(const json_t *entry) {
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(entry, "compile"), i, t) {
        if (json_is_string(t) && strcmp(json_string_value(t), "{options}") == 0) return 1;
    }
    return 0;
}

json_t *program_argv(const struct program *p, const json_t *command) {
    const char *slash = strrchr(p->main_name, '/'), *dot = strrchr(p->main_name, '.');
    size_t stem_len = dot && dot > (slash ? slash : p->main_name) ? (size_t)(dot - p->main_name) : strlen(p->main_name);
    json_t *argv = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(command, i, t) {
        const char *s = json_string_value(t);
        if (!s) continue;
        if (strcmp(s, "{sources}") == 0 || strcmp(s, "{options}") == 0) {
            const json_t *items = s[1] == 's' ? p->sources : p->compile_options;
            if (items) json_array_extend(argv, (json_t *)items);
            continue;
        }
        buf_t out = BUF_INIT;
        while (*s) {
            if (strncmp(s, "{file}", 6) == 0) buf_append_str(&out, p->main_name), s += 6;
            else if (strncmp(s, "{stem}", 6) == 0) buf_append(&out, p->main_name, stem_len), s += 6;
            else buf_append(&out, s++, 1);
        }
        json_array_append_new(argv, json_stringn(out.data ? out.data : "", out.len));
        buf_free(&out);
    }
    return argv;
}

/* One limit: the request's value checked against the policy's min..max, or
 * the default: the language's own (its image entry's `limits`, kept within
 * min..max) or else the policy's.  A limit missing from the policy cannot be set. */
static double limit_default(const json_t *own, const char *name, int optional_default) {
    const json_t *spec = json_object_get(app_config()->limits, name);
    const json_t *min = json_object_get(spec, "min"), *max = json_object_get(spec, "max");
    /* The language's own default applies even where the policy has none. */
    const json_t *d = json_object_get(own, name);
    if (!json_is_number(d)) d = optional_default ? NULL : json_object_get(spec, "default");
    double out = json_is_number(d) ? json_number_value(d) : 0;
    if (out && json_is_number(max) && out > json_number_value(max)) out = json_number_value(max);
    if (out && json_is_number(min) && out < json_number_value(min)) out = json_number_value(min);
    return out;
}

double program_limit_default(const json_t *entry, const char *name) {
    return limit_default(json_object_get(entry, "limits"), name, 0);
}

static int read_limit(struct request *req, const json_t *given, const json_t *own, const char *name, double *out,
                      int integer, int optional_default) {
    const json_t *spec = json_object_get(app_config()->limits, name);
    const json_t *v = json_object_get(given, name);
    const json_t *min = json_object_get(spec, "min"), *max = json_object_get(spec, "max");
    if (!v || json_is_null(v)) {
        *out = limit_default(own, name, optional_default);
        return 0;
    }
    if (!json_is_number(v)) {
        reply_error(req, 400, "bad_request", "limits.%s must be a number", name);
        return -1;
    }
    double x = json_number_value(v);
    if (integer && x != floor(x)) {
        reply_error(req, 400, "bad_request", "limits.%s must be a whole number", name);
        return -1;
    }
    if (json_is_number(min) && x < json_number_value(min)) {
        reply_error(req, 400, "bad_request", "limits.%s must be at least %.15g (the policy's minimum)", name,
                    json_number_value(min));
        return -1;
    }
    if (json_is_number(max) && x > json_number_value(max)) {
        reply_error(req, 400, "bad_request", "limits.%s must be at most %.15g (the policy's maximum)", name,
                    json_number_value(max));
        return -1;
    }
    *out = x;
    return 0;
}

static int read_limits(struct request *req, const json_t *body, const json_t *entry, enum program_kind kind,
                       json_t **limits) {
    const json_t *given = json_object_get(body, "limits"), *own = json_object_get(entry, "limits");
    if (given && !json_is_object(given) && !json_is_null(given)) return bad(req, "%s must be an object", "limits");
    static const struct {
        const char *name;
        int integer;
    } names[] = {{"timeout_ms", 1},   {"memory_mb", 1},      {"cpus", 0},       {"pids", 1},
                 {"output_bytes", 1}, {"idle_timeout_s", 1}, {"lifetime_s", 1}, {"compile_timeout_ms", 1},
                 {"cpu_time_ms", 1}, {"cpu_extra_ms", 1}, {"compile_cpu_time_ms", 1},
                 {"file_size_bytes", 1}, {"stack_kb", 1}, {"processes", 1}};
    *limits = json_object();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        double v;
        /* A session's timeout_ms has no default: its lifetime bounds it.  Without
         * compile_timeout_ms, timeout_ms bounds the compile step as well. */
        int no_default = (kind == PROGRAM_SESSION && strcmp(names[i].name, "timeout_ms") == 0) ||
                         strcmp(names[i].name, "compile_timeout_ms") == 0;
        if (read_limit(req, given, own, names[i].name, &v, names[i].integer, no_default) < 0) return -1;
        json_object_set_new(*limits, names[i].name, names[i].integer ? json_integer((json_int_t)v) : json_real(v));
    }
    return 0;
}


static long long limit_int(const json_t *limits, const char *name) {
    const json_t *v = json_object_get(limits, name);
    return json_is_number(v) ? (long long)json_number_value(v) : 0;
}

/* Ask admit; its limits replace *limits (on refusal it answered the request). */
static int admit(struct request *req, json_t *areq, json_t **limits) {
    json_t *admitted;
    if (hook_admit(req, areq, &admitted) < 0) return -1;
    json_decref(*limits);
    *limits = admitted;
    return 0;
}

int program_from_request(struct request *req, enum program_kind kind, const json_t *counts,
                         struct program *p) {
    memset(p, 0, sizeof *p);
    json_t *body = request_json_object(req);
    if (!body) return -1;
    json_t *limits = NULL;
    int rc = -1;
    const json_t *lang = json_object_get(body, "language");
    const json_t *entry;
    const char *canonical;
    size_t total = 0;
    if (!json_is_string(lang)) {
        bad(req, "%s must be a string", "language");
        goto out;
    }
    canonical = config_language(app_config(), json_string_value(lang), &entry);
    if (!canonical) {
        reply_error(req, 422, "unsupported_language", "language '%.100s' is not offered here (see /v1/languages)",
                    json_string_value(lang));
        goto out;
    }
    snprintf(p->language, sizeof p->language, "%s", canonical);
    p->image = json_deep_copy(entry);
    if (read_files(req, body, p, &total) < 0) goto out;
    if (kind == PROGRAM_RUN && !p->has_code) {
        bad(req, "%s is required", "code");
        goto out;
    }
    const json_t *in = json_object_get(body, "stdin");
    if (in && !json_is_null(in)) {
        if (!json_is_string(in)) {
            bad(req, "%s must be a string", "stdin");
            goto out;
        }
        p->stdin_len = json_string_length(in);
        p->stdin_data = malloc(p->stdin_len + 1);
        if (!p->stdin_data) goto out;
        memcpy(p->stdin_data, json_string_value(in), p->stdin_len + 1);
    }
    if (total > app_config()->program_max_bytes) {
        reply_error(req, 413, "payload_too_large", "code and files are %zu bytes together; the limit is %zu", total,
                    app_config()->program_max_bytes);
        goto out;
    }
    p->args = json_array();
    p->compile_options = json_array();
    if (read_args(req, body, "args", p->args) < 0 || read_args(req, body, "compile_options", p->compile_options) < 0)
        goto out;
    if (json_array_size(p->compile_options) && !program_takes_options(p->image)) {
        reply_error(req, 400, "bad_request", "%s's compile step takes no compile_options", p->language);
        goto out;
    }
    const json_t *combined = json_object_get(body, "combined_output");
    if (combined && !json_is_boolean(combined) && !json_is_null(combined)) {
        bad(req, "%s must be true or false", "combined_output");
        goto out;
    }
    p->combined_output = json_is_true(combined);
    const json_t *enc = json_object_get(body, "output_encoding");
    if (enc && !json_is_null(enc) && !(json_is_string(enc) && (strcmp(json_string_value(enc), "utf8") == 0 ||
                                                               strcmp(json_string_value(enc), "base64") == 0))) {
        bad(req, "%s must be \"utf8\" or \"base64\"", "output_encoding");
        goto out;
    }
    p->output_base64 = json_is_string(enc) && strcmp(json_string_value(enc), "base64") == 0;
    const json_t *tty = json_object_get(body, "tty");
    if (tty && !json_is_boolean(tty) && !json_is_null(tty)) {
        bad(req, "%s must be true or false", "tty");
        goto out;
    }
    p->tty = json_is_true(tty) && kind == PROGRAM_SESSION;
    static const char *const dims[] = {"cols", "rows"};
    for (int i = 0; i < 2; i++) {
        const json_t *d = json_object_get(body, dims[i]);
        if (d && !json_is_null(d) && (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 1000)) {
            bad(req, "%s must be an integer from 1 to 1000", dims[i]);
            goto out;
        }
        (i ? &p->rows : &p->cols)[0] = d && json_is_integer(d) ? (int)json_integer_value(d) : (i ? 24 : 80);
    }
    if (read_limits(req, body, p->image, kind, &limits) < 0) goto out;

    json_t *areq = json_pack("{s:s,s:s,s:s,s:O,s:O,s:i,s:i}", "kind", kind == PROGRAM_RUN ? "run" : "session",
                             "language", p->language, "key", req->key_hash, "limits", limits, "counts", counts,
                             "capacity", app_config()->max_sessions, "per_key", app_config()->max_sessions_per_key);
    int admitted = admit(req, areq, &limits);
    json_decref(areq);
    if (admitted < 0) goto out;
    p->limits.timeout_ms = limit_int(limits, "timeout_ms");
    p->limits.memory_mb = limit_int(limits, "memory_mb");
    p->limits.cpus = json_number_value(json_object_get(limits, "cpus"));
    p->limits.pids = limit_int(limits, "pids");
    p->limits.output_bytes = limit_int(limits, "output_bytes");
    p->limits.idle_timeout_s = limit_int(limits, "idle_timeout_s");
    p->limits.lifetime_s = limit_int(limits, "lifetime_s");
    p->limits.compile_timeout_ms = limit_int(limits, "compile_timeout_ms");
    p->limits.cpu_time_ms = limit_int(limits, "cpu_time_ms");
    p->limits.cpu_extra_ms = limit_int(limits, "cpu_extra_ms");
    p->limits.compile_cpu_time_ms = limit_int(limits, "compile_cpu_time_ms");
    p->limits.file_size_bytes = limit_int(limits, "file_size_bytes");
    p->limits.stack_kb = limit_int(limits, "stack_kb");
    p->limits.processes = limit_int(limits, "processes");
    if (p->limits.memory_mb < 16 || p->limits.cpus <= 0 || p->limits.pids < 1 || p->limits.output_bytes < 1) {
        reply_error(req, 500, "policy_error", "policy hook admit failed: it returned limits without memory_mb, cpus, pids or output_bytes");
        goto out;
    }
    rc = 0;
out:
    json_decref(limits);
    json_decref(body);
    if (rc < 0) program_free(p);
    return rc;
}
