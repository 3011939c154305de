/* app.c — the process-wide state. */
#include "app.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static struct {
    uv_loop_t *loop;
    struct policy *policy;
    struct config config;
    int have_config;
    int shutting_down;
    char boot_id[33];
} app;

void app_init(uv_loop_t *loop) {
    app.loop = loop;
    random_hex(app.boot_id, 16);
}

uv_loop_t *app_loop(void) { return app.loop; }
const struct config *app_config(void) { return &app.config; }
struct policy *app_policy(void) { return app.policy; }
const char *app_boot_id(void) { return app.boot_id; }
int app_shutting_down(void) { return app.shutting_down; }
void app_set_shutting_down(void) { app.shutting_down = 1; }

int app_cors_allowed(const char *origin) {
    size_t i;
    json_t *o;
    json_array_foreach(app.config.cors_origins, i, o) {
        if (strcmp(json_string_value(o), origin) == 0 || strcmp(json_string_value(o), "*") == 0) return 1;
    }
    return 0;
}

void app_install(struct policy *p, struct config *c) {
    if (app.have_config) config_free(&app.config);
    policy_free(app.policy);
    app.policy = p;
    app.config = *c;
    app.have_config = 1;
}

void app_free(void) {
    if (app.have_config) config_free(&app.config);
    policy_free(app.policy);
    app.policy = NULL;
    app.have_config = 0;
}
