/* session_poll.c — a session's long-polls: output read at a cursor, waiting for more. */
#include <stdlib.h>

#include "http/reply.h"
#include "policy/app.h"
#include "session_int.h"

static json_t *output_body(struct session *s, uint64_t cursor) {
    uint64_t next, dropped;
    json_t *events = outrec_read(&s->rec, cursor, READ_CHUNK, app_config()->output_events_max, &next, &dropped);
    json_t *body = json_pack("{s:o,s:I,s:I,s:s}", "events", events, "cursor", (json_int_t)next, "dropped",
                             (json_int_t)dropped, "state", session_state_name(s->state));
    json_object_set_new(body, "exit_code", s->has_exit && !s->signo ? json_integer(s->exit_code) : json_null());
    json_object_set_new(body, "signal", session_signal_json(s->signo));
    return body;
}

void waiter_answer(struct waiter *w) {
    struct session *s = w->s;
    struct waiter **pp = &s->waiters;
    while (*pp && *pp != w) pp = &(*pp)->next;
    if (*pp) *pp = w->next;
    struct request *req = w->req;
    json_t *body = output_body(s, w->cursor);
    free(w);
    reply_json(req, 200, body);
}

static void on_waiter_abort(struct request *req, void *ud) {
    struct session *s = ud;
    for (struct waiter *w = s->waiters; w; w = w->next) {
        if (w->req == req) {
            waiter_answer(w);
            return;
        }
    }
}

void session_output(struct request *req, struct session *s, uint64_t cursor, long wait_ms) {
    if (cursor > outrec_end(&s->rec)) {
        reply_error(req, 400, "bad_request", "cursor %llu is beyond the end of the output (%llu)",
                    (unsigned long long)cursor, (unsigned long long)outrec_end(&s->rec));
        return;
    }
    if (wait_ms > app_config()->max_wait_ms) wait_ms = app_config()->max_wait_ms;
    if (wait_ms <= 0 || cursor < outrec_end(&s->rec) || session_ended(s) || app_shutting_down()) {
        reply_json(req, 200, output_body(s, cursor));
        return;
    }
    struct waiter *w = request_calloc(req, sizeof *w);
    if (!w) return;
    w->req = req;
    w->s = s;
    w->cursor = cursor;
    w->deadline_ms = now_ms() + (double)wait_ms;
    w->next = s->waiters;
    s->waiters = w;
    http_set_abort(req, on_waiter_abort, s);
}
