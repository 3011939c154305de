/* compat_piston.c — Piston v2: GET /api/v2/runtimes and POST /api/v2/execute,
 * mapped onto /v1/languages and /v1/run (same sandbox, limits and keys).
 * Errors are Piston's {"message": "..."}. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "http/reply.h"
#include "http/router.h"
#include "piston.h"
#include "policy/app.h"

/* Piston's own defaults. */
#define PISTON_RUN_TIMEOUT_MS 3000
#define PISTON_COMPILE_TIMEOUT_MS 10000

/* Anonymous callers share one tenant whose name is not hex, so that it can
 * never be the hash of a real key. */
#define PISTON_ANONYMOUS "piston-anonymous"

/* Without CODECLOUD_PISTON_OPEN the dialect needs a key like /v1 (the
 * internal /v1 request checks it).  With it, a caller that presents no key is
 * the anonymous tenant; one that presents a key is still checked and counted
 * as that key. */
void piston_identity(struct request *req) {
    if (app_config()->piston_open && !req->key_hash[0]) snprintf(req->key_hash, sizeof req->key_hash, PISTON_ANONYMOUS);
}

int piston_anonymous(const struct request *req) { return strcmp(req->key_hash, PISTON_ANONYMOUS) == 0; }

/* The anonymous tenant's rate: one token bucket per process (piston_rate).
 * Keyed callers are bounded by the policy's admit hook instead. */
int piston_admit(struct request *req) {
    static double tokens = -1;
    static uint64_t last;
    if (!piston_anonymous(req)) return 0;
    const struct config *c = app_config();
    uint64_t now = uv_now(app_loop());
    if (tokens < 0) tokens = c->piston_rate_burst;
    else tokens += (double)(now - last) * c->piston_rate_per_s / 1000.0;
    if (tokens > c->piston_rate_burst) tokens = c->piston_rate_burst;
    last = now;
    if (tokens >= 1) {
        tokens -= 1;
        return 0;
    }
    reply_json(req, 429, json_pack("{s:s}", "message", "rate_limited: too many requests without a key, retry later"));
    return -1;
}

/* ---- runtimes ------------------------------------------------------------------------ */

/* A /v1 language as Piston lists a runtime (an unavailable one is not listed). */
static json_t *runtime_json(const json_t *l) {
    if (json_is_false(json_object_get(l, "available"))) return NULL;
    return json_pack("{s:O,s:O,s:O}", "language", json_object_get(l, "name"), "version", json_object_get(l, "version"),
                     "aliases", json_object_get(l, "aliases"));
}

static void on_languages(int status, const char *body, size_t len, void *ud) {
    reply_relayed_list(ud, status, body, len, "languages", runtime_json);
}

