/* session_files.c — a session's files: GET, PUT and list in its working directory, through the launcher. */
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "http/reply.h"
#include "session_int.h"

void session_fail_files(struct session *s) {
    while (s->files) {
        struct pending_file *f = s->files;
        s->files = f->next;
        reply_error(f->req, 409, "conflict", "the session has ended");
        free(f);
    }
}
void session_file_reply(struct sandbox *sb, void *ud, uint32_t rid, int status, const char *data, size_t len) {
    (void)sb;
    struct session *s = ud;
    struct pending_file **pp = &s->files;
    while (*pp && (*pp)->rid != rid) pp = &(*pp)->next;
    struct pending_file *f = *pp;
    if (!f) return;
    *pp = f->next;
    struct request *req = f->req;
    enum file_op op = f->op;
    free(f);
    switch (status) {
    case REPLY_OK: break;
    case REPLY_NOT_FOUND: reply_error(req, 404, "not_found", "no such file in the session's working directory"); return;
    case REPLY_BAD_PATH: reply_error(req, 400, "bad_request", "the path leaves the working directory or crosses a symlink"); return;
    case REPLY_IS_DIR: reply_error(req, 400, "bad_request", "the path names a folder"); return;
    case REPLY_NOT_REGULAR: reply_error(req, 400, "bad_request", "the path names no regular file (a FIFO, a socket ...)"); return;
    case REPLY_TOO_LARGE:
        if (op == FILE_GET) reply_error(req, 413, "payload_too_large", "the file is larger than a GET returns (4 MiB)");
        else reply_error(req, 413, "payload_too_large", "no space for the file: %.*s", (int)(len > 200 ? 200 : len), data);
        return;
    case REPLY_DENIED:
        reply_error(req, 409, "conflict", "the program's modes forbid it, or the file is busy: %.*s", (int)(len > 200 ? 200 : len), data);
        return;
    default: reply_error(req, 500, "internal", "the sandbox could not do it: %.*s", (int)(len > 200 ? 200 : len), data); return;
    }
    if (op == FILE_GET) {
        http_respond(req, 200, "application/octet-stream", data, len, NULL);
    } else if (op == FILE_PUT) {
        reply_no_content(req);
    } else {
        /* Records of u64 size, u16 path length, path. */
        json_t *list = json_array();
        const unsigned char *p = (const unsigned char *)data, *end = p + len;
        while (end - p >= 10) {
            uint64_t size = 0;
            for (int i = 0; i < 8; i++) size = size << 8 | p[i];
            size_t plen = (size_t)p[8] << 8 | p[9];
            p += 10;
            if ((size_t)(end - p) < plen) break;
            json_array_append_new(list, json_pack("{s:s%,s:I}", "path", (const char *)p, plen, "size", (json_int_t)size));
            p += plen;
        }
        reply_json(req, 200, json_pack("{s:o}", "files", list));
    }
}


static void file_op(struct request *req, struct session *s, enum file_op op, const char *path) {
    if (session_ended(s)) {
        reply_error(req, 409, "conflict", "the session has ended (%s)", session_state_name(s->state));
        return;
    }
    if (path && !program_valid_path(path)) {
        reply_error(req, 400, "bad_request", "bad path: use /-separated components of [A-Za-z0-9._-], not . or ..");
        return;
    }
    /* A file travels in one P frame (docs/protocol.md): larger ones are refused at once. */
    if (op == FILE_PUT && req->body.len > attach_put_max(strlen(path))) {
        reply_error(req, 413, "payload_too_large", "a file PUT carries at most %zu bytes", attach_put_max(strlen(path)));
        return;
    }
    struct pending_file *f = request_calloc(req, sizeof *f);
    if (!f) return;
    f->op = op;
    f->req = req;
    f->rid = op == FILE_GET ? sandbox_get(s->sb, path)
           : op == FILE_PUT ? sandbox_put(s->sb, path, req->body.data, req->body.len)
                            : sandbox_list(s->sb);
    f->next = s->files;
    s->files = f;
}

void session_file_get(struct request *req, struct session *s, const char *path) { file_op(req, s, FILE_GET, path); }
void session_file_put(struct request *req, struct session *s, const char *path) { file_op(req, s, FILE_PUT, path); }
void session_file_list(struct request *req, struct session *s) { file_op(req, s, FILE_LIST, NULL); }
