/* session_sandbox.c — a session's sandbox reports: its files, compile and program started, its output, its end. */
#include <stdint.h>
#include <stdlib.h>

#include "backend_int.h"
#include "base/buf.h"
#include "base/log.h"
#include "http/reply.h"
#include "notebook.h"
#include "session_int.h"

static void on_channel(struct sandbox *sb, void *ud, const char *data, size_t len) {
    (void)sb;
    struct session *s = ud;
    if (s->nb) notebook_channel(s->nb, data, len);
}

/* A frame to the launcher could not be sent (a bug: the program was bounded
 * when read).  A create still waiting is answered 500 and the session
 * forgotten; a running session ends `lost`.  Never left hanging. */
static void start_failed(struct session *s, const char *what) {
    log_msgf(LOG_ERROR, "session_start", "session %s: %s could not be sent to the sandbox", s->id, what);
    if (s->create_req) {
        struct request *req = s->create_req;
        s->create_req = NULL;
        reply_error(req, 500, "internal", "the program's %s could not be sent to its sandbox", what);
        session_end(s, SESSION_LOST);
        session_free(s);
        return;
    }
    session_end(s, SESSION_LOST);
}

static void start_program(struct session *s) {
    s->compiling = 0;
    json_t *argv = program_argv(&s->prog, json_object_get(s->prog.image, "run"));
    json_array_extend(argv, s->prog.args);
    json_t *env = backend_program_env(&s->prog);
    /* A notebook language's program is the driver: it gets the channel for execute. */
    if (json_is_true(json_object_get(s->prog.image, "notebook")) && !s->nb) s->nb = notebook_new();
    if (s->nb) sandbox_set_channel_callback(s->sb, on_channel);
    struct sandbox_exec ex = {
        .argv = argv, .env = env,
        .opts = {.tty = s->prog.tty, .cols = (uint16_t)s->prog.cols, .rows = (uint16_t)s->prog.rows,
                 .timeout_ms = (uint32_t)s->prog.limits.timeout_ms,
                 .output_limit = (uint64_t)s->prog.limits.output_bytes, .notebook = s->nb != NULL},
    };
    int rc = sandbox_exec(s->sb, &ex);
    json_decref(argv);
    json_decref(env);
    if (rc < 0) {
        start_failed(s, "command");
        return;
    }
    if (s->prog.stdin_data && sandbox_input(s->sb, s->prog.stdin_data, s->prog.stdin_len) < 0) {
        start_failed(s, "input");
        return;
    }
    s->state = SESSION_RUNNING;
    session_answer_create(s);
}

static void on_ready(struct sandbox *sb, void *ud) {
    struct session *s = ud;
    if (sandbox_send_files(sb, s->prog.files) < 0) {
        start_failed(s, "files");
        return;
    }
    /* The files are in the container now: drop our copy. */
    json_array_clear(s->prog.files);
    const json_t *compile = json_object_get(s->prog.image, "compile");
    if (!json_is_array(compile)) {
        start_program(s);
        return;
    }
    s->compiling = 1;
    json_t *env = backend_program_env(&s->prog), *argv = program_argv(&s->prog, compile);
    const struct program_limits *l = &s->prog.limits;
    struct sandbox_exec ex = {
        .argv = argv, .env = env,
        .opts = {.stdin_closed = 1, .output_limit = (uint64_t)l->output_bytes,
                 .timeout_ms = (uint32_t)(l->compile_timeout_ms ? l->compile_timeout_ms
                                          : l->timeout_ms       ? l->timeout_ms
                                                                : 60000)},
    };
    int rc = sandbox_exec(sb, &ex);
    json_decref(argv);
    json_decref(env);
    if (rc < 0) start_failed(s, "compile command");
}

static void on_data(struct sandbox *sb, void *ud, int stream, const char *data, size_t len) {
    (void)sb;
    struct session *s = ud;
    /* The compiler's output goes into the record as stderr (api.md). */
    if (outrec_append(&s->rec, s->compiling ? OUT_STDERR : stream, data, len)) session_wake_readers(s);
}

static void on_exit_frame(struct sandbox *sb, void *ud, const struct launcher_exit *ex) {
    (void)sb;
    struct session *s = ud;
    /* Every process of the program is gone now: unless one hit the memory
     * limit, the container can serve another program after the pool's reset. */
    s->reusable = ex->oom_kills == 0 && ex->seq != 0;
    if (s->killing) {
        /* A DELETE's SIGKILL. */
        session_end(s, SESSION_KILLED);
        return;
    }
    if (s->compiling) {
        if (ex->reason == EXIT_REASON_NORMAL && ex->signo == 0 && ex->exit_code == 0) {
            s->compile = json_pack("{s:i,s:s,s:s}", "exit_code", 0, "stdout", "", "stderr", "");
            s->reusable = 0;   /* the program runs now */
            start_program(s);
            return;
        }
        s->compile = json_pack("{s:o,s:s,s:s}", "exit_code", ex->signo ? json_null() : json_integer(ex->exit_code),
                               "stdout", "", "stderr", "");
        /* The compiler's text is in the record: copy it into the report too. */
        uint64_t next, dropped;
        json_t *events = outrec_read(&s->rec, 0, READ_CHUNK, SIZE_MAX, &next, &dropped);
        buf_t text = BUF_INIT;
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e) buf_append_str(&text, json_string_value(json_object_get(e, "data")));
        json_object_set_new(s->compile, "stderr", json_stringn(text.data ? text.data : "", text.len));
        buf_free(&text);
        json_decref(events);
    }
    s->has_exit = 1;
    s->exit_code = ex->exit_code;
    s->signo = ex->signo;
    enum session_state st = ex->reason == EXIT_REASON_TIMEOUT        ? SESSION_TIMEOUT
                          : ex->reason == EXIT_REASON_OUTPUT_LIMIT ? SESSION_OUTPUT_LIMIT
                          : ex->oom_kills > 0 ? SESSION_MEMORY_LIMIT
                                              : SESSION_EXITED;
    session_end(s, st);
}

static void on_lost(struct sandbox *sb, void *ud, enum sandbox_lost_reason why, const char *text) {
    (void)sb;
    struct session *s = ud;
    s->sb = NULL; /* a lost sandbox frees itself */
    log_msgf(LOG_WARN, "session_lost", "session %s: %s", s->id, text);
    if (s->create_req && why != SANDBOX_LOST_OOM) {
        /* Never started: the create fails, and the session is forgotten. */
        struct request *req = s->create_req;
        s->create_req = NULL;
        backend_reply_lost(req, &s->prog, text, why == SANDBOX_LOST_NO_IMAGE);
        session_end(s, SESSION_LOST);
        session_free(s);
        return;
    }
    session_end(s, s->killing ? SESSION_KILLED : why == SANDBOX_LOST_OOM ? SESSION_MEMORY_LIMIT : SESSION_LOST);
}

const struct sandbox_callbacks session_callbacks = {on_ready, on_data, on_exit_frame, session_file_reply, on_lost};
