/* session_ws.c — a session's WebSocket protocol: output pushed as it comes, input, signals, resize. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "http/reply.h"
#include "http/ws.h"
#include "policy/app.h"
#include "session_int.h"

static void ws_send_json(struct ws *ws, json_t *msg) {
    char *text = json_text(msg);
    json_decref(msg);
    if (text) ws_send_text(ws, text, strlen(text));
    free(text);
}

/* Output goes to a WebSocket in messages of at most this many raw bytes, and
 * only while the peer keeps up (ws_backed_up): a slow or absent reader falls
 * behind on the record instead of growing our memory. */
#define WS_PIECE (64 * 1024)

struct ws_emit {
    struct wsclient *c;
    int stopped;      /* the peer is behind: the rest waits for on_drain */
};

static void ws_emit_one(void *ud, int stream, const char *data, size_t len, uint64_t end) {
    struct ws_emit *e = ud;
    uint64_t start = end - len;
    while (len && !e->stopped) {
        if (ws_backed_up(e->c->ws)) {
            e->stopped = 1;
            return;
        }
        size_t n = len;
        if (n > WS_PIECE) n = WS_PIECE - utf8_incomplete_tail(data, WS_PIECE); /* never split a character */
        buf_t fixed = BUF_INIT;
        utf8_append_repaired(&fixed, data, n);
        start += n;
        ws_send_json(e->c->ws, json_pack("{s:s,s:s%,s:I}", "type", stream == OUT_STDERR ? "stderr" : "stdout",
                                         "data", fixed.data ? fixed.data : "", fixed.len, "cursor",
                                         (json_int_t)start));
        buf_free(&fixed);
        e->c->cursor = start;
        data += n;
        len -= n;
    }
}

void wsclient_remove(struct wsclient *c) {
    struct wsclient **pp = &c->s->clients;
    while (*pp && *pp != c) pp = &(*pp)->next;
    if (*pp) *pp = c->next;
    free(c);
}

/* Send a WebSocket client what it has not seen; after the end, the exit. */
void wsclient_flush(struct wsclient *c) {
    struct session *s = c->s;
    struct ws_emit e = {c, 0};
    outrec_each(&s->rec, c->cursor, ws_emit_one, &e);
    if (session_ended(s) && !e.stopped) {
        json_t *msg = json_pack("{s:s,s:s}", "type", "exit", "state", session_state_name(s->state));
        json_object_set_new(msg, "exit_code", s->has_exit && !s->signo ? json_integer(s->exit_code) : json_null());
        json_object_set_new(msg, "signal", session_signal_json(s->signo));
        ws_send_json(c->ws, msg);
        ws_close(c->ws, 1000, "session ended");
        wsclient_remove(c);
    }
}

static const struct {
    const char *name;
    int signo;
} signals[] = {{"INT", SIGINT}, {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"HUP", SIGHUP},
               {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};

int session_signal_number(const char *name) {
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (strcmp(signals[i].name, name) == 0) return signals[i].signo;
    return 0;
}

static void ws_error(struct ws *ws, const char *code, const char *msg) {
    ws_send_json(ws, json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "code", code, "message", msg));
}

static void on_ws_text(struct ws *ws, void *ud, const char *data, size_t len) {
    struct wsclient *c = ud;
    struct session *s = c->s;
    session_touch(s);
    json_t *msg = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type) {
        ws_error(ws, "bad_request", "a message is a JSON object with a \"type\"");
    } else if (session_ended(s)) {
        ws_error(ws, "conflict", "the session has ended");
    } else if (strcmp(type, "input") == 0) {
        const json_t *d = json_object_get(msg, "data");
        if (!json_is_string(d)) ws_error(ws, "bad_request", "input needs a string \"data\"");
        else if (s->eof_requested && !s->prog.tty) ws_error(ws, "conflict", "input after eof");
        else if (sandbox_input_backlog(s->sb) + json_string_length(d) > app_config()->stdin_backlog_bytes)
            ws_error(ws, "conflict", "the stdin backlog is full");
        else sandbox_input(s->sb, json_string_value(d), json_string_length(d));
    } else if (strcmp(type, "eof") == 0) {
        if (!s->prog.tty) s->eof_requested = 1;
        sandbox_eof(s->sb);
    } else if (strcmp(type, "signal") == 0) {
        const char *name = json_string_value(json_object_get(msg, "signal"));
        int signo = name ? session_signal_number(name) : 0;
        if (!signo) ws_error(ws, "bad_request", "signal must be one of INT TERM KILL HUP QUIT USR1 USR2");
        else if (s->state == SESSION_RUNNING) sandbox_signal(s->sb, signo);
    } else if (strcmp(type, "resize") == 0) {
        const json_t *cols = json_object_get(msg, "cols"), *rows = json_object_get(msg, "rows");
        if (!s->prog.tty) ws_error(ws, "conflict", "resize needs a tty session");
        else if (!json_is_integer(cols) || !json_is_integer(rows) || json_integer_value(cols) < 1 ||
                 json_integer_value(rows) < 1 || json_integer_value(cols) > 1000 || json_integer_value(rows) > 1000)
            ws_error(ws, "bad_request", "resize needs integer cols and rows from 1 to 1000");
        else if (s->state == SESSION_RUNNING)
            sandbox_resize(s->sb, (uint16_t)json_integer_value(cols), (uint16_t)json_integer_value(rows));
    } else {
        ws_error(ws, "bad_request", "unknown message type");
    }
    json_decref(msg);
}

static void on_ws_close(struct ws *ws, void *ud) {
    (void)ws;
    wsclient_remove(ud);
}

static void on_ws_drain(struct ws *ws, void *ud) {
    (void)ws;
    wsclient_flush(ud);
}

static const struct ws_callbacks ws_cbs = {on_ws_text, on_ws_close, on_ws_drain};

void session_websocket(struct request *req, struct session *s, uint64_t cursor) {
    if (cursor > outrec_end(&s->rec)) {
        reply_error(req, 400, "bad_request", "cursor is beyond the end of the output");
        return;
    }
    int open = 0;
    for (struct wsclient *o = s->clients; o; o = o->next) open++;
    if (open >= app_config()->max_ws_per_session) {
        reply_error(req, 429, "rate_limited", "the session has %d WebSockets open, the most the policy allows "
                    "(max_ws_per_session)", open);
        return;
    }
    struct wsclient *c = request_calloc(req, sizeof *c);
    if (!c) return;
    c->s = s;
    c->cursor = cursor;
    c->ws = ws_accept(req, &ws_cbs, c);
    if (!c->ws) {
        free(c);
        return;
    }
    c->next = s->clients;
    s->clients = c;
    ws_start(c->ws);
    wsclient_flush(c);
}
