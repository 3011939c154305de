/* run.h — the life of one program run: start (X), stdin (I, E), signals and resize (S, Z), its
 * output, the wall timeout and output limit, and the end (drain, kill, reap, x frame). */
#ifndef LAUNCHER_RUN_H
#define LAUNCHER_RUN_H

#include "launcher.h"

#include <poll.h>

/* X. Answers busy when a run is active. Takes ownership of nothing: msg stays the caller's. */
void run_start(struct launcher *l, const struct exec_msg *msg);

void run_input(struct launcher *l, const void *data, size_t n); /* I */
/* C: bytes for the notebook channel; dropped when no run with a channel is going. */
void run_channel_input(struct launcher *l, const void *data, size_t n);

/* Writes what the program's stdin takes now, and closes it once E has been seen and everything
 * before it written. Called on every turn of the loop, like a flush. */
void run_feed_stdin(struct launcher *l);

/* True while the running program has INPUT_CAP bytes of input it has not taken yet: the loop
 * stops reading frames until it takes some. */
bool run_input_full(const struct launcher *l);
void run_eof(struct launcher *l);                               /* E */
void run_signal(struct launcher *l, int signo);                 /* S */
void run_resize(struct launcher *l, uint16_t cols, uint16_t rows); /* Z */

/* Adds the program's fds the loop should watch now to pfds (room for 5); returns the count. */
int run_poll_fds(struct launcher *l, struct pollfd *pfds);
void run_handle_poll(struct launcher *l, const struct pollfd *pfds, int n);

/* SIGCHLD: reaps every exited child and notes the main process's end. */
void run_reap(struct launcher *l);

/* Acts on the timeout and the end of the drain; returns how long the loop may sleep (-1: no
 * deadline pending). */
int run_check_timers(struct launcher *l);

/* Kills the sandbox's processes and, when a run is active, ends it with its x frame at once
 * (K and shutdown). */
void run_kill_all(struct launcher *l);
/* Kills the sandbox's processes for the launcher's own end (docker stop, stdin closed), with no
 * x frame: the program did not end by itself, its container is going, and the backend, seeing
 * the stream end without one, reports the session lost rather than exited. */
void run_kill_for_shutdown(struct launcher *l);

#endif
