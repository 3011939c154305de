/* judge0_run.c — running a Judge0 submission as /v1/run requests.
 *
 * A submission becomes one /v1 program (its limits in our units, outputs as
 * base64 so any bytes survive), run number_of_runs times while it is
 * Accepted, as app/jobs/isolate_job.rb does; time and memory are the runs'
 * averages.  Submissions made without wait=true wait in a bounded queue
 * for one of judge0.workers workers; with wait=true they run at once, as
 * Judge0 runs them in the web process.  Each job keeps an internal request
 * of its own as the credentials of its /v1 calls, so it outlives the
 * client's request.  A run the server could not make for a passing reason
 * (503: no engine or no sandbox now; 429 for the whole server) is tried
 * again later, MAX_ATTEMPTS times in all, as Judge0 retries its job. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/log.h"
#include "http/reply.h"
#include "http/router.h"
#include "judge0.h"
#include "policy/app.h"

#define MAX_ATTEMPTS 3
#define RETRY_AFTER_MS 1000 /* times the attempt number */

struct job {
    json_t *sub;            /* shared with the store */
    struct request *creds;  /* kept internal request: the caller's key */
    int runs;               /* finished runs */
    double cpu_s, wall_s, memory_kb;
    int working;            /* counted against the workers (a queued job, started) */
    int running;            /* a /v1/run is in flight */
    int storing;            /* the final state is being stored */
    int attempts;           /* /v1 runs tried for the current run */
    uint64_t retry_at;      /* loop ms of the next attempt; 0: none pending */
    j0_done_fn done;
    void *ud;
    struct job *prev, *next;
};

static struct job *jobs;
static size_t nqueued, nworking;
static int stopping; /* shutdown: nothing starts any more */

size_t j0_run_queued(void) { return nqueued; }
size_t j0_run_working(void) { return nworking; }

static void job_free(struct job *j) {
    if (j->prev) j->prev->next = j->next; else jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    if (j->working) nworking--;
    if (!j->running && !j->working && json_integer_value(json_object_get(j->sub, "status_id")) == J0_QUEUE) nqueued--;
    http_request_discard(j->creds);
    json_decref(j->sub);
    free(j);
}

static void iso_now(char *out, size_t len) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%.19s.%03dZ", day, (int)(tv.tv_usec / 1000) % 1000);
}

/* ---- the /v1 program ------------------------------------------------------------------------ */

static const char *text_of(const json_t *sub, const char *field, buf_t *out) {
    const json_t *v = json_object_get(sub, field);
    if (json_is_string(v)) j0_decode64(json_string_value(v), json_string_length(v), out);
    return out->data ? out->data : "";
}

/* command_line_arguments (and compiler_options) as bash would split them (Judge0 runs
 * "run_cmd args" through bash), without the characters Judge0 removes ($&;<>|`); quotes group words. */
static json_t *split_args(const char *s) {
    json_t *args = json_array();
    buf_t word = BUF_INIT;
    int in_word = 0;
    char quote = 0;
    for (; s && *s; s++) {
        if (strchr("$&;<>|`", *s)) continue;
        if (quote) {
            if (*s == quote) quote = 0;
            else buf_append(&word, s, 1);
        } else if (*s == '\'' || *s == '"') {
            quote = *s;
            in_word = 1;
        } else if (*s == ' ' || *s == '\t' || *s == '\n') {
            if (in_word) json_array_append_new(args, json_stringn(word.data ? word.data : "", word.len));
            buf_reset(&word);
            in_word = 0;
        } else {
            buf_append(&word, s, 1);
            in_word = 1;
        }
    }
    if (in_word) json_array_append_new(args, json_stringn(word.data ? word.data : "", word.len));
    buf_free(&word);
    return args;
}

/* A policy limit's bound, or `def`. */
static double policy_bound(const char *limit, const char *bound, double def) {
    const json_t *v = json_object_get(json_object_get(app_config()->limits, limit), bound);
    return json_is_number(v) ? json_number_value(v) : def;
}

