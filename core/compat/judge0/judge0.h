/* judge0.h — the Judge0 CE dialect (docs/compat.md), served by translating to
 * /v1/run like Piston: what its files share.
 *
 * judge0.c          the routes, a submission's fields (defaults, bounds, 422s)
 *                   and how a stored submission is shown (fields, base64)
 * judge0_run.c      running a submission: the /v1 program, number_of_runs,
 *                   the queue of submissions waiting for a worker
 * judge0_status.c   Judge0's statuses and how one is decided, Ruby's base64
 * judge0_store.c    where submissions are kept until their retention ends
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

enum {
    J0_QUEUE = 1, J0_PROCESSING, J0_ACCEPTED, J0_WRONG_ANSWER, J0_TLE, J0_COMPILATION_ERROR,
    J0_SIGSEGV, J0_SIGXFSZ, J0_SIGFPE, J0_SIGABRT, J0_NZEC, J0_OTHER, J0_INTERNAL_ERROR, J0_EXEC_FORMAT_ERROR,
};

void judge0_init(void);
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
void j0_store_delete(const char *token);
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
/* The submission as Judge0 shows it: `fields` (NULL: the default ones), texts as text or base64;
 * NULL when a text is not UTF-8 and base64 was not asked for. */
json_t *j0_show(const json_t *sub, const json_t *fields, int base64);
/* A setting of the policy's judge0.config, or `def`. */
double j0_conf(const char *name, double def);
int j0_conf_flag(const char *name, int def);

#endif
