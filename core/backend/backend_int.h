/* backend_int.h — what the backend's rooms (runs, sessions, their routes)
 * share: the engine handle, load counts, and turning a program into a sandbox. */
#ifndef CC_BACKEND_INT_H
#define CC_BACKEND_INT_H

#include <jansson.h>

#include "clients/docker.h"
#include "program.h"
#include "sandbox.h"

struct docker *backend_docker(void);
/* Whether the engine answered the last health check. */
int backend_engine_ok(void);
void backend_load_changed(void);
/* The language's live sessions and runs: the demand its pool sizes itself by; *returning: how
 * many of their containers go back to the pool when they end (all but cold sessions'). */
size_t backend_live_count(const char *language, size_t *returning);

/* What a run and a session need before their sandbox: a reachable engine, the request's program
 * (read, checked and admitted against the live counts: program_from_request) and a free sandbox
 * uid.  0 with *p and *uid filled, else -1 with the request answered. */
int backend_take_program(struct request *req, enum program_kind kind, struct program *p, unsigned *uid);

/* The sandbox settings of a program: memory, CPU, pids, tmpfs sizes (together
 * at most half the memory), fsize at or below the smallest tmpfs. */
void backend_sandbox_spec(const struct program *p, unsigned uid, const char *session_id,
                          struct sandbox_spec *spec);
/* Start the program's sandbox into *sbp: a warm container from the pool when
 * one fits the program's settings (its uid then replaces *uid, and cb->on_ready
 * runs before this returns: the program starts at once; 1), else a new one (0;
 * a session's carries its id in a label, so it is never given to another).
 * -1 (and *sbp NULL) if no sandbox could be started. */
int backend_sandbox_start(const struct program *p, unsigned *uid, const char *session_id,
                          const struct sandbox_callbacks *cb, void *ud, struct sandbox **sbp);
/* The program's environment: PATH, HOME, LANG, and what keeps output unbuffered. */
json_t *backend_program_env(const struct program *p);
/* Answer a request for a sandbox that could not start: 503 naming the missing
 * image or the engine's failure. */
void backend_reply_lost(struct request *req, const struct program *p, const char *why, int image_missing);

#endif
