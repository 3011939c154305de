/* notebook.c — cells of an `ipython` session: requests out, replies back, 409s and timeouts.
 *
 * The channel carries JSON lines (the driver's side is documented in notebook.py):
 *   to the driver:   {"id":n,"code":"...","epoch":e,"limit":bytes}
 *   from the driver: {"t":"idle"|"busy","epoch":e}   the REPL waits at its prompt / runs a statement
 *                    {"t":"conflict","id":n}         a REPL statement began after we sent cell n
 *                    {"t":"reply","id":n,...}        cell n's result ("ended": the interpreter exits)
 *
 * Who decides 409: we refuse at once while a cell is outstanding or the driver last said "busy";
 * the driver refuses a cell whose epoch is older than its own, which covers the race where a REPL
 * statement starts while the cell is on its way. The driver only reads the channel at its prompt,
 * so a cell can never run while the REPL is in the middle of something.
 *
 * Everything the driver sends comes from inside the sandbox, where user code can write to the
 * channel too: it is parsed defensively and can only change this session's own answers. */
#include "notebook.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "http/reply.h"

/* After the SIGINT of a timeout, how long the cell has to come back before we answer `timeout`
 * without it (a cell that ignores SIGINT then keeps the notebook busy until it ends). */
#define INTERRUPT_GRACE_MS 2000
/* The channel is bounded like stdout: a line from the driver may be this much above the cell's
 * output cap while a cell runs (the driver counts its reply's outputs as the JSON they take:
 * notebook.py's Capture), and at most this much otherwise (idle, busy, conflict); past it the
 * line is dropped up to its newline.  The partial line's memory goes with each line, so a
 * program writing to the channel without a newline holds at most that much, and only while
 * its cell runs. */
#define LINE_SLACK (64u * 1024)

struct notebook {
    buf_t line;              /* a partial line from the driver */
    int skipping;            /* the current line went past its cap: drop it up to its newline */
    size_t cell_cap;         /* a line's cap while a cell runs */
    uint64_t next_id;
    json_int_t epoch;        /* the driver's latest REPL statement number */
    int repl_busy;           /* the driver's last word was "busy" */

    uint64_t cell;           /* the cell the driver has and has not answered; 0: none */
    struct request *req;     /* its request, while not answered yet */
    double deadline_ms;      /* when to interrupt it */
    double grace_ms;         /* after the interrupt: when to answer without it */
    int interrupted;
    json_t *held;            /* a reply saying the interpreter ends, answered at its end */
};

struct notebook *notebook_new(void) {
    return calloc(1, sizeof(struct notebook));
}

static void on_abort(struct request *req, void *ud) {
    (void)req;
    struct notebook *nb = ud;
    nb->req = NULL;   /* the cell runs on; its reply goes nowhere */
}

/* Hand the request its answer and forget it. */
static void answer(struct notebook *nb, json_t *body) {
    struct request *req = nb->req;
    nb->req = NULL;
    if (!req) {
        json_decref(body);
        return;
    }
    http_set_abort(req, NULL, NULL);
    reply_json(req, 200, body);
}

static void answer_error(struct notebook *nb, int status, const char *code, const char *msg) {
    struct request *req = nb->req;
    nb->req = NULL;
    if (!req) return;
    http_set_abort(req, NULL, NULL);
    reply_error(req, status, code, "%s", msg);
}

void notebook_free(struct notebook *nb) {
    if (!nb) return;
    answer_error(nb, 503, "unavailable", "the session is gone");
    json_decref(nb->held);
    buf_free(&nb->line);
    free(nb);
}

int notebook_busy(const struct notebook *nb) { return nb->cell != 0; }

void notebook_execute(struct notebook *nb, struct sandbox *sb, struct request *req, const char *code,
                      size_t len, uint32_t timeout_ms, uint64_t output_limit) {
    if (nb->cell) {
        reply_error(req, 409, "conflict", "another cell is running");
        return;
    }
    if (nb->repl_busy) {
        reply_error(req, 409, "conflict", "the REPL is running a statement");
        return;
    }
    json_t *msg = json_pack("{s:I,s:s%,s:I,s:I}", "id", (json_int_t)++nb->next_id, "code", code, len, "epoch",
                            nb->epoch, "limit", (json_int_t)output_limit);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;   /* escapes newlines: one line */
    json_decref(msg);
    if (!text) {
        reply_error(req, 400, "bad_request", "code must be valid UTF-8");
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n';   /* over the NUL: sent with its length, not as a string */
    int rc = sandbox_channel(sb, text, n + 1);
    free(text);
    if (rc < 0) {
        reply_error(req, 409, "conflict", "the session cannot take a cell now");
        return;
    }
    nb->cell = nb->next_id;
    nb->req = req;
    nb->interrupted = 0;
    nb->deadline_ms = wall_clock_ms() + timeout_ms;
    uint64_t cap = output_limit + LINE_SLACK;
    nb->cell_cap = cap > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)cap;
    http_set_abort(req, on_abort, nb);
}

