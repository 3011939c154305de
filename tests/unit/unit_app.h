/* unit_app.h — install a policy given as Lua text, as main.c installs its file: the settings that
 * http.c, the router and program.c read through app_config() are then the real ones. */
#ifndef CC_UNIT_APP_H
#define CC_UNIT_APP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "policy/app.h"

/* 0, or -1 with the reason on stderr. */
static inline int unit_app_install(uv_loop_t *l, const char *lua) {
    char path[] = "/tmp/cc-unit-policy-XXXXXX.lua";
    int fd = mkstemps(path, 4);
    if (fd < 0) return -1;
    size_t len = strlen(lua);
    ssize_t wrote = write(fd, lua, len);
    close(fd);
    static const struct policy_limits limits = {200000000, 1000000, 64u << 20};
    char err[512];
    struct policy *p = wrote == (ssize_t)len ? policy_load(path, &limits, err, sizeof err) : NULL;
    unlink(path);
    if (!p) {
        fprintf(stderr, "unit_app_install: %s\n", wrote == (ssize_t)len ? err : "cannot write the policy");
        return -1;
    }
    struct config c;
    if (config_from_policy(&c, p, err, sizeof err) < 0) {
        fprintf(stderr, "unit_app_install: %s\n", err);
        config_free(&c);
        policy_free(p);
        return -1;
    }
    app_init(l);
    app_install(p, &c);
    return 0;
}

#endif