void dispatch_sub(struct request *req, const char *method, const char *target, const char *body, size_t len,
                  http_response_fn cb, void *ud, struct request **inflight) {
    struct request *sub = http_subrequest(req, method, target, body, len, cb, ud);
    if (!sub) {
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    if (piston_anonymous(req)) {
        sub->preauth = 1;
        memcpy(sub->key_hash, req->key_hash, sizeof sub->key_hash);
    }
    if (inflight) *inflight = sub;   /* before dispatching: the answer may come at once */
    router_dispatch(sub);
}

void piston_handle_runtimes(struct request *req) {
    piston_identity(req);
    /* A balancer's own list is the union of what its backends tell a key; anonymous callers
     * have none a backend accepts, so a backend answers them itself. */
    if (piston_relay_anonymous(req, 0) == 0) return;
    dispatch_sub(req, "GET", "/v1/languages", NULL, 0, on_languages, req, NULL);
}

/* ---- execute ------------------------------------------------------------------------- */

/* A SemVer selector against a version: "*", "x" parts, exact, or a prefix
 * ("3", "3.11"); optional leading "^", "~", "=" or "v" are read as prefixes. */
static int version_matches(const char *selector, const char *version) {
    while (*selector == '^' || *selector == '~' || *selector == '=' || *selector == 'v') selector++;
    if (strcmp(selector, "*") == 0 || *selector == '\0') return 1;
    while (*selector) {
        size_t sn = strcspn(selector, "."), vn = strcspn(version, ".");
        int wild = (sn == 1 && (selector[0] == 'x' || selector[0] == 'X' || selector[0] == '*'));
        if (!wild && (sn != vn || strncmp(selector, version, sn) != 0)) return 0;
        selector += sn;
        version += vn;
        if (*selector == '.') selector++;
        if (*version == '.') version++;
        if (*selector && !*version) return 0;
    }
    return 1;
}

/* A Piston file as a /v1 file: {"name","content","encoding"}, utf8 as it is, base64 passed on
 * (the backend decodes it), hex re-encoded as base64, so that every byte arrives as sent. */
static json_t *v1_file(const json_t *f, size_t i, char *err, size_t errlen) {
    const json_t *content = json_object_get(f, "content");
    const char *enc = json_string_value(json_object_get(f, "encoding"));
    const char *s = json_string_value(content), *given = json_string_value(json_object_get(f, "name"));
    size_t n = json_string_length(content);
    char fallback[32];
    snprintf(fallback, sizeof fallback, "file%zu.code", i); /* Piston's name for a nameless file */
    const char *name = given ? given : fallback;
    if (strcmp(name, "..") == 0 || strncmp(name, "../", 3) == 0 || strstr(name, "/../") ||
        (strlen(name) >= 3 && strcmp(name + strlen(name) - 3, "/..") == 0)) {
        snprintf(err, errlen, "File path \"%.200s\" tries to escape parent directory", name);
        return NULL;
    }
    if (!enc || strcmp(enc, "utf8") == 0) return json_pack("{s:s,s:O}", "name", name, "content", content);
    if (strcmp(enc, "base64") == 0) return json_pack("{s:s,s:O,s:s}", "name", name, "content", content, "encoding", "base64");
    if (strcmp(enc, "hex") != 0) {
        snprintf(err, errlen, "files[%zu].encoding must be one of utf8, base64, hex", i);
        return NULL;
    }
    buf_t bytes = BUF_INIT, b64 = BUF_INIT;
    json_t *out = NULL;
    for (size_t k = 0; n % 2 == 0 && k < n; k += 2) {
        char byte[3] = {s[k], s[k + 1], 0}, *end;
        unsigned char v = (unsigned char)strtoul(byte, &end, 16);
        if (*end || !isxdigit((unsigned char)byte[0])) break;
        buf_append(&bytes, &v, 1);
    }
    if (n % 2 || bytes.len != n / 2) snprintf(err, errlen, "files[%zu].content is not valid hex", i);
    else if (base64_encode(bytes.data, bytes.len, &b64) == 0)
        out = json_pack("{s:s,s:s%,s:s}", "name", name, "content", b64.data ? b64.data : "", b64.len, "encoding", "base64");
    else snprintf(err, errlen, "out of memory");
    buf_free(&bytes);
    buf_free(&b64);
    return out;
}

/* `both`: stdout and stderr interleaved as written, or NULL for stdout then stderr. */
/* A program's stream as the /v1 answer gave it: the string (NUL bytes included) or "". */
static json_t *stream_of(const json_t *answer, const char *key) {
    const json_t *v = json_object_get(answer, key);
    return json_is_string(v) ? json_stringn(json_string_value(v), json_string_length(v)) : json_string("");
}

/* One stage of a Piston answer. out, errs and both (the interleaved output, NULL: out then errs)
 * are taken over, like code and signal. */
static json_t *stage(json_t *out, json_t *errs, json_t *both, json_t *code, json_t *signal, const char *status,
                     const char *message, json_int_t cpu_ms, json_int_t wall_ms, json_int_t memory) {
    if (!both) {
        buf_t b = BUF_INIT;
        buf_append(&b, json_string_value(out), json_string_length(out));
        buf_append(&b, json_string_value(errs), json_string_length(errs));
        both = json_stringn(b.data ? b.data : "", b.len);
        buf_free(&b);
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I}", "stdout", out, "stderr", errs, "output", both,
                     "code", code, "signal", signal, "message", message ? json_string(message) : json_null(),
                     "status", status ? json_string(status) : json_null(), "cpu_time", cpu_ms, "wall_time", wall_ms,
                     "memory", memory);
}

