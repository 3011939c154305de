/* e2b_files.c — E2B's files: envd's GET/POST /files and the filesystem RPC
 * (ListDir, Stat from the session's file list; MakeDir, Remove, Move as
 * small steps beside its program), served as the session's owner.
 *
 * E2B paths: E2B_HOME and /work (the session's working directory) and
 * relative paths name files of the working directory; others are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/session.h"
#include "e2b.h"
#include "http/multipart.h"
#include "http/reply.h"

#define WORKDIR "/work"

/* ---- paths ------------------------------------------------------------------------------ */

/* An E2B path as a path of the working directory ("" is the directory itself)
 * and the base the client named it under; -1 for a path outside it. */
static int rel_path(const char *path, char *out, size_t n, const char **base) {
    static const char *const bases[] = {E2B_HOME, WORKDIR};
    *base = E2B_HOME;
    if (path[0] == '/') {
        const char *rest = NULL;
        for (size_t i = 0; i < 2 && !rest; i++) {
            size_t bl = strlen(bases[i]);
            if (strncmp(path, bases[i], bl) == 0 && (path[bl] == '/' || path[bl] == '\0')) {
                rest = path + bl;
                *base = bases[i];
            }
        }
        if (!rest) return -1;
        path = rest;
    }
    while (path[0] == '/' || (path[0] == '.' && path[1] == '/')) path += path[0] == '/' ? 1 : 2;
    if (strcmp(path, ".") == 0) path = "";
    size_t len = strlen(path);
    while (len && path[len - 1] == '/') len--;
    if (len >= n) return -1;
    memcpy(out, path, len);
    out[len] = '\0';
    return 0;
}

/* The /v1 file route of a working-directory path, percent-encoded. */
static int file_target(char *out, size_t n, const char *id, const char *rel) {
    char enc[3 * 1024 + 16] = "/files/";
    size_t o = strlen(enc);
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        if (o + 4 >= sizeof enc) return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p))
            enc[o++] = (char)*p;
        else o += (size_t)snprintf(enc + o, 4, "%%%02X", *p);
    }
    enc[o] = '\0';
    return e2b_session_target(out, n, id, enc);
}

/* ---- GET /files ----------------------------------------------------------------------------- */

static void on_file_read(int status, const char *body, size_t len, void *ud) {
    struct request *req = ud;
    if (status == 200) http_respond(req, 200, "application/octet-stream", body, len, NULL);
    else if (status == 404) reply_error(req, 404, "e2b", "file not found");
    else if (status == 409) reply_error(req, 502, "e2b", "the sandbox has ended");
    else reply_relayed_error(req, status, body, len);
}

void e2b_handle_file_read(struct request *req) {
    struct session *s = e2b_sandbox(req, 1);
    if (!s) return;
    char path[1024], rel[1024], target[4096];
    const char *base;
    if (http_query_param(req, "path", path, sizeof path) <= 0 || rel_path(path, rel, sizeof rel, &base) < 0 ||
        !rel[0] || file_target(target, sizeof target, e2b_sandbox_id(req), rel) < 0) {
        reply_error(req, 400, "e2b", "path must name a file below %s", E2B_HOME);
        return;
    }
    e2b_sub(req, session_owner(s), "GET", target, NULL, 0, on_file_read, req);
}

/* ---- POST /files: multipart parts `file`, or one octet-stream body ---------------------------- */

struct upload {
    struct request *req;
    char owner[65];
    char id[64];
    size_t n, next;
    struct {
        char rel[1024];
        const char *base;
        const char *data;   /* into req's body */
        size_t len;
    } files[MULTIPART_PARTS_MAX];
    char query_path[1024];
    json_t *written;
};

static void upload_next(struct upload *u);

