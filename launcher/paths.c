/* paths.c — path validation and a component-by-component walk that never follows a symlink. */
#include "paths.h"
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static bool component_is_valid(const char *s, size_t n)
{
    if (n == 0 || n > PATH_COMPONENT_MAX)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(s[i]))
            return false;
    return true;
}

bool path_is_valid(const char *path, size_t len)
{
    if (len == 0 || len > PATH_MAX_BYTES)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || path[i] == '/') {
            if (!component_is_valid(path + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* Opens the directory `name` in `dir_fd` without following a symlink. O_NOFOLLOW|O_DIRECTORY on
 * a symlink fails with ENOTDIR, the same as on a regular file, so a second look tells them apart:
 * a symlink is a refused path (ELOOP), a file is a path that names nothing (ENOTDIR). */
static int open_dir_nofollow(int dir_fd, const char *name)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOTDIR) {
        struct stat st;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            errno = ELOOP;
        else
            errno = ENOTDIR;
    }
    return fd;
}

int path_open_parent(int root_fd, const char *path, bool create, const char **leaf)
{
    char component[PATH_COMPONENT_MAX + 1];
    int dir_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    const char *p = path;
    const char *slash;

    while (dir_fd >= 0 && (slash = strchr(p, '/')) != NULL) {
        size_t n = (size_t)(slash - p);
        memcpy(component, p, n);
        component[n] = '\0';
        int next = open_dir_nofollow(dir_fd, component);
        if (next < 0 && errno == ENOENT && create) {
            /* EEXIST: someone made it between our two calls; the open below decides. */
            if (mkdirat(dir_fd, component, 0755) == 0 || errno == EEXIST)
                next = open_dir_nofollow(dir_fd, component);
        }
        int saved = errno;
        close(dir_fd);
        errno = saved;
        dir_fd = next;
        p = slash + 1;
    }
    *leaf = p;
    return dir_fd;
}

int path_status_of_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return REPLY_NOT_FOUND;
    case ELOOP:
        return REPLY_BAD_PATH;
    case EISDIR:
        return REPLY_IS_DIR;
    case ENXIO: /* opening a FIFO without a reader for writing, or a socket */
        return REPLY_NOT_REGULAR;
    case EFBIG:
    case ENOSPC:
    case EDQUOT:
    case EMLINK:
        return REPLY_TOO_LARGE;
    case EACCES:
    case EPERM:
    case ETXTBSY:
        return REPLY_DENIED;
    default:
        return REPLY_ERROR;
    }
}
