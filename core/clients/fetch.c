/* fetch.c — one defensive https GET for the seed's file_url, or one request with a body for a
 * Judge0 callback_url (see fetch.h).
 *
 * Each fetch has its own curlm: fetches are rare, and a multi of its own
 * means no connection is ever reused for another host or address. */
#include "fetch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "curlm.h"

#define CONNECT_TIMEOUT_MS 5000L

/* The URL's name in messages. */
#define WHAT(f) ((f)->o.what ? (f)->o.what : "file_url")

struct fetch {
    struct curlm_xfer x;       /* first: curlm's callbacks get &f->x */
    uv_getaddrinfo_t gai;
    uv_loop_t *loop;
    struct curlm *m;
    fetch_done_fn cb;
    void *ud;
    struct fetch_opts o;
    char *url;
    char *ca_file;
    char host[256];
    long port;
    buf_t body;
    struct curl_slist *resolve;
    struct curl_slist *headers; /* with a body: its Content-Type */
    buf_t send;                 /* the body to send (copied) */
    char content_type[128];
    char method[16];
    char what[32];
    int resolving;             /* the getaddrinfo request is in flight */
    int cancelled;
    int too_large;
    int blocked;               /* a socket to a forbidden address was refused */
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- addresses ------------------------------------------------------------------- */

static int v4_forbidden(uint32_t a, int allow_loopback) {
    if ((a >> 24) == 127) return !allow_loopback;          /* loopback */
    return (a >> 24) == 0 || (a >> 24) == 10 ||            /* "this network", private */
           (a & 0xffc00000u) == 0x64400000u ||              /* 100.64/10 shared (CGNAT) */
           (a & 0xffff0000u) == 0xa9fe0000u ||              /* 169.254/16 link-local (cloud metadata) */
           (a & 0xfff00000u) == 0xac100000u ||              /* 172.16/12 private */
           (a & 0xffffff00u) == 0xc0000000u ||              /* 192.0.0/24 protocol assignments */
           (a & 0xffff0000u) == 0xc0a80000u ||              /* 192.168/16 private */
           (a & 0xfffe0000u) == 0xc6120000u ||              /* 198.18/15 benchmarking */
           (a >> 28) >= 0xe;                                /* multicast, reserved, broadcast */
}

int fetch_address_forbidden(const struct sockaddr *sa, int allow_loopback) {
    if (sa->sa_family == AF_INET)
        return v4_forbidden(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr), allow_loopback);
    if (sa->sa_family != AF_INET6) return 1;
    const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const unsigned char zeros[15] = {0};
    if (memcmp(b, zeros, 15) == 0) return b[15] == 1 ? !allow_loopback : 1; /* ::1, :: */
    /* IPv4 inside IPv6 reaches an IPv4 address: judge that one. */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zeros, 12) == 0)
        return v4_forbidden((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15],
                            allow_loopback);
    /* 6to4 (2002::/16) carries its IPv4 in bits 16-47: a relay would take it there. */
    if (b[0] == 0x20 && b[1] == 0x02)
        return v4_forbidden((uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5], allow_loopback);
    return (b[0] & 0xfe) == 0xfc ||                  /* fc00::/7 unique local */
           /* translators whose IPv4 cannot be read off reliably: local-use NAT64 64:ff9b:1::/48
            * (any prefix length up to /96), Teredo 2001::/32 (obfuscated), ORCHID and the like */
           (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1) ||
           (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) ||
           (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 link-local */
           (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) || /* fec0::/10 site-local (deprecated) */
           b[0] == 0xff ||                           /* multicast */
           (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8); /* documentation */
}

int fetch_url_host(const char *url, char *host, size_t hostlen, char *scheme, size_t schemelen) {
    CURLU *u = curl_url();
    char *h = NULL, *s = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK) {
        const char *p = h;
        size_t n = strlen(p);
        if (n >= 2 && p[0] == '[' && p[n - 1] == ']') p++, n -= 2;
        if (n && n < hostlen && strlen(s) < schemelen) {
            for (size_t i = 0; i < n; i++) host[i] = (char)tolower((unsigned char)p[i]);
            host[n] = '\0';
            for (size_t i = 0; s[i]; i++) scheme[i] = (char)tolower((unsigned char)s[i]);
            scheme[strlen(s)] = '\0';
            rc = 0;
        }
    }
    curl_free(h);
    curl_free(s);
    curl_url_cleanup(u);
    return rc;
}

