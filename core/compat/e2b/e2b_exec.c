/* e2b_exec.c — process.Process/Start: a command beside the session's program;
 * and the filesystem RPC's changes (MakeDir, Remove, Move), run the same way.
 *
 * The session's container runs one program under the launcher (for the
 * code-interpreter template: the IPython kernel, busy or not).  A command runs
 * as a second process through the engine's exec API rather than through the
 * launcher: POST /containers/{id}/exec, then /exec/{id}/start hijacked like
 * attach (httpc), Docker's 8-byte stream headers cut off, each piece sent on
 * as a Connect `data` envelope, and /exec/{id}/json read for the exit code.
 * It runs as the session's uid, in its container (cgroup, pids, seccomp,
 * no network), under `timeout -s KILL` for the call's deadline; it is not
 * under the launcher's per-run limits.  docs/compat.md says why. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_int.h"
#include "backend/session.h"
#include "clients/docker_demux.h"
#include "clients/httpc.h"
#include "e2b.h"
#include "http/reply.h"
#include "policy/app.h"

/* The SDK's own default deadline, and the most a command may take. */
#define EXEC_DEFAULT_S 60
#define EXEC_MAX_S 3600
/* Output relayed per command at most; past it the call ends with an error. */
#define EXEC_MAX_OUTPUT (16u << 20)
/* Commands running at once in this process, and for one key. */
#define EXEC_MAX_RUNNING 64
#define EXEC_MAX_PER_KEY 16
/* Output kept of a command whose answer is unary (its error text). */
#define EXEC_MAX_KEPT 4096

struct proc {
    struct request *req;        /* NULL once the client went away */
    e2b_exec_answer_fn answer;  /* a unary answer (else a Connect stream of the output) */
    void *answer_ud;
    buf_t kept;                 /* the output, for `answer` */
    struct httpc *hc;           /* the hijacked start stream, until on_close */
    struct docker_call *call;   /* create or inspect in flight */
    char exec_id[96];
    struct docker_demux mux;    /* Docker's multiplexed stream: stdout and stderr */
    size_t relayed;
    int failed;
    char owner[65];             /* the session's key (SHA-256) */
    char session[64];           /* its sandbox */
    uint32_t pid;               /* ours, as E2B's API shows it (0 for a unary step) */
    struct proc *prev, *next;
};

static struct proc *procs;
static int running;
static int stopping;

static int running_for(const char *owner) {
    int n = 0;
    for (struct proc *p = procs; p; p = p->next) n += strcmp(p->owner, owner) == 0;
    return n;
}
static uint32_t next_pid = 1000;

static void proc_free(struct proc *p) {
    if (p->hc || p->call) return; /* freed when the last of them is done */
    running--;
    if (p->prev) p->prev->next = p->next;
    else procs = p->next;
    if (p->next) p->next->prev = p->prev;
    buf_free(&p->kept);
    free(p);
}

/* The last envelopes: `end` (when the exit is known) and the end of the stream. */
static void finish(struct proc *p, const json_t *exit_code, const char *error) {
    struct request *req = p->req;
    if (!req) return;
    p->req = NULL;
    req->on_abort = NULL;
    if (p->answer) {
        buf_append(&p->kept, "", 1);
        p->answer(req, exit_code ? (int)json_integer_value(exit_code) : -1, error ? error : p->kept.data, p->answer_ud);
        return;
    }
    if (exit_code) {
        char status[48];
        snprintf(status, sizeof status, "exit status %lld", (long long)json_integer_value(exit_code));
        json_t *end = json_pack("{s:{s:{s:O,s:b,s:s}}}", "event", "end", "exitCode", exit_code, "exited", 1, "status",
                                status);
        e2b_connect_envelope(req, 0, end);
        json_decref(end);
    }
    json_t *trailer = error ? json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message", error)
                            : json_object();
    e2b_connect_envelope(req, 2, trailer);
    json_decref(trailer);
    http_stream_end(req);
}

