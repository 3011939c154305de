/* session_reaper.c — the reaper: one timer for every session's idle, lifetime, retention,
 * kill and long-poll deadlines, at REAPER_MS granularity. */
#include <stdio.h>

#include "base/log.h"
#include "base/metrics.h"
#include "notebook.h"
#include "policy/app.h"
#include "session_int.h"

#define REAPER_MS 50

static uv_timer_t reaper;
static int reaper_running;

static void on_reap(uv_timer_t *t) {
    (void)t;
    double now = now_ms();
    struct session *s = sessions;
    while (s) {
        struct session *next = s->next;
        if (s->clients) s->last_active_ms = now; /* an open WebSocket is activity */
        if (s->nb && !session_ended(s)) {
            notebook_tick(s->nb, s->sb, now);
            if (notebook_busy(s->nb)) s->last_active_ms = now; /* so is a running cell */
        }
        struct waiter *w = s->waiters;
        while (w) {
            struct waiter *wn = w->next;
            if (w->deadline_ms <= now) waiter_answer(w);
            w = wn;
        }
        if (s->killing && !session_ended(s) && now >= s->kill_deadline_ms) {
            log_msgf(LOG_WARN, "session_kill", "session %s: no end reported %d ms after SIGKILL", s->id, KILL_WAIT_MS);
            session_end(s, SESSION_KILLED);
        }
        if (!s->create_req && now >= session_expires_ms(s)) {
            if (session_ended(s)) session_free(s);
            else session_end(s, SESSION_KILLED);
        }
        s = next;
    }
}

void session_reaper_start(void) {
    uv_timer_init(app_loop(), &reaper);
    uv_timer_start(&reaper, on_reap, REAPER_MS, REAPER_MS);
    reaper_running = 1;
    metrics_declare(METRIC_COUNTER, "cloudcode_sessions_created_total", "");
    for (int st = SESSION_EXITED; st <= SESSION_LOST; st++) {
        char labels[64];
        snprintf(labels, sizeof labels, "state=\"%s\"", session_state_name(st));
        metrics_declare(METRIC_COUNTER, "cloudcode_sessions_ended_total", labels);
    }
}

void session_reaper_stop(void) {
    if (!reaper_running) return;
    reaper_running = 0;
    uv_close((uv_handle_t *)&reaper, NULL);
}