/* ---- lifetime -------------------------------------------------------------------- */

static void fetch_free(void *ud) {
    struct fetch *f = ud;
    curl_slist_free_all(f->resolve);
    curl_slist_free_all(f->headers);
    buf_free(&f->send);
    buf_free(&f->body);
    free(f->url);
    free(f->ca_file);
    free(f);
}

/* Report once, then let the multi go (it frees the fetch once its handles closed). */
static void finish(struct fetch *f, const char *data, size_t len, const char *err) {
    if (!f->cancelled) f->cb(f->ud, data, len, err);
    f->cancelled = 1;
    if (f->m) curlm_close(f->m, fetch_free, f);
    else fetch_free(f);
}

void fetch_cancel(struct fetch *f) {
    if (!f || f->cancelled) return;
    f->cancelled = 1;
    if (f->resolving) return; /* on_resolved frees it */
    if (f->m) curlm_close(f->m, fetch_free, f);
}

/* ---- the transfer ---------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t n, void *ud) {
    struct fetch *f = ud;
    size_t len = size * n;
    if (f->cancelled) return 0;
    if (f->body.len + len > f->o.max_bytes) {
        f->too_large = 1;
        return 0; /* aborts the transfer */
    }
    return buf_append(&f->body, ptr, len) < 0 ? 0 : len;
}

/* Every socket libcurl opens is checked again: the pinned address is the only
 * one it should ever try, but nothing reaches a forbidden one regardless. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
    struct fetch *f = ud;
    if (purpose != CURLSOCKTYPE_IPCXN || fetch_address_forbidden(&a->addr, f->o.allow_loopback)) {
        f->blocked = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static void on_done(struct curlm_xfer *x, CURLcode result) {
    struct fetch *f = (struct fetch *)x;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[CURL_ERROR_SIZE + 96];
    if (f->too_large || result == CURLE_FILESIZE_EXCEEDED) {
        if (f->o.max_bytes % (1u << 20) == 0)
            snprintf(why, sizeof why, "%s's file is larger than %zu MiB", WHAT(f), f->o.max_bytes >> 20);
        else
            snprintf(why, sizeof why, "%s's file is larger than %zu bytes", WHAT(f), f->o.max_bytes);
    } else if (f->blocked) {
        snprintf(why, sizeof why, "%s's host resolves to a loopback or private address", WHAT(f));
    } else if (result != CURLE_OK) {
        snprintf(why, sizeof why, "%s could not be fetched: %s", WHAT(f), f->errbuf[0] ? f->errbuf : curl_easy_strerror(result));
    } else if (f->o.method) {
        finish(f, f->body.data ? f->body.data : "", f->body.len, NULL); /* any answer will do */
        return;
    } else if (status >= 300 && status < 400) {
        snprintf(why, sizeof why, "%s answered a redirect (HTTP %ld): redirects are not followed", WHAT(f), status);
    } else if (status != 200) {
        snprintf(why, sizeof why, "%s answered HTTP %ld", WHAT(f), status);
    } else {
        finish(f, f->body.data ? f->body.data : "", f->body.len, NULL);
        return;
    }
    finish(f, NULL, 0, why);
}