static void on_file_written(int status, const char *body, size_t len, void *ud) {
    struct upload *u = ud;
    if (status != 204) {
        if (status == 409) reply_error(u->req, 502, "e2b", "the sandbox has ended");
        else reply_relayed_error(u->req, status, body, len);
        json_decref(u->written);
        free(u);
        return;
    }
    const char *rel = u->files[u->next].rel, *slash = strrchr(rel, '/');
    char full[2048];
    snprintf(full, sizeof full, "%s/%s", u->files[u->next].base, rel);
    json_array_append_new(u->written, json_pack("{s:s,s:s,s:s}", "name", slash ? slash + 1 : rel, "type", "file",
                                                "path", full));
    u->next++;
    upload_next(u);
}

static void upload_next(struct upload *u) {
    if (u->next == u->n) {
        reply_json(u->req, 200, u->written);
        free(u);
        return;
    }
    char target[4096];
    if (file_target(target, sizeof target, u->id, u->files[u->next].rel) < 0) {
        reply_error(u->req, 400, "e2b", "path is too long");
        json_decref(u->written);
        free(u);
        return;
    }
    e2b_sub(u->req, u->owner, "PUT", target, u->files[u->next].data, u->files[u->next].len, on_file_written, u);
}

static int add_file(struct upload *u, const char *path, const char *data, size_t len) {
    if (u->n == MULTIPART_PARTS_MAX || !path || rel_path(path, u->files[u->n].rel, sizeof u->files[u->n].rel,
                                                         &u->files[u->n].base) < 0 || !u->files[u->n].rel[0])
        return 1;
    u->files[u->n].data = data;
    u->files[u->n].len = len;
    u->n++;
    return 0;
}

static int on_part(void *ud, const struct multipart_part *p) {
    struct upload *u = ud;
    if (strcmp(p->name, "file") != 0) return 0;
    return add_file(u, u->query_path[0] ? u->query_path : p->filename, p->data, p->len);
}

void e2b_handle_file_write(struct request *req) {
    struct session *s = e2b_sandbox(req, 1);
    if (!s) return;
    struct upload *u = calloc(1, sizeof *u);
    if (!u || !(u->written = json_array())) {
        free(u);
        reply_error(req, 500, "internal", "out of memory");
        return;
    }
    u->req = req;
    snprintf(u->owner, sizeof u->owner, "%s", session_owner(s));
    snprintf(u->id, sizeof u->id, "%s", e2b_sandbox_id(req));
    if (http_query_param(req, "path", u->query_path, sizeof u->query_path) < 0) u->query_path[0] = '\0';
    const char *ctype = http_header(req, "content-type"), *enc = http_header(req, "content-encoding");
    char boundary[MULTIPART_BOUNDARY_MAX + 1], err[128] = "";
    int rc;
    if (enc && strcmp(enc, "identity") != 0) {
        snprintf(err, sizeof err, "Content-Encoding %s is not supported", enc);
        rc = -1;
    } else if (ctype && multipart_boundary(ctype, boundary, sizeof boundary) == 0) {
        rc = multipart_parse(req->body.data ? req->body.data : "", req->body.len, boundary, on_part, u, err,
                             sizeof err);
    } else {
        rc = add_file(u, u->query_path, req->body.data ? req->body.data : "", req->body.len);
    }
    if (rc != 0 || u->n == 0) {
        reply_error(req, 400, "e2b", "%s", err[0] ? err : "each file needs a path below " E2B_HOME);
        json_decref(u->written);
        free(u);
        return;
    }
    upload_next(u);
}

/* ---- the filesystem RPC (unary, JSON codec) -------------------------------------------------- */

static json_t *entry_json(const char *base, const char *rel, int dir, json_int_t size) {
    const char *slash = strrchr(rel, '/');
    char full[2048];
    snprintf(full, sizeof full, "%s%s%s", base, rel[0] ? "/" : "", rel);
    const char *name = rel[0] ? (slash ? slash + 1 : rel) : strrchr(base, '/') + 1;
    return json_pack("{s:s,s:s,s:s,s:I,s:i,s:s,s:s,s:s}", "name", name, "type",
                     dir ? "FILE_TYPE_DIRECTORY" : "FILE_TYPE_FILE", "path", full, "size", size, "mode",
                     dir ? 0755 : 0644, "permissions", dir ? "drwxr-xr-x" : "-rw-r--r--", "owner", "user", "group",
                     "user");
}

