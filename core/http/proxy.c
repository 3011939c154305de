/* proxy.c — the balancer's calls to backends, over our HTTP client. */
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/hostaddr.h"
#include "clients/httpc.h"
#include "policy/app.h"
#include "reply.h"

/* A backend's answer above this is refused (the API's largest is a file). */
#define PROXY_MAX_BODY (16u << 20)

/* Kept-alive connections to backends, idle, by URL: a request reuses one
 * instead of paying a TCP connect and close (most of a proxied request's
 * cost). */
#define POOL_MAX_IDLE_PER_URL 32
#define POOL_IDLE_MS 30000

struct pooled {
    struct httpc *hc;
    char url[128];
    struct pooled *next;
};

static struct pooled *idle;

struct proxy_call {
    struct httpc *hc;
    uv_timer_t timer;
    proxy_done_fn cb;
    void *ud;
    char url[128];
    buf_t request;      /* head and body, kept to retry once on a fresh connection */
    int reused;         /* hc came from the pool: it may have been closed by the peer */
    int status;
    char content_type[128];
    buf_t body;
    int done;           /* cb ran or was cancelled */
};

static const struct httpc_callbacks call_cbs;

static void pooled_remove(struct httpc *hc) {
    for (struct pooled **pp = &idle; *pp; pp = &(*pp)->next) {
        if ((*pp)->hc == hc) {
            struct pooled *p = *pp;
            *pp = p->next;
            free(p);
            return;
        }
    }
}

/* An idle connection that errors or closes just leaves the pool. */
static void idle_error(struct httpc *hc, void *ud, int err, const char *why) {
    (void)ud, (void)err, (void)why;
    pooled_remove(hc);
}
static void idle_close(struct httpc *hc, void *ud) {
    (void)ud;
    pooled_remove(hc);
}
static void idle_data(struct httpc *hc, void *ud, const char *data, size_t len) {
    (void)ud, (void)data, (void)len;
    httpc_close(hc); /* nothing may arrive on an idle connection */
}
static const struct httpc_callbacks idle_cbs = {NULL, idle_data, NULL, idle_error, NULL, idle_close};
/* A connection nobody owns any more, closing. */
static const struct httpc_callbacks orphan_cbs = {NULL, NULL, NULL, NULL, NULL, NULL};

static void pool_put(const char *url, struct httpc *hc) {
    size_t same = 0;
    for (struct pooled *p = idle; p; p = p->next) same += strcmp(p->url, url) == 0;
    struct pooled *p = same < POOL_MAX_IDLE_PER_URL ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        httpc_set_callbacks(hc, &orphan_cbs, NULL);
        httpc_close(hc);
        return;
    }
    p->hc = hc;
    snprintf(p->url, sizeof p->url, "%s", url);
    p->next = idle;
    idle = p;
    httpc_set_callbacks(hc, &idle_cbs, NULL);
    httpc_set_idle_timeout(hc, POOL_IDLE_MS);
}

static struct httpc *pool_take(const char *url, void *owner) {
    for (struct pooled **pp = &idle; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->url, url) == 0) {
            struct pooled *p = *pp;
            struct httpc *hc = p->hc;
            *pp = p->next;
            free(p);
            httpc_set_idle_timeout(hc, 0);
            httpc_set_callbacks(hc, &call_cbs, owner);
            return hc;
        }
    }
    return NULL;
}

void proxy_pool_close(void) {
    while (idle) {
        struct httpc *hc = idle->hc;
        httpc_set_callbacks(hc, &orphan_cbs, NULL);
        pooled_remove(hc);
        httpc_close(hc);
    }
}

static void on_timer_closed(uv_handle_t *h) {
    struct proxy_call *c = h->data;
    buf_free(&c->body);
    buf_free(&c->request);
    free(c);
}

/* The call is over: its connection goes back to the pool or is closed. */
static void finish(struct proxy_call *c, int status, const char *err, int refused) {
    if (c->done) return;
    c->done = 1;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    if (c->hc) {
        struct httpc *hc = c->hc;
        c->hc = NULL;
        if (status && !err && httpc_reusable(hc)) {
            pool_put(c->url, hc);
        } else {
            httpc_set_callbacks(hc, &orphan_cbs, NULL);
            httpc_close(hc);
        }
    }
    struct proxy_answer a = {.status = status, .content_type = c->content_type[0] ? c->content_type : NULL,
                             .body = c->body.data ? c->body.data : "", .len = c->body.len, .err = err,
                             .refused = refused};
    if (c->cb) c->cb(c->ud, &a);
}

