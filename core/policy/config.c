/* config.c — read a policy's settings into struct config. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
    const json_t *settings;
    struct policy *policy;
    char *err;
    size_t errlen;
    int failed;
    json_t *owned;           /* the config's: what it reads is kept here */
};

static void fail(struct reader *r, const char *key, const char *reason) {
    if (r->failed) return;
    r->failed = 1;
    snprintf(r->err, r->errlen, "%s:%d: setting '%s' %s", policy_path(r->policy),
             policy_line_of(r->policy, key), key, reason);
}

static long long read_int(struct reader *r, const char *key, long long def, long long min,
                          long long max) {
    const json_t *v = json_object_get(r->settings, key);
    if (!v || json_is_null(v)) return def;
    long long n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v)) {
        n = (long long)json_real_value(v);
    } else {
        fail(r, key, "must be an integer");
        return def;
    }
    if (n < min || n > max) {
        char why[128];
        snprintf(why, sizeof why, "must be between %lld and %lld", min, max);
        fail(r, key, why);
        return def;
    }
    return n;
}

/* A fraction in (0, 1]. */
static double read_fraction(struct reader *r, const char *key, double def) {
    const json_t *v = json_object_get(r->settings, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1) {
        fail(r, key, "must be a number above 0 and at most 1");
        return def;
    }
    return json_number_value(v);
}

/* `v`, from now on the config's (NULL if out of memory). */
static json_t *keep(struct reader *r, json_t *v) {
    return json_array_append_new(r->owned, v) == 0 ? v : NULL;
}

static const char *keep_str(struct reader *r, const char *s) {
    return s ? json_string_value(keep(r, json_string(s))) : NULL;
}

static const char *read_str(struct reader *r, const char *key, const char *def) {
    const json_t *v = json_object_get(r->settings, key);
    if (!v || json_is_null(v)) return keep_str(r, def);
    if (!json_is_string(v)) {
        fail(r, key, "must be a string");
        return keep_str(r, def);
    }
    return keep_str(r, json_string_value(v));
}

/* A list of strings; a single string is a list of one. */
static json_t *read_str_list(struct reader *r, const json_t *v, const char *key) {
    json_t *out = keep(r, json_array());
    if (!v || json_is_null(v)) return out;
    if (json_is_string(v)) {
        if (json_string_length(v)) json_array_append(out, (json_t *)v);
        return out;
    }
    if (json_is_object(v) && json_object_size(v) == 0) return out; /* {} is Lua's empty table */
    if (!json_is_array(v)) {
        fail(r, key, "must be a list of strings");
        return out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (!json_is_string(item)) {
            fail(r, key, "must be a list of strings");
            break;
        }
        if (json_string_length(item)) json_array_append(out, item);
    }
    return out;
}

static json_t *read_table(struct reader *r, const char *key) {
    const json_t *v = json_object_get(r->settings, key);
    if (!v || json_is_null(v)) return keep(r, json_object());
    if (!json_is_object(v)) {
        fail(r, key, "must be a table");
        return keep(r, json_object());
    }
    return keep(r, json_deep_copy(v));
}

const char *config_env_problem(const json_t *env) {
    if (!env || (json_is_array(env) && json_array_size(env) == 0)) return NULL; /* {} is Lua's empty table */
    if (!json_is_object(env)) return "must be a table { NAME = \"value\", ... }";
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)env, name, v) {
        if (!name[0] || strchr(name, '=')) return "names a variable with '=' or an empty name";
        if (!json_is_false(v) && !(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)))
            return "must map names to strings (or false: not set)";
    }
    return NULL;
}

