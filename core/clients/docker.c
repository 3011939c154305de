/* docker.c — Docker Engine API calls and the /events stream, on libcurl
 * multi driven by the uv loop (curlm.c: sockets, timer, deferred starts and
 * cancels that are safe from inside libcurl's callbacks). */
#include "docker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "curlm.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define CONNECT_TIMEOUT_MS 5000u
#define MAX_EVENT_LINE (1u << 20)

struct docker_call {
    struct curlm_xfer x;   /* first: curlm's callbacks get &c->x */
    struct docker *d;
    int too_large;
    docker_done_fn done;
    docker_event_fn on_event;
    docker_broken_fn on_broken;
    void *ud;
    void *owned;     /* freed with the call: helpers' adapter state */
    buf_t resp;
    char *req_body;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
};

struct docker {
    struct curlm *m;
    struct hostaddr addr;
    char base_url[300];
    void (*on_closed)(void *ud);
    void *closed_ud;
};

/* ---- lifetime of calls ----------------------------------------------------------- */

static void call_release(struct curlm_xfer *x) {
    struct docker_call *c = (struct docker_call *)x;
    curl_slist_free_all(c->headers);
    free(c->req_body);
    buf_free(&c->resp);
    free(c->owned);
    free(c);
}

static void call_done(struct curlm_xfer *x, CURLcode result) {
    struct docker_call *c = (struct docker_call *)x;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[CURL_ERROR_SIZE + 64];
    const char *error = NULL;
    if (result != CURLE_OK) {
        if (c->too_large)
            snprintf(why, sizeof why, "engine response larger than %u bytes", DOCKER_MAX_BODY);
        else if (result == CURLE_FAILED_INIT)
            snprintf(why, sizeof why, "docker engine: cannot start the call");
        else
            snprintf(why, sizeof why, "docker engine: %s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(result));
        error = why;
        status = result == CURLE_OPERATION_TIMEDOUT ? DOCKER_TIMED_OUT : 0;
    }
    if (c->on_broken) {
        if (!error) {
            snprintf(why, sizeof why, "events stream ended (HTTP %ld)", status);
            error = why;
        }
        c->on_broken(c->ud, error);
    } else if (c->done) {
        json_t *body = NULL;
        if (!error && c->resp.len) body = json_loadb(c->resp.data, c->resp.len, JSON_DECODE_ANY, NULL);
        c->done(c->ud, status, body, error);
        json_decref(body);
    }
}

/* ---- the engine ------------------------------------------------------------------ */

struct docker *docker_new(uv_loop_t *loop, const char *host) {
    struct docker *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    if (hostaddr_parse(host ? host : "unix:///var/run/docker.sock", &d->addr) < 0) {
        free(d);
        return NULL;
    }
    if (d->addr.is_unix)
        snprintf(d->base_url, sizeof d->base_url, "http://localhost");
    else if (strchr(d->addr.host, ':'))
        snprintf(d->base_url, sizeof d->base_url, "http://[%s]:%d", d->addr.host, d->addr.port);
    else
        snprintf(d->base_url, sizeof d->base_url, "http://%s:%d", d->addr.host, d->addr.port);
    d->m = curlm_new(loop);
    if (!d->m) {
        free(d);
        return NULL;
    }
    return d;
}

const struct hostaddr *docker_hostaddr(const struct docker *d) { return &d->addr; }
uv_loop_t *docker_loop(const struct docker *d) { return curlm_loop(d->m); }

static void multi_closed(void *ud) {
    struct docker *d = ud;
    void (*cb)(void *) = d->on_closed;
    void *cb_ud = d->closed_ud;
    free(d);
    if (cb) cb(cb_ud);
}

void docker_close(struct docker *d, void (*on_closed)(void *ud), void *ud) {
    if (!d || curlm_closing(d->m)) return;
    d->on_closed = on_closed;
    d->closed_ud = ud;
    curlm_close(d->m, multi_closed, d);
}

/* ---- calls ----------------------------------------------------------------------- */

static size_t write_body(char *ptr, size_t size, size_t n, void *userdata) {
    struct docker_call *c = userdata;
    size_t len = size * n;
    if (c->x.cancelled) return 0;
    if (c->resp.len + len > DOCKER_MAX_BODY || buf_append(&c->resp, ptr, len) < 0) {
        c->too_large = 1;
        return 0;
    }
    return len;
}

static size_t write_events(char *ptr, size_t size, size_t n, void *userdata) {
    struct docker_call *c = userdata;
    size_t len = size * n;
    if (c->x.cancelled) return 0;
    if (buf_append(&c->resp, ptr, len) < 0) return 0;
    char *nl;
    while (!c->x.cancelled && (nl = memchr(c->resp.data, '\n', c->resp.len))) {
        size_t line = (size_t)(nl - c->resp.data);
        json_t *ev = line ? json_loadb(c->resp.data, line, 0, NULL) : NULL;
        buf_consume(&c->resp, line + 1);
        if (ev) c->on_event(c->ud, ev);
        json_decref(ev);
    }
    if (c->resp.len > MAX_EVENT_LINE) {
        c->too_large = 1;
        return 0;
    }
    return len;
}

static struct docker_call *call_new(struct docker *d, const char *method, const char *path,
                                    json_t *body, unsigned timeout_ms) {
    if (!d || curlm_closing(d->m)) return NULL;
    struct docker_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->d = d;
    c->x.easy = curl_easy_init();
    c->x.done = call_done;
    c->x.release = call_release;
    buf_t url = BUF_INIT;
    if (!c->x.easy || buf_printf(&url, "%s%s%s", d->base_url, DOCKER_API_PREFIX, path) < 0) goto fail;
    if (body) {
        c->req_body = json_dumps(body, JSON_COMPACT);
        if (!c->req_body) goto fail;
        c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    }
    c->headers = curl_slist_append(c->headers, "Expect:");

    CURL *e = c->x.easy;
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    buf_free(&url);
    if (d->addr.is_unix) curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, d->addr.path);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms && timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms
                                                                          : CONNECT_TIMEOUT_MS));
    if (timeout_ms) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    if (strcmp(method, "GET") != 0) {
        if (strcmp(method, "POST") == 0 || c->req_body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->req_body ? c->req_body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
                             (long)(c->req_body ? strlen(c->req_body) : 0));
        }
        if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    return c;