static void on_response(struct httpc *hc, void *ud, int status, const struct httpc_header *h, size_t n) {
    (void)hc;
    struct proxy_call *c = ud;
    c->status = status;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, "content-type") == 0)
            snprintf(c->content_type, sizeof c->content_type, "%s", h[i].value);
}

static void on_data(struct httpc *hc, void *ud, const char *data, size_t len) {
    (void)hc;
    struct proxy_call *c = ud;
    if (c->body.len + len > PROXY_MAX_BODY) {
        finish(c, 0, "the backend's answer is too large", 0);
        return;
    }
    buf_append(&c->body, data, len);
}

static void on_complete(struct httpc *hc, void *ud) {
    (void)hc;
    struct proxy_call *c = ud;
    finish(c, c->status, NULL, 0);
}

static int call_connect(struct proxy_call *c);

static void on_error(struct httpc *hc, void *ud, int err, const char *why) {
    (void)hc;
    struct proxy_call *c = ud;
    c->hc = NULL; /* closing by itself */
    if (c->reused && c->status == 0 && c->body.len == 0) {
        /* The backend closed a kept-alive connection as we reused it: nothing
         * of this request was processed, so one fresh try is safe. */
        c->reused = 0;
        if (call_connect(c) == 0) return;
    }
    char text[300];
    snprintf(text, sizeof text, "the backend did not answer: %s", why ? why : uv_strerror(err));
    finish(c, 0, text, err == UV_ECONNREFUSED);
}

static const struct httpc_callbacks call_cbs = {on_response, on_data, on_complete, on_error, NULL, NULL};

static void on_timeout(uv_timer_t *t) {
    struct proxy_call *c = t->data;
    finish(c, 0, "the backend did not answer in time", 0);
}

/* Authorization, X-API-Key, X-Auth-Token and Content-Type pass through unchanged: every
 * node of a fleet shares its key sets. */
static void forward_headers(buf_t *h, const struct request *creds) {
    /* Host too: answers that name the server (the seed's upload URL) name the one the client used.
     * E2B's sandbox calls name their sandbox and deadline in headers of their own. */
    static const char *const names[] = {"authorization", "x-api-key", "x-auth-token", "content-type", "host",
                                        "e2b-sandbox-id", "e2b-sandbox-port", "x-access-token",
                                        "connect-timeout-ms", "connect-protocol-version"};
    for (size_t i = 0; creds && i < sizeof names / sizeof names[0]; i++) {
        const char *v = http_header(creds, names[i]);
        if (v) buf_printf(h, "%s: %s\r\n", names[i], v);
    }
    /* The balancer's own calls (clean-ups) speak as the fleet's first admin key. */
    const char *admin = json_string_value(json_array_get(app_config()->admin_keys, 0));
    if (!creds && admin) buf_printf(h, "X-API-Key: %s\r\n", admin);
}

/* Send the kept request on a pooled connection, or a new one. */
static int call_connect(struct proxy_call *c) {
    c->hc = c->reused ? NULL : pool_take(c->url, c);
    c->reused = c->hc != NULL;
    if (!c->hc) {
        struct hostaddr addr;
        if (hostaddr_parse(c->url, &addr) < 0) return -1;
        c->hc = httpc_connect(app_loop(), &addr, (unsigned)app_config()->backend_timeout_ms, &call_cbs, c);
        if (!c->hc) return -1;
    }
    return httpc_write(c->hc, c->request.data, c->request.len);
}

