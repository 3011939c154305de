/* curlm.h — libcurl's multi interface on the uv loop.
 *
 * The curl_multi_socket_action pattern: libcurl tells us which sockets to
 * watch (one uv_poll each) and when to wake it (one uv_timer); we tell it
 * what happened and read finished transfers off its message queue.  Users
 * (docker.c, fetch.c) embed a struct curlm_xfer in their own transfer, set
 * its easy handle and callbacks, and start it here. */
#ifndef CC_CURLM_H
#define CC_CURLM_H

#include <curl/curl.h>
#include <uv.h>

struct curlm;
struct curlm_xfer;

/* The transfer ended (result CURLE_OK or why not).  The easy handle is out of
 * the multi but still alive (curl_easy_getinfo works); it is cleaned up and
 * `release` called right after this returns. */
typedef void (*curlm_done_fn)(struct curlm_xfer *x, CURLcode result);
/* Free the user's structure around `x`: the easy handle is already gone. */
typedef void (*curlm_release_fn)(struct curlm_xfer *x);

struct curlm_xfer {
    CURL *easy;                /* set by the user; owned by curlm once started */
    curlm_done_fn done;
    curlm_release_fn release;  /* may be NULL */
    /* curlm's own */
    struct curlm *m;
    struct curlm_xfer *prev, *next;
    int added;                 /* the easy handle is in the multi */
    int cancelled;             /* done never runs any more */
    int finishing;             /* done is running */
};

/* NULL if libcurl cannot start. */
struct curlm *curlm_new(uv_loop_t *loop);
/* Hand `x` to libcurl (now, or once libcurl returns when called from inside
 * one of its callbacks).  0: curlm owns x until `release`; -1: nothing was
 * taken (closing, or libcurl refused), the caller still owns x and its easy. */
int curlm_start(struct curlm *m, struct curlm_xfer *x);
/* `done` never runs after this; x is released now or as soon as libcurl lets
 * go of it.  Safe from inside any callback, including x's own `done`. */
void curlm_cancel(struct curlm_xfer *x);
/* Cancel every transfer (their `done` does not run, `release` does), close
 * every handle, free `m`, then call on_closed (may be NULL).  Safe from
 * inside any callback. */
void curlm_close(struct curlm *m, void (*on_closed)(void *ud), void *ud);
int curlm_closing(const struct curlm *m);
uv_loop_t *curlm_loop(const struct curlm *m);

#endif
