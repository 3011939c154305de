/* curlm.c — libcurl's multi interface on the uv loop (see curlm.h).
 *
 * libcurl refuses re-entrant calls (add or remove a handle from inside one of
 * its callbacks), and a user callback may run inside one (docker.c parses an
 * event line inside the write callback and may cancel or start calls there).
 * So while we are inside libcurl (`in_curl`), starting, cancelling and
 * closing only mark the transfer or the multi; the marks are acted on in
 * after_curl(), once libcurl has returned. */
#include "curlm.h"

#include <stdlib.h>

struct curlm_sock {
    uv_poll_t poll;
    struct curlm *m;
    curl_socket_t fd;
    struct curlm_sock *prev, *next;
};

struct curlm {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct curlm_xfer *xfers;
    struct curlm_sock *socks;
    int in_curl;
    int closing;
    int torn_down;
    int handles_open;
    void (*on_closed)(void *ud);
    void *closed_ud;
};

static int curl_global_ready;

/* ---- transfers ------------------------------------------------------------------- */

static void xfer_unlink(struct curlm_xfer *x) {
    struct curlm *m = x->m;
    if (x->prev) x->prev->next = x->next;
    else if (m->xfers == x) m->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void xfer_free(struct curlm_xfer *x) {
    if (x->easy) {
        if (x->added && x->m->multi) curl_multi_remove_handle(x->m->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    x->added = 0;
    if (x->release) x->release(x);
}

static void teardown(struct curlm *m);

/* Out of the multi, then the user's callback (unless cancelled), then free. */
static void xfer_finish(struct curlm_xfer *x, CURLcode result) {
    struct curlm *m = x->m;
    if (x->added) curl_multi_remove_handle(m->multi, x->easy);
    x->added = 0;
    xfer_unlink(x);
    x->finishing = 1;
    if (!x->cancelled && x->done) x->done(x, result);
    xfer_free(x);
}

/* Act on what was marked while libcurl was running: deferred adds, cancels, close. */
static void after_curl(struct curlm *m) {
    if (m->in_curl || m->torn_down) return;
    if (m->closing) {
        teardown(m);
        return;
    }
    struct curlm_xfer *x = m->xfers, *next;
    for (; x; x = next) {
        next = x->next;
        if (x->cancelled) {
            xfer_unlink(x);
            xfer_free(x);
        } else if (!x->added) {
            if (curl_multi_add_handle(m->multi, x->easy) == CURLM_OK) {
                x->added = 1;
            } else {
                /* Report it like any transport failure; we are outside libcurl here. */
                xfer_finish(x, CURLE_FAILED_INIT);
                if (m->closing) {
                    teardown(m);
                    return;
                }
                next = m->xfers; /* the callback may have changed the list */
            }
        }
    }
}

static void check_multi_info(struct curlm *m) {
    CURLMsg *msg;
    int left;
    while (!m->closing && m->multi && (msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURLcode result = msg->data.result;
        struct curlm_xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        xfer_finish(x, result);
    }
    if (m->closing) after_curl(m);
}

static void socket_action(struct curlm *m, curl_socket_t fd, int flags) {
    if (!m->multi || m->closing) return;
    int running;
    m->in_curl++;
    curl_multi_socket_action(m->multi, fd, flags, &running);
    m->in_curl--;
    after_curl(m);
    check_multi_info(m);
}

/* ---- libcurl's socket and timer callbacks ---------------------------------------- */

static void maybe_finalize(struct curlm *m) {
    if (!m->torn_down || m->handles_open) return;
    void (*cb)(void *) = m->on_closed;
    void *ud = m->closed_ud;
    free(m);
    if (cb) cb(ud);
}

static void sock_closed(uv_handle_t *h) {
    struct curlm_sock *s = h->data;
    struct curlm *m = s->m;
    free(s);
    m->handles_open--;
    maybe_finalize(m);
}

static void sock_release(struct curlm_sock *s) {
    struct curlm *m = s->m;
    if (s->prev) s->prev->next = s->next;
    else m->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void poll_cb(uv_poll_t *h, int status, int events) {
    struct curlm_sock *s = h->data;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    socket_action(s->m, s->fd, flags);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    struct curlm *m = userp;
    struct curlm_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(m->multi, fd, NULL);
            sock_release(s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return -1;
        if (uv_poll_init_socket(m->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->m = m;
        s->fd = fd;
        s->poll.data = s;
        s->next = m->socks;
        if (m->socks) m->socks->prev = s;
        m->socks = s;
        m->handles_open++;
        curl_multi_assign(m->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, poll_cb);
    return 0;
}

static void timer_fired(uv_timer_t *t) { socket_action(t->data, CURL_SOCKET_TIMEOUT, 0); }

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    struct curlm *m = userp;
    if (m->closing) return 0;
    if (timeout_ms < 0) uv_timer_stop(&m->timer);
    else uv_timer_start(&m->timer, timer_fired, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- the multi ------------------------------------------------------------------- */

struct curlm *curlm_new(uv_loop_t *loop) {
    if (!curl_global_ready) {
        /* Not thread-safe, but we have no threads of our own; runs once at start-up. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
        curl_global_ready = 1;
    }
    struct curlm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->multi = curl_multi_init();
    if (!m->multi) {
        free(m);
        return NULL;
    }
    m->loop = loop;
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    m->handles_open = 1;
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    return m;
}

int curlm_closing(const struct curlm *m) { return !m || m->closing; }
uv_loop_t *curlm_loop(const struct curlm *m) { return m->loop; }

static void timer_closed(uv_handle_t *h) {
    struct curlm *m = h->data;
    m->handles_open--;
    maybe_finalize(m);
}

static void teardown(struct curlm *m) {
    m->torn_down = 1;
    while (m->xfers) {
        struct curlm_xfer *x = m->xfers;
        xfer_unlink(x);
        xfer_free(x);
    }
    /* Cleanup closes cached connections, reporting their sockets through sock_cb. */
    curl_multi_cleanup(m->multi);
    m->multi = NULL;
    while (m->socks) sock_release(m->socks);
    uv_close((uv_handle_t *)&m->timer, timer_closed);
}

void curlm_close(struct curlm *m, void (*on_closed)(void *ud), void *ud) {
    if (!m || m->closing) return;
    m->closing = 1;
    m->on_closed = on_closed;
    m->closed_ud = ud;
    for (struct curlm_xfer *x = m->xfers; x; x = x->next) x->cancelled = 1;
    after_curl(m); /* tears down now, unless libcurl is on the stack */
}

int curlm_start(struct curlm *m, struct curlm_xfer *x) {
    if (!m || m->closing || !x->easy) return -1;
    x->m = m;
    x->added = x->cancelled = x->finishing = 0;
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    if (!m->in_curl) {
        if (curl_multi_add_handle(m->multi, x->easy) != CURLM_OK) return -1;
        x->added = 1;
    }
    x->prev = NULL;
    x->next = m->xfers;
    if (m->xfers) m->xfers->prev = x;
    m->xfers = x;
    return 0;
}

void curlm_cancel(struct curlm_xfer *x) {
    if (!x || x->cancelled) return;
    x->cancelled = 1;
    if (x->finishing) return; /* xfer_finish frees it */
    struct curlm *m = x->m;
    if (m->in_curl || m->torn_down || m->closing) return; /* after_curl (or teardown) frees it */
    xfer_unlink(x);
    xfer_free(x);
}
