/* judge.c — the test cases of POST /v1/judge and their verdicts. */
#include "judge.h"

#include <ctype.h>
#include <string.h>

#include "base/buf.h"
#include "http/reply.h"
#include "policy/app.h"

/* Limits a case may set for itself; memory, CPU share and processes are the container's. */
static const char *const case_limits[] = {"timeout_ms", "cpu_time_ms", "cpu_extra_ms", "output_bytes",
                                          "file_size_bytes", "stack_kb"};
#define NCASE_LIMITS (sizeof case_limits / sizeof case_limits[0])

/* Ruby's text.split("\n").collect(&:rstrip).join("\n").rstrip, into `out`. */
static void strip(const char *s, size_t n, buf_t *out) {
    size_t start = 0;
    while (start <= n) {
        const char *nl = memchr(s + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - s) : n, e = end;
        while (e > start && (isspace((unsigned char)s[e - 1]) || s[e - 1] == '\0')) e--;
        buf_append(out, s + start, e - start);
        if (!nl) break;
        buf_append(out, "\n", 1);
        start = end + 1;
    }
    while (out->len && (isspace((unsigned char)out->data[out->len - 1]) || out->data[out->len - 1] == '\0')) out->len--;
}

int judge_same_output(const char *a, size_t alen, const char *b, size_t blen) {
    buf_t x = BUF_INIT, y = BUF_INIT;
    strip(a, alen, &x);
    strip(b, blen, &y);
    int same = x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    buf_free(&x);
    buf_free(&y);
    return same;
}

static int bad(struct request *req, size_t i, const char *what) {
    reply_error(req, 400, "bad_request", "cases[%zu]%s", i, what);
    return -1;
}

static int check_case(struct request *req, size_t i, const json_t *c) {
    if (!json_is_object(c)) return bad(req, i, " must be an object");
    const json_t *in = json_object_get(c, "stdin"), *want = json_object_get(c, "expected_output");
    if (in && !json_is_null(in) && !json_is_string(in)) return bad(req, i, ".stdin must be a string");
    if (want && !json_is_null(want) && !json_is_string(want)) return bad(req, i, ".expected_output must be a string");
    const json_t *limits = json_object_get(c, "limits");
    if (limits && !json_is_null(limits) && !json_is_object(limits)) return bad(req, i, ".limits must be an object");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)limits, name, v) {
        size_t k;
        for (k = 0; k < NCASE_LIMITS && strcmp(case_limits[k], name); k++)
            ;
        const json_t *spec = json_object_get(app_config()->limits, name);
        const json_t *min = json_object_get(spec, "min"), *max = json_object_get(spec, "max");
        if (k == NCASE_LIMITS) {
            reply_error(req, 400, "bad_request", "cases[%zu].limits.%s cannot be set per case", i, name);
            return -1;
        }
        if (!json_is_integer(v) || (json_is_number(min) && json_integer_value(v) < json_number_value(min)) ||
            (json_is_number(max) && json_integer_value(v) > json_number_value(max))) {
            reply_error(req, 400, "bad_request", "cases[%zu].limits.%s must be a whole number within the policy's bounds",
                        i, name);
            return -1;
        }
    }
    return 0;
}

json_t *judge_read_cases(struct request *req) {
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    json_t *cases = json_incref(json_object_get(body, "cases"));
    json_decref(body);
    if (!json_is_array(cases) || !json_array_size(cases) || json_array_size(cases) > JUDGE_MAX_CASES) {
        reply_error(req, 400, "bad_request", "cases must be a list of 1 to %d test cases", JUDGE_MAX_CASES);
        json_decref(cases);
        return NULL;
    }
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        if (check_case(req, i, c) < 0) {
            json_decref(cases);
            return NULL;
        }
    }
    return cases;
}

void judge_case_limits(const json_t *kase, struct program_limits *l) {
    const json_t *limits = json_object_get(kase, "limits");
    long long *fields[] = {&l->timeout_ms, &l->cpu_time_ms, &l->cpu_extra_ms, &l->output_bytes, &l->file_size_bytes,
                           &l->stack_kb};
    for (size_t k = 0; k < NCASE_LIMITS; k++) {
        const json_t *v = json_object_get(limits, case_limits[k]);
        if (json_is_integer(v)) *fields[k] = json_integer_value(v);
    }
}

json_t *judge_verdict(const json_t *kase, json_t *result, const char *out, size_t outlen) {
    const char *status = json_string_value(json_object_get(result, "status"));
    const json_t *want = json_object_get(kase, "expected_output");
    const char *verdict = status ? status : "internal";
    if (status && strcmp(status, "ok") == 0)
        verdict = !json_is_string(want) || judge_same_output(json_string_value(want), json_string_length(want), out, outlen)
                      ? "accepted" : "wrong_answer";
    json_object_del(result, "language");
    json_object_del(result, "compile");
    json_object_set_new(result, "verdict", json_string(verdict));
    return result;
}

json_t *judge_answer(const char *language, const char *failed, const json_t *compile, json_t *verdicts,
                     size_t ncases) {
    json_int_t passed = 0, time_ms = 0, cpu_ms = 0, memory_kb = 0;
    const char *status = failed ? failed : "accepted";
    json_t *first = json_null();
    size_t i;
    json_t *v;
    json_array_foreach(verdicts, i, v) {
        const char *verdict = json_string_value(json_object_get(v, "verdict"));
        if (verdict && strcmp(verdict, "accepted") == 0) passed++;
        else if (json_is_null(first)) {
            first = json_integer((json_int_t)i);
            status = verdict ? verdict : "internal";
        }
        json_int_t c = json_integer_value(json_object_get(v, "cpu_ms")), m = json_integer_value(json_object_get(v, "memory_kb"));
        time_ms += json_integer_value(json_object_get(v, "time_ms"));
        cpu_ms = c > cpu_ms ? c : cpu_ms;
        memory_kb = m > memory_kb ? m : memory_kb;
    }
    if (!failed && json_array_size(verdicts) < ncases && json_is_null(first)) status = "internal";
    return json_pack("{s:s,s:s,s:O,s:o,s:{s:I,s:I,s:I,s:o,s:I,s:I,s:I}}", "language", language, "status", status,
                     "compile", compile ? compile : json_null(), "cases", verdicts, "summary", "cases",
                     (json_int_t)ncases, "run", (json_int_t)json_array_size(verdicts), "accepted", passed,
                     "first_failed", first, "time_ms", time_ms, "max_cpu_ms", cpu_ms, "max_memory_kb", memory_kb);
}
