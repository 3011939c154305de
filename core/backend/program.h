/* program.h — the program of a run or a session, read from a request body and
 * checked against the policy (file names, limits, sizes, admission). */
#ifndef CC_PROGRAM_H
#define CC_PROGRAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

enum program_kind { PROGRAM_RUN, PROGRAM_SESSION };

struct program_limits {
    long long timeout_ms;   /* 0: none (a session without timeout_ms) */
    long long memory_mb;
    double cpus;
    long long pids;
    long long output_bytes;
    long long idle_timeout_s;
    long long lifetime_s;
    long long compile_timeout_ms; /* 0: timeout_ms bounds the compile step too */
    /* Per-exec resource limits (0: none), applied by the launcher (docs/protocol.md). */
    long long cpu_time_ms, cpu_extra_ms, compile_cpu_time_ms;
    long long file_size_bytes, stack_kb, processes;
};

struct program {
    char language[64];      /* canonical name */
    json_t *image;          /* the image map entry (a copy: reloads do not touch it) */
    json_t *files;          /* [{"name","content"}]: the main file first (content: the bytes) */
    char *main_name;        /* the main file's name: `main`, else the entry's `file` */
    json_t *sources;        /* the names of the files with the main file's extension, main first */
    int combined_output;    /* a run's answer also carries `output` (stdout and stderr interleaved) */
    char *stdin_data;       /* NULL: none */
    size_t stdin_len;
    json_t *args;           /* array of strings */
    json_t *compile_options; /* array of strings: the compile step's "{options}" */
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
/* The argv of an image entry's command (`run`, `compile`...) for this program, its placeholders
 * expanded (docs/policy.md): "{file}" and "{stem}" within a token become the main file's name and
 * that name without its last extension; a token "{sources}" becomes the names of `sources`, a
 * token "{options}" the request's `compile_options`. */
json_t *program_argv(const struct program *p, const json_t *command);
/* The value of limit `name` for a request of this image entry's language that does not set it:
 * the language's own default (its `limits`), else the policy's, within the policy's min..max. */
double program_limit_default(const json_t *entry, const char *name);
/* Whether an image entry's compile step takes a request's `compile_options` ("{options}"). */
int program_takes_options(const json_t *entry);
/* Whether `name` follows api.md's file-name rule. */
int program_valid_path(const char *name);

#endif