static long long number_or(const json_t *v, long long def) {
    return json_is_number(v) && json_number_value(v) > 0 ? (long long)json_number_value(v) : def;
}

/* ---- a job: a Piston request resolved to a /v1 program ------------------------------------ */

/* Piston's own validation of a job description, with Piston's messages:
 * the message, or NULL. */
const char *job_invalid(const json_t *body) {
    static char msg[128];
    static const char *const limits[] = {"compile_memory_limit", "run_memory_limit", "compile_timeout",
                                         "run_timeout", "compile_cpu_time", "run_cpu_time"};
    if (!json_is_object(body)) return "the body must be a JSON object";
    const json_t *v = json_object_get(body, "language");
    if (!json_is_string(v) || !json_string_length(v)) return "language is required as a string";
    v = json_object_get(body, "version");
    if (!json_is_string(v) || !json_string_length(v)) return "version is required as a string";
    const json_t *files = json_object_get(body, "files");
    if (!json_is_array(files)) return "files is required as an array";
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        if (!json_is_string(json_object_get(f, "content"))) {
            snprintf(msg, sizeof msg, "files[%zu].content is required as a string", i);
            return msg;
        }
    }
    for (i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        v = json_object_get(body, limits[i]);
        if (!v || json_is_null(v) || json_is_false(v) || (json_is_number(v) && json_number_value(v) == 0))
            continue; /* Piston skips a falsy constraint */
        if (!json_is_number(v)) snprintf(msg, sizeof msg, "If specified, %s must be a number", limits[i]);
        else if (json_number_value(v) < 0 && json_number_value(v) != -1)
            snprintf(msg, sizeof msg, "%s must be non-negative", limits[i]);
        else continue;
        return msg;
    }
    const json_t *args = json_object_get(body, "args");
    if (args && !json_is_null(args) && !json_is_array(args)) return "args must be an array of strings";
    json_array_foreach(args, i, f) if (!json_is_string(f)) return "args must be an array of strings";
    const json_t *in = json_object_get(body, "stdin");
    if (in && !json_is_null(in) && !json_is_string(in)) return "stdin must be a string";
    return NULL;
}

static const json_t *find_runtime(const json_t *langs, const char *want, const char *sel) {
    const json_t *found = NULL;
    size_t i, k;
    json_t *l, *a;
    json_array_foreach(json_object_get(langs, "languages"), i, l) {
        int named = strcmp(json_string_value(json_object_get(l, "name")), want) == 0;
        json_array_foreach(json_object_get(l, "aliases"), k, a) named |= strcmp(json_string_value(a), want) == 0;
        if (named && json_is_true(json_object_get(l, "available")) &&
            version_matches(sel, json_string_value(json_object_get(l, "version")) ?: ""))
            found = l;
    }
    return found;
}

/* The /v1 program of a job: Piston's first file is the main one; stdin gets
 * a trailing newline; the larger memory limit serves both stages. */
/* A policy limit's bound ("min" or "max") in its own unit, or `def`. */
static long long policy_bound(const char *limit, const char *bound, long long def) {
    const json_t *v = json_object_get(json_object_get(app_config()->limits, limit), bound);
    return json_is_number(v) ? (long long)json_number_value(v) : def;
}

