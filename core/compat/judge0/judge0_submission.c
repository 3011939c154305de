/* judge0_submission.c — a submission read from its request with Judge0's defaults, bounds and
 * 422 messages (app/models/submission.rb). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/util.h"
#include "judge0.h"
#include "policy/app.h"

void j0_add_error(json_t *errors, const char *field, const char *fmt, ...) {
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
        if (got < 0) j0_add_error(errors, name, "is not a number");
        else if (numbers[i].exclusive && v <= numbers[i].min) j0_add_error(errors, name, "must be greater than %g", numbers[i].min);
        else if (!numbers[i].exclusive && v < numbers[i].min)
            j0_add_error(errors, name, "must be greater than or equal to %g", numbers[i].min);
        else if (v > max) j0_add_error(errors, name, "must be less than or equal to %s", maxs);
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
    if (v && !json_is_null(v) && !json_is_string(v)) j0_add_error(errors, name, "must be a string");
    else if (max && json_string_length(v) > max) j0_add_error(errors, name, "is too long (maximum is %zu characters)", max);
    json_object_set_new(sub, name, json_is_string(v) ? json_incref((json_t *)v) : json_null());
}

/* A new submission from one JSON object: the submission, or NULL with `errors` filled. */
json_t *j0_read_submission(struct request *req, const json_t *in, int base64, const json_t *langs, json_t *errors) {
    json_t *sub = json_object();
    buf_t raw = BUF_INIT;
    if (!json_is_object(in)) in = sub; /* every field missing */
    read_text(in, "source_code", base64, sub, &raw);
    if (!raw.len || blank(json_object_get(in, "source_code"))) j0_add_error(errors, "source_code", "can't be blank");
    else if (!utf8_valid(raw.data, raw.len)) j0_add_error(errors, "source_code", "must be UTF-8 text here");
    read_text(in, "stdin", base64, sub, &raw);
    if (raw.len && !utf8_valid(raw.data, raw.len)) j0_add_error(errors, "stdin", "must be UTF-8 text here");
    read_text(in, "expected_output", base64, sub, &raw);
    buf_free(&raw);

    double id = 0;
    int have_id = read_number(json_object_get(in, "language_id"), &id);
    char name[128];
    const json_t *lang = have_id > 0 ? j0_resolve_id(langs, (json_int_t)id, name, sizeof name) : NULL;
    if (have_id <= 0) j0_add_error(errors, "language_id", "can't be blank");
    if (!lang) {
        if (have_id > 0) j0_add_error(errors, "language_id", "language with id %lld doesn't exist", (long long)id);
        else j0_add_error(errors, "language_id", "language with id  doesn't exist");
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
            j0_add_error(errors, "compiler_options", "setting compiler options is not allowed");
        else if (lang && !compiled)
            j0_add_error(errors, "compiler_options", "setting compiler options is only allowed for compiled languages");
        else if (lang && !json_is_true(json_object_get(lang, "compile_options")))
            /* Compiled, but its image entry's compile step has no "{options}" (Java's script). */
            j0_add_error(errors, "compiler_options", "setting compiler options is not allowed for this language");
    }
    if (!blank(json_object_get(sub, "command_line_arguments")) && !j0_conf_flag("enable_command_line_arguments", 1))
        j0_add_error(errors, "command_line_arguments", "setting command line arguments is not allowed");
    if (!blank(json_object_get(sub, "callback_url")) && !j0_conf_flag("enable_callbacks", 1))
        j0_add_error(errors, "callback_url", "setting callback is not allowed");
    else if (!blank(json_object_get(sub, "callback_url"))) {
        const char *why = j0_callback_refused(json_string_value(json_object_get(sub, "callback_url")));
        if (why) j0_add_error(errors, "callback_url", "%s", why);
    }
    const json_t *zip = json_object_get(sub, "additional_files");
    if (!blank(zip) && !j0_conf_flag("enable_additional_files", 1)) {
        j0_add_error(errors, "additional_files", "setting additional files is not allowed");
    } else if (!blank(zip)) {
        /* Always base64, whatever base64_encoded says (as Judge0 reads it). */
        buf_t raw = BUF_INIT;
        char why[300];
        j0_decode64(json_string_value(zip), json_string_length(zip), &raw);
        double max_count = json_number_value(json_object_get(app_config()->judge0, "max_additional_files"));
        json_t *files = j0_unzip(raw.data, raw.len, (size_t)(j0_conf("max_extract_size", 10240) * 1024),
                                 max_count >= 1 ? (size_t)max_count : 100, why, sizeof why);
        if (files) json_object_set_new(sub, "_files", files);
        else j0_add_error(errors, "additional_files", "%s", why);
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
            j0_add_error(errors, flags[i], i == 3 ? "enabling network is not allowed" : "this option cannot be enabled");
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
