/* run.h — one-shot runs: POST /v1/run. */
#ifndef CC_RUN_H
#define CC_RUN_H

#include <stddef.h>

#include "http/http.h"

void run_handle(struct request *req);
/* POST /v1/judge: one program against test cases (core/backend/judge.c). */
void judge_handle(struct request *req);
size_t run_count(void);
size_t run_count_for_key(const char *key_hash);
size_t run_count_for_language(const char *language);
/* Stop every run (shutdown): each answers and its container is removed. */
void run_kill_all(void);

#endif
