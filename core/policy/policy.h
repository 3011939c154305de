/* policy.h — the embedded Lua 5.4 policy engine.
 *
 * A policy is a Lua script that returns a table: plain settings plus hook
 * functions.  C reads the settings once per (re)load and calls the hooks at
 * decision points with a plain value in and plain values out.  Every call runs
 * under an instruction budget and a memory cap; a failing hook fails only the
 * request that asked. */
#ifndef CC_POLICY_H
#define CC_POLICY_H

#include <jansson.h>
#include <stddef.h>

struct policy;

struct policy_limits {
    long long load_instructions; /* budget for running the script itself */
    long long hook_instructions; /* budget per hook call */
    size_t memory_bytes;         /* cap on the Lua state's whole heap */
};

/* Load `path`.  On failure: NULL, and `err` holds "file:line: reason". */
struct policy *policy_load(const char *path, const struct policy_limits *limits, char *err,
                           size_t errlen);
void policy_free(struct policy *p);
/* Set the per-call instruction budget and the heap cap that the policy's own
 * settings ask for (read after loading). */
void policy_set_limits(struct policy *p, long long hook_instructions, size_t memory_bytes);

/* The returned table as JSON (hooks left out).  Owned by the policy. */
const json_t *policy_settings(const struct policy *p);
const char *policy_path(const struct policy *p);
int policy_has_hook(const struct policy *p, const char *name);
/* The line of the policy file that first mentions `word` (for messages about a
 * setting), or 1. */
int policy_line_of(const struct policy *p, const char *word);

/* Call hook `name` with the values of the array `args` as its arguments
 * (borrowed; NULL passes nothing).  On success
 * returns 0 and *results is a new JSON array of every value the hook returned
 * (nil as null).  On failure returns -1 and `err` holds the error's first line;
 * the traceback is logged. */
int policy_call(struct policy *p, const char *name, const json_t *args, json_t **results,
                char *err, size_t errlen);

#endif
