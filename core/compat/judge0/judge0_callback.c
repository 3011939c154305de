/* judge0_callback.c — a finished submission PUT to its callback_url, as
 * isolate_job.rb's call_callback: the default fields, base64, JSON; tried
 * callbacks_max_tries times while the transfer itself fails (no answer at
 * all), and done at the first HTTP answer whatever its status.  The URL was
 * checked against judge0.callback_hosts when the submission was made; the
 * transfer follows file_url's rules (core/clients/fetch.h: https only, no redirects,
 * no private or loopback address, the checked address pinned). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "clients/fetch.h"
#include "http/reply.h"
#include "judge0.h"
#include "policy/app.h"

/* The receiver's answer is read and dropped: a little of it is plenty. */
#define ANSWER_MAX_BYTES 65536

struct callback {
    struct fetch *f;
    char *url;
    char *body;
    int tries;
    struct callback *prev, *next;
};

static struct callback *callbacks;

static void callback_free(struct callback *c) {
    if (c->prev) c->prev->next = c->next; else callbacks = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->url);
    free(c->body);
    free(c);
}

static void attempt(struct callback *c);

static void on_done(void *ud, const char *data, size_t len, const char *err) {
    (void)data;
    (void)len;
    struct callback *c = ud;
    c->f = NULL;
    if (err && c->tries < (int)j0_conf("callbacks_max_tries", 3)) {
        attempt(c);
        return;
    }
    if (err) log_event(LOG_WARN, "judge0_callback_failed", json_pack("{s:s,s:s,s:i}", "url", c->url, "why", err,
                                                                     "tries", c->tries));
    callback_free(c);
}

static void attempt(struct callback *c) {
    const struct config *cfg = app_config();
    struct fetch_opts o = {.max_bytes = ANSWER_MAX_BYTES, .timeout_ms = (long)(j0_conf("callbacks_timeout", 5) * 1000),
                           .allow_loopback = cfg->file_url_test_allow_loopback, .ca_file = cfg->file_url_test_ca_file,
                           .method = "PUT", .send = c->body, .send_len = strlen(c->body),
                           .send_type = "application/json", .what = "callback_url"};
    char err[256];
    c->tries++;
    c->f = fetch_start(app_loop(), c->url, &o, on_done, c, err, sizeof err);
    if (!c->f) on_done(c, NULL, 0, err);
}

void j0_callback(const json_t *sub) {
    const char *url = json_string_value(json_object_get(sub, "callback_url"));
    if (!url || !*url) return;
    json_t *shown = j0_show(sub, NULL, 1);
    struct callback *c = calloc(1, sizeof *c);
    if (c) {
        c->url = strdup(url);
        c->body = shown ? json_text(shown) : NULL;
    }
    json_decref(shown);
    if (!c || !c->url || !c->body) {
        if (c) {
            free(c->url);
            free(c->body);
            free(c);
        }
        return;
    }
    c->next = callbacks;
    if (callbacks) callbacks->prev = c;
    callbacks = c;
    attempt(c);
}

const char *j0_callback_refused(const char *url) {
    static char why[360];
    char host[256], scheme[16];
    if (fetch_url_host(url, host, sizeof host, scheme, sizeof scheme) < 0) return "is not a valid URL";
    if (strcmp(scheme, "https") != 0) return "must be an https URL";
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(app_config()->judge0, "callback_hosts"), i, h)
        if (json_is_string(h) && strcasecmp(json_string_value(h), host) == 0) return NULL;
    snprintf(why, sizeof why, "names a host the policy does not allow (judge0.callback_hosts): %s", host);
    return why;
}

void j0_callback_free(void) {
    while (callbacks) {
        fetch_cancel(callbacks->f);
        callback_free(callbacks);
    }
}
