/* main.c — start-up, the role, signals, reload and shutdown.
 *
 *   cloudcode POLICY.lua                 serve as the policy's role says
 *   cloudcode --check POLICY.lua         validate the policy and exit
 *   cloudcode --print-images POLICY.lua  list "<language> <image>" lines
 *
 * The role is the only branch at start-up: everything else is shared. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "balancer/balancer.h"
#include "base/log.h"
#include "base/metrics.h"
#include "compat/compat.h"
#include "compat/judge0/judge0.h"
#include "http/auth.h"
#include "http/http.h"
#include "http/router.h"
#include "http/server.h"
#include "http/service.h"
#include "policy/app.h"
#include "routes.h"

static const struct policy_limits load_limits = {
    .load_instructions = 200000000, /* the script itself: generous, but a runaway loop ends */
    .hook_instructions = 1000000,
    .memory_bytes = 256u << 20,
};

static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t grace_timer;
static char *policy_file;
static int exit_code;

static int load(const char *path, struct policy **pp, struct config *c, char *err, size_t errlen) {
    struct policy *p = policy_load(path, &load_limits, err, errlen);
    if (!p) return -1;
    if (config_from_policy(c, p, err, errlen) < 0) {
        policy_free(p);
        return -1;
    }
    if (c->role == ROLE_BACKEND && backend_validate(c, p, err, errlen) < 0) {
        config_free(c);
        policy_free(p);
        return -1;
    }
    *pp = p;
    return 0;
}

static int print_images(const struct config *c) {
    const char *lang;
    json_t *e;
    json_object_foreach(c->images, lang, e) printf("%s %s\n", lang, json_string_value(json_object_get(e, "image")));
    return 0;
}

/* ---- shutdown --------------------------------------------------------------------- */

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_grace_expired(uv_timer_t *t) {
    (void)t;
    log_msgf(LOG_WARN, "shutdown_grace_expired", "stopping with work still pending");
    uv_stop(app_loop());
}

static void on_role_stopped(void) {
    /* The role's own parts are gone: once the loop has nothing left it returns.  What may still
     * be open (a connection flushing or lingering, a proxied request in flight) stays bounded by
     * the grace period: the timer stays armed but no longer keeps the loop alive by itself. */
    uv_unref((uv_handle_t *)&grace_timer);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void begin_shutdown(void) {
    if (app_shutting_down()) return;
    app_set_shutting_down();
    log_msgf(LOG_INFO, "shutdown", "closing the listener, ending sessions");
    server_close(NULL);
    http_conn_close_all();
    uv_timer_start(&grace_timer, on_grace_expired, (uint64_t)app_config()->shutdown_grace_ms, 0);
    if (app_config()->role == ROLE_BACKEND) backend_shutdown(on_role_stopped);
    else balancer_shutdown(on_role_stopped);
}

static void on_signal(uv_signal_t *s, int signum) {
    (void)s;
    if (signum == SIGHUP) {
        struct policy *p;
        struct config c;
        char err[1024];
        if (load(policy_file, &p, &c, err, sizeof err) < 0) {
            log_msgf(LOG_ERROR, "reload_failed", "keeping the old policy: %s", err);
            return;
        }
        if (c.role != app_config()->role || strcmp(c.listen, app_config()->listen) != 0) {
            log_msgf(LOG_ERROR, "reload_failed", "keeping the old policy: %s changes role or listen",
                     policy_file);
            config_free(&c);
            policy_free(p);
            return;
        }
        app_install(p, &c);
        log_msgf(LOG_INFO, "reloaded", "policy %s in force", policy_file);
        return;
    }
    begin_shutdown();
}

/* ---- start ------------------------------------------------------------------------ */

static int usage(void) {
    fprintf(stderr, "usage: cloudcode POLICY.lua | --check POLICY.lua | --print-images POLICY.lua\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *mode = argc == 3 ? argv[1] : NULL;
    policy_file = argv[argc - 1];
    if ((argc == 3 && strcmp(mode, "--check") != 0 && strcmp(mode, "--print-images") != 0) || argc > 3)
        return usage();

    struct policy *p;
    struct config c;
    char err[1024];
    if (load(policy_file, &p, &c, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (mode) {
        int rc = strcmp(mode, "--print-images") == 0 ? print_images(&c) : 0;
        if (rc == 0 && strcmp(mode, "--check") == 0) printf("%s: ok\n", policy_file);
        config_free(&c);
        policy_free(p);
        return rc;
    }

    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    app_init(loop);
    app_install(p, &c);
    const struct config *cfg = app_config();
    if (!auth_keys_configured() && !cfg->auth_none && !server_is_loopback(cfg->listen_host)) {
        fprintf(stderr, "%s: refusing to listen on %s without an API key: set CODECLOUD_API_KEY, "
                        "or auth = \"none\" in the policy\n", policy_file, cfg->listen);
        app_free();
        return 1;
    }

    router_use(route_table, route_table_len, cfg->role); /* the role's rows of routes.c */
    int role_ok = cfg->role == ROLE_BACKEND ? backend_init(loop, err, sizeof err) : balancer_init(loop, err, sizeof err);
    if (role_ok < 0 || server_listen(loop, cfg->listen_host, cfg->listen_port, router_dispatch, err,
                                     sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    compat_seed_init();
    compat_e2b_init();
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    uv_timer_init(loop, &grace_timer);
    log_event(LOG_INFO, "listening",
              json_pack("{s:s,s:s,s:s}", "listen", cfg->listen, "role",
                        cfg->role == ROLE_BACKEND ? "backend" : "balancer", "boot_id", app_boot_id()));

    uv_run(loop, UV_RUN_DEFAULT);

    /* Whatever is left (a forced stop after the grace period): close it all so
     * the process ends clean under valgrind. */
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    if (cfg->role == ROLE_BACKEND) backend_free();
    compat_seed_free();
    judge0_free();
    uv_loop_close(loop);
    metrics_free();
    app_free();
    log_msgf(LOG_INFO, "stopped", "exit %d", exit_code);
    return exit_code;
}