/* The sandbox's mounts, ulimits and environment (backend_sandbox_spec, backend_program_env). */
static void read_sandbox(struct reader *r, struct config *c) {
    static const char *const mounts[] = {"sandbox_work_fraction", "sandbox_tmp_fraction", "sandbox_shm_fraction"};
    static const double defaults[] = {0.25, 0.125, 0.125};
    double *fractions[] = {&c->sandbox_work_fraction, &c->sandbox_tmp_fraction, &c->sandbox_shm_fraction};
    double sum = 0;
    const char *last_set = mounts[0];
    for (size_t i = 0; i < 3; i++) {
        *fractions[i] = read_fraction(r, mounts[i], defaults[i]);
        sum += *fractions[i];
        /* Blamed on the one of them the policy sets last in its file. */
        if (json_object_get(r->settings, mounts[i]) &&
            policy_line_of(r->policy, mounts[i]) >= policy_line_of(r->policy, last_set))
            last_set = mounts[i];
    }
    /* Mounts filled up end in ENOSPC, never in an OOM kill: together they stay within memory. */
    if (sum > 1) fail(r, last_set, "makes /work, /tmp and /dev/shm together larger than the memory (fractions above 1 in all)");
    c->sandbox_fsize_fraction = read_fraction(r, "sandbox_fsize_fraction", 0.125);
    c->sandbox_nofile = read_int(r, "sandbox_nofile", 256, 16, 1 << 20);
    const json_t *env = json_object_get(r->settings, "sandbox_env");
    const char *why = config_env_problem(env);
    if (why) fail(r, "sandbox_env", why);
    c->sandbox_env = keep(r, json_is_object(env) && !why ? json_deep_copy(env) : json_object());
    if (!env) {
        json_object_set_new(c->sandbox_env, "PATH", json_string("/usr/local/bin:/usr/bin:/bin"));
        json_object_set_new(c->sandbox_env, "HOME", json_string("/work"));
        json_object_set_new(c->sandbox_env, "LANG", json_string("C.UTF-8"));
        json_object_set_new(c->sandbox_env, "PYTHONUNBUFFERED", json_string("1"));
        json_object_set_new(c->sandbox_env, "TERM", json_string("xterm"));
    }
}

