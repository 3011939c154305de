/* run.c — POST /v1/run: one program, start to end, in a sandbox of its own;
 * and POST /v1/judge: the same program run once per test case (core/backend/judge.c).
 *
 * The run owns its sandbox and its request.  For a compiled language the
 * launcher first runs the compile command; only if that exits 0 does it run
 * the program with the request's stdin.  The response is sent once the
 * launcher has reported the end, by which time every process of the run is
 * gone.  The sandbox is a warm one from the pool when one fits; afterwards the
 * container goes back to the pool, which resets it (the response then waits
 * for the reset, so the next request finds it ready), or it is removed.
 *
 * Every step has a deadline of our own, whatever the container does: the
 * sandbox bounds creating it, each exec is answered within its timeout plus
 * the policy's run_grace_ms (a frozen or silent launcher: the run ends as
 * `timeout` and the container is removed), and the pool bounds the reset.
 *
 * A judge compiles once and then runs the program for each case in turn in
 * the same container, with the case's stdin and limits, without a reset in
 * between (the compiled program stays; what one case writes, the next sees). */
#include "run.h"

#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/utf8.h"
#include "http/reply.h"
#include "judge.h"
#include "policy/app.h"
#include "pool.h"
#include "uidpool.h"

enum run_phase { RUN_STARTING, RUN_COMPILING, RUN_RUNNING };

struct run {
    struct request *req;
    struct program prog;
    struct sandbox *sb;
    unsigned uid;
    enum run_phase phase;
    buf_t out[2];          /* stdout, stderr of the current phase */
    buf_t both;            /* the program's stdout and stderr in the order they came (combined_output) */
    json_t *compile;       /* the compile step's report, or NULL */
    json_t *result;        /* the answer, while the pool resets the container */
    struct pool_entry *returning;
    json_t *cases;         /* a judge's test cases, else NULL */
    json_t *verdicts;      /* a judge's answers so far, one per case run */
    int oom_seen;          /* a case hit the memory limit: the container is not reused */
    uv_timer_t deadline;   /* the current exec's timeout plus run_grace_ms */
    uint64_t exec_started_ms;
    char key_hash[65];
    struct run *prev, *next;
};

static struct run *runs;
static size_t nruns;

size_t run_count(void) { return nruns; }

size_t run_count_for_key(const char *key_hash) {
    size_t n = 0;
    for (struct run *r = runs; r; r = r->next) n += strcmp(r->key_hash, key_hash) == 0;
    return n;
}

size_t run_count_for_language(const char *language) {
    size_t n = 0;
    for (struct run *r = runs; r; r = r->next) n += strcmp(r->prog.language, language) == 0;
    return n;
}

static void run_closed(uv_handle_t *h) { free(h->data); }

/* Everything goes now; the memory once the deadline timer is closed. */
static void run_free(struct run *r) {
    if (r->prev) r->prev->next = r->next; else runs = r->next;
    if (r->next) r->next->prev = r->prev;
    nruns--;
    pool_return_cancel(r->returning);
    if (r->sb) sandbox_destroy(r->sb);
    if (r->uid) uidpool_give(r->uid);
    program_free(&r->prog);
    buf_free(&r->out[0]);
    buf_free(&r->out[1]);
    buf_free(&r->both);
    json_decref(r->compile);
    json_decref(r->result);
    json_decref(r->cases);
    json_decref(r->verdicts);
    uv_close((uv_handle_t *)&r->deadline, run_closed);
    backend_load_changed();
}

/* Output as the run asked: text with invalid UTF-8 repaired, or base64 of the bytes. */
static json_t *text_of(const struct run *r, const buf_t *b) {
    if (r->prog.output_base64) {
        size_t n = 4 * ((b->len + 2) / 3);
        char *enc = malloc(n + 1);
        if (!enc) return NULL;
        EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)(b->data ? b->data : ""), (int)b->len);
        json_t *s = json_stringn(enc, n);
        free(enc);
        return s;
    }
    buf_t fixed = BUF_INIT;
    utf8_append_repaired(&fixed, b->data ? b->data : "", b->len);
    json_t *s = json_stringn(fixed.data ? fixed.data : "", fixed.len);
    buf_free(&fixed);
    return s;
}

static void reply_result(struct run *r) {
    struct request *req = r->req;
    json_t *body = r->result;
    r->req = NULL;
    r->result = NULL;
    reply_json(req, 200, body);
    run_free(r);
}

/* The pool has reset the container (or discarded it). */
static void returned(void *ud) {
    struct run *r = ud;
    r->returning = NULL;
    reply_result(r);
}

