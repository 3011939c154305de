/* sandbox_body.c — the engine's create request for a sandbox: the hardened container. */
#include <stdio.h>

#include "sandbox.h"

static json_t *tmpfs_opts(const struct sandbox_spec *s) {
    char tmp[160], work[160];
    snprintf(tmp, sizeof tmp, "rw,nosuid,nodev,noexec,size=%lld,uid=%u,gid=%u,mode=700",
             s->tmp_bytes, s->uid, s->uid);
    snprintf(work, sizeof work, "rw,nosuid,nodev,exec,size=%lld,uid=%u,gid=%u,mode=700",
             s->work_bytes, s->uid, s->uid);
    return json_pack("{s:s,s:s}", "/tmp", tmp, "/work", work);
}

json_t *sandbox_create_body(const struct sandbox_spec *s) {
    char user[32];
    snprintf(user, sizeof user, "%u:%u", s->uid, s->uid);
    json_t *host = json_pack(
        "{s:s,s:b,s:o,s:I,s:[s],s:[s],s:I,s:I,s:I,s:I,s:[{s:s,s:I,s:I},{s:s,s:I,s:I},{s:s,s:i,s:i}],"
        "s:{s:s},s:i,s:b,s:b,s:s,s:b}",
        "NetworkMode", "none", "ReadonlyRootfs", 1, "Tmpfs", tmpfs_opts(s), "ShmSize",
        (json_int_t)s->shm_bytes, "CapDrop", "ALL", "SecurityOpt", "no-new-privileges",
        "PidsLimit", (json_int_t)s->pids_limit, "Memory", (json_int_t)s->memory_bytes,
        "MemorySwap", (json_int_t)s->memory_bytes, "NanoCpus", (json_int_t)s->nano_cpus,
        "Ulimits", "Name", "nofile", "Soft", (json_int_t)s->nofile, "Hard", (json_int_t)s->nofile,
        "Name", "fsize", "Soft", (json_int_t)s->fsize_bytes, "Hard", (json_int_t)s->fsize_bytes,
        "Name", "core", "Soft", 0, "Hard", 0, "LogConfig", "Type", "none", "OomScoreAdj", 0,
        "Init", 0, "AutoRemove", 0, "IpcMode", "private", "Privileged", 0);
    if (!host) return NULL;
    /* Zero means "no limit" to the engine: leave out what the policy did not set. */
    if (s->pids_limit <= 0) json_object_del(host, "PidsLimit");
    if (s->memory_bytes <= 0) {
        json_object_del(host, "Memory");
        json_object_del(host, "MemorySwap");
    }
    if (s->nano_cpus <= 0) json_object_del(host, "NanoCpus");
    if (s->shm_bytes <= 0) json_object_del(host, "ShmSize");
    return json_pack("{s:s,s:s,s:b,s:b,s:b,s:b,s:b,s:b,s:[],s:s,s:{s:s,s:s,s:s},s:b,s:o}",
                     "Image", s->image, "User", user, "Tty", 0, "OpenStdin", 1, "StdinOnce", 0,
                     "AttachStdin", 1, "AttachStdout", 1, "AttachStderr", 1, "Env", "WorkingDir",
                     "/work", "Labels", "cloudcode", "1", "cloudcode.backend", s->backend_id,
                     "cloudcode.session", s->session_id ? s->session_id : "", "NetworkDisabled",
                     1, "HostConfig", host);
}
