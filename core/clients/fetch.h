/* fetch.h — fetch one https URL for the seed's file_url, defensively; or send
 * one body to one (a Judge0 callback_url's PUT), under the same rules.
 *
 * https only; no redirects (a 3xx is an error); the body is capped (the
 * transfer is aborted past the cap); connect and total timeouts; no proxy.
 * The host is resolved first and every address checked: a loopback, private,
 * link-local, multicast or otherwise special address refuses the fetch.  The
 * connection is then pinned to the checked address (CURLOPT_RESOLVE), and
 * every socket libcurl opens is checked again, so a second DNS answer (DNS
 * rebinding) cannot reach an inside address. */
#ifndef CC_FETCH_H
#define CC_FETCH_H

#include <stddef.h>
#include <uv.h>

struct fetch_opts {
    size_t max_bytes;
    long timeout_ms;
    /* UNSAFE, tests only (policy file_url_test_*): loopback addresses are
     * allowed, and the server's certificate is checked against this CA. */
    int allow_loopback;
    const char *ca_file;
    /* A request with a body instead of a GET (NULL: GET): any HTTP answer is then a success
     * (cb gets its body), only a transfer that got none is an error. */
    const char *method;
    const char *send, *send_type; /* the body and its Content-Type */
    size_t send_len;
    /* What the URL is called in error messages; NULL: "file_url". */
    const char *what;
};

/* The fetch ended: `err` is NULL and data/len the body (borrowed: valid in
 * the callback only), or `err` says why. */
typedef void (*fetch_done_fn)(void *ud, const char *data, size_t len, const char *err);

struct fetch;

/* Start fetching `url`.  NULL with `err` filled when it cannot start at all
 * (not a URL, not https); cb never runs then. */
struct fetch *fetch_start(uv_loop_t *loop, const char *url, const struct fetch_opts *o, fetch_done_fn cb, void *ud,
                          char *err, size_t errlen);
/* cb never runs after this; the memory is released once libcurl lets go. */
void fetch_cancel(struct fetch *f);

/* The URL's host (IPv6 without brackets, lower-case) and scheme: 0, or -1
 * when `url` does not parse. */
int fetch_url_host(const char *url, char *host, size_t hostlen, char *scheme, size_t schemelen);
/* 1 if `sa` is an address a fetch may never reach. */
int fetch_address_forbidden(const struct sockaddr *sa, int allow_loopback);

#endif
