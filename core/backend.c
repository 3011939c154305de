/* backend.c — the backend role: routes, health, and start-up. */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "reply.h"
#include "router.h"
#include "service.h"

int backend_validate(const struct config *c, struct policy *p, char *err, size_t errlen) {
    const char *lang;
    json_t *e;
    if (json_object_size(c->images) == 0) {
        snprintf(err, errlen, "%s:%d: setting 'images' must map at least one language", policy_path(p),
                 policy_line_of(p, "images"));
        return -1;
    }
    json_object_foreach(c->images, lang, e) {
        const char *why = NULL;
        if (!json_is_object(e)) why = "must be a table";
        else if (!json_is_string(json_object_get(e, "image"))) why = "needs image = \"name\"";
        else if (!json_is_string(json_object_get(e, "file"))) why = "needs file = \"main file name\"";
        else if (!json_is_array(json_object_get(e, "run"))) why = "needs run = {argv...}";
        if (why) {
            snprintf(err, errlen, "%s:%d: images.%s %s", policy_path(p), policy_line_of(p, lang), lang, why);
            return -1;
        }
    }
    return 0;
}

static int backend_health(json_t *body) {
    json_object_set_new(body, "sessions", json_integer(0));
    json_object_set_new(body, "capacity", json_integer(app_config()->max_sessions));
    json_object_set_new(body, "checks", json_pack("{s:s,s:{}}", "docker", "ok", "pools"));
    return 0;
}

static json_t *string_list(const json_t *v) {
    json_t *out = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) if (json_is_string(item)) json_array_append(out, item);
    return out;
}

static void handle_languages(struct request *req) {
    json_t *list = json_array();
    const char *lang;
    json_t *e;
    json_object_foreach(app_config()->images, lang, e) {
        json_array_append_new(
            list, json_pack("{s:s,s:o,s:s,s:b,s:b,s:b,s:b}", "name", lang, "aliases",
                            string_list(json_object_get(e, "aliases")), "version",
                            json_string_value(json_object_get(e, "version")) ?: "", "interactive",
                            !json_is_false(json_object_get(e, "interactive")), "compiled",
                            json_is_array(json_object_get(e, "compile")), "notebook",
                            json_is_true(json_object_get(e, "notebook")), "available", 1));
    }
    reply_json(req, 200, json_pack("{s:o}", "languages", list));
}

static const struct route backend_routes[] = {
    {"GET", "/v1/languages", ACCESS_CLIENT, handle_languages, 0},
};

int backend_init(uv_loop_t *loop, char *err, size_t errlen) {
    (void)loop;
    (void)err;
    (void)errlen;
    service_init("backend", backend_health);
    router_add(backend_routes, sizeof backend_routes / sizeof backend_routes[0]);
    return 0;
}

void backend_shutdown(void (*done)(void)) { done(); }

void backend_free(void) {}