static int start_transfer(struct fetch *f, const char *addr) {
    char entry[400];
    snprintf(entry, sizeof entry, strchr(addr, ':') ? "%s:%ld:[%s]" : "%s:%ld:%s", f->host, f->port, addr);
    f->resolve = curl_slist_append(NULL, entry);
    f->m = curlm_new(f->loop);
    CURL *e = f->x.easy = curl_easy_init();
    if (!f->resolve || !f->m || !e) {
        if (e) curl_easy_cleanup(e);
        f->x.easy = NULL;
        return -1;
    }
    f->x.done = on_done;
    curl_easy_setopt(e, CURLOPT_URL, f->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_RESOLVE, f->resolve);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f);
    curl_easy_setopt(e, CURLOPT_PROXY, "");     /* no proxy from the environment */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->o.max_bytes);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, f->o.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, f->o.timeout_ms < CONNECT_TIMEOUT_MS ? f->o.timeout_ms : CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, f->o.method ? "cloudcode-callback" : "cloudcode-file-url");
    if (f->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, f->ca_file);
    if (f->o.method) {
        f->headers = curl_slist_append(NULL, f->content_type);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->o.method);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->send.len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->send.data ? f->send.data : "");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    }
    if (curlm_start(f->m, &f->x) < 0) {
        curl_easy_cleanup(e);
        f->x.easy = NULL;
        return -1;
    }
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    struct fetch *f = req->data;
    f->resolving = 0;
    char addr[INET6_ADDRSTRLEN] = "", why[300];
    const char *err = NULL;
    if (f->cancelled) {
        err = "cancelled";
    } else if (status < 0 || !res) {
        snprintf(why, sizeof why, "%s's host %s does not resolve: %s", WHAT(f), f->host, uv_strerror(status));
        err = why;
    } else {
        /* Every address must be allowed, not just the one we would use. */
        for (struct addrinfo *ai = res; ai && !err; ai = ai->ai_next)
            if (fetch_address_forbidden(ai->ai_addr, f->o.allow_loopback)) {
                snprintf(why, sizeof why, "%s's host resolves to a loopback or private address", WHAT(f));
                err = why;
            }
        const void *raw = res->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                                    : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
        if (!err && !inet_ntop(res->ai_family, raw, addr, sizeof addr)) {
            snprintf(why, sizeof why, "%s's address is not usable", WHAT(f));
            err = why;
        }
    }
    uv_freeaddrinfo(res);
    if (!err && start_transfer(f, addr) < 0) {
        snprintf(why, sizeof why, "%s could not be fetched: cannot start the transfer", WHAT(f));
        err = why;
    }
    if (err) finish(f, NULL, 0, err);
}

struct fetch *fetch_start(uv_loop_t *loop, const char *url, const struct fetch_opts *o, fetch_done_fn cb, void *ud,
                          char *err, size_t errlen) {
    char scheme[16];
    struct fetch *f = calloc(1, sizeof *f);
    CURLU *u = curl_url();
    char *port = NULL;
    if (!f || !u) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (fetch_url_host(url, f->host, sizeof f->host, scheme, sizeof scheme) < 0 ||
        curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        snprintf(err, errlen, "%s is not a valid URL", o->what ? o->what : "file_url");
        goto fail;
    }
    if (strcmp(scheme, "https") != 0) {
        snprintf(err, errlen, "%s must be an https URL", o->what ? o->what : "file_url");
        goto fail;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, errlen, "%s has no valid port", o->what ? o->what : "file_url");
        goto fail;
    }
    f->port = strtol(port, NULL, 10);
    f->loop = loop;
    f->cb = cb;
    f->ud = ud;
    f->o = *o;
    if (o->method) {
        /* Copies: the caller's strings need not outlive the call. */
        snprintf(f->method, sizeof f->method, "%s", o->method);
        snprintf(f->content_type, sizeof f->content_type, "Content-Type: %s", o->send_type ? o->send_type : "application/json");
        f->o.method = f->method;
        if (buf_append(&f->send, o->send ? o->send : "", o->send_len) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    f->o.send = f->o.send_type = NULL;
    snprintf(f->what, sizeof f->what, "%s", o->what ? o->what : "file_url");
    f->o.what = f->what;
    f->url = strdup(url);
    f->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    f->o.ca_file = NULL;
    f->gai.data = f;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (!f->url || uv_getaddrinfo(loop, &f->gai, on_resolved, f->host, NULL, &hints) < 0) {
        snprintf(err, errlen, "%s's host cannot be resolved", o->what ? o->what : "file_url");
        goto fail;
    }
    f->resolving = 1;
    curl_free(port);
    curl_url_cleanup(u);
    return f;
fail:
    curl_free(port);
    curl_url_cleanup(u);
    if (f) fetch_free(f);
    return NULL;
}