static json_int_t within(const char *limit, double v) {
    double lo = policy_bound(limit, "min", v), hi = policy_bound(limit, "max", v);
    return (json_int_t)(v < lo ? lo : v > hi ? hi : v);
}

static double number(const json_t *sub, const char *field) {
    const json_t *v = json_object_get(sub, field);
    return json_is_string(v) ? atof(json_string_value(v)) : json_number_value(v);
}

static char *program_text(const json_t *sub) {
    const char *language = json_string_value(json_object_get(sub, "_language"));
    buf_t code = BUF_INIT, in = BUF_INIT;
    double kb = number(sub, "memory_limit"), files_kb = number(sub, "max_file_size");
    double procs = number(sub, "max_processes_and_or_threads");
    json_t *limits = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "timeout_ms", within("timeout_ms", number(sub, "wall_time_limit") * 1000),
        "cpu_time_ms", within("cpu_time_ms", number(sub, "cpu_time_limit") * 1000), "cpu_extra_ms",
        within("cpu_extra_ms", number(sub, "cpu_extra_time") * 1000), "compile_cpu_time_ms",
        within("compile_cpu_time_ms", j0_conf("max_cpu_time_limit", 15) * 1000), "memory_mb",
        within("memory_mb", ceil(kb / 1024)), "stack_kb", within("stack_kb", number(sub, "stack_limit")),
        "processes", within("processes", procs));
    /* The container's own process cap leaves room for the launcher and the compiler's helpers. */
    json_object_set_new(limits, "pids", json_integer(within("pids", procs + 8)));
    if (files_kb > 0) {
        /* isolate's file-size limit also bounds what the program writes to stdout. */
        json_object_set_new(limits, "file_size_bytes", json_integer(within("file_size_bytes", files_kb * 1024)));
        json_object_set_new(limits, "output_bytes", json_integer(within("output_bytes", files_kb * 1024)));
    }
    text_of(sub, "source_code", &code);
    text_of(sub, "stdin", &in);
    const json_t *files = json_object_get(sub, "_files");
    json_t *program = json_pack("{s:s,s:s%,s:s%,s:o,s:o,s:s,s:o}", "language", language ? language : "", "code",
                                code.data ? code.data : "", code.len, "stdin", in.data ? in.data : "", in.len, "args",
                                split_args(json_string_value(json_object_get(sub, "command_line_arguments"))),
                                "limits", limits, "output_encoding", "base64", "files",
                                json_is_array(files) ? json_incref((json_t *)files) : json_array());
    const char *options = json_string_value(json_object_get(sub, "compiler_options"));
    if (program && options && *options) json_object_set_new(program, "compile_options", split_args(options));
    buf_free(&code);
    buf_free(&in);
    char *text = program ? json_text(program) : NULL;
    json_decref(program);
    return text;
}

/* ---- results -------------------------------------------------------------------------------- */

static void set_text(json_t *sub, const char *field, const buf_t *raw) {
    if (!raw || !raw->len) {
        json_object_set_new(sub, field, json_null());
        return;
    }
    char *enc = j0_encode64(raw->data, raw->len);
    json_object_set_new(sub, field, enc ? json_string(enc) : json_null());
    free(enc);
}

static void decode_field(const json_t *obj, const char *field, buf_t *out) {
    const json_t *v = json_object_get(obj, field);
    if (json_is_string(v)) j0_decode64(json_string_value(v), json_string_length(v), out);
}

static void start_next(void);
static void run_once(struct job *j);

/* One timer for every job waiting to try again: it fires at the earliest one. Unreferenced, so
 * it never holds the loop open at shutdown. */
static uv_timer_t retry_timer;
static int retry_timer_ready;
static void retry_due(uv_timer_t *t);

static void arm_retry_timer(void) {
    uint64_t first = 0;
    for (struct job *j = jobs; j; j = j->next)
        if (j->retry_at && (!first || j->retry_at < first)) first = j->retry_at;
    if (!first) return;
    uint64_t now = uv_now(app_loop());
    uv_timer_start(&retry_timer, retry_due, first > now ? first - now : 0, 0);
}

