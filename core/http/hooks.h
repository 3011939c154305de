/* hooks.h — asking the policy a question on behalf of a request. */
#ifndef CC_HOOKS_H
#define CC_HOOKS_H

#include <jansson.h>

#include "http.h"

/* Call hook `name` with the values of the array `args` as arguments.  On success 0 and *results (a new array of the
 * hook's return values).  On failure answers the request 500 `policy_error`
 * ("policy hook <name> failed: <first line>"), counts it, returns -1. */
int hook_ask(struct request *req, const char *name, const json_t *args, json_t **results);
/* Ask `admit` about `areq` (docs/policy.md).  Admitted (its first answer is a table): 0 and
 * *limits, that table (a new reference).  Refused: answers the request 429 with the code it
 * named (too_many_sessions or rate_limited) and its scope (key, else server), or 403 forbidden,
 * with its reason; a failed hook as hook_ask; returns -1. */
int hook_admit(struct request *req, const json_t *areq, json_t **limits);

#endif