/* `reusable`: the launcher reported the end and no process of the run hit the
 * memory limit (a container whose cgroup saw an OOM kill is never reused, so
 * the engine's OOMKilled flag stays exact for the containers we keep). */
/* The /v1/run answer of what ran last. */
static json_t *result_of(struct run *r, const char *status, const struct launcher_exit *ex) {
    json_t *body = json_pack("{s:s,s:s}", "language", r->prog.language, "status", status);
    int signaled = ex && ex->signo;
    json_object_set_new(body, "exit_code", ex && !signaled && ex->exit_code >= 0 ? json_integer(ex->exit_code) : json_null());
    const char *signame = signaled ? sigabbrev_np(ex->signo) : NULL;
    char sig[32];
    if (signame) snprintf(sig, sizeof sig, "SIG%s", signame);
    json_object_set_new(body, "signal", signame ? json_string(sig) : json_null());
    json_object_set_new(body, "stdout", text_of(r, &r->out[0]));
    json_object_set_new(body, "stderr", text_of(r, &r->out[1]));
    if (r->prog.combined_output) json_object_set_new(body, "output", text_of(r, &r->both));
    json_object_set_new(body, "truncated", json_boolean(strcmp(status, "output_limit") == 0));
    json_object_set_new(body, "time_ms", json_integer(ex ? ex->wall_ms : 0));
    json_object_set_new(body, "cpu_ms", json_integer(ex ? ex->cpu_ms : 0));
    json_object_set_new(body, "memory_kb", json_integer(ex ? (json_int_t)ex->maxrss_kb : 0));
    json_object_set_new(body, "compile", r->compile ? json_incref(r->compile) : json_null());
    return body;
}

/* A judge's case has ended: its verdict. */
static void record_case(struct run *r, const char *status, const struct launcher_exit *ex) {
    const json_t *kase = json_array_get(r->cases, json_array_size(r->verdicts));
    json_array_append_new(r->verdicts, judge_verdict(kase, result_of(r, status, ex), r->out[0].data ? r->out[0].data : "",
                                                     r->out[0].len));
}

static void finish(struct run *r, const char *status, const struct launcher_exit *ex, int reusable) {
    json_t *body;
    if (!r->cases) {
        body = result_of(r, status, ex);
    } else {
        if (r->phase == RUN_RUNNING && json_array_size(r->verdicts) < json_array_size(r->cases))
            record_case(r, status, ex);
        body = judge_answer(r->prog.language, r->phase == RUN_RUNNING ? NULL : status, r->compile, r->verdicts,
                            json_array_size(r->cases));
        r->verdicts = NULL;
        reusable = reusable && !r->oom_seen;
    }
    char labels[64];
    snprintf(labels, sizeof labels, "status=\"%s\"", status);
    metrics_add(METRIC_COUNTER, "cloudcode_runs_total", labels, 1);
    uv_timer_stop(&r->deadline);
    r->result = body;
    if (r->sb) {
        struct sandbox *sb = r->sb;
        unsigned uid = r->uid;
        r->sb = NULL;
        r->uid = 0;
        if (reusable) {
            r->returning = pool_return(sb, uid, &r->prog, returned, r);
            if (r->returning) return;   /* returned() follows the reset */
        } else {
            sandbox_destroy(sb);
            uidpool_give(uid);
        }
    }
    reply_result(r);
}

/* Answer with an error instead of a result, and stop the run. */
static void abandon(struct run *r, int status, const char *code, const char *msg) {
    if (r->result) {   /* finished: only the reset was pending */
        reply_result(r);
        return;
    }
    struct request *req = r->req;
    r->req = NULL;
    reply_error(req, status, code, "%s", msg);
    run_free(r);
}

/* The launcher has not reported the end of the exec by its timeout plus the
 * grace: it is frozen, gone silent or starved.  Answer `timeout` (the run did
 * not end in its time) and remove the container: nothing of it is reused. */
static void on_deadline(uv_timer_t *t) {
    struct run *r = t->data;
    uint64_t waited = uv_now(app_loop()) - r->exec_started_ms;
    log_msgf(LOG_WARN, "run_deadline", "container %.12s reported no end %llu ms into a %lld ms exec: removed",
             r->sb ? sandbox_container_id(r->sb) : "", (unsigned long long)waited, r->prog.limits.timeout_ms);
    if (r->phase == RUN_COMPILING) {
        r->compile = json_pack("{s:n,s:o,s:o}", "exit_code", "stdout", text_of(r, &r->out[0]), "stderr",
                               text_of(r, &r->out[1]));
        buf_reset(&r->out[0]);
        buf_reset(&r->out[1]);
        finish(r, "timeout", NULL, 0);
        return;
    }
    struct launcher_exit ex = {.exit_code = -1, .signo = SIGKILL, .reason = EXIT_REASON_TIMEOUT,
                               .wall_ms = waited > UINT32_MAX ? UINT32_MAX : (uint32_t)waited};
    finish(r, "timeout", &ex, 0);
}

