/* service.c — /healthz and /metrics. */
#include "service.h"

#include <string.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "policy/app.h"
#include "reply.h"
#include "router.h"

static const char *role_name;
static service_health_fn health_fn;

static void handle_healthz(struct request *req) {
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

static void handle_metrics(struct request *req) {
    buf_t out = BUF_INIT;
    metrics_render(&out);
    http_respond(req, 200, "text/plain; version=0.0.4", out.data, out.len, NULL);
    buf_free(&out);
}

static const struct route service_routes[] = {
    {"GET", "/healthz", ACCESS_OPEN, handle_healthz, 0},
    {"GET", "/metrics", ACCESS_OPEN, handle_metrics, 0},
};

void service_init(const char *name, service_health_fn health) {
    role_name = name;
    health_fn = health;
    router_add(service_routes, sizeof service_routes / sizeof service_routes[0]);
    metrics_declare(METRIC_GAUGE, METRIC_CONNECTIONS_OPEN, "");
    metrics_declare(METRIC_COUNTER, "cloudcode_policy_errors_total", "");
}