/* The client went away: its request is still ours to finish (nobody reads the
 * answer), the command runs on to its deadline. */
static void on_abort(struct request *req, void *ud) {
    struct proc *p = ud;
    finish(p, NULL, "the client went away");
    (void)req;
    if (p->call) {
        docker_call_cancel(p->call);
        p->call = NULL;
    }
    if (p->hc) httpc_close(p->hc); /* on_close frees */
    else proc_free(p);
}

static void relay(struct proc *p, int stream, const char *data, size_t len) {
    if (!p->req || p->failed) return;
    if (p->answer) {
        size_t room = EXEC_MAX_KEPT - p->kept.len;
        buf_append(&p->kept, data, len < room ? len : room);
        return;
    }
    if (p->relayed + len > EXEC_MAX_OUTPUT) {
        p->failed = 1;
        finish(p, NULL, "the command's output passed its limit");
        httpc_close(p->hc);
        return;
    }
    p->relayed += len;
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (!b64) return;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)data, (int)len);
    json_t *msg = json_pack("{s:{s:{s:s}}}", "event", "data", stream == 2 ? "stderr" : "stdout", b64);
    free(b64);
    e2b_connect_envelope(p->req, 0, msg);
    json_decref(msg);
}

static int relay_piece(void *ud, int stream, const char *data, size_t len) {
    struct proc *p = ud;
    relay(p, stream, data, len);
    return p->failed ? -1 : 0;
}

static void on_data(struct httpc *c, void *ud, const char *data, size_t len) {
    (void)c;
    struct proc *p = ud;
    if (!p->failed) docker_demux_feed(&p->mux, data, len, relay_piece, p);
}

static void on_response(struct httpc *c, void *ud, int status, const struct httpc_header *h, size_t n) {
    (void)h;
    (void)n;
    struct proc *p = ud;
    if (status != 101 && status != 200 && !p->failed) {
        p->failed = 1;
        finish(p, NULL, "the engine refused to start the command");
        httpc_close(c);
    }
}

static void on_inspected(void *ud, long status, json_t *body, const char *error) {
    struct proc *p = ud;
    p->call = NULL;
    const json_t *code = json_object_get(body, "ExitCode");
    if (status == 200 && json_is_integer(code) && !json_is_true(json_object_get(body, "Running"))) finish(p, code, NULL);
    else finish(p, NULL, error ? error : "the command's end is unknown");
    proc_free(p);
}

/* The stream ended (the command closed its output, or the connection broke). */
static void on_close(struct httpc *c, void *ud) {
    (void)c;
    struct proc *p = ud;
    p->hc = NULL;
    if (p->req && !p->failed) {
        char path[160];
        snprintf(path, sizeof path, "/exec/%s/json", p->exec_id);
        p->call = docker_call(backend_docker(), "GET", path, NULL, 0, on_inspected, p);
        if (!p->call) finish(p, NULL, "cannot ask the engine how the command ended");
    }
    proc_free(p);
}

static const struct httpc_callbacks exec_callbacks = {
    .on_response = on_response, .on_data = on_data, .on_close = on_close,
};

static void on_created(void *ud, long status, json_t *body, const char *error) {
    struct proc *p = ud;
    p->call = NULL;
    const char *id = json_string_value(json_object_get(body, "Id"));
    if (status != 201 || !id || strlen(id) >= sizeof p->exec_id) {
        const char *why = error ? error : json_string_value(json_object_get(body, "message"));
        reply_json(p->req, 503, json_pack("{s:s,s:s}", "code", "unavailable", "message", why ? why : "exec refused"));
        p->req = NULL;
        proc_free(p);
        return;
    }
    snprintf(p->exec_id, sizeof p->exec_id, "%s", id);
    if (!p->answer) {
        http_stream_start(p->req, 200, "application/connect+json");
        json_t *start = json_pack("{s:{s:{s:i}}}", "event", "start", "pid", (int)p->pid);
        e2b_connect_envelope(p->req, 0, start);
        json_decref(start);
    }
    p->hc = httpc_connect(app_loop(), docker_hostaddr(backend_docker()), 0, &exec_callbacks, p);
    char target[160];
    snprintf(target, sizeof target, DOCKER_API_PREFIX "/exec/%s/start", p->exec_id);
    static const char body_start[] = "{\"Detach\":false,\"Tty\":false}";
    if (!p->hc || httpc_request(p->hc, "POST", target,
                                "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n",
                                body_start, sizeof body_start - 1) < 0) {
        p->failed = 1;
        finish(p, NULL, "cannot reach the engine");
        if (p->hc) httpc_close(p->hc);
        else proc_free(p);
    }
}

