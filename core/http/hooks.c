/* hooks.c — asking the policy a question on behalf of a request. */
#include "hooks.h"

#include <string.h>

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

int hook_admit(struct request *req, const json_t *areq, json_t **limits) {
    json_t *res, *args = json_pack("[O]", areq);
    int rc = hook_ask(req, "admit", args, &res);
    json_decref(args);
    if (rc < 0) return -1;
    json_t *first = json_array_get(res, 0);
    if (json_is_object(first)) {
        *limits = json_incref(first);
        json_decref(res);
        return 0;
    }
    const char *reason = json_string_value(json_array_get(res, 1));
    const char *code = json_string_value(json_array_get(res, 2));
    const char *scope = json_string_value(json_array_get(res, 3));
    if (!reason) reason = "the policy refused this request";
    if (code && (strcmp(code, "too_many_sessions") == 0 || strcmp(code, "rate_limited") == 0))
        reply_error_with(req, 429, code, json_pack("{s:s}", "scope", scope && strcmp(scope, "key") == 0 ? "key" : "server"),
                         "%s", reason);
    else
        reply_error(req, 403, "forbidden", "%s", reason);
    json_decref(res);
    return -1;
}
