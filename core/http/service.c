/* service.c — /healthz and /metrics. */
#include "service.h"

#include <string.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "policy/app.h"
#include "reply.h"

static const char *role_name;
static service_health_fn health_fn;

void service_handle_healthz(struct request *req) {
    json_t *body = json_object();
    int level = health_fn ? health_fn(body) : 0;
    if (app_shutting_down()) level = 2;
    static const char *const names[] = {"ok", "degraded", "unavailable"};
    json_object_set_new(body, "status", json_string(names[level]));
    json_object_set_new(body, "role", json_string(role_name));
    json_object_set_new(body, "id", json_string(app_config()->backend_id ? app_config()->backend_id
                                                                         : app_config()->listen));
    json_object_set_new(body, "boot_id", json_string(app_boot_id()));
    if (!json_object_get(body, "checks")) json_object_set_new(body, "checks", json_object());
    reply_json(req, level == 2 ? 503 : 200, body);
}

void service_handle_metrics(struct request *req) {
    buf_t out = BUF_INIT;
    metrics_render(&out);
    http_respond(req, 200, "text/plain; version=0.0.4", out.data, out.len, NULL);
    buf_free(&out);
}

void service_init(const char *name, service_health_fn health) {
    role_name = name;
    health_fn = health;
    metrics_declare(METRIC_GAUGE, METRIC_CONNECTIONS_OPEN, "");
    metrics_declare(METRIC_COUNTER, "cloudcode_policy_errors_total", "");
}