/* The deadline the client gave (Connect-Timeout-Ms), in whole seconds. */
static long deadline_s(const struct request *req) {
    const char *ms = http_header(req, "connect-timeout-ms");
    long s = ms ? (atol(ms) + 999) / 1000 : EXEC_DEFAULT_S;
    return s <= 0 ? EXEC_DEFAULT_S : s > EXEC_MAX_S ? EXEC_MAX_S : s;
}

/* A command with a pid leaves the pid of its process group (`timeout` leads
 * one) where SendSignal finds it. */
#define PGID_FILE "/tmp/.e2b-command-"

/* The exec's settings: `cmd` (stolen) under the deadline, as the session's
 * uid, with its program's environment plus `envs`. */
static json_t *exec_config(const struct request *req, struct session *s, json_t *cmd, const json_t *envs,
                           const char *dir, uint32_t pid) {
    char secs[24], user[48], pidtext[16];
    snprintf(secs, sizeof secs, "%ld", deadline_s(req));
    snprintf(user, sizeof user, "%u:%u", session_uid(s), session_uid(s));
    snprintf(pidtext, sizeof pidtext, "%u", pid);
    json_t *argv = pid ? json_pack("[s,s,s,s,s,s,s,s]", "sh", "-c", "echo $$ > " PGID_FILE "$0; exec \"$@\"", pidtext,
                                   "timeout", "-s", "KILL", secs)
                       : json_pack("[s,s,s,s]", "timeout", "-s", "KILL", secs);
    json_array_extend(argv, cmd);
    json_decref(cmd);
    json_t *env = backend_program_env(session_program(s));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)envs, k, v) {
        char *kv = NULL;
        if (json_is_string(v) && asprintf(&kv, "%s=%s", k, json_string_value(v)) > 0)
            json_array_append_new(env, json_string(kv));
        free(kv);
    }
    return json_pack("{s:b,s:b,s:b,s:o,s:o,s:s,s:s}", "AttachStdin", 0, "AttachStdout", 1, "AttachStderr", 1, "Cmd",
                     argv, "Env", env, "User", user, "WorkingDir", dir);
}

/* StartRequest.process's command line, or NULL. */
static json_t *process_cmd(const json_t *process) {
    const json_t *cmd = json_object_get(process, "cmd"), *args = json_object_get(process, "args");
    if (!json_is_string(cmd) || (args && !json_is_array(args))) return NULL;
    json_t *argv = json_pack("[O]", cmd);
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
        if (!json_is_string(a)) {
            json_decref(argv);
            return NULL;
        }
        json_array_append(argv, a);
    }
    return argv;
}

