/* judge.h — POST /v1/judge: one program against N test cases in one warm
 * container (core/backend/run.c runs it; this reads the cases and judges them). */
#ifndef CC_JUDGE_H
#define CC_JUDGE_H

#include <jansson.h>

#include "http/http.h"
#include "program.h"

/* Judge0's comparison, also /v1/judge's: every line's trailing whitespace and the text's are stripped. */
int judge_same_output(const char *a, size_t alen, const char *b, size_t blen);

/* Test cases per request at most: the answer holds every case's output. */
#define JUDGE_MAX_CASES 64

/* The request's `cases`, checked, or NULL after answering 400. */
json_t *judge_read_cases(struct request *req);
/* A case's own limits over the program's. */
void judge_case_limits(const json_t *kase, struct program_limits *l);
/* The case's answer: `result` (a /v1/run-shaped result of this case, stolen) with its verdict:
 * "accepted" (ok, and stdout matches expected_output when there is one, trailing whitespace of
 * each line and of the whole ignored), "wrong_answer", or the run's status. */
json_t *judge_verdict(const json_t *kase, json_t *result, const char *out, size_t outlen);
/* The whole answer. `failed`: the compile step's status when it failed (no case ran), else NULL. */
json_t *judge_answer(const char *language, const char *failed, const json_t *compile, json_t *verdicts,
                     size_t ncases);

#endif
