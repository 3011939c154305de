/* fanout.h — ask every healthy backend the same question and gather the
 * answers (GET /v1/sessions, /v1/languages through a balancer). */
#ifndef CC_FANOUT_H
#define CC_FANOUT_H

#include <jansson.h>

#include "http/http.h"

/* Called once every backend answered or failed; `answers` holds the JSON
 * bodies of the 200s (borrowed). */
typedef void (*fanout_done_fn)(struct request *req, json_t *answers, void *ud);

void fanout_get(struct request *req, const char *target, fanout_done_fn done, void *ud);

#endif