/* The reply's public fields, checked: the driver runs next to user code. */
static json_t *reply_body(const json_t *msg, const char *status_override) {
    const json_t *count = json_object_get(msg, "execution_count");
    const char *status = json_string_value(json_object_get(msg, "status"));
    json_t *outputs = json_object_get(msg, "outputs");
    if (!status || (strcmp(status, "ok") != 0 && strcmp(status, "error") != 0)) status = "error";
    outputs = json_is_array(outputs) ? json_incref(outputs) : json_array();
    return json_pack("{s:o,s:s,s:o,s:b}", "execution_count",
                     json_is_integer(count) ? json_integer(json_integer_value(count)) : json_null(), "status",
                     status_override ? status_override : status, "outputs", outputs, "truncated",
                     json_is_true(json_object_get(msg, "truncated")));
}

static void on_reply(struct notebook *nb, const json_t *msg) {
    json_t *body = reply_body(msg, nb->interrupted ? "timeout" : NULL);
    if (json_is_true(json_object_get(msg, "ended"))) {
        /* exit() or sys.exit(): answered once the session has ended, so that the client that
         * reads the session right after sees it ended. The cell stays outstanding till then. */
        json_decref(nb->held);
        nb->held = body;
        return;
    }
    nb->cell = 0;
    answer(nb, body);
}

static void on_message(struct notebook *nb, const json_t *msg) {
    const char *t = json_string_value(json_object_get(msg, "t"));
    const json_t *id = json_object_get(msg, "id");
    const json_t *epoch = json_object_get(msg, "epoch");
    if (!t) return;
    if (strcmp(t, "idle") == 0 || strcmp(t, "busy") == 0) {
        if (json_is_integer(epoch)) nb->epoch = json_integer_value(epoch);
        nb->repl_busy = t[0] == 'b';
        return;
    }
    if (!nb->cell || !json_is_integer(id) || (uint64_t)json_integer_value(id) != nb->cell) return;
    if (strcmp(t, "reply") == 0) {
        on_reply(nb, msg);
    } else if (strcmp(t, "conflict") == 0) {
        nb->cell = 0;
        answer_error(nb, 409, "conflict", "the REPL is running a statement");
    }
}

void notebook_channel(struct notebook *nb, const char *data, size_t len) {
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        size_t cap = nb->cell ? nb->cell_cap : LINE_SLACK;
        if (!nb->skipping && (nb->line.len + take > cap || buf_append(&nb->line, data, take) < 0)) {
            nb->skipping = 1;
            buf_free(&nb->line);
        }
        if (!nl) return;
        if (!nb->skipping) {
            json_t *msg = json_loadb(nb->line.data ? nb->line.data : "", nb->line.len, 0, NULL);
            if (json_is_object(msg)) on_message(nb, msg);
            json_decref(msg);
        }
        nb->skipping = 0;
        buf_free(&nb->line);
        data += take + 1;
        len -= take + 1;
    }
}

void notebook_tick(struct notebook *nb, struct sandbox *sb, double now_ms) {
    if (!nb->cell || nb->held) return;
    if (!nb->interrupted && now_ms >= nb->deadline_ms) {
        /* To the program's process group: the driver raises KeyboardInterrupt in the cell, and
         * a subprocess the cell waits for is interrupted as well. */
        nb->interrupted = 1;
        nb->grace_ms = now_ms + INTERRUPT_GRACE_MS;
        sandbox_signal(sb, SIGINT);
    } else if (nb->interrupted && nb->req && now_ms >= nb->grace_ms) {
        answer(nb, json_pack("{s:n,s:s,s:[],s:b}", "execution_count", "status", "timeout", "outputs",
                             "truncated", 0));
    }
}

void notebook_ended(struct notebook *nb, const char *why) {
    if (!nb->cell) return;
    json_t *body = nb->held ? nb->held
                            : json_pack("{s:n,s:s,s:[],s:b}", "execution_count", "status", "error", "outputs",
                                        "truncated", 0);
    nb->held = NULL;
    nb->cell = 0;
    buf_free(&nb->line);
    json_object_set_new(body, "status", json_string("error"));
    json_array_append_new(json_object_get(body, "outputs"),
                          json_pack("{s:s,s:s,s:s,s:[s]}", "type", "error", "ename", "SessionEnded", "evalue", why,
                                    "traceback", why));
    answer(nb, body);
}
