/* session_int.h — what session.c and its pieces (session_sandbox, session_poll, session_ws,
 * session_files, session_reaper) share: the session, its readers and pending calls. */
#ifndef CC_SESSION_INT_H
#define CC_SESSION_INT_H

#include "base/log.h"
#include "program.h"
#include "sandbox.h"
#include "session.h"

struct notebook;
struct pool_entry;
struct ws;

/* How long a DELETE waits for the launcher to report the killed program's end
 * (it drains for 100 ms and reaps for at most 2 s) before it removes the
 * container without that report. */
#define KILL_WAIT_MS 3000
/* Bytes of output a single long-poll or WebSocket message carries at most. */
#define READ_CHUNK (256 * 1024)

struct waiter {
    struct request *req;
    struct session *s;
    uint64_t cursor;
    double deadline_ms;
    struct waiter *next;
};

struct wsclient {
    struct ws *ws;
    struct session *s;
    uint64_t cursor;
    struct wsclient *next;
};

enum file_op { FILE_GET, FILE_PUT, FILE_LIST };

struct pending_file {
    uint32_t rid;
    enum file_op op;
    struct request *req;
    struct pending_file *next;
};

/* A DELETE answered once the program is stopped. */
struct pending_delete {
    struct request *req;
    struct pending_delete *next;
};

struct session {
    char id[32];
    char key_hash[65];
    struct program prog;
    struct sandbox *sb;
    unsigned uid;
    int warm;                 /* the sandbox came from the pool (its session label is empty) */
    int reusable;             /* the launcher reported the end, and no OOM kill: the pool may reset it */
    struct pool_entry *returning;   /* the pool resets the container: DELETEs wait for it */
    enum session_state state;
    int compiling;
    int has_exit;
    int exit_code;
    int signo;
    json_t *compile;
    double created_ms, last_active_ms, ended_ms;
    struct outrec rec;
    int eof_requested;
    struct request *create_req;
    struct waiter *waiters;
    struct wsclient *clients;
    struct pending_file *files;
    struct pending_delete *deletes;
    int killing;              /* SIGKILL sent for a DELETE: its exit frame ends the session */
    struct notebook *nb;      /* cells (execute), for a notebook language once its program runs */
    double kill_deadline_ms;
    struct session *prev, *next;
};

/* Every session, newest first (session.c owns the list). */
extern struct session *sessions;

static inline double now_ms(void) { return wall_clock_ms(); }

/* session.c: the state machine. */
double session_expires_ms(const struct session *s);
json_t *session_signal_json(int signo);
/* Answer the long-polls waiting and send the WebSockets what they have not seen. */
void session_wake_readers(struct session *s);
void session_answer_create(struct session *s);
void session_end(struct session *s, enum session_state st);
void session_free(struct session *s);

/* session_sandbox.c: the sandbox's reports. */
extern const struct sandbox_callbacks session_callbacks;

/* session_poll.c: answer a long-poll now (it is unlisted and freed). */
void waiter_answer(struct waiter *w);

/* session_ws.c */
void wsclient_remove(struct wsclient *c);
void wsclient_flush(struct wsclient *c);

/* session_files.c */
void session_fail_files(struct session *s);
void session_file_reply(struct sandbox *sb, void *ud, uint32_t rid, int status, const char *data, size_t len);

#endif