struct proxy_call *proxy_send(const char *backend_url, const char *method, const char *target,
                              const struct request *creds, const char *body, size_t len, long timeout_ms,
                              proxy_done_fn cb, void *ud) {
    struct proxy_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cb = cb;
    c->ud = ud;
    snprintf(c->url, sizeof c->url, "%s", backend_url);
    struct hostaddr addr;
    buf_printf(&c->request, "%s %s HTTP/1.1\r\n", method, target);
    forward_headers(&c->request, creds);
    if (!creds || !http_header(creds, "host")) {
        char host[300];
        if (hostaddr_parse(backend_url, &addr) == 0) {
            hostaddr_format(&addr, host, sizeof host);
            buf_printf(&c->request, "Host: %s\r\n", host);
        }
    }
    if (body && len) buf_printf(&c->request, "Content-Length: %zu\r\n", len);
    else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) buf_append_str(&c->request, "Content-Length: 0\r\n");
    buf_append_str(&c->request, "\r\n");
    if (body && len) buf_append(&c->request, body, len);
    uv_timer_init(app_loop(), &c->timer);
    c->timer.data = c;
    /* A failure to start is reported from the loop, never under the caller. */
    if (call_connect(c) < 0) {
        uv_timer_start(&c->timer, on_timeout, 0, 0);
        return c;
    }
    uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return c;
}

void proxy_cancel(struct proxy_call *c) {
    c->cb = NULL;
    finish(c, 0, NULL, 0);
}

/* ---- relaying a whole answer ------------------------------------------------------ */

struct relay {
    struct request *req;
    struct proxy_call *call;
    proxy_observe_fn observe;
    void *ud;
};

static void on_relayed(void *ud, const struct proxy_answer *a) {
    struct relay *r = ud;
    struct request *req = r->req;
    http_set_abort(req, NULL, NULL);
    if (r->observe) r->observe(r->ud, a->status, a->body, a->len);
    free(r);
    if (!a->status) {
        reply_error(req, 503, "unavailable", "%s", a->err ? a->err : "the backend did not answer");
        return;
    }
    http_respond(req, a->status, a->content_type, a->body, a->len, NULL);
}

static void on_relay_abort(struct request *req, void *ud) {
    struct relay *r = ud;
    proxy_cancel(r->call);
    if (r->observe) r->observe(r->ud, 0, NULL, 0);
    free(r);
    reply_error(req, 503, "unavailable", "the client went away");
}

void proxy_relay(struct request *req, const char *backend_url, long timeout_ms, proxy_observe_fn observe, void *ud) {
    struct relay *r = calloc(1, sizeof *r);
    if (r) {
        r->req = req;
        r->observe = observe;
        r->ud = ud;
        r->call = proxy_send(backend_url, req->method, req->target, req, req->body.data, req->body.len, timeout_ms,
                             on_relayed, r);
    }
    if (!r || !r->call) {
        free(r);
        if (observe) observe(ud, 0, NULL, 0);
        reply_error(req, 503, "unavailable", "cannot reach the backend %s", backend_url);
        return;
    }
    http_set_abort(req, on_relay_abort, r);
}

/* ---- WebSocket tunnels ---------------------------------------------------------------- */

struct tunnel {
    struct httpc *hc;
    struct conn *client;
    struct request *req;    /* until the upgrade */
    int upgraded;
    int status;
    buf_t refused;          /* the body of an answer that is not an upgrade */
    proxy_observe_fn observe; /* NULL once called */
    void *observe_ud;
};

/* The backend's answer to the upgrade (0: none), told once. */
static void tunnel_observed(struct tunnel *t, int status) {
    proxy_observe_fn observe = t->observe;
    t->observe = NULL;
    if (observe) observe(t->observe_ud, status, t->refused.data, t->refused.len);
}

/* Each side is read only while the other takes what it is sent: a peer that
 * does not read stops its counterpart instead of growing the balancer. */
#define TUNNEL_BACKLOG_MARK (64 * 1024)

static void tunnel_client_data(void *ud, const char *data, size_t len) {
    struct tunnel *t = ud;
    if (!t->hc) return;
    httpc_write(t->hc, data, len);
    if (httpc_queued(t->hc) > TUNNEL_BACKLOG_MARK) conn_raw_pause(t->client, 1);
}

static void tunnel_client_drained(void *ud) {
    struct tunnel *t = ud;
    if (t->hc) httpc_read_pause(t->hc, 0);
}

static void tunnel_backend_drained(struct httpc *hc, void *ud) {
    (void)hc;
    struct tunnel *t = ud;
    if (t->client) conn_raw_pause(t->client, 0);
}

static void tunnel_client_closed(void *ud) {
    struct tunnel *t = ud;
    t->client = NULL;
    if (t->hc) httpc_close(t->hc); /* tunnel_closed frees */
}

