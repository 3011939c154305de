/* e2b.h — the E2B dialect: what its parts share.
 *
 * The SDK (npm `e2b`, `@e2b/code-interpreter`) speaks to two URLs: the control
 * plane (E2B_API_URL: create, connect, timeout, kill, list; the key as
 * X-API-KEY) and the sandbox (E2B_SANDBOX_URL: envd's files and process RPC,
 * the interpreter's /execute), whose calls name their sandbox in the
 * E2b-Sandbox-Id header and carry no key.  A sandbox is one of our sessions;
 * its id is the session id, and a sandbox call proves it may act on it with
 * the access token derived from the owner's key (e2b_access_token).  Control-plane calls are
 * served with internal /v1 requests (on a balancer too); sandbox calls are
 * served by the backend holding the session, and a balancer relays them there
 * unchanged.  docs/compat.md lists what is supported and what differs. */
#ifndef CC_E2B_H
#define CC_E2B_H

#include <jansson.h>
#include <stdint.h>

#include "http/http.h"
#include "http/router.h"

/* The envd version we claim: new enough that the SDK sends no user name and
 * may upload as octet-stream, old enough to need no file metadata. */
#define E2B_ENVD_VERSION "0.5.7"
/* Where E2B's code runs: paths below it (and relative ones) name files of the
 * session's working directory. */
#define E2B_HOME "/home/user"

struct session;

/* The routes' handlers, for core/routes.c.  The control plane (e2b_api.c): */
route_handler e2b_handle_create, e2b_handle_list, e2b_handle_info, e2b_handle_kill, e2b_handle_connect;
route_handler e2b_handle_timeout;
/* envd's /health and process calls (e2b_sandbox.c), its files (e2b_files.c): */
route_handler e2b_handle_health, e2b_handle_process_start, e2b_handle_process_list, e2b_handle_process_signal;
route_handler e2b_handle_file_read, e2b_handle_file_write, e2b_handle_list_dir, e2b_handle_stat,
    e2b_handle_fs_change;
/* the code interpreter's /execute and its contexts (e2b_interp.c): */
route_handler e2b_handle_execute, e2b_handle_context_create, e2b_handle_context_list, e2b_handle_context_default;

/* Shutdown: E2B's commands end before the pools (backend_at_shutdown). */
void compat_e2b_init(void);

/* Sandbox calls: the sandbox E2b-Sandbox-Id names, or NULL once answered (502
 * when it is not running, as E2B's proxy answers; 401 without its access
 * token when `token`) or relayed to its backend by a balancer. */
struct session *e2b_sandbox(struct request *req, int token);
const char *e2b_sandbox_id(const struct request *req);
/* A unary Connect call's error: {"code", "message"} with its HTTP status. */
void e2b_rpc_error(struct request *req, const char *code, const char *msg);
/* A method we do not serve (for a live sandbox): `unimplemented`. */
route_handler e2b_rpc_unimplemented;

/* An internal /v1 request made for `req`; with `owner` (a key's SHA-256) it
 * acts as that key's owner, else with req's own key. */
void e2b_sub(struct request *req, const char *owner, const char *method, const char *target, const char *body,
             size_t len, http_response_fn cb, void *ud);
/* The sandbox's envd access token: SHA-256 of its owner's key hash and its id.
 * Whoever holds the key can derive it (create and connect hand it out); the id
 * alone is not enough.  The SDK sends it as X-Access-Token on envd's calls and
 * /execute (not on /contexts, whose answers are fixed). */
void e2b_access_token(const char *owner, const char *id, char out[65]);
/* "/v1/sessions/<id><suffix>" into out; -1 if the id cannot be a session's. */
int e2b_session_target(char *out, size_t n, const char *id, const char *suffix);

/* process.Process/Start: the command runs beside the session's program
 * (e2b_exec.c). */
void e2b_process_start(struct request *req, struct session *s, const json_t *start);

/* A command whose exit code (-1: it could not run; `out` then says why) and
 * first output answer `req` through `answer`, which must reply; argv is stolen. */
typedef void (*e2b_exec_answer_fn)(struct request *req, int exit_code, const char *out, void *ud);
void e2b_exec_answer(struct request *req, struct session *s, json_t *argv, e2b_exec_answer_fn answer, void *ud);

/* process.Process/SendSignal: `signo` to the process group of this sandbox's
 * command `pid` (one started by e2b_process_start and still running). */
void e2b_process_signal(struct request *req, struct session *s, uint32_t pid, int signo);
/* Shutdown: end every command's call now (the engine connection closes next). */
void e2b_exec_stop_all(void);

/* A balancer relays a sandbox's request to its backend unchanged; 0 when it
 * did (or answered), -1 when this is not a balancer. */
int e2b_relay_to_backend(struct request *req, const char *sandbox_id);

/* Connect's envelope: flags, big-endian length, the message. */
int e2b_connect_envelope(struct request *req, unsigned flags, const json_t *msg);

#endif