static json_t *job_program(struct job *j, char *err, size_t errlen) {
    int utf8 = 0;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(j->piston, "files"), i, a) {
        const char *enc = json_string_value(json_object_get(a, "encoding"));
        utf8 |= !enc || strcmp(enc, "utf8") == 0;
    }
    if (!utf8) {
        snprintf(err, errlen, "files must include at least one utf8 encoded file");
        return NULL;
    }
    /* Piston's units: ms and bytes; the policy's: ms and MiB.  -1 and 0 mean "the default". */
    long long tmax = policy_bound("timeout_ms", "max", 0), mmax = policy_bound("memory_mb", "max", 0) << 20;
    long long mmin = policy_bound("memory_mb", "min", 0) << 20;
    static const char *const timeouts[] = {"compile_timeout", "run_timeout"};
    static const char *const memories[] = {"compile_memory_limit", "run_memory_limit"};
    for (int k = 0; k < 2; k++) {
        long long t = number_or(json_object_get(j->piston, timeouts[k]), 0);
        long long m = number_or(json_object_get(j->piston, memories[k]), 0);
        const char *name = tmax && t > tmax ? timeouts[k] : mmax && m > mmax ? memories[k] : NULL;
        if (name) {
            snprintf(err, errlen, "%s cannot exceed the configured limit of %lld", name, name == timeouts[k] ? tmax : mmax);
            return NULL;
        }
    }
    /* Piston's main file is its first utf8 one (files[0] as a rule); every file keeps its name.
     * A nameless main file is /v1's `code` (named as the image entry's `file`, main.c...: a
     * name the language's tools know, where Piston's file0.code relies on its own scripts). */
    json_t *files = json_array(), *code = NULL;
    const char *main_name = NULL;
    json_array_foreach(json_object_get(j->piston, "files"), i, a) {
        json_t *f = v1_file(a, i, err, errlen);
        if (!f) {
            json_decref(files);
            return NULL;
        }
        int is_main = !main_name && !code && !json_object_get(f, "encoding");
        if (is_main && !json_is_string(json_object_get(a, "name"))) {
            code = json_incref(json_object_get(f, "content"));
            json_decref(f);
            continue;
        }
        if (is_main) main_name = json_string_value(json_object_get(a, "name"));
        json_array_append_new(files, f);
    }
    const json_t *in = json_object_get(j->piston, "stdin");
    buf_t stdin_text = BUF_INIT;
    if (json_is_string(in)) {
        buf_append(&stdin_text, json_string_value(in), json_string_length(in));
        if (stdin_text.len && stdin_text.data[stdin_text.len - 1] != '\n') buf_append(&stdin_text, "\n", 1);
    }
    long long mem = number_or(json_object_get(j->piston, "run_memory_limit"), 0);
    long long cmem = number_or(json_object_get(j->piston, "compile_memory_limit"), 0);
    if (cmem > mem) mem = cmem;
    if (mem > 0 && mem < mmin) mem = mmin; /* Piston clients ask for little; the policy's floor applies */
    json_t *limits = json_pack("{s:I,s:I}", "timeout_ms",
                               (json_int_t)number_or(json_object_get(j->piston, "run_timeout"), PISTON_RUN_TIMEOUT_MS),
                               "compile_timeout_ms",
                               (json_int_t)number_or(json_object_get(j->piston, "compile_timeout"),
                                                     PISTON_COMPILE_TIMEOUT_MS));
    if (mem > 0) json_object_set_new(limits, "memory_mb", json_integer((json_int_t)((mem + (1 << 20) - 1) >> 20)));
    /* Piston's CPU time limits (ms), enforced by the launcher; -1 and 0 mean none. */
    long long cpu = number_or(json_object_get(j->piston, "run_cpu_time"), 0);
    long long ccpu = number_or(json_object_get(j->piston, "compile_cpu_time"), 0);
    if (cpu > 0) json_object_set_new(limits, "cpu_time_ms", json_integer((json_int_t)cpu));
    if (ccpu > 0) json_object_set_new(limits, "compile_cpu_time_ms", json_integer((json_int_t)ccpu));
    const json_t *args = json_object_get(j->piston, "args");
    json_t *program = json_pack("{s:s,s:o,s:s%,s:o,s:o,s:b}", "language", j->language, "files", files, "stdin",
                                stdin_text.data ? stdin_text.data : "", stdin_text.len, "args",
                                json_is_array(args) ? json_incref((json_t *)args) : json_array(), "limits", limits,
                                "combined_output", 1);
    if (program && code) json_object_set_new(program, "code", code);
    else if (program) json_object_set_new(program, "main", json_string(main_name));
    else json_decref(code);
    buf_free(&stdin_text);
    if (!program) snprintf(err, errlen, "out of memory");
    return program;
}

