/* program.h — the program of a run or a session, read from a request body and
 * checked against the policy (file names, limits, sizes, admission). */
#ifndef CC_PROGRAM_H
#define CC_PROGRAM_H

#include <jansson.h>
#include <stddef.h>

#include "http.h"

enum program_kind { PROGRAM_RUN, PROGRAM_SESSION };

struct program_limits {
    long long timeout_ms;   /* 0: none (a session without timeout_ms) */
    long long memory_mb;
    double cpus;
    long long pids;
    long long output_bytes;
    long long idle_timeout_s;
    long long lifetime_s;
    /* Per-exec resource limits (0: none), applied by the launcher (docs/protocol.md). */
    long long cpu_time_ms, cpu_extra_ms, compile_cpu_time_ms;
    long long file_size_bytes, stack_kb, processes;
};

struct program {
    char language[64];      /* canonical name */
    json_t *image;          /* the image map entry (a copy: reloads do not touch it) */
    json_t *files;          /* [{"name","content"}]: the main file first */
    char *stdin_data;       /* NULL: none */
    size_t stdin_len;
    json_t *args;           /* array of strings */
    struct program_limits limits;
    int tty, cols, rows;
    int has_code;
    int output_base64;      /* "output_encoding":"base64": a run's outputs as base64 of the raw bytes */
};

/* Read and check the body of POST /v1/run or /v1/sessions, then ask the
 * policy's admit hook with `counts` ({"server":N,"key":N}).  On any refusal
 * the request is answered (400/413/422/429/403/500) and -1 returned. */
int program_from_request(struct request *req, enum program_kind kind, const json_t *counts,
                         struct program *out);
void program_free(struct program *p);
/* Whether `name` follows api.md's file-name rule. */
int program_valid_path(const char *name);

#endif
