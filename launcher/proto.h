/* proto.h — the numbers of docs/protocol.md that both ends act on: why a program ended (the `x`
 * frame's reason) and how a request was answered (the `R` frame's status).  The launcher writes
 * them (launcher/frame.h's codec), the server switches on them (core/backend/attach.h includes
 * this file), so the two read the same names.  Plain enums, nothing else: any file may include it. */
#ifndef LAUNCHER_PROTO_H
#define LAUNCHER_PROTO_H

enum exit_reason {
    EXIT_REASON_NORMAL = 0,
    EXIT_REASON_TIMEOUT = 1,
    EXIT_REASON_OUTPUT_LIMIT = 2,
    EXIT_REASON_BUSY = 3,
    EXIT_REASON_EXEC_FAILED = 4,
    EXIT_REASON_CPU_LIMIT = 5, /* CPU time past the exec's cpu_ms (killed at cpu_ms + cpu_extra_ms) */
};

enum reply_status {
    REPLY_OK = 0,
    REPLY_NOT_FOUND = 1,
    REPLY_BAD_PATH = 2,
    REPLY_IS_DIR = 3,
    REPLY_ERROR = 4,       /* anything else: data says what */
    REPLY_NOT_REGULAR = 5, /* a FIFO, a socket, a device: no file to read or write */
    REPLY_TOO_LARGE = 6,   /* G of more than fits in an R; P or F with no space left */
    REPLY_DENIED = 7,      /* the file's or a folder's mode forbids it, or it is busy (ETXTBSY) */
};

#endif
