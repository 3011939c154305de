/* session.h — interactive sessions: the registry, states, output record,
 * waiters (long-polls and WebSockets) and the reaper. */
#ifndef CC_SESSION_H
#define CC_SESSION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "outrec.h"

enum session_state {
    /* Until the program runs, its create call is pending (create_req) and nothing else can name
     * the session: its id is first told in the create's answer, and every lookup (session_lookup,
     * session_find_live, the list, DELETE) skips a session whose create is pending. So no input,
     * eof, signal or resize reaches a starting session: none is queued for it. */
    SESSION_STARTING,
    SESSION_RUNNING,
    SESSION_EXITED,
    SESSION_TIMEOUT,
    SESSION_MEMORY_LIMIT,
    SESSION_OUTPUT_LIMIT,
    SESSION_KILLED,
    SESSION_LOST,
};

struct session;

/* POST /v1/sessions. */
void session_create(struct request *req);
/* The caller's session named by req->params[0], or NULL after answering 404. */
struct session *session_lookup(struct request *req);
int session_ended(const struct session *s);
const char *session_state_name(enum session_state st);
json_t *session_json(const struct session *s);
/* Any request naming the session counts as activity (idle timeout). */
void session_touch(struct session *s);

/* Answers for the session routes (each replies). */
void session_list(struct request *req);
void session_input(struct request *req, struct session *s, const char *data, size_t len, int eof);
void session_output(struct request *req, struct session *s, uint64_t cursor, long wait_ms);
void session_signal(struct request *req, struct session *s, int signo);
void session_resize(struct request *req, struct session *s, int cols, int rows);
/* POST /v1/sessions/{id}/execute: a notebook cell (notebook.h). */
void session_execute(struct request *req, struct session *s, const char *code, size_t len, uint32_t timeout_ms);
void session_file_get(struct request *req, struct session *s, const char *path);
void session_file_put(struct request *req, struct session *s, const char *path);
void session_file_list(struct request *req, struct session *s);
void session_delete(struct request *req);
void session_websocket(struct request *req, struct session *s, uint64_t cursor);

/* INT, TERM, KILL, HUP, QUIT, USR1, USR2 (with or without SIG): the number, or 0. */
int session_signal_number(const char *name);
/* For the E2B dialect, whose sandbox calls name their sandbox by its
 * unguessable id and carry no key: the session with this id, live and created,
 * whoever asks, or NULL. */
struct session *session_find_live(const char *id);
const char *session_id(const struct session *s);
const char *session_owner(const struct session *s);      /* SHA-256 of its key */
const char *session_container(const struct session *s);  /* "" while it has none */
unsigned session_uid(const struct session *s);
const struct program *session_program(const struct session *s);
/* The session ends `seconds` from now (E2B's setTimeout): lifetime and idle
 * timeout are set so, within the policy's maxima. */
void session_set_deadline(struct session *s, long long seconds);
size_t session_count_live(void);
size_t session_count_for_key(const char *key_hash);
/* Live (not ended) sessions of the language; *cold: how many of them run in a container of their
 * own, which never goes back to a pool (it carries the session's label). */
size_t session_count_for_language(const char *language, size_t *cold);
/* End every session (killed), answer waiters, close WebSockets with 1001. */
void session_kill_all(void);
void session_reaper_start(void);
void session_reaper_stop(void);
/* Free every session (after the loop stopped). */
void session_free_all(void);

#endif
