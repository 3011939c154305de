/* fsops.c — F/P, G and L. Every file is reached through paths.c, so a symlink planted by the
 * program is refused, never followed; files are opened O_NONBLOCK and must be regular, so a FIFO
 * planted in the same way cannot make the launcher wait. */
#include "fsops.h"
#include "frame.h"
#include "paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The biggest file G can return: what fits in one R frame. */
#define READ_MAX_BYTES (4u * 1024 * 1024)

/* Every failure says why in the reply's data; the backend shows it for the statuses it maps. */
static int fail(struct lbuf *out, const char *what, int err)
{
    lbuf_printf(out, "%s: %s", what, strerror(err));
    return path_status_of_errno(err);
}

static int not_regular(struct lbuf *out)
{
    lbuf_printf(out, "not a regular file");
    return REPLY_NOT_REGULAR;
}

/* Opens the parent directory of the backend's `path` below the working directory. Returns its fd
 * and a NUL-terminated copy of the path in `copy` (with *leaf inside it), or -1 with *status. */
static int open_parent(const char *workdir, const char *path, size_t len, bool create,
                       char copy[PATH_MAX_BYTES + 1], const char **leaf, int *status, struct lbuf *out)
{
    if (!path_is_valid(path, len)) {
        *status = REPLY_BAD_PATH;
        return -1;
    }
    memcpy(copy, path, len);
    copy[len] = '\0';
    int root_fd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        *status = REPLY_ERROR;
        lbuf_printf(out, "working directory: %s", strerror(errno));
        return -1;
    }
    int dir_fd = path_open_parent(root_fd, copy, create, leaf);
    if (dir_fd < 0)
        *status = fail(out, "directory", errno);
    close(root_fd);
    return dir_fd;
}

/* Files without a dot in their name are usually scripts or binaries meant to be run. */
static mode_t mode_for(const char *leaf)
{
    return strchr(leaf, '.') ? 0644 : 0755;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Opens the regular file `path` names below workdir with `flags` (O_CREAT: its parents too), no
 * link followed on the way; *mode is the mode a file of its name gets. Its fd, or -1 with the
 * reply's status in *status (and its text in `out`). */
static int open_file(const char *workdir, const char *path, size_t path_len, int flags, mode_t *mode,
                     int *status, struct lbuf *out)
{
    char copy[PATH_MAX_BYTES + 1];
    const char *leaf;
    int dir_fd = open_parent(workdir, path, path_len, (flags & O_CREAT) != 0, copy, &leaf, status, out);
    if (dir_fd < 0)
        return -1;

    *mode = mode_for(leaf);
    int fd = openat(dir_fd, leaf, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, *mode);
    int err = errno;
    close(dir_fd);
    if (fd < 0) {
        *status = fail(out, "open", err);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        *status = fail(out, "stat", errno);
    else if (S_ISDIR(st.st_mode))
        *status = REPLY_IS_DIR;
    else if (!S_ISREG(st.st_mode))
        *status = not_regular(out);
    else
        return fd;
    close(fd);
    return -1;
}

int fsop_write(const char *workdir, const char *path, size_t path_len, const void *data, size_t n,
               struct lbuf *out)
{
    mode_t mode;
    int status = REPLY_OK;
    int fd = open_file(workdir, path, path_len, O_WRONLY | O_CREAT | O_TRUNC, &mode, &status, out);
    if (fd < 0)
        return status;
    if (fchmod(fd, mode) < 0) /* an existing file keeps its mode through O_TRUNC */
        status = fail(out, "chmod", errno);
    else if (write_all(fd, data, n) < 0)
        status = fail(out, "write", errno);
    if (close(fd) < 0 && status == REPLY_OK)
        status = fail(out, "close", errno);
    return status;
}

int fsop_read(const char *workdir, const char *path, size_t path_len, struct lbuf *out)
{
    mode_t mode;
    int status = REPLY_OK;
    int fd = open_file(workdir, path, path_len, O_RDONLY, &mode, &status, out);
    if (fd < 0)
        return status;
    size_t start = lbuf_used(out);
    /* The size is checked while reading too: the program may still be writing the file. */
    unsigned char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || lbuf_used(out) - start + (size_t)n > READ_MAX_BYTES) {
            /* EFBIG: more than one R frame carries (REPLY_TOO_LARGE) */
            lbuf_truncate(out, start);
            status = fail(out, "read", n < 0 ? errno : EFBIG);
            break;
        }
        lbuf_append(out, chunk, (size_t)n);
    }
    close(fd);
    return status;
}

/* Appends a `u64 size, u16 path_len, path` record for every regular file below dir_fd, whose
 * path relative to the working directory is path[0..path_len). Directories that cannot be read,
 * names outside the file-name rule (the program may make any name: a newline, a quote, bytes
 * that are not UTF-8) and paths longer than G accepts are skipped: G would refuse them. The
 * length bound also bounds the depth, and with it the fds and stack this recursion uses. */
static void list_dir(int dir_fd, char *path, size_t path_len, struct lbuf *out)
{
    DIR *dir = fdopendir(dir_fd);
    if (!dir) {
        close(dir_fd);
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        size_t name_len = strlen(name);
        size_t len = path_len + (path_len ? 1 : 0) + name_len;
        if (len > PATH_MAX_BYTES || !path_is_valid(name, name_len))
            continue;
        char *end = path + path_len;
        if (path_len)
            *end++ = '/';
        memcpy(end, name, name_len + 1);

        struct stat st;
        if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            lbuf_put_u64(out, (uint64_t)st.st_size);
            lbuf_put_u16(out, (uint16_t)len);
            lbuf_append(out, path, len);
        } else if (S_ISDIR(st.st_mode)) {
            int sub_fd = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub_fd >= 0)
                list_dir(sub_fd, path, len, out);
        }
    }
    closedir(dir);
}

int fsop_list(const char *workdir, struct lbuf *out)
{
    char path[PATH_MAX_BYTES + 1];
    int root_fd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        lbuf_printf(out, "working directory: %s", strerror(errno));
        return REPLY_ERROR;
    }
    size_t start = lbuf_used(out);
    list_dir(root_fd, path, 0, out);
    if (lbuf_used(out) - start > FRAME_REPLY_MAX_DATA) {
        lbuf_truncate(out, start);
        lbuf_printf(out, "listing too large");
        return REPLY_ERROR;
    }
    return REPLY_OK;
}