static void retry_due(uv_timer_t *t) {
    (void)t;
    if (stopping) return;
    uint64_t now = uv_now(app_loop());
again:
    for (struct job *j = jobs; j; j = j->next) {
        if (j->retry_at && j->retry_at <= now) {
            j->retry_at = 0;
            run_once(j); /* may free j: look again from the start */
            goto again;
        }
    }
    arm_retry_timer();
}

static void retry_later(struct job *j) {
    if (!retry_timer_ready) {
        uv_timer_init(app_loop(), &retry_timer);
        uv_unref((uv_handle_t *)&retry_timer);
        retry_timer_ready = 1;
    }
    j->retry_at = uv_now(app_loop()) + (uint64_t)RETRY_AFTER_MS * (uint64_t)j->attempts;
    arm_retry_timer();
}

/* The final state is readable everywhere: tell whoever waits. */
static void finished(void *ud) {
    struct job *j = ud;
    j->storing = 0;
    j0_callback(j->sub);
    if (j->done) j->done(j->sub, j->ud);
    job_free(j);
    start_next();
}

static void finish(struct job *j, int status, const char *message) {
    json_t *sub = j->sub;
    char now[40];
    iso_now(now, sizeof now);
    json_object_set_new(sub, "status_id", json_integer(status));
    json_object_set_new(sub, "finished_at", json_string(now));
    json_object_set_new(sub, "message", message ? json_string(message) : json_null());
    if (j->runs > 0 && status != J0_COMPILATION_ERROR && status != J0_INTERNAL_ERROR) {
        json_object_set_new(sub, "time", j0_decimal(j->cpu_s / j->runs));
        json_object_set_new(sub, "wall_time", j0_decimal(j->wall_s / j->runs));
        json_object_set_new(sub, "memory", json_integer((json_int_t)(j->memory_kb / j->runs)));
    }
    double retention = json_number_value(json_object_get(app_config()->judge0, "retention_s"));
    if (retention <= 0) retention = 3600;
    json_object_set_new(sub, "_expires", json_integer((json_int_t)(uv_now(app_loop()) + (uint64_t)(retention * 1000))));
    j->storing = 1;
    j0_store_put(json_incref(sub), finished, j);
}

static void on_v1_run(int status, const char *body, size_t len, void *ud) {
    struct job *j = ud;
    j->running = 0;
    json_t *res = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    const char *scope = json_string_value(json_object_get(json_object_get(res, "error"), "scope"));
    int passing = status == 503 || (status == 429 && scope && strcmp(scope, "server") == 0);
    if (passing && j->attempts < MAX_ATTEMPTS && !stopping) {
        json_decref(res);
        retry_later(j);
        return;
    }
    if (status != 200 || !json_is_object(res)) {
        const char *msg = v1_error_message(res);
        char text[300];
        snprintf(text, sizeof text, "%s", msg ? msg : "the run could not be made");
        json_decref(res);
        finish(j, J0_INTERNAL_ERROR, text);
        return;
    }
    json_t *sub = j->sub;
    const json_t *compile = json_object_get(res, "compile");
    buf_t cout = BUF_INIT;
    decode_field(compile, "stdout", &cout);
    decode_field(compile, "stderr", &cout);
    const json_t *cx = json_object_get(compile, "exit_code");
    if (json_is_object(compile) && !(json_is_integer(cx) && json_integer_value(cx) == 0)) {
        /* Compilation Error: Judge0 keeps nothing of a run. */
        const char *st = json_string_value(json_object_get(res, "status"));
        if (st && strcmp(st, "timeout") == 0) {
            buf_reset(&cout);
            buf_append_str(&cout, "Compilation time limit exceeded.");
        }
        set_text(sub, "compile_output", &cout);
        static const char *const cleared[] = {"time", "wall_time", "memory", "stdout", "stderr", "exit_code", "exit_signal"};
        for (size_t i = 0; i < sizeof cleared / sizeof cleared[0]; i++) json_object_set_new(sub, cleared[i], json_null());
        buf_free(&cout);
        json_decref(res);
        finish(j, J0_COMPILATION_ERROR, NULL);
        return;
    }
    set_text(sub, "compile_output", &cout);
    buf_free(&cout);
    buf_t out = BUF_INIT, err = BUF_INIT, expected = BUF_INIT;
    decode_field(res, "stdout", &out);
    decode_field(res, "stderr", &err);
    if (json_is_true(json_object_get(sub, "redirect_stderr_to_stdout"))) {
        buf_append(&out, err.data, err.len);
        buf_reset(&err);
    }
    int has_expected = json_is_string(json_object_get(sub, "expected_output"));
    if (has_expected) text_of(sub, "expected_output", &expected);
    const char *message;
    int signo;
    int verdict = j0_decide(res, &out, has_expected ? &expected : NULL, &message, &signo);
    set_text(sub, "stdout", &out);
    set_text(sub, "stderr", &err);
    const json_t *code = json_object_get(res, "exit_code");
    json_object_set_new(sub, "exit_code", json_integer(json_is_integer(code) ? json_integer_value(code) : 0));
    json_object_set_new(sub, "exit_signal", signo ? json_integer(signo) : json_null());
    j->runs++;
    j->attempts = 0;
    j->cpu_s += (double)json_integer_value(json_object_get(res, "cpu_ms")) / 1000;
    j->wall_s += (double)json_integer_value(json_object_get(res, "time_ms")) / 1000;
    j->memory_kb += (double)json_integer_value(json_object_get(res, "memory_kb"));
    buf_free(&out);
    buf_free(&err);
    buf_free(&expected);
    json_decref(res);
    if (verdict == J0_ACCEPTED && j->runs < (int)number(sub, "number_of_runs")) {
        run_once(j);
        return;
    }
    finish(j, verdict, message);
}

