/* notebook.h — the backend side of `execute`: cells of an `ipython` session.
 *
 * The session's program is the notebook driver (docker-services/ipython/notebook.py); cells
 * travel as JSON lines over the launcher's notebook channel (C frames to the program's fd 3,
 * c frames back from its fd 4; docs/protocol.md). This room matches requests to replies, keeps
 * the 409 rules (one cell at a time, none while the REPL runs a statement), interrupts a cell
 * at its timeout and answers a cell whose interpreter ended. It does no I/O of its own: the
 * caller hands it the session's sandbox to write to. */
#ifndef CC_NOTEBOOK_H
#define CC_NOTEBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "sandbox.h"

#define NOTEBOOK_DEFAULT_TIMEOUT_MS 30000
#define NOTEBOOK_MAX_TIMEOUT_MS (24 * 3600 * 1000)

struct notebook;

struct notebook *notebook_new(void);
/* A request still waiting is answered 503 (only at shutdown can one be left). */
void notebook_free(struct notebook *nb);

/* POST /v1/sessions/{id}/execute on a running session: answers 409 at once, or sends the cell
 * and answers when the driver replies, the timeout passes, or the interpreter ends.
 * `output_limit` caps the cell's outputs (the session's output_bytes). */
void notebook_execute(struct notebook *nb, struct sandbox *sb, struct request *req, const char *code,
                      size_t len, uint32_t timeout_ms, uint64_t output_limit);

/* Bytes the driver wrote to the channel. */
void notebook_channel(struct notebook *nb, const char *data, size_t len);

/* Timeouts: interrupt a cell past its deadline (SIGINT to the program), and answer `timeout`
 * if it does not come back within a grace period. Called often (the session reaper). */
void notebook_tick(struct notebook *nb, struct sandbox *sb, double now_ms);

/* A cell is running or waiting to run: the session is in use, not idle. */
int notebook_busy(const struct notebook *nb);

/* The program ended (exit(), os._exit(), a crash, a kill): a cell waiting is answered with
 * status "error" and an error output named SessionEnded saying `why`. */
void notebook_ended(struct notebook *nb, const char *why);

#endif
