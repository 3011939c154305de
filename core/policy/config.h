/* config.h — the settings of a loaded policy, read once per (re)load.
 *
 * Every value has a strict default here so that a minimal policy is safe; the
 * default policies in policies/ spell them out for operators to edit. */
#ifndef CC_CONFIG_H
#define CC_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "policy.h"

enum role { ROLE_BACKEND, ROLE_BALANCER };

struct config {
    json_t *owned;           /* every string and JSON value below is held here: config_free releases them */
    enum role role;
    const char *listen;      /* as written: "127.0.0.1:8080" */
    char listen_host[256];
    int listen_port;
    int auth_none;           /* the policy explicitly allows an open non-loopback listener */
    json_t *client_keys;     /* array of strings (admin keys are included) */
    json_t *admin_keys;      /* array of strings */
    json_t *cors_origins;    /* array of strings */

    size_t max_body_bytes;
    size_t max_header_bytes;
    size_t max_url_bytes;
    long read_timeout_ms;      /* a request must arrive whole within this */
    long keepalive_timeout_ms; /* an idle keep-alive connection is closed after this */
    int max_connections;
    int max_connections_per_address; /* 0: no per-address cap */
    long lingering_close_ms;   /* a closing connection's time to flush and drain */
    size_t ws_backlog_bytes;   /* unsent bytes that drop a WebSocket or tunnel */
    long shutdown_grace_ms;
    long long hook_instructions;
    size_t policy_memory_bytes;

    /* backend */
    const char *docker_host;
    const char *backend_id;
    int max_sessions;          /* capacity: live sessions plus runs in progress */
    int max_sessions_per_key;
    long ended_retention_ms;
    long max_wait_ms;          /* long-poll clamp */
    long seed_output_quiet_ms; /* the seed's output route answers once the program was quiet this long */
    long seed_output_max_ms;   /* ... or after this long in all */
    size_t stdin_backlog_bytes;
    size_t output_keep_bytes;  /* a session keeps at least this much of its record */
    size_t output_events_max;  /* events in one output answer (the cursor says where to go on) */
    size_t program_max_bytes;  /* code + files together */
    int max_ws_per_session;    /* WebSockets open on one session */
    size_t args_max;           /* entries of a program's `args` */
    size_t args_max_bytes;     /* their bytes together (with a NUL each) */
    long run_grace_ms;         /* a run unanswered this long past its timeout is killed */
    unsigned sandbox_step_timeout_ms; /* bound on each of a container's create, attach, start, hello */
    unsigned uid_min, uid_max;
    json_t *limits;            /* {"timeout_ms":{"default":..,"min":..,"max":..}, ...} */
    json_t *images;            /* {"python":{"image":..,"aliases":[..],...}, ...} */
    json_t *judge0;            /* the Judge0 dialect's settings (lua/cloudcode/judge0.lua) */
    json_t *pools;             /* {"python":{"size":2,"refill_per_s":4,"max":4}, ...}; checked by pool.c */
    int reuse;                 /* a run's container may serve the next run, after a reset */
    size_t reset_memory_slack_bytes; /* memory a reset container may hold beyond start-up; 0: unchecked */
    /* A sandbox's writable mounts and its ulimit fsize, each a fraction of the program's memory
     * limit, its ulimit nofile, and the variables the program gets on top of its image's own. */
    double sandbox_work_fraction, sandbox_tmp_fraction, sandbox_shm_fraction, sandbox_fsize_fraction;
    long long sandbox_nofile;
    json_t *sandbox_env;       /* {"NAME": "value", or false: not set}; image entries' env on top */
    long file_url_timeout_ms;  /* a seed file_url's whole fetch */

    /* the older API dialects */
    int piston_open;           /* serve the Piston dialect without a key */
    double piston_rate_per_s;  /* the anonymous Piston tenant's token bucket, per process */
    double piston_rate_burst;
    json_t *file_url_hosts;    /* hosts the seed's file_url may name (fetched by us) */
    json_t *e2b_templates;     /* E2B templateID -> language name (others are tried as language names) */
    long seed_ttl_ms;          /* a seed user_id entry and its upload live this long unused */
    json_t *seed_languages;    /* the seed's language name -> {"language": ours, "repl": code (optional)} */
    size_t seed_upload_max_bytes; /* a key's seed uploads together (and a fetched file_url) */
    json_t *file_url_peers;    /* "host:port" of backends whose uploads a seed file_url may name */
    /* UNSAFE, tests only: let file_url fetch from loopback, trusting this CA. */
    int file_url_test_allow_loopback;
    const char *file_url_test_ca_file;

    /* balancer */
    const char *redis;
    json_t *backends;          /* array of URLs to add at start */
    long backend_timeout_ms;
    long backend_lost_after_ms;
    long health_interval_ms;
    long reservation_hold_ms;  /* a reservation whose create has not answered lapses after this */
    long compile_allowance_ms; /* added to a run's own timeout for its compile step */
    long seed_pin_ttl_s;       /* a seed user_id's pin to its backend lives this long unused */
    unsigned redis_connect_timeout_ms, redis_command_timeout_ms; /* read at start, as `redis` is */
};

/* Fill `c` from the policy's settings.  On a bad setting returns -1 with
 * `err` = "file:line: reason". */
int config_from_policy(struct config *c, struct policy *p, char *err, size_t errlen);
void config_free(struct config *c);

/* What is wrong with an environment table (the policy's sandbox_env, an image entry's env):
 * NULL if it maps variable names (no '=') to strings (no NUL) or false, or is absent. */
const char *config_env_problem(const json_t *env);

/* Look up a language by its name or an alias: the canonical name, or NULL. */
const char *config_language(const struct config *c, const char *name, const json_t **entry);

#endif