static void exec_start(struct request *req, struct session *s, json_t *config, uint32_t pid,
                       e2b_exec_answer_fn answer, void *answer_ud) {
    const char *container = session_container(s);
    int room = !stopping && running < EXEC_MAX_RUNNING && running_for(session_owner(s)) < EXEC_MAX_PER_KEY;
    struct proc *p = config && container[0] && room ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        const char *why = !config ? "process needs cmd (a string) and args (strings)"
                        : !container[0] ? "the sandbox has no container yet"
                        : !room ? "too many commands are running" : "out of memory";
        reply_json(req, config ? 503 : 400,
                   json_pack("{s:s,s:s}", "code", config ? "unavailable" : "invalid_argument", "message", why));
        json_decref(config);
        return;
    }
    running++;
    snprintf(p->owner, sizeof p->owner, "%s", session_owner(s));
    snprintf(p->session, sizeof p->session, "%s", session_id(s));
    p->pid = pid;
    p->next = procs;
    if (procs) procs->prev = p;
    procs = p;
    p->req = req;
    p->answer = answer;
    p->answer_ud = answer_ud;
    char path[160];
    snprintf(path, sizeof path, "/containers/%s/exec", container);
    p->call = docker_call(backend_docker(), "POST", path, config, 0, on_created, p);
    json_decref(config);
    if (!p->call) {
        reply_json(req, 503, json_pack("{s:s,s:s}", "code", "unavailable", "message", "cannot reach the engine"));
        p->req = NULL;
        proc_free(p);
        return;
    }
    http_set_abort(req, on_abort, p);
}

void e2b_process_start(struct request *req, struct session *s, const json_t *start) {
    const json_t *process = json_object_get(start, "process");
    const char *cwd = json_string_value(json_object_get(process, "cwd"));
    /* E2B's home is our working directory. */
    char dir[1100];
    size_t hl = strlen(E2B_HOME);
    if (!cwd || !*cwd) cwd = E2B_HOME;
    if (strncmp(cwd, E2B_HOME, hl) == 0 && (cwd[hl] == '/' || cwd[hl] == '\0'))
        snprintf(dir, sizeof dir, "/work%s", cwd + hl);
    else
        snprintf(dir, sizeof dir, "%s", cwd);
    json_t *cmd = json_is_object(process) ? process_cmd(process) : NULL;
    uint32_t pid = next_pid++;
    exec_start(req, s, cmd ? exec_config(req, s, cmd, json_object_get(process, "envs"), dir, pid) : NULL, pid, NULL,
               NULL);
}

void e2b_exec_stop_all(void) {
    stopping = 1;
    struct proc *next;
    for (struct proc *p = procs; p; p = next) {
        next = p->next;
        finish(p, NULL, "the server is shutting down");
        if (p->call) docker_call_cancel(p->call);
        p->call = NULL;
        if (p->hc) httpc_close(p->hc); /* on_close frees */
        else proc_free(p);
    }
}

void e2b_exec_answer(struct request *req, struct session *s, json_t *argv, e2b_exec_answer_fn answer, void *ud) {
    exec_start(req, s, exec_config(req, s, argv, NULL, "/work", 0), 0, answer, ud);
}

static void on_signalled(struct request *req, int exit_code, const char *out, void *ud) {
    (void)ud;
    if (exit_code == 0) reply_json(req, 200, json_object());
    else e2b_rpc_error(req, exit_code == 1 ? "not_found" : "internal", exit_code == 1 ? "the command has ended" : out);
}

void e2b_process_signal(struct request *req, struct session *s, uint32_t pid, int signo) {
    struct proc *p = procs;
    while (p && !(p->pid == pid && pid && strcmp(p->session, session_id(s)) == 0)) p = p->next;
    if (!p) {
        e2b_rpc_error(req, "not_found", "no such command");
        return;
    }
    char pidtext[16], sig[16];
    snprintf(pidtext, sizeof pidtext, "%u", pid);
    snprintf(sig, sizeof sig, "%d", signo);
    /* The whole process group: the command and what it started.  The command is ours and running,
     * but its first step may not have written its pid yet, nor `timeout` made its group: wait for
     * the file (2 s at most), then signal the group, else the process alone. */
    json_t *argv = json_pack("[s,s,s,s,s]", "sh", "-c",
                             "f=" PGID_FILE "$0; i=0; while [ ! -s $f ]; do i=$((i+1)); [ $i -le 100 ] || exit 1; "
                             "sleep 0.02; done; p=$(cat $f); kill -$1 -$p 2>/dev/null || kill -$1 $p 2>/dev/null || exit 1",
                             pidtext, sig);
    e2b_exec_answer(req, s, argv, on_signalled, NULL);
}