enum fs_op { FS_LIST, FS_STAT };

struct fs_call {
    struct request *req;
    enum fs_op op;
    char rel[1024];
    const char *base;
    int depth;
};

/* The working directory's regular files (GET /v1/sessions/{id}/files) seen as
 * a tree: directories are the ones that hold files (an empty one is not seen). */
static void on_files_listed(int status, const char *body, size_t len, void *ud) {
    struct fs_call *c = ud;
    struct request *req = c->req;
    if (status != 200) {
        e2b_rpc_error(req, status == 409 ? "unavailable" : "internal", "cannot list the sandbox's files");
        free(c);
        return;
    }
    json_t *j = json_loadb(body, len, 0, NULL), *entries = json_array(), *seen = json_object();
    size_t plen = strlen(c->rel), i;
    int found = plen == 0;
    json_t *f;
    json_array_foreach(json_object_get(j, "files"), i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        json_int_t size = json_integer_value(json_object_get(f, "size"));
        if (!p) continue;
        if (c->op == FS_STAT) {
            if (strcmp(p, c->rel) == 0) {
                json_array_append_new(entries, entry_json(c->base, c->rel, 0, size));
                found = 1;
            } else if (plen && strncmp(p, c->rel, plen) == 0 && p[plen] == '/') found = 1;
            continue;
        }
        if (plen && (strncmp(p, c->rel, plen) != 0 || p[plen] != '/')) {
            if (strcmp(p, c->rel) == 0) found = -1; /* a file, not a directory */
            continue;
        }
        if (found == 0) found = 1;
        const char *tail = p + plen + (plen ? 1 : 0);
        int level = 1;
        for (const char *q = tail;; level++) {
            const char *slash = strchr(q, '/');
            if (level > c->depth) break;
            char sub_rel[2048];
            snprintf(sub_rel, sizeof sub_rel, "%.*s", (int)((slash ? slash : q + strlen(q)) - p), p);
            if (!slash) {
                json_array_append_new(entries, entry_json(c->base, sub_rel, 0, size));
                break;
            }
            if (!json_object_get(seen, sub_rel)) {
                json_object_set_new(seen, sub_rel, json_true());
                json_array_append_new(entries, entry_json(c->base, sub_rel, 1, 0));
            }
            q = slash + 1;
        }
    }
    if (found <= 0) {
        e2b_rpc_error(req, found < 0 ? "invalid_argument" : "not_found",
                  found < 0 ? "path is not a directory" : "no such file or directory");
    } else if (c->op == FS_STAT) {
        json_t *e = json_array_size(entries) ? json_incref(json_array_get(entries, 0)) : entry_json(c->base, c->rel, 1, 0);
        reply_json(req, 200, json_pack("{s:o}", "entry", e));
    } else {
        reply_json(req, 200, json_pack("{s:O}", "entries", entries));
    }
    json_decref(entries);
    json_decref(seen);
    json_decref(j);
    free(c);
}

static void fs_call(struct request *req, enum fs_op op) {
    struct session *s = e2b_sandbox(req, 1);
    if (!s) return;
    json_t *body = json_loadb(req->body.data ? req->body.data : "{}", req->body.data ? req->body.len : 2, 0, NULL);
    const char *path = json_string_value(json_object_get(body, "path"));
    const json_t *depth = json_object_get(body, "depth");
    struct fs_call *c = calloc(1, sizeof *c);
    char target[128];
    if (!c || !path || rel_path(path, c->rel, sizeof c->rel, &c->base) < 0 ||
        e2b_session_target(target, sizeof target, e2b_sandbox_id(req), "/files") < 0) {
        e2b_rpc_error(req, c ? "invalid_argument" : "internal", c ? "path must be below " E2B_HOME : "out of memory");
        free(c);
        json_decref(body);
        return;
    }
    c->req = req;
    c->op = op;
    c->depth = json_is_integer(depth) && json_integer_value(depth) > 0 ? (int)json_integer_value(depth) : 1;
    json_decref(body);
    e2b_sub(req, session_owner(s), "GET", target, NULL, 0, on_files_listed, c);
}

