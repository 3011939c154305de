/* e2b_sandbox.c — E2B's sandbox calls (E2B_SANDBOX_URL), named by the
 * E2b-Sandbox-Id header: finding the sandbox, envd's /health and its process
 * RPC (Connect with the JSON codec; e2b_exec.c runs the commands).  Files are
 * e2b_files.c's, the code interpreter e2b_interp.c's.  A balancer relays
 * every sandbox call to the session's backend. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/session.h"
#include "e2b.h"
#include "http/reply.h"

const char *e2b_sandbox_id(const struct request *req) { return http_header(req, "e2b-sandbox-id"); }

struct session *e2b_sandbox(struct request *req, int token) {
    const char *id = http_header(req, "e2b-sandbox-id");
    if (!id) {
        reply_error(req, 400, "e2b", "the E2b-Sandbox-Id header is required");
        return NULL;
    }
    if (e2b_relay_to_backend(req, id) == 0) return NULL;
    struct session *s = session_find_live(id);
    if (!s) {
        reply_error(req, 502, "e2b", "sandbox %s is not running", id);
        return NULL;
    }
    char want[65];
    const char *got = http_header(req, "x-access-token");
    e2b_access_token(session_owner(s), id, want);
    if (token && (!got || strlen(got) != 64 || CRYPTO_memcmp(got, want, 64) != 0)) {
        reply_error(req, 401, "e2b", "the sandbox's access token (X-Access-Token) is missing or wrong");
        return NULL;
    }
    session_touch(s);
    return s;
}

/* Connect's error codes with their HTTP statuses. */
void e2b_rpc_error(struct request *req, const char *code, const char *msg) {
    int status = strcmp(code, "not_found") == 0          ? 404
               : strcmp(code, "invalid_argument") == 0   ? 400
               : strcmp(code, "unimplemented") == 0      ? 501
               : strcmp(code, "unavailable") == 0        ? 503
               : strcmp(code, "already_exists") == 0     ? 409
                                                          : 500;
    reply_json(req, status, json_pack("{s:s,s:s}", "code", code, "message", msg));
}

void e2b_rpc_unimplemented(struct request *req) {
    if (e2b_sandbox(req, 1))
        e2b_rpc_error(req, "unimplemented", "not supported by CloudCode's E2B dialect (docs/compat.md)");
}

/* ---- /health -------------------------------------------------------------------------------- */

void e2b_handle_health(struct request *req) {
    if (e2b_sandbox(req, 1)) reply_no_content(req);
}

/* ---- process.Process ------------------------------------------------------------------------- */

int e2b_connect_envelope(struct request *req, unsigned flags, const json_t *msg) {
    char *text = json_text(msg);
    if (!text) return -1;
    size_t n = strlen(text);
    unsigned char head[5] = {(unsigned char)flags, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                             (unsigned char)(n >> 8), (unsigned char)n};
    http_stream_write(req, head, sizeof head);
    http_stream_write(req, text, n);
    free(text);
    return 0;
}

void e2b_handle_process_start(struct request *req) {
    struct session *s = e2b_sandbox(req, 1);
    if (!s) return;
    /* A streaming call's request is one enveloped message. */
    const unsigned char *b = (const unsigned char *)req->body.data;
    size_t n = req->body.len;
    size_t mlen = n >= 5 ? ((size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | b[4]) : 0;
    json_t *start = n >= 5 && b[0] == 0 && mlen == n - 5 ? json_loadb((const char *)b + 5, mlen, 0, NULL) : NULL;
    if (!json_is_object(start)) e2b_rpc_error(req, "invalid_argument", "the request must be one enveloped JSON message");
    else e2b_process_start(req, s, start);
    json_decref(start);
}

/* SendSignal {process: {pid}, signal: SIGNAL_SIGKILL | SIGNAL_SIGTERM (or 9, 15)}. */
void e2b_handle_process_signal(struct request *req) {
    struct session *s = e2b_sandbox(req, 1);
    if (!s) return;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    const json_t *pid = json_object_get(json_object_get(body, "process"), "pid"), *sig = json_object_get(body, "signal");
    const char *name = json_string_value(sig);
    int signo = json_is_integer(sig) ? (int)json_integer_value(sig)
              : name && strcmp(name, "SIGNAL_SIGKILL") == 0 ? 9
              : name && strcmp(name, "SIGNAL_SIGTERM") == 0 ? 15
                                                            : 0;
    if (!json_is_integer(pid) || json_integer_value(pid) <= 0 || json_integer_value(pid) > UINT32_MAX ||
        (signo != 9 && signo != 15))
        e2b_rpc_error(req, "invalid_argument", "SendSignal needs process.pid and signal SIGKILL or SIGTERM");
    else
        e2b_process_signal(req, s, (uint32_t)json_integer_value(pid), signo);
    json_decref(body);
}

void e2b_handle_process_list(struct request *req) {
    if (e2b_sandbox(req, 1)) reply_json(req, 200, json_pack("{s:[]}", "processes"));
}