static const struct conn_raw tunnel_raw = {tunnel_client_data, tunnel_client_closed, tunnel_client_drained};

/* The client's request, taken from the tunnel to be answered (NULL once answered or gone). */
static struct request *take_request(struct tunnel *t) {
    struct request *req = t->req;
    t->req = NULL;
    if (req) http_set_abort(req, NULL, NULL);
    return req;
}

static void tunnel_response(struct httpc *hc, void *ud, int status, const struct httpc_header *h, size_t n) {
    (void)hc;
    struct tunnel *t = ud;
    t->status = status;
    if (status != 101) return; /* the body follows; relayed whole in tunnel_complete */
    tunnel_observed(t, 101);
    buf_t head = BUF_INIT;
    buf_append_str(&head, "HTTP/1.1 101 Switching Protocols\r\n");
    for (size_t i = 0; i < n; i++) buf_printf(&head, "%s: %s\r\n", h[i].name, h[i].value);
    buf_append_str(&head, "\r\n");
    t->client = http_upgrade(take_request(t), head.data, &tunnel_raw, t);
    buf_free(&head);
    t->upgraded = 1;
    if (t->client) conn_raw_start(t->client);
    else httpc_close(t->hc);
}

static void tunnel_data(struct httpc *hc, void *ud, const char *data, size_t len) {
    (void)hc;
    struct tunnel *t = ud;
    if (t->upgraded) {
        if (!t->client) return;
        conn_raw_write(t->client, data, len);
        if (conn_raw_backed_up(t->client)) httpc_read_pause(t->hc, 1);
    } else if (t->refused.len + len <= PROXY_MAX_BODY) {
        buf_append(&t->refused, data, len);
    }
}

static void tunnel_complete(struct httpc *hc, void *ud) {
    (void)hc;
    struct tunnel *t = ud;
    struct request *req = take_request(t);
    tunnel_observed(t, t->status);
    if (req)
        http_respond(req, t->status ? t->status : 502, "application/json", t->refused.data ? t->refused.data : "",
                     t->refused.len, NULL);
    httpc_close(t->hc);
}

static void tunnel_error(struct httpc *hc, void *ud, int err, const char *why) {
    (void)hc;
    (void)err;
    struct request *req = take_request(ud);
    tunnel_observed(ud, 0);
    if (req) reply_error(req, 503, "unavailable", "the backend did not answer: %s", why ? why : "error");
}

static void tunnel_closed(struct httpc *hc, void *ud) {
    (void)hc;
    struct tunnel *t = ud;
    t->hc = NULL;
    tunnel_observed(t, 0);
    if (t->client) conn_raw_close(t->client);
    buf_free(&t->refused);
    free(t);
}

static const struct httpc_callbacks tunnel_cbs = {tunnel_response, tunnel_data, tunnel_complete, tunnel_error,
                                                  tunnel_backend_drained, tunnel_closed};

static void on_tunnel_abort(struct request *req, void *ud) {
    struct tunnel *t = ud;
    t->req = NULL;
    tunnel_observed(t, 0);
    reply_error(req, 503, "unavailable", "the client went away");
    httpc_close(t->hc);
}

void proxy_tunnel(struct request *req, const char *backend_url, proxy_observe_fn observe, void *ud) {
    struct hostaddr addr;
    struct tunnel *t = calloc(1, sizeof *t);
    if (t && hostaddr_parse(backend_url, &addr) == 0) {
        t->req = req;
        t->hc = httpc_connect(app_loop(), &addr, (unsigned)app_config()->backend_timeout_ms, &tunnel_cbs, t);
    }
    if (!t || !t->hc) {
        free(t);
        if (observe) observe(ud, 0, NULL, 0);
        reply_error(req, 503, "unavailable", "cannot reach the backend %s", backend_url);
        return;
    }
    t->observe = observe;
    t->observe_ud = ud;
    buf_t h = BUF_INIT;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *n = req->headers[i].name;
        if (strcmp(n, "host") == 0 || strcmp(n, "content-length") == 0) continue;
        buf_printf(&h, "%s: %s\r\n", n, req->headers[i].value);
    }
    httpc_request(t->hc, "GET", req->target, h.data, NULL, 0);
    buf_free(&h);
    http_set_abort(req, on_tunnel_abort, t);
}
