/* test_docker.c — docker.c against a fake engine on a unix socket (no Docker needed): a timeout,
 * a cancel, an events stream, a body too large, re-entrant callbacks.  The real engine is
 * tested in tests/integration/test_docker.c. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "clients/docker.h"
#include "unit.h"
#include "unit_loop.h"


/* ---- a fake engine on a unix socket: silent, an events stream, or a huge body ---- */

struct fake_client {
    uv_pipe_t pipe;
    buf_t req;
    int answered;
};
static uv_pipe_t fake_server;
static char fake_path[64];

static void fake_client_closed(uv_handle_t *h) {
    struct fake_client *fc = h->data;
    buf_free(&fc->req);
    free(fc);
}

static void fake_write_done(uv_write_t *w, int status) {
    (void)status;
    free(w->data);
    free(w);
}

static void fake_send(struct fake_client *fc, const char *data, size_t len) {
    uv_write_t *w = malloc(sizeof *w);
    char *copy = malloc(len);
    memcpy(copy, data, len);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    uv_write(w, (uv_stream_t *)&fc->pipe, &b, 1, fake_write_done);
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct fake_client *fc = s->data;
    if (n < 0) {
        free(b->base);
        uv_close((uv_handle_t *)s, fake_client_closed);
        return;
    }
    buf_append(&fc->req, b->base, (size_t)n);
    free(b->base);
    if (fc->answered || !strstr(fc->req.data ? fc->req.data : "", "\r\n\r\n")) return;
    /* One request per answer: libcurl reuses a kept-alive connection. */
    int events = strstr(fc->req.data, "GET /v1.41/events") != NULL;
    int huge = strstr(fc->req.data, "GET /v1.41/big") != NULL;
    buf_reset(&fc->req);
    fc->answered = !(events || huge);
    if (events) {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n";
        fake_send(fc, head, strlen(head));
        /* Two events, the second split across chunks, then a clean end. */
        const char *body = "1a\r\n{\"status\":\"die\",\"id\":\"a\"}\n\r\n"
                           "8\r\n{\"status\r\n"
                           "11\r\n\":\"oom\",\"id\":\"b\"}\r\n"
                           "1\r\n\n\r\n0\r\n\r\n";
        fake_send(fc, body, strlen(body));
    } else if (huge) {
        size_t n = DOCKER_MAX_BODY + 4096;
        char head[128];
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        fake_send(fc, head, strlen(head));
        char *blob = malloc(n);
        memset(blob, 'x', n);
        fake_send(fc, blob, n);
        free(blob);
    }
    /* anything else: never answer */
}

static void fake_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    struct fake_client *fc = calloc(1, sizeof *fc);
    uv_pipe_init(loop, &fc->pipe, 0);
    fc->pipe.data = fc;
    if (uv_accept(server, (uv_stream_t *)&fc->pipe) == 0)
        uv_read_start((uv_stream_t *)&fc->pipe, unit_alloc, fake_read);
    else
        uv_close((uv_handle_t *)&fc->pipe, fake_client_closed);
}

static void start_fake(void) {
    snprintf(fake_path, sizeof fake_path, "/tmp/cc-test-docker-%d.sock", (int)getpid());
    unlink(fake_path);
    uv_pipe_init(loop, &fake_server, 0);
    CHECK(uv_pipe_bind(&fake_server, fake_path) == 0);
    CHECK(uv_listen((uv_stream_t *)&fake_server, 16, fake_connection) == 0);
}

/* ---- results ---------------------------------------------------------------------- */

struct result {
    int done;
    long status;
    char text[512];
    char error[512];
    int events;
    char ids[64];
};

static void on_done(void *ud, long status, json_t *body, const char *error) {
    struct result *r = ud;
    r->done++;
    r->status = status;
    if (error) snprintf(r->error, sizeof r->error, "%s", error);
    const char *v = json_string_value(json_object_get(body, "ApiVersion"));
    if (!v) v = json_string_value(json_object_get(body, "message"));
    if (v) snprintf(r->text, sizeof r->text, "%s", v);
}

static void on_event(void *ud, json_t *ev) {
    struct result *r = ud;
    r->events++;
    const char *id = json_string_value(json_object_get(ev, "id"));
    if (id) strncat(r->ids, id, sizeof r->ids - strlen(r->ids) - 1);
}

static void on_broken(void *ud, const char *why) {
    struct result *r = ud;
    r->done++;
    snprintf(r->error, sizeof r->error, "%s", why);
}

static int closed;
static void on_closed(void *ud) {
    (void)ud;
    closed++;
}

/* A callback that cancels another call and closes the engine from inside a callback. */
struct reentrant {
    struct docker *d;
    struct docker_call *other;
    int ran;
};
static void reentrant_event(void *ud, json_t *ev) {
    (void)ev;
    struct reentrant *re = ud;
    re->ran++;
    docker_call_cancel(re->other);
    docker_close(re->d, on_closed, NULL);
}
static void reentrant_broken(void *ud, const char *why) {
    (void)why;
    ((struct reentrant *)ud)->ran += 100;   /* must not run: the engine was closed */
}

int main(void) {
    loop = uv_default_loop();

    /* The fake engine: a timeout, a cancel, an events stream, a body too large. */
    start_fake();
    char host[96];
    snprintf(host, sizeof host, "unix://%s", fake_path);
    struct docker *d = docker_new(loop, host);
    CHECK(d != NULL);
    struct result slow = {0};
    docker_call(d, "GET", "/never", NULL, 300, on_done, &slow);
    struct result slow_cancel = {0};
    struct docker_call *c = docker_call(d, "GET", "/never2", NULL, 300, on_done, &slow_cancel);
    docker_call_cancel(c);
    CHECK(run_until(&slow.done, 3000));
    CHECK(slow.status == DOCKER_TIMED_OUT);
    CHECK(strstr(slow.error, "imed out") != NULL);
    int never = 0;
    run_until(&never, 400);
    CHECK(slow_cancel.done == 0);

    struct result ev = {0};
    CHECK(docker_events(d, "{\"type\":[\"container\"]}", on_event, on_broken, &ev) != NULL);
    CHECK(run_until(&ev.done, 3000));
    CHECK(ev.events == 2);
    CHECK_STR(ev.ids, "ab");
    CHECK(strstr(ev.error, "ended") != NULL);

    struct result big = {0};
    docker_call(d, "GET", "/big", NULL, 5000, on_done, &big);
    CHECK(run_until(&big.done, 5000));
    CHECK(big.status == 0);
    CHECK(strstr(big.error, "larger than") != NULL);

    /* From inside an event callback: cancel another call and close the engine. */
    struct reentrant re = {d, NULL, 0};
    struct result other = {0};
    re.other = docker_call(d, "GET", "/never3", NULL, 5000, on_done, &other);
    docker_events(d, NULL, reentrant_event, reentrant_broken, &re);
    closed = 0;
    CHECK(run_until(&closed, 3000));
    CHECK(re.ran == 1);
    CHECK(other.done == 0);

    /* A host that does not parse. */
    CHECK(docker_new(loop, "no-port-here") == NULL);

    uv_close((uv_handle_t *)&fake_server, NULL);
    never = 0;
    run_until(&never, 100);
    unlink(fake_path);
    CHECK(uv_loop_close(loop) == 0);
    return unit_report();
}
