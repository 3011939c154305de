"""One tenant's run against the next one in the same reused container, and against the launcher
(docs/security.md): what a reset must put back besides the files — ACLs, xattrs, inode flags,
mode, the memory they hold — and signals to PID 1 that user code forges."""
import pytest

from backend_util import create, delete, read_until, run_ok, send_input, session
from conftest import slow
from test_pools import hostname, wait_pools

pytestmark = pytest.mark.docker

A, B = "tenant-a", "tenant-b"

# One C container in the pool, so that two runs in a row share it (see test_pools.py).
POLICY = """
local images = require "cloudcode.images"
local limits = require "cloudcode.limits"
local admit = require "cloudcode.admit"
return {
  role = "backend",
  listen = os.getenv("CODECLOUD_LISTEN"),
  backend_id = os.getenv("CODECLOUD_BACKEND_ID") or os.getenv("CODECLOUD_LISTEN"),
  keys = { client = { "%s", "%s" } },
  limits = limits.default,
  images = images.default,
  admit = admit.caps,
  pools = { c = { size = 1, refill_per_s = 20, max = 2 } },
}
""" % (A, B)

# The memory the container's cgroup holds but the file cache (cgroup v1, as the engine here has it).
PINNED_C = r'''
static long long pinned_mib(void) {
    long long usage = 0, v, cache = 0; char k[64];
    FILE *f = fopen("/sys/fs/cgroup/memory/memory.usage_in_bytes", "r");
    if (!f || fscanf(f, "%lld", &usage) != 1) return -1;
    fclose(f);
    f = fopen("/sys/fs/cgroup/memory/memory.stat", "r");
    while (f && fscanf(f, "%63s %lld", k, &v) == 2)
        if (!strcmp(k, "total_active_file") || !strcmp(k, "total_inactive_file")) cache += v;
    if (f) fclose(f);
    return (usage - cache) >> 20;
}
'''

HEAD = ('#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n'
        '#include <fcntl.h>\n#include <sys/ioctl.h>\n#include <sys/stat.h>\n#include <sys/xattr.h>\n'
        '#include <linux/fs.h>\n')

# Run A (tenant A): a default ACL with every permission 0 and an extended access ACL on /tmp and
# /work, ~100 MiB of user.* xattrs (charged to the container's memory), a secret in an xattr,
# the no-dump flag, another mode.
POISON = HEAD + PINNED_C + r'''
static const unsigned char acl_default[] = {2,0,0,0, 1,0,0,0,255,255,255,255, 4,0,0,0,255,255,255,255,
                                            0x20,0,0,0,255,255,255,255};
static const unsigned char acl_access[] = {2,0,0,0, 1,0,7,0,255,255,255,255, 2,0,7,0,57,48,0,0,
                                           4,0,0,0,255,255,255,255, 0x10,0,7,0,255,255,255,255,
                                           0x20,0,0,0,255,255,255,255};
int main(void) {
    char h[64]; gethostname(h, sizeof h); puts(h);
    static char blob[65536];
    memset(blob, 'A', sizeof blob);
    const char *roots[] = {"/tmp", "/work"};
    int n = 0;
    for (int r = 0; r < 2; r++) {
        const char *d = roots[r];
        if (setxattr(d, "system.posix_acl_default", acl_default, sizeof acl_default, 0) ||
            setxattr(d, "system.posix_acl_access", acl_access, sizeof acl_access, 0) ||
            setxattr(d, "user.secret", "tenant-a-secret", 15, 0)) { perror(d); return 1; }
        for (int i = 0; i < 800; i++, n++) {
            char name[32]; snprintf(name, sizeof name, "user.fill%d", i);
            if (setxattr(d, name, blob, sizeof blob, 0)) { perror(name); return 1; }
        }
        int fd = open(d, O_RDONLY | O_DIRECTORY), flags = 0;
        ioctl(fd, FS_IOC_GETFLAGS, &flags);
        flags |= FS_NODUMP_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags)) { perror("setflags"); return 1; }
        close(fd);
    }
    chmod("/work", 0750);
    printf("%d %lld\n", n, pinned_mib());
    return 0;
}
'''

# Run B (tenant B): compiling used /tmp already; it writes files, and sees none of A's state.
CHECK = HEAD + PINNED_C + r'''
int main(void) {
    char h[64], list[65536]; gethostname(h, sizeof h); puts(h);
    const char *roots[] = {"/tmp", "/work"};
    for (int r = 0; r < 2; r++) {
        char path[64]; snprintf(path, sizeof path, "%s/file", roots[r]);
        FILE *f = fopen(path, "w");
        if (!f || fputs("data", f) < 0 || fclose(f)) { perror(path); return 1; }
        struct stat st; stat(roots[r], &st);
        int fd = open(roots[r], O_RDONLY | O_DIRECTORY), flags = -1;
        ioctl(fd, FS_IOC_GETFLAGS, &flags);
        close(fd);
        printf("%s xattrs=%zd mode=%o flags=%d\n", roots[r], listxattr(roots[r], list, sizeof list),
               st.st_mode & 07777, flags);
    }
    printf("pinned %lld\n", pinned_mib());
    return 0;
}
'''