static void on_job_languages(int status, const char *body, size_t len, void *ud) {
    struct job *j = ud;
    j->sub = NULL;
    if (status != 200) {
        json_t *e = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
        const char *msg = v1_error_message(e);
        char text[300];
        snprintf(text, sizeof text, "%s", msg ? msg : "cannot list the runtimes");
        json_decref(e);
        j->err_status = status == 422 || status == 0 ? 400 : status;
        j->ready(j, NULL, text);
        return;
    }
    json_t *langs = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    const char *want = json_string_value(json_object_get(j->piston, "language"));
    const char *sel = json_string_value(json_object_get(j->piston, "version"));
    const json_t *found = find_runtime(langs, want, sel);
    char err[300];
    json_t *program = NULL;
    j->err_status = 400;
    if (!found) {
        snprintf(err, sizeof err, "%s-%s runtime is unknown", want, sel);
    } else {
        snprintf(j->language, sizeof j->language, "%s", json_string_value(json_object_get(found, "name")));
        snprintf(j->version, sizeof j->version, "%s", json_string_value(json_object_get(found, "version")));
        j->compiled = json_is_true(json_object_get(found, "compiled"));
        program = job_program(j, err, sizeof err);
    }
    json_decref(langs);
    j->ready(j, program, program ? NULL : err);
    json_decref(program);
}

void job_resolve(struct job *j) {
    dispatch_sub(j->creds, "GET", "/v1/languages", NULL, 0, on_job_languages, j, &j->sub);
}

void job_free(struct job *j) {
    json_decref(j->piston);
    free(j);
}

/* ---- execute ------------------------------------------------------------------------------- */

/* The client is gone (on_execute_abort answered it): the job only winds down. */
static int job_orphaned(struct job *x) {
    if (x->creds) {
        http_set_abort(x->creds, NULL, NULL);   /* answered next */
        return 0;
    }
    job_free(x);
    return 1;
}

