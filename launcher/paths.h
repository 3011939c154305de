/* paths.h — safe resolution of the paths the backend names (F, G, P) inside the working
 * directory. The program running in the sandbox owns that directory and may have planted
 * symlinks anywhere in it, so no path is ever handed to the kernel whole: every component is
 * opened on its own, relative to its parent, with O_NOFOLLOW. */
#ifndef LAUNCHER_PATHS_H
#define LAUNCHER_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#define PATH_MAX_BYTES 1024
#define PATH_COMPONENT_MAX 255

/* True for "/"-separated components of [A-Za-z0-9._-]{1,255}, none "." or "..", 1024 bytes at
 * most. `path` need not be NUL-terminated. */
bool path_is_valid(const char *path, size_t len);

/* Opens the directory that holds the last component of the valid `path` below `root_fd` and
 * points *leaf at that component. Missing directories are made (0755) when `create` is set.
 * Returns the directory's fd, or -1 with errno set; a symlink on the way gives ELOOP. */
int path_open_parent(int root_fd, const char *path, bool create, const char **leaf);

/* The R status (enum reply_status) that an errno from opening, reading or writing a path
 * deserves. What the program can cause (modes, FIFOs, a full disk, a running binary) has a status
 * of its own: only the unforeseen is REPLY_ERROR. */
int path_status_of_errno(int err);

#endif