def pool_server(start_server, policy_file, extra=""):
    srv = start_server(policy=policy_file(POLICY.replace("  pools =", extra + "  pools =")))
    wait_pools(srv, {"c": 1})
    return srv


def test_reset_restores_the_roots_for_the_next_tenant(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    fresh = run_ok(srv, {"language": "c", "code": CHECK}, key=B)
    a = run_ok(srv, {"language": "c", "code": POISON, "limits": {"timeout_ms": 30000}}, key=A)
    count, pinned_a = map(int, a["stdout"].splitlines()[1].split())
    assert count == 1600 and pinned_a > 100, a   # ~100 MiB of xattrs charged to the container
    b = run_ok(srv, {"language": "c", "code": CHECK}, key=B)
    assert hostname(fresh) == hostname(a) == hostname(b), (fresh, a, b)   # one container for all
    assert b["compile"]["exit_code"] == 0, b     # cc1's temporary files in /tmp
    lines, want = b["stdout"].splitlines(), fresh["stdout"].splitlines()
    assert lines[1:3] == want[1:3], (b, fresh)   # as the fresh container had them
    assert lines[1].startswith("/tmp xattrs=0 ") and lines[1].endswith(" flags=0"), b
    assert lines[2].startswith("/work xattrs=0 ") and lines[2].endswith(" flags=0"), b
    pinned_b, pinned_fresh = int(lines[3].split()[1]), int(want[3].split()[1])
    assert 0 <= pinned_b < pinned_fresh + 16, (b, fresh)   # back near the baseline


# 300 names of 240 bytes: more than the 64 KiB listxattr() returns, so nobody in the container
# can list them, let alone remove them all: the container cannot be proven clean.
UNLISTABLE = HEAD + r'''
int main(void) {
    char h[64], name[256]; gethostname(h, sizeof h); puts(h);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "user.%0234d", i);
        if (setxattr("/work", name, "x", 1, 0)) { perror("setxattr"); return 1; }
    }
    puts("set");
    return 0;
}
'''


def test_container_not_proven_clean_is_discarded(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    a = run_ok(srv, {"language": "c", "code": UNLISTABLE}, key=A)
    assert a["stdout"].splitlines()[1] == "set", a
    srv.wait_log(lambda l: l.get("event") == "pool_reset" and "xattrs" in l.get("msg", ""),
                 timeout=slow(10))
    wait_pools(srv, {"c": 1})
    b = run_ok(srv, {"language": "c", "code": CHECK}, key=B)
    assert hostname(a) != hostname(b), (a, b)
    assert b["stdout"].splitlines()[2].startswith("/work xattrs=0 "), b


# Looking up 200 000 names that do not exist leaves as many negative dentries, kernel memory
# charged to the container (well over 100 MiB) that no file removal frees.
DENTRIES = HEAD + r'''
int main(void) {
    char h[64], name[64]; struct stat st; gethostname(h, sizeof h); puts(h);
    for (int i = 0; i < 200000; i++) {
        snprintf(name, sizeof name, "/usr/no-such-name-%d", i);
        stat(name, &st);
    }
    puts("looked");
    return 0;
}
'''


def test_memory_not_given_back_discards_the_container(start_server, policy_file):
    srv = pool_server(start_server, policy_file)
    a = run_ok(srv, {"language": "c", "code": DENTRIES, "limits": {"timeout_ms": 30000}}, key=A)
    assert a["stdout"].splitlines()[1] == "looked", a
    srv.wait_log(lambda l: l.get("event") == "pool_reset" and "memory" in l.get("msg", ""), timeout=slow(10))
    wait_pools(srv, {"c": 1})
    b = run_ok(srv, {"language": "c", "code": CHECK}, key=B)
    assert hostname(a) != hostname(b), (a, b)


# rt_sigqueueinfo() lets user code send PID 1 a SIGTERM whose si_pid says 0 ("from outside").
FORGE = r'''
import ctypes, signal
def forge(sig):
    info = (ctypes.c_int * 32)()
    info[0], info[2] = sig, -1      # si_signo; si_code SI_QUEUE; si_pid (info[4]) left 0
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(129, 1, sig, info)   # SYS_rt_sigqueueinfo
'''


def test_forged_sigterm_to_pid1_is_ignored_in_a_run(server):
    code = FORGE + ("import time\nprint(forge(signal.SIGTERM), forge(signal.SIGINT))\n"
                    "time.sleep(0.5)\nprint('still here')\n")
    r = run_ok(server, {"language": "python", "code": code})
    assert r["stdout"] == "0 0\nstill here\n", r
    # and the container serves the next run
    run_ok(server, {"language": "python", "code": "print(1)"})


def test_forged_sigterm_to_pid1_is_ignored_in_a_session(server):
    code = FORGE + ("import sys\nfor line in sys.stdin:\n"
                    "    print(forge(signal.SIGTERM) if line.strip() == 'forge' else 'echo ' + line.strip(), flush=True)\n")
    s = create(server, {"language": "python", "code": code})
    sid = s["id"]
    send_input(server, sid, "forge\n")
    _, cursor, _ = read_until(server, sid, lambda t, b: "0\n" in t)
    send_input(server, sid, "hello\n")
    read_until(server, sid, lambda t, b: "echo hello\n" in t, cursor=cursor)
    assert session(server, sid)["state"] == "running"
    delete(server, sid)