static void on_run(int status, const char *body, size_t len, void *ud) {
    struct job *x = ud;
    x->sub = NULL;
    if (job_orphaned(x)) return;
    struct request *req = x->creds;
    json_t *r = reply_relayed_json(req, 200, status, body, len);
    if (!r) {
        job_free(x);
        return;
    }
    const char *st = json_string_value(json_object_get(r, "status"));
    json_int_t ms = json_integer_value(json_object_get(r, "time_ms"));
    json_int_t mem = json_integer_value(json_object_get(r, "memory_kb")) * 1024;
    json_t *resp = json_pack("{s:s,s:s}", "language", x->language, "version", x->version);
    const json_t *c = json_object_get(r, "compile");
    if (x->compiled && json_is_object(c)) {
        /* The compile step failed when it did not exit 0: compile_error, or the compile's
         * own timeout or memory limit (then the run never started). */
        const json_t *cc = json_object_get(c, "exit_code");
        int failed = !json_is_integer(cc) || json_integer_value(cc) != 0;
        int killed = failed && st && (strcmp(st, "timeout") == 0 || strcmp(st, "memory_limit") == 0);
        json_object_set_new(resp, "compile",
                            stage(stream_of(c, "stdout"), stream_of(c, "stderr"), NULL,
                                  json_incref((json_t *)cc), killed ? json_string("SIGKILL") : json_null(),
                                  !failed ? NULL : killed ? (*st == 't' ? "TO" : "SG") : "RE",
                                  !failed ? NULL : killed ? (*st == 't' ? "Timeout exceeded" : "Memory limit exceeded")
                                                          : "Compilation failed",
                                  json_integer_value(json_object_get(c, "cpu_ms")),
                                  json_integer_value(json_object_get(c, "time_ms")), 0));
        if (failed) goto done;
    }
    {
        const char *pst = NULL, *msg = NULL;
        json_t *sig = json_incref(json_object_get(r, "signal"));
        if (!st || strcmp(st, "ok") == 0) pst = NULL;
        else if (strcmp(st, "timeout") == 0) pst = "TO", msg = "Timeout exceeded";
        else if (strcmp(st, "output_limit") == 0)
        {
            int ol = json_string_length(json_object_get(r, "stdout")) >= json_string_length(json_object_get(r, "stderr"));
            pst = ol ? "OL" : "EL", msg = ol ? "stdout length exceeded" : "stderr length exceeded";
        }
        else if (strcmp(st, "memory_limit") == 0) pst = "SG", msg = "Memory limit exceeded";
        else if (json_is_string(sig)) pst = "SG", msg = "Killed by a signal";
        else pst = "RE", msg = "Non-zero exit code";
        if (pst && (strcmp(pst, "SG") == 0 || strcmp(pst, "TO") == 0) && !json_is_string(sig)) {
            json_decref(sig);
            sig = json_string("SIGKILL");
        }
        json_t *both = json_object_get(r, "output");
        json_object_set_new(resp, "run", stage(stream_of(r, "stdout"), stream_of(r, "stderr"),
                                               json_is_string(both) ? stream_of(r, "output") : NULL,
                                               json_incref(json_object_get(r, "exit_code")), sig, pst, msg,
                                               json_integer_value(json_object_get(r, "cpu_ms")), ms, mem));
    }
done:
    json_decref(r);
    reply_json(req, 200, resp);
    job_free(x);
}

static void on_execute_ready(struct job *x, json_t *program, const char *err) {
    if (!x->creds) {
        job_free(x);
        return;
    }
    if (!program) {
        http_set_abort(x->creds, NULL, NULL);
        reply_error(x->creds, x->err_status ? x->err_status : 400, "bad_request", "%s", err);
        job_free(x);
        return;
    }
    char *text = json_text(program);
    dispatch_sub(x->creds, "POST", "/v1/run", text, strlen(text), on_run, x, &x->sub);
    free(text);
}

/* The client went away: its run stops now, and the container goes back (Piston's
 * own behaviour; without this the run would hold its container and quota slot
 * to the end).  The request is answered here, for nobody; the run's own answer
 * then reaches on_run, which frees the job. */
static void on_execute_abort(struct request *req, void *ud) {
    struct job *x = ud;
    x->creds = NULL;
    reply_error(req, 500, "internal", "the client went away");
    if (x->sub) http_request_cancel(x->sub);
}

void piston_handle_execute(struct request *req) {
    piston_identity(req);
    if (piston_admit(req) < 0 || piston_relay_anonymous(req, 0) == 0) return;
    struct job *x = request_calloc(req, sizeof *x);
    if (!x) return;
    x->piston = json_loadb(req->body.data, req->body.len, 0, NULL);
    const char *why = job_invalid(x->piston);
    if (why) {
        reply_error(req, 400, "bad_request", "%s", why);
        job_free(x);
        return;
    }
    x->creds = req;
    x->ready = on_execute_ready;
    http_set_abort(req, on_execute_abort, x);
    job_resolve(x);
}