/* The program's limits as the launcher takes them; `compile`: the compile step's (CPU time only). */
static struct exec_limits rlimits_of(const struct program_limits *l, int compile) {
#define NONNEG(v) ((v) > 0 ? (v) : 0)
    if (compile) return (struct exec_limits){.cpu_ms = (uint32_t)NONNEG(l->compile_cpu_time_ms)};
    return (struct exec_limits){
        .cpu_ms = (uint32_t)NONNEG(l->cpu_time_ms), .cpu_extra_ms = (uint32_t)NONNEG(l->cpu_extra_ms),
        .file_size = (uint64_t)NONNEG(l->file_size_bytes), .stack = (uint64_t)NONNEG(l->stack_kb) * 1024,
        .processes = (uint32_t)NONNEG(l->processes),
    };
#undef NONNEG
}

/* Send an exec and arm its deadline; 0, or -1 once the run is answered (the
 * frame could not be sent: a bug, as the program was bounded when read).
 * `l`: the step's limits (a judge's case has its own); `compile`: the compile step, bounded by
 * compile_timeout_ms when there is one. */
static int exec_step(struct run *r, const json_t *argv, int stdin_closed, const struct program_limits *l,
                     int compile) {
    json_t *env = backend_program_env(&r->prog);
    long long timeout_ms = compile && l->compile_timeout_ms ? l->compile_timeout_ms : l->timeout_ms;
    struct sandbox_exec ex = {
        .argv = argv, .env = env,
        .opts = {.stdin_closed = stdin_closed, .timeout_ms = (uint32_t)timeout_ms,
                 .output_limit = (uint64_t)l->output_bytes, .limits = rlimits_of(l, compile)},
    };
    int rc = sandbox_exec(r->sb, &ex);
    json_decref(env);
    if (rc < 0) {
        abandon(r, 500, "internal", "the program could not be sent to its sandbox");
        return -1;
    }
    r->exec_started_ms = uv_now(app_loop());
    uv_timer_start(&r->deadline, on_deadline, (uint64_t)timeout_ms + (uint64_t)app_config()->run_grace_ms, 0);
    return 0;
}

static void start_program(struct run *r) {
    r->phase = RUN_RUNNING;
    buf_reset(&r->out[0]);
    buf_reset(&r->out[1]);
    const json_t *entry = r->prog.image;
    json_t *argv = program_argv(&r->prog, json_object_get(entry, strcmp(r->prog.language, "ipython") == 0 &&
                                                                  json_object_get(entry, "script")
                                                              ? "script" : "run"));
    json_array_extend(argv, r->prog.args);
    /* A judge's case runs with its own stdin and limits. */
    struct program_limits limits = r->prog.limits;
    const json_t *kase = r->cases ? json_array_get(r->cases, json_array_size(r->verdicts)) : NULL;
    if (kase) judge_case_limits(kase, &limits);
    int rc = exec_step(r, argv, 0, &limits, 0);
    json_decref(argv);
    if (rc < 0) return;
    const json_t *in = json_object_get(kase, "stdin");
    const char *data = kase ? json_string_value(in) : r->prog.stdin_data;
    size_t len = kase ? json_string_length(in) : r->prog.stdin_len;
    if ((data && sandbox_input(r->sb, data, len) < 0) || sandbox_eof(r->sb) < 0)
        abandon(r, 500, "internal", "the program's input could not be sent to its sandbox");
}

static void on_ready(struct sandbox *sb, void *ud) {
    struct run *r = ud;
    if (sandbox_send_files(sb, r->prog.files) < 0) {
        abandon(r, 500, "internal", "the program's files could not be sent to its sandbox");
        return;
    }
    const json_t *compile = json_object_get(r->prog.image, "compile");
    if (!json_is_array(compile)) {
        start_program(r);
        return;
    }
    r->phase = RUN_COMPILING;
    json_t *argv = program_argv(&r->prog, compile);
    exec_step(r, argv, 1, &r->prog.limits, 1);
    json_decref(argv);
}

static void on_data(struct sandbox *sb, void *ud, int stream, const char *data, size_t len) {
    (void)sb;
    struct run *r = ud;
    buf_append(&r->out[stream == 2 ? 1 : 0], data, len);
    if (r->prog.combined_output && r->phase == RUN_RUNNING) buf_append(&r->both, data, len);
}

