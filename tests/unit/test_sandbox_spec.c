/* Unit tests of a sandbox's spec and environment as the policy sets them: the mounts and fsize
 * as fractions of the memory limit, nofile, and the program's variables (the policy's
 * sandbox_env, an image entry's env over it, false: not set), down to the engine's create body. */
#include <stdlib.h>

#include "backend/backend_int.h"
#include "backend/program.h"
#include "backend/sandbox.h"
#include "base/log.h"
#include "unit.h"
#include "unit_app.h"

#define MIB (1LL << 20)

static const char *plain_policy =
    "return { role = 'backend',\n"
    "  images = { python = { image = 'img', file = 'main.py', run = { 'python3', '{file}' } } } }\n";

static const char *set_policy =
    "return { role = 'backend',\n"
    "  sandbox_work_fraction = 0.5, sandbox_tmp_fraction = 0.25, sandbox_shm_fraction = 0.0625,\n"
    "  sandbox_fsize_fraction = 0.03125, sandbox_nofile = 1000,\n"
    "  sandbox_env = { A = 'policy a', B = 'policy b', C = false, PATH = '/bin' },\n"
    "  images = { python = { image = 'img', file = 'main.py', run = { 'python3', '{file}' },\n"
    "                        env = { B = 'entry b', D = 'entry d=x', A = false } } } }\n";

/* Whether `env` (["NAME=value", ...]) holds exactly `kv`, and how many entries name its NAME. */
static int env_has(const json_t *env, const char *kv) {
    size_t i, named = 0, exact = 0, n = strcspn(kv, "=") + 1;
    json_t *v;
    json_array_foreach(env, i, v) {
        named += strncmp(json_string_value(v), kv, n) == 0;
        exact += strcmp(json_string_value(v), kv) == 0;
    }
    return exact == 1 && named == 1;
}

static long long ulimit_of(const json_t *body, const char *name) {
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(json_object_get(body, "HostConfig"), "Ulimits"), i, u) {
        if (strcmp(json_string_value(json_object_get(u, "Name")), name) == 0)
            return json_integer_value(json_object_get(u, "Hard"));
    }
    return -1;
}

static int tmpfs_sized(const json_t *body, const char *mount, long long bytes) {
    char want[64];
    snprintf(want, sizeof want, ",size=%lld,", bytes);
    const char *opts = json_string_value(json_object_get(json_object_get(json_object_get(body, "HostConfig"), "Tmpfs"), mount));
    return opts && strstr(opts, want);
}

/* The mounts and ulimits a program of `memory_mb` gets (MiB, files), in its spec and in the
 * engine's create body; returns the program's environment. */
struct sizes { long long memory_mb, work, tmp, shm, fsize, nofile; };

static json_t *check_spec(const struct sizes *x) {
    struct program p = {0};
    snprintf(p.language, sizeof p.language, "python");
    p.image = json_object_get(app_config()->images, "python");
    p.limits.memory_mb = x->memory_mb;
    struct sandbox_spec s;
    backend_sandbox_spec(&p, 123456, "s1", &s);
    CHECK(s.work_bytes == x->work * MIB && s.tmp_bytes == x->tmp * MIB && s.shm_bytes == x->shm * MIB);
    CHECK(s.fsize_bytes == x->fsize * MIB && s.nofile == x->nofile);
    json_t *body = sandbox_create_body(&s);
    CHECK(tmpfs_sized(body, "/work", x->work * MIB) && tmpfs_sized(body, "/tmp", x->tmp * MIB));
    CHECK(json_integer_value(json_object_get(json_object_get(body, "HostConfig"), "ShmSize")) == x->shm * MIB);
    CHECK(ulimit_of(body, "nofile") == x->nofile && ulimit_of(body, "fsize") == x->fsize * MIB);
    CHECK(ulimit_of(body, "core") == 0);
    json_decref(body);
    return backend_program_env(&p);
}

static void test_defaults(void) {
    /* Today's: /work a quarter of the memory, /tmp, /dev/shm and fsize an eighth, 256 files. */
    json_t *env = check_spec(&(struct sizes){512, 128, 64, 64, 64, 256});
    CHECK(json_array_size(env) == 5);
    CHECK(env_has(env, "PATH=/usr/local/bin:/usr/bin:/bin") && env_has(env, "HOME=/work"));
    CHECK(env_has(env, "LANG=C.UTF-8") && env_has(env, "PYTHONUNBUFFERED=1") && env_has(env, "TERM=xterm"));
    json_decref(env);
}

static void test_settings(void) {
    json_t *env = check_spec(&(struct sizes){256, 128, 64, 16, 8, 1000});
    /* The entry's env over the policy's; false (in either) sets nothing; no built-in is left. */
    CHECK(json_array_size(env) == 3);
    CHECK(env_has(env, "B=entry b") && env_has(env, "D=entry d=x") && env_has(env, "PATH=/bin"));
    json_decref(env);
}

int main(void) {
    log_set_min_level(LOG_ERROR);
    if (unit_app_install(uv_default_loop(), plain_policy) < 0) return 1;
    test_defaults();
    app_free();
    if (unit_app_install(uv_default_loop(), set_policy) < 0) return 1;
    test_settings();
    app_free();
    return unit_report();
}
