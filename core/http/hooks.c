/* hooks.c — asking the policy a question on behalf of a request. */
#include "hooks.h"

#include "base/metrics.h"
#include "policy/app.h"
#include "reply.h"

int hook_ask(struct request *req, const char *name, const json_t *args, json_t **results) {
    char err[512];
    if (policy_call(app_policy(), name, args, results, err, sizeof err) == 0) return 0;
    metrics_add(METRIC_COUNTER, "cloudcode_policy_errors_total", "", 1);
    reply_error(req, 500, "policy_error", "policy hook %s failed: %s", name, err);
    return -1;
}