static void run_once(struct job *j) {
    char *text = program_text(j->sub);
    struct request *r = text ? http_subrequest(j->creds, "POST", "/v1/run", text, strlen(text), on_v1_run, j) : NULL;
    j->attempts++;
    free(text);
    if (!r) {
        finish(j, J0_INTERNAL_ERROR, "out of memory");
        return;
    }
    j->running = 1;
    router_dispatch(r);
}

static void start(struct job *j) {
    json_object_set_new(j->sub, "status_id", json_integer(J0_PROCESSING));
    j0_store_put(json_incref(j->sub), NULL, NULL);
    run_once(j);
}

/* Queued jobs start in order while workers are free. */
static void start_next(void) {
    double workers = json_number_value(json_object_get(app_config()->judge0, "workers"));
    if (workers < 1) workers = 1;
    if (stopping) return;
    for (struct job *j = jobs; j && nworking < (size_t)workers; j = j->next) {
        if (j->working || j->running || json_integer_value(json_object_get(j->sub, "status_id")) != J0_QUEUE) continue;
        nqueued--;
        j->working = 1;
        nworking++;
        start(j);
    }
}

int j0_run_submit(struct request *req, json_t *sub, int now, j0_done_fn done, void *ud) {
    struct job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->creds = http_subrequest(req, "GET", "/", NULL, 0, NULL, NULL);
    if (!j->creds) {
        free(j);
        return -1;
    }
    memcpy(j->creds->key_hash, req->key_hash, sizeof j->creds->key_hash);
    j->sub = json_incref(sub);
    j->done = done;
    j->ud = ud;
    /* Appended, so the queue runs in order. */
    struct job **tail = &jobs, *prev = NULL;
    while (*tail) {
        prev = *tail;
        tail = &(*tail)->next;
    }
    *tail = j;
    j->prev = prev;
    if (now) {
        start(j);
    } else {
        nqueued++;
        start_next();
    }
    return 0;
}

void j0_run_forget(void *ud) {
    for (struct job *j = jobs; j; j = j->next)
        if (j->ud == ud) j->done = NULL;
}

/* Jobs waiting for a worker go; one whose /v1 run is in flight is freed by that run's answer,
 * which the shutdown of runs brings soon. */
void j0_run_free(void) {
    stopping = 1;
    struct job *next;
    for (struct job *j = jobs; j; j = next) {
        next = j->next;
        j->done = NULL;
        if (!j->running && !j->storing) job_free(j);
    }
}