void e2b_handle_list_dir(struct request *req) { fs_call(req, FS_LIST); }
void e2b_handle_stat(struct request *req) { fs_call(req, FS_STAT); }

/* MakeDir, Remove and Move run as small shell scripts beside the session's
 * program (e2b_exec.c), as its uid: its own permissions bound them.  Exit
 * codes: 17 the path exists already, 2 it is missing. */
#define FS_EXISTS 17
#define FS_MISSING 2

static const struct fs_change {
    const char *method;
    const char *script;  /* prints d or f: the kind of the path it leaves, if any */
    int paths;           /* 1: path; 2: source, destination */
} fs_changes[] = {
    {"MakeDir", "test -e \"$1\" && exit 17; mkdir -p -- \"$1\" && echo d", 1},
    {"Remove", "test -e \"$1\" || test -L \"$1\" || exit 2; rm -rf -- \"$1\"", 1},
    {"Move", "test -e \"$1\" || test -L \"$1\" || exit 2; mkdir -p -- \"$(dirname -- \"$2\")\" && "
             "mv -f -- \"$1\" \"$2\" && { test -d \"$2\" && echo d || echo f; }", 2},
};

struct fs_changed {
    char rel[1024];      /* the path it leaves: the new directory, the destination */
    const char *base;
};

static void on_fs_changed(struct request *req, int exit_code, const char *out, void *ud) {
    struct fs_changed *c = ud;
    if (exit_code == 0 && out[0] != 'd' && out[0] != 'f') reply_json(req, 200, json_object());
    else if (exit_code == 0)
        reply_json(req, 200, json_pack("{s:o}", "entry", entry_json(c->base, c->rel, out[0] == 'd', 0)));
    else if (exit_code == FS_EXISTS) e2b_rpc_error(req, "already_exists", "the path exists already");
    else if (exit_code == FS_MISSING) e2b_rpc_error(req, "not_found", "no such file or directory");
    else e2b_rpc_error(req, "internal", out[0] ? out : "the change failed");
    free(c);
}

void e2b_handle_fs_change(struct request *req) {
    const struct fs_change *op = NULL;
    for (size_t i = 0; i < sizeof fs_changes / sizeof fs_changes[0]; i++)
        if (strcmp(req->params[0], fs_changes[i].method) == 0) op = &fs_changes[i];
    if (!op) {
        e2b_rpc_unimplemented(req);
        return;
    }
    struct session *s = e2b_sandbox(req, 1);
    if (!s) return;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    const char *names[2] = {"path", NULL};
    if (op->paths == 2) names[0] = "source", names[1] = "destination";
    struct fs_changed *c = calloc(1, sizeof *c);
    json_t *argv = json_pack("[s,s,s,s]", "sh", "-c", op->script, "sh");
    int ok = c && argv;
    for (int i = 0; ok && i < op->paths; i++) {
        const char *path = json_string_value(json_object_get(body, names[i]));
        char full[1100];
        ok = path && rel_path(path, c->rel, sizeof c->rel, &c->base) == 0 && c->rel[0];
        snprintf(full, sizeof full, WORKDIR "/%s", c->rel);
        if (ok) json_array_append_new(argv, json_string(full));
    }
    json_decref(body);
    if (!ok) {
        if (c && argv) e2b_rpc_error(req, "invalid_argument", "paths must be below " E2B_HOME);
        else e2b_rpc_error(req, "internal", "out of memory");
        json_decref(argv);
        free(c);
        return;
    }
    e2b_exec_answer(req, s, argv, on_fs_changed, c);
}