static void parse_listen(struct reader *r, struct config *c) {
    const char *colon = strrchr(c->listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    size_t hostlen = colon ? (size_t)(colon - c->listen) : 0;
    if (!colon || *end || port < 0 || port > 65535 || hostlen == 0 ||
        hostlen >= sizeof c->listen_host) {
        fail(r, "listen", "must be host:port");
        return;
    }
    memcpy(c->listen_host, c->listen, hostlen);
    c->listen_host[hostlen] = '\0';
    /* "[::1]:8080" */
    if (c->listen_host[0] == '[' && c->listen_host[hostlen - 1] == ']') {
        memmove(c->listen_host, c->listen_host + 1, hostlen - 2);
        c->listen_host[hostlen - 2] = '\0';
    }
    c->listen_port = (int)port;
}

static void read_keys(struct reader *r, struct config *c) {
    const json_t *keys = json_object_get(r->settings, "keys");
    if (keys && !json_is_object(keys)) fail(r, "keys", "must be a table {client=..., admin=...}");
    c->admin_keys = read_str_list(r, json_object_get(keys, "admin"), "admin");
    c->client_keys = read_str_list(r, json_object_get(keys, "client"), "client");
    json_array_extend(c->client_keys, c->admin_keys); /* admin keys are also client keys */
    const char *auth = json_string_value(json_object_get(r->settings, "auth"));
    c->auth_none = auth && strcmp(auth, "none") == 0;
    if (auth && !c->auth_none && strcmp(auth, "keys") != 0) fail(r, "auth", "must be \"keys\" or \"none\"");
}

int config_from_policy(struct config *c, struct policy *p, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->owned = json_array();
    struct reader r = {policy_settings(p), p, err, errlen, 0, c->owned};

    const char *role = read_str(&r, "role", NULL);
    if (!role || (strcmp(role, "backend") != 0 && strcmp(role, "balancer") != 0)) {
        fail(&r, "role", "must be \"backend\" or \"balancer\"");
    } else {
        c->role = strcmp(role, "backend") == 0 ? ROLE_BACKEND : ROLE_BALANCER;
    }

    c->listen = read_str(&r, "listen", "127.0.0.1:8080");
    parse_listen(&r, c);
    read_keys(&r, c);
    c->cors_origins = read_str_list(&r, json_object_get(r.settings, "cors_origins"), "cors_origins");

    c->max_body_bytes = (size_t)read_int(&r, "max_body_bytes", 1 << 20, 1024, 1LL << 30);
    c->max_header_bytes = (size_t)read_int(&r, "max_header_bytes", 16 << 10, 1024, 1 << 20);
    c->max_url_bytes = (size_t)read_int(&r, "max_url_bytes", 8 << 10, 256, 1 << 20);
    c->read_timeout_ms = (long)read_int(&r, "read_timeout_ms", 10000, 10, 3600000);
    c->keepalive_timeout_ms = (long)read_int(&r, "keepalive_timeout_ms", 75000, 10, 3600000);
    c->max_connections = (int)read_int(&r, "max_connections", 1024, 1, 1000000);
    c->max_connections_per_address = (int)read_int(&r, "max_connections_per_address", 0, 0, 1000000);
    c->lingering_close_ms = (long)read_int(&r, "lingering_close_ms", 5000, 10, 600000);
    c->ws_backlog_bytes = (size_t)read_int(&r, "ws_backlog_bytes", 4 << 20, 64 << 10, 1LL << 30);
    c->shutdown_grace_ms = (long)read_int(&r, "shutdown_grace_s", 10, 0, 3600) * 1000;
    c->hook_instructions = read_int(&r, "hook_instructions", 1000000, 1000, 1LL << 40);
    c->policy_memory_bytes = (size_t)read_int(&r, "policy_memory_mb", 64, 1, 4096) << 20;

    c->docker_host = read_str(&r, "docker_host", "unix:///var/run/docker.sock");
    c->backend_id = read_str(&r, "backend_id", c->listen);
    c->max_sessions = (int)read_int(&r, "max_sessions", 50, 0, 1000000);
    c->max_sessions_per_key = (int)read_int(&r, "max_sessions_per_key", 10, 0, 1000000);
    c->ended_retention_ms = (long)read_int(&r, "ended_retention_s", 60, 0, 86400) * 1000;
    c->max_wait_ms = (long)read_int(&r, "max_wait_ms", 30000, 0, 3600000);
    c->seed_output_quiet_ms = (long)read_int(&r, "seed_output_quiet_ms", 1000, 0, 60000);
    c->seed_output_max_ms = (long)read_int(&r, "seed_output_max_ms", 3000, 0, 60000);
    c->stdin_backlog_bytes = (size_t)read_int(&r, "stdin_backlog_bytes", 1 << 20, 1024, 1LL << 30);
    c->output_keep_bytes = (size_t)read_int(&r, "output_keep_bytes", 1 << 20, 1 << 20, 1LL << 30);
    c->output_events_max = (size_t)read_int(&r, "output_events_max", 1000, 1, 1000000);
    c->program_max_bytes = (size_t)read_int(&r, "program_max_bytes", 512 << 10, 1024, 1LL << 30);
    c->max_ws_per_session = (int)read_int(&r, "max_ws_per_session", 4, 1, 1000);
    /* Bounded well inside one launcher frame (4 MiB, at most 65535 strings with the image's own
     * argv) and inside what execve takes with the environment (ARG_MAX: 2 MiB at the least). */
    c->args_max = (size_t)read_int(&r, "args_max", 4096, 0, 60000);
    c->args_max_bytes = (size_t)read_int(&r, "args_max_bytes", 64 << 10, 0, 1 << 20);
    c->run_grace_ms = (long)read_int(&r, "run_grace_ms", 10000, 100, 3600000);
    c->sandbox_step_timeout_ms = (unsigned)read_int(&r, "sandbox_step_timeout_ms", 10000, 100, 600000);
    const json_t *uids = json_object_get(r.settings, "uid_range");
    c->uid_min = 100000;
    c->uid_max = 165535;
    if (uids) {
        if (!json_is_array(uids) || json_array_size(uids) != 2 ||
            !json_is_integer(json_array_get(uids, 0)) || !json_is_integer(json_array_get(uids, 1)) ||
            json_integer_value(json_array_get(uids, 0)) < 1000 ||
            json_integer_value(json_array_get(uids, 1)) < json_integer_value(json_array_get(uids, 0)) ||
            json_integer_value(json_array_get(uids, 1)) > 0x7fffffff) {
            fail(&r, "uid_range", "must be {first, last} with 1000 <= first <= last");
        } else {
            c->uid_min = (unsigned)json_integer_value(json_array_get(uids, 0));
            c->uid_max = (unsigned)json_integer_value(json_array_get(uids, 1));
        }
    }
    c->limits = read_table(&r, "limits");
    c->images = read_table(&r, "images");
    c->pools = read_table(&r, "pools");
    c->judge0 = read_table(&r, "judge0");
    const json_t *reuse = json_object_get(r.settings, "reuse");
    if (reuse && !json_is_boolean(reuse)) fail(&r, "reuse", "must be true or false");
    c->reuse = !json_is_false(reuse);
    c->reset_memory_slack_bytes = (size_t)read_int(&r, "reset_memory_slack_mb", 32, 0, 1 << 20) << 20;
    read_sandbox(&r, c);

    const json_t *open = json_object_get(r.settings, "piston_open");
    if (open && !json_is_boolean(open)) fail(&r, "piston_open", "must be true or false");
    c->piston_open = json_is_true(open);
    const json_t *rate = json_object_get(r.settings, "piston_rate");
    c->piston_rate_per_s = 2;
    c->piston_rate_burst = 10;
    if (rate && !json_is_null(rate)) {
        const json_t *per_s = json_object_get(rate, "per_s"), *burst = json_object_get(rate, "burst");
        if (!json_is_object(rate) || !json_is_number(per_s) || json_number_value(per_s) <= 0 ||
            !json_is_number(burst) || json_number_value(burst) < 1)
            fail(&r, "piston_rate", "must be { per_s = N > 0, burst = M >= 1 }");
        else {
            c->piston_rate_per_s = json_number_value(per_s);
            c->piston_rate_burst = json_number_value(burst);
        }
    }
    c->file_url_hosts = read_str_list(&r, json_object_get(r.settings, "file_url_hosts"), "file_url_hosts");
    c->e2b_templates = read_table(&r, "e2b_templates");
    const char *tname;
    const json_t *tlang;
    json_object_foreach(c->e2b_templates, tname, tlang) {
        if (!json_is_string(tlang)) fail(&r, "e2b_templates", "must map template names to language names");
    }
    c->seed_ttl_ms = (long)read_int(&r, "seed_ttl_s", 600, 1, 86400) * 1000;
    c->file_url_timeout_ms = (long)read_int(&r, "file_url_timeout_ms", 10000, 100, 600000);
    c->seed_languages = read_table(&r, "seed_languages");
    json_object_foreach(c->seed_languages, tname, tlang) {
        const json_t *repl = json_object_get(tlang, "repl");
        if (!json_is_string(json_object_get(tlang, "language")) || (repl && !json_is_string(repl)))
            fail(&r, "seed_languages", "must map the seed's language names to { language = \"name\", repl = \"code\" (optional) }");
    }
    c->seed_upload_max_bytes = (size_t)read_int(&r, "seed_upload_max_bytes", 1 << 20, 1024, 1LL << 30);
    c->file_url_peers = read_str_list(&r, json_object_get(r.settings, "file_url_peers"), "file_url_peers");
    const json_t *loop = json_object_get(r.settings, "file_url_test_allow_loopback");
    if (loop && !json_is_boolean(loop)) fail(&r, "file_url_test_allow_loopback", "must be true or false");
    c->file_url_test_allow_loopback = json_is_true(loop);
    c->file_url_test_ca_file = read_str(&r, "file_url_test_ca_file", NULL);

    c->redis = read_str(&r, "redis", "127.0.0.1:6379");
    c->backends = read_str_list(&r, json_object_get(r.settings, "backends"), "backends");
    c->backend_timeout_ms = (long)read_int(&r, "backend_timeout_s", 5, 1, 3600) * 1000;
    c->backend_lost_after_ms = (long)read_int(&r, "backend_lost_after_s", 30, 1, 86400) * 1000;
    c->health_interval_ms = (long)read_int(&r, "health_interval_ms", 1000, 50, 600000);
    c->reservation_hold_ms = (long)read_int(&r, "reservation_hold_ms", 60000, 1000, 3600000);
    c->compile_allowance_ms = (long)read_int(&r, "compile_allowance_ms", 60000, 0, 3600000);
    c->seed_pin_ttl_s = (long)read_int(&r, "seed_pin_ttl_s", 3600, 1, 30 * 86400);
    c->redis_connect_timeout_ms = (unsigned)read_int(&r, "redis_connect_timeout_ms", 2000, 50, 600000);
    c->redis_command_timeout_ms = (unsigned)read_int(&r, "redis_command_timeout_ms", 2000, 50, 600000);

    if (!r.failed) policy_set_limits(p, c->hook_instructions, c->policy_memory_bytes);
    if (r.failed) config_free(c);
    return r.failed ? -1 : 0;
}

void config_free(struct config *c) {
    json_decref(c->owned);
    memset(c, 0, sizeof *c);
}

const char *config_language(const struct config *c, const char *name, const json_t **entry) {
    const char *lang;
    json_t *e;
    json_object_foreach(c->images, lang, e) {
        int match = strcmp(lang, name) == 0;
        size_t i;
        json_t *alias;
        json_array_foreach(json_object_get(e, "aliases"), i, alias) {
            if (json_is_string(alias) && strcmp(json_string_value(alias), name) == 0) match = 1;
        }
        if (match) {
            if (entry) *entry = e;
            return lang;
        }
    }
    return NULL;
}
