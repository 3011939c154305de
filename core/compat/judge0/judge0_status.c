/* judge0_status.c — Judge0's statuses, how one is decided from a run
 * (app/jobs/isolate_job.rb's determine_status), and Ruby's base64. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge0.h"

#include "backend/judge.h"

static const char *const names[] = {
    NULL,
    "In Queue",
    "Processing",
    "Accepted",
    "Wrong Answer",
    "Time Limit Exceeded",
    "Compilation Error",
    "Runtime Error (SIGSEGV)",
    "Runtime Error (SIGXFSZ)",
    "Runtime Error (SIGFPE)",
    "Runtime Error (SIGABRT)",
    "Runtime Error (NZEC)",
    "Runtime Error (Other)",
    "Internal Error",
    "Exec Format Error",
};

const char *j0_status_name(int id) { return id >= 1 && id <= J0_EXEC_FORMAT_ERROR ? names[id] : NULL; }

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *j0_encode64(const void *data, size_t len) {
    const unsigned char *p = data;
    buf_t out = BUF_INIT;
    size_t col = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < len ? p[i + 2] : 0);
        char q[4] = {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63], i + 1 < len ? alphabet[v >> 6 & 63] : '=',
                     i + 2 < len ? alphabet[v & 63] : '='};
        buf_append(&out, q, 4);
        col += 4;
        if (col == 60) {
            buf_append(&out, "\n", 1);
            col = 0;
        }
    }
    if (col) buf_append(&out, "\n", 1);
    if (!out.data) buf_append(&out, "", 0);
    return buf_steal(&out);
}

void j0_decode64(const char *s, size_t len, buf_t *out) {
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < len && s[i] != '='; i++) {
        const char *at = s[i] ? strchr(alphabet, s[i]) : NULL;
        if (!at) continue;
        v = v << 6 | (unsigned)(at - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)(v >> bits & 0xff);
            buf_append(out, &c, 1);
        }
    }
    if (!out->data) buf_append(out, "", 0);
}

/* isolate's SG: Status.find_runtime_error_by_status_code. */
static int signal_status(int signo) {
    switch (signo) {
    case SIGSEGV: return J0_SIGSEGV;
    case SIGXFSZ: return J0_SIGXFSZ;
    case SIGFPE: return J0_SIGFPE;
    case SIGABRT: return J0_SIGABRT;
    default: return J0_OTHER;
    }
}

static int signo_of(const char *name) {
    if (!name || strncmp(name, "SIG", 3) != 0) return 0;
    for (int s = 1; s < NSIG; s++) {
        const char *abbrev = sigabbrev_np(s);
        if (abbrev && strcmp(abbrev, name + 3) == 0) return s;
    }
    return 0;
}

int j0_decide(const json_t *result, const buf_t *stdout_raw, const buf_t *expected, const char **message,
              int *exit_signal) {
    static char text[64];
    const char *st = json_string_value(json_object_get(result, "status"));
    int signo = signo_of(json_string_value(json_object_get(result, "signal")));
    *message = NULL;
    *exit_signal = 0;
    if (!st) return J0_INTERNAL_ERROR;
    if (strcmp(st, "timeout") == 0) {
        *message = "Time limit exceeded";
        *exit_signal = SIGKILL;
        return J0_TLE;
    }
    /* The memory cgroup's kill, and output past max_file_size (isolate's file limit on stdout). */
    if (strcmp(st, "memory_limit") == 0) signo = SIGKILL;
    if (strcmp(st, "output_limit") == 0) signo = SIGXFSZ;
    if (signo) {
        snprintf(text, sizeof text, "Caught fatal signal %d", signo);
        *message = text;
        *exit_signal = signo;
        return signal_status(signo);
    }
    if (strcmp(st, "runtime_error") == 0) {
        snprintf(text, sizeof text, "Exited with error status %lld",
                 (long long)json_integer_value(json_object_get(result, "exit_code")));
        *message = text;
        return J0_NZEC;
    }
    if (strcmp(st, "ok") != 0) return J0_INTERNAL_ERROR;
    if (!expected) return J0_ACCEPTED;
    return judge_same_output(expected->data ? expected->data : "", expected->len, stdout_raw->data ? stdout_raw->data : "",
                          stdout_raw->len)
               ? J0_ACCEPTED
               : J0_WRONG_ANSWER;
}

json_t *j0_decimal(double seconds) {
    char s[64];
    snprintf(s, sizeof s, "%.3f", seconds);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '0' && s[n - 2] != '.') s[--n] = '\0';
    return json_string(s);
}