/* Killed for its wall or its CPU time. */
static int timed_out(const struct launcher_exit *ex) {
    return ex->reason == EXIT_REASON_TIMEOUT || ex->reason == EXIT_REASON_CPU_LIMIT;
}

static const char *status_of(const struct launcher_exit *ex) {
    if (timed_out(ex)) return "timeout";
    if (ex->reason == EXIT_REASON_OUTPUT_LIMIT) return "output_limit";
    if (ex->oom_kills > 0) return "memory_limit";
    if (ex->reason == EXIT_REASON_NORMAL && ex->signo == 0 && ex->exit_code == 0) return "ok";
    return "runtime_error";
}

static void on_exit_frame(struct sandbox *sb, void *ud, const struct launcher_exit *ex) {
    (void)sb;
    struct run *r = ud;
    if (r->phase == RUN_COMPILING) {
        int ok = ex->reason == EXIT_REASON_NORMAL && ex->signo == 0 && ex->exit_code == 0;
        r->compile = json_pack("{s:o,s:o,s:o,s:I,s:I}", "exit_code", ex->signo ? json_null() : json_integer(ex->exit_code),
                               "stdout", text_of(r, &r->out[0]), "stderr", text_of(r, &r->out[1]), "time_ms",
                               (json_int_t)ex->wall_ms, "cpu_ms", (json_int_t)ex->cpu_ms);
        if (ok) {
            start_program(r);
            return;
        }
        const char *status = timed_out(ex) ? "timeout" : ex->oom_kills ? "memory_limit" : "compile_error";
        buf_reset(&r->out[0]);
        buf_reset(&r->out[1]);
        finish(r, status, NULL, ex->oom_kills == 0);
        return;
    }
    if (r->cases) {
        r->oom_seen |= ex->oom_kills > 0;
        record_case(r, status_of(ex), ex);
        if (json_array_size(r->verdicts) < json_array_size(r->cases)) {
            start_program(r);
            return;
        }
        finish(r, "ok", NULL, 1);
        return;
    }
    finish(r, status_of(ex), ex, ex->oom_kills == 0);
}

static void on_lost(struct sandbox *sb, void *ud, enum sandbox_lost_reason why, const char *text) {
    (void)sb;
    struct run *r = ud;
    r->sb = NULL; /* the sandbox frees itself after reporting a loss */
    if (why == SANDBOX_LOST_OOM) {
        /* The launcher itself was killed for memory: the run blew its limit. */
        finish(r, "memory_limit", NULL, 0);
        return;
    }
    struct request *req = r->req;
    r->req = NULL;
    backend_reply_lost(req, &r->prog, text, why == SANDBOX_LOST_NO_IMAGE);
    run_free(r);
}

static void on_reply(struct sandbox *sb, void *ud, uint32_t rid, int status, const char *data, size_t len) {
    (void)sb; (void)ud; (void)rid; (void)status; (void)data; (void)len;
}

static const struct sandbox_callbacks run_callbacks = {
    .on_ready = on_ready, .on_data = on_data, .on_exit = on_exit_frame, .on_reply = on_reply, .on_lost = on_lost,
};

/* The client left: stop the program now; the request only needs freeing. */
static void on_abort(struct request *req, void *ud) {
    (void)req;
    abandon(ud, 500, "internal", "the client went away");
}

/* `cases`: a judge's test cases (the run takes a reference once it can start), or NULL for a run. */
static void start_run(struct request *req, json_t *cases) {
    struct run *r = request_calloc(req, sizeof *r);
    if (!r) return;
    if (backend_take_program(req, PROGRAM_RUN, &r->prog, &r->uid) < 0) {
        free(r);
        return;
    }
    r->cases = json_incref(cases);
    r->verdicts = cases ? json_array() : NULL;
    r->req = req;
    uv_timer_init(app_loop(), &r->deadline);
    r->deadline.data = r;
    snprintf(r->key_hash, sizeof r->key_hash, "%s", req->key_hash);
    r->next = runs;
    if (runs) runs->prev = r;
    runs = r;
    nruns++;
    backend_load_changed();
    http_set_abort(req, on_abort, r);
    if (backend_sandbox_start(&r->prog, &r->uid, NULL, &run_callbacks, r, &r->sb) < 0) {
        r->req = NULL;
        reply_error(req, 500, "internal", "cannot start a sandbox");
        run_free(r);
    }
}

void run_handle(struct request *req) { start_run(req, NULL); }

void judge_handle(struct request *req) {
    json_t *cases = judge_read_cases(req);
    if (cases) start_run(req, cases);
    json_decref(cases);
}

void run_kill_all(void) {
    while (runs) abandon(runs, 503, "unavailable", "the server is shutting down");
}