fail:
    buf_free(&url);
    if (c->x.easy) curl_easy_cleanup(c->x.easy);
    curl_slist_free_all(c->headers);
    free(c->req_body);
    free(c);
    return NULL;
}

/* Hand the call to libcurl; on refusal it is freed here. */
static struct docker_call *call_start(struct docker_call *c) {
    if (curlm_start(c->d->m, &c->x) == 0) return c;
    curl_easy_cleanup(c->x.easy);
    c->x.easy = NULL;
    call_release(&c->x);
    return NULL;
}

struct docker_call *docker_call(struct docker *d, const char *method, const char *path,
                                json_t *body, unsigned timeout_ms, docker_done_fn cb, void *ud) {
    struct docker_call *c =
        call_new(d, method, path, body, timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS);
    if (!c) return NULL;
    c->done = cb;
    c->ud = ud;
    curl_easy_setopt(c->x.easy, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c->x.easy, CURLOPT_WRITEDATA, c);
    return call_start(c);
}

void docker_call_cancel(struct docker_call *c) {
    if (c) curlm_cancel(&c->x);
}

char *docker_urlencode(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *p = out;
    if (!out) return NULL;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return out;
}

struct docker_call *docker_events(struct docker *d, const char *filters_json,
                                  docker_event_fn on_event, docker_broken_fn on_broken, void *ud) {
    buf_t path = BUF_INIT;
    if (filters_json) {
        char *enc = docker_urlencode(filters_json);
        if (!enc || buf_printf(&path, "/events?filters=%s", enc) < 0) {
            free(enc);
            buf_free(&path);
            return NULL;
        }
        free(enc);
    } else if (buf_append_str(&path, "/events") < 0) {
        return NULL;
    }
    struct docker_call *c = call_new(d, "GET", path.data, NULL, 0);
    buf_free(&path);
    if (!c) return NULL;
    c->on_event = on_event;
    c->on_broken = on_broken;
    c->ud = ud;
    curl_easy_setopt(c->x.easy, CURLOPT_WRITEFUNCTION, write_events);
    curl_easy_setopt(c->x.easy, CURLOPT_WRITEDATA, c);
    /* An idle stream carries nothing for hours: let TCP notice a dead engine. */
    curl_easy_setopt(c->x.easy, CURLOPT_TCP_KEEPALIVE, 1L);
    return call_start(c);
}

/* ---- helpers --------------------------------------------------------------------- */

struct helper {
    void (*ok_cb)(void *ud, int ok, const char *why);
    void (*status_cb)(void *ud, long status, const char *why);   /* docker_ping's */
    void *ud;
};

static struct docker_call *helper_call(struct docker *d, const char *method, const char *path,
                                       unsigned timeout_ms, docker_done_fn done,
                                       struct helper *h) {
    if (!h) return NULL;
    struct docker_call *c = docker_call(d, method, path, NULL, timeout_ms, done, h);
    if (!c) {
        free(h);
        return NULL;
    }
    c->owned = h;   /* freed with the call, whether it finishes or is cancelled */
    return c;
}

static const char *engine_message(json_t *body) {
    const char *m = json_string_value(json_object_get(body, "message"));
    return m ? m : "unexpected engine answer";
}

static void ping_done(void *ud, long status, json_t *body, const char *error) {
    (void)body;
    struct helper *h = ud;
    char why[64];
    if (!error && status != 200) {
        snprintf(why, sizeof why, "engine answered HTTP %ld to ping", status);
        error = why;
    }
    h->status_cb(h->ud, status, error);
}

struct docker_call *docker_ping(struct docker *d, unsigned timeout_ms,
                                void (*cb)(void *ud, long status, const char *why), void *ud) {
    struct helper *h = calloc(1, sizeof *h);
    if (h) {
        h->status_cb = cb;
        h->ud = ud;
    }
    return helper_call(d, "GET", "/_ping", timeout_ms ? timeout_ms : 2000, ping_done, h);
}

static void remove_done(void *ud, long status, json_t *body, const char *error) {
    struct helper *h = ud;
    if (!h->ok_cb) return;
    if (error) h->ok_cb(h->ud, 0, error);
    else if (status == 204 || status == 404) h->ok_cb(h->ud, 1, NULL);
    /* A removal already under way answers 409 like any other conflict: the Engine API has no
     * code or field that tells it apart, only its message. */
    else if (status == 409 && strstr(engine_message(body), "already in progress"))
        h->ok_cb(h->ud, 1, NULL);
    else h->ok_cb(h->ud, 0, engine_message(body));
}

struct docker_call *docker_remove(struct docker *d, const char *id,
                                  void (*cb)(void *ud, int ok, const char *why), void *ud) {
    char path[320];
    if (strlen(id) > 256 || strchr(id, '/') || strchr(id, '?')) return NULL;
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", id);
    struct helper *h = calloc(1, sizeof *h);
    if (h) {
        h->ok_cb = cb;
        h->ud = ud;
    }
    return helper_call(d, "DELETE", path, 30000, remove_done, h);
}
