/* judge0.h — the Judge0 CE dialect (docs/compat.md), served by translating to
 * /v1/run like Piston: what its files share.
 *
 * judge0.c            the languages, creating submissions, the information
 *                     routes (the table is core/routes.c)
 * judge0_show.c       how a stored submission is shown (fields, base64); show,
 *                     delete, batch show
 * judge0_submission.c a submission's fields read (defaults, bounds, 422s)
 * judge0_run.c        running a submission: the /v1 program, number_of_runs,
 *                     the queue of submissions waiting for a worker
 * judge0_status.c     Judge0's statuses and how one is decided, Ruby's base64
 * judge0_store.c      where submissions are kept until their retention ends
 *
 * A stored submission is a JSON object with Judge0's attribute names; its
 * texts (source_code, stdin, expected_output, stdout, stderr,
 * compile_output) are kept as Judge0 keeps them in its database, base64 by
 * Ruby's Base64.encode64 (or null), so any bytes survive; private fields
 * start with '_'. */
#ifndef CC_JUDGE0_H
#define CC_JUDGE0_H

#include <jansson.h>
#include <stddef.h>

#include "base/buf.h"
#include "http/http.h"
#include "http/router.h"

enum {
    J0_QUEUE = 1, J0_PROCESSING, J0_ACCEPTED, J0_WRONG_ANSWER, J0_TLE, J0_COMPILATION_ERROR,
    J0_SIGSEGV, J0_SIGXFSZ, J0_SIGFPE, J0_SIGABRT, J0_NZEC, J0_OTHER, J0_INTERNAL_ERROR, J0_EXEC_FORMAT_ERROR,
};

/* The routes' handlers (core/routes.c): creating submissions, the languages, the information
 * routes; showing and deleting them are judge0_show.c's below. */
route_handler j0_handle_create, j0_handle_batch_create, j0_handle_languages, j0_handle_language;
route_handler j0_handle_statuses, j0_handle_about, j0_handle_version, j0_handle_config_info,
    j0_handle_system_info, j0_handle_workers;
/* Stop every job (shutdown). */
void judge0_free(void);

/* ---- judge0_status.c ---- */
const char *j0_status_name(int id); /* 1..14, else NULL */
/* Ruby's Base64.encode64: a newline after every 60 characters and at the end; "" for no bytes. */
char *j0_encode64(const void *data, size_t len);
/* Ruby's Base64.decode64, as lenient: characters outside the alphabet are skipped. */
void j0_decode64(const char *s, size_t len, buf_t *out);
/* Decide a run's status from the /v1 result; fills `message` (Judge0's / isolate's words, or
 * NULL) and the exit signal (0: none). `expected`: the raw expected output, NULL for none. */
int j0_decide(const json_t *result, const buf_t *stdout_raw, const buf_t *expected, const char **message,
              int *exit_signal);
/* Seconds with Judge0's decimal rendering ("0.002", "5.0"). */
json_t *j0_decimal(double seconds);

/* ---- judge0_store.c ---- */
/* Keep `sub` (the reference is taken) under its token until retention_s after it finished; call
 * it again after every change of state (a balancer shares each state through Redis). `stored`
 * (may be NULL) runs once the state can be read everywhere: at once on a backend, after Redis
 * has answered on a balancer, so a client told of a state finds it on any balancer. */
void j0_store_put(json_t *sub, void (*stored)(void *ud), void *ud);
/* The submissions of `tokens` (strings): cb gets an array, a submission or null per token
 * (NULL when out of memory), valid during the call. On a balancer those it does not run are read
 * from Redis, so cb may come later; it always comes. */
typedef void (*j0_found_fn)(void *ud, const json_t *found);
void j0_store_find(const json_t *tokens, j0_found_fn cb, void *ud);
void j0_store_delete(const char *token, void (*deleted)(void *ud), void *ud);
void j0_store_free(void);

/* ---- judge0_run.c ---- */
/* A waiting client (wait=true) is answered by `done` once the submission has finished. */
typedef void (*j0_done_fn)(json_t *sub, void *ud);
/* Queue `sub` (status In Queue; stored already) to run as soon as a worker is free, acting with
 * the credentials of `req`; done (may be NULL) is called when it has finished. -1 with nothing
 * queued when the queue is full. `now`: run at once, without a worker (wait=true). */
int j0_run_submit(struct request *req, json_t *sub, int now, j0_done_fn done, void *ud);
/* Forget `ud`: its client went away (the run goes on). */
void j0_run_forget(void *ud);
size_t j0_run_queued(void);
size_t j0_run_working(void);
void j0_run_free(void);

/* ---- judge0_zip.c ---- */
/* The regular files of a zip archive as /v1 program files ([{"name","content"}]), or NULL with
 * `err` (a 422 message) when it is not one, holds more than max_files files or max_bytes bytes,
 * a name /v1 refuses, or a file that is not UTF-8 text. */
json_t *j0_unzip(const void *zip, size_t len, size_t max_bytes, size_t max_files, char *err, size_t errlen);

/* ---- judge0_callback.c ---- */
/* PUT the finished submission to its callback_url, if it has one. */
void j0_callback(const json_t *sub);
/* Why the policy refuses a callback_url (a message for the 422), or NULL. */
const char *j0_callback_refused(const char *url);
void j0_callback_free(void);

/* ---- judge0.c ---- */
/* A setting of the policy's judge0.config, or `def`. */
double j0_conf(const char *name, double def);
int j0_conf_flag(const char *name, int def);
/* Judge0's error answer: {"error": msg}. */
void j0_error(struct request *req, int status, const char *msg);
/* The /v1 language an id names, among the available ones of `langs` (/v1/languages' body), with
 * Judge0's display name filled in from its real version; NULL when it is not offered here. */
const json_t *j0_resolve_id(const json_t *langs, json_int_t id, char *name, size_t namelen);

/* ---- judge0_show.c ---- */
#define J0_NOT_UTF8 "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter"
/* The submission as Judge0 shows it: `fields` (NULL: the default ones), texts as text or base64;
 * NULL when a text is not UTF-8 and base64 was not asked for. */
json_t *j0_show(const json_t *sub, const json_t *fields, int base64);
/* The fields a request asks for (?fields=a,b or *), or NULL after answering 400. */
json_t *j0_requested_fields(struct request *req);
int j0_base64_requested(struct request *req);
/* The size of a batch against Judge0's bound: 0, or -1 after answering 400. */
int j0_batch_size_ok(struct request *req, size_t n);
route_handler j0_handle_show, j0_handle_delete, j0_handle_batch_show;

/* ---- judge0_submission.c ---- */
/* A new submission from one JSON object: the submission, or NULL with `errors` filled. */
/* Add Judge0's 422 message for `field` to `errors` ({"field": ["message", ...]}). */
void j0_add_error(json_t *errors, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
json_t *j0_read_submission(struct request *req, const json_t *in, int base64, const json_t *langs, json_t *errors);

#endif
