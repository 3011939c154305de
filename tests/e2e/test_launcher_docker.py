"""End-to-end tests of the launcher (launcher/, docs/protocol.md).

Most tests run the real static launcher as PID 1 of a hardened scratch container, exactly as the
backend does, and speak the protocol over `docker run -i` (no -t: stdout is the raw frame
stream). A few run it outside Docker, where it is not PID 1, to check it keeps to its own
process group and working directory there.

Run with: /usr/bin/python3 -m pytest tests/e2e/test_launcher_docker.py
"""

import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(ROOT, "launcher", "cloudcode-launcher")
IMAGE = "cloudcode-test/launcher:latest"
UID = "100123"
SECRET = b"root:x:0:0:SECRET-PASSWD-CONTENT:/root:/bin/sh\n"
ENV = ["PATH=/bin", "LANG=C"]

# A multi-call static helper: the image is FROM scratch, so every program a test runs is this one.
HELPER_SOURCE = r"""
#define _GNU_SOURCE
/* cctest: a multi-call static helper run by the launcher in the test image. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/ptrace.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void msleep(long ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; while (nanosleep(&t, &t) < 0 && errno == EINTR) ; }

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n - 1; /* header */
}

static int count_procs(void)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') n++;
    closedir(d);
    return n;
}

static volatile sig_atomic_t winch;
static void on_winch(int s) { (void)s; winch = 1; }

static void print_size(void)
{
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) printf("size %d %d\n", ws.ws_row, ws.ws_col);
    else printf("size error %s\n", strerror(errno));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "echo")) {
        for (int i = 2; i < argc; i++) printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
        return 0;
    }
    if (!strcmp(mode, "cat")) {
        char b[4096]; ssize_t n;
        while ((n = read(0, b, sizeof b)) > 0) write(1, b, n);
        printf("[eof]\n");
        return 0;
    }
    if (!strcmp(mode, "count")) { /* bytes on stdin until EOF, read late, from a 1 MiB pipe */
        char b[4096]; ssize_t n; long total = 0;
        fcntl(0, F_SETPIPE_SZ, 1 << 20);
        msleep(300);
        while ((n = read(0, b, sizeof b)) > 0) total += n;
        printf("%ld\n", total);
        return 0;
    }
    if (!strcmp(mode, "catfile")) {
        FILE *f = fopen(argv[2], "r"); int c;
        if (!f) { perror(argv[2]); return 1; }
        while ((c = fgetc(f)) != EOF) putchar(c);
        return 0;
    }
    if (!strcmp(mode, "fail")) {
        fprintf(stderr, "to stderr\n");
        printf("to stdout\n");
        return 3;
    }
    if (!strcmp(mode, "sleep")) { msleep(atol(argv[2])); return 0; }
    if (!strcmp(mode, "big")) { /* N bytes of a counting pattern, in odd-sized writes, then exit */
        long n = atol(argv[2]), i = 0; static char b[7777];
        while (i < n) { long k = n - i < (long)sizeof b ? n - i : (long)sizeof b;
            for (long j = 0; j < k; j++) b[j] = (char)('a' + (i + j) % 26);
            if (write(1, b, k) != k) return 1; i += k; }
        return 0;
    }
    if (!strcmp(mode, "hog")) { /* touch memory until killed */
        for (;;) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 1, 1 << 20); }
    }
    if (!strcmp(mode, "bg")) {
        if (fork() == 0) { setsid(); msleep(60000); _exit(0); }
        printf("parent done\n");
        return 0;
    }
    if (!strcmp(mode, "flood")) {
        static char b[65536];
        memset(b, 'y', sizeof b);
        for (;;) if (write(1, b, sizeof b) < 0) return 1;
    }
    if (!strcmp(mode, "attack")) {
        errno = 0; long r = ptrace(PTRACE_ATTACH, 1, 0, 0); int pe = r < 0 ? errno : 0;
        errno = 0; int kr = kill(1, SIGKILL); int ke = errno;
        errno = 0; int tr = kill(1, SIGTERM); int te = errno;
        errno = 0; int fd = open("/proc/1/mem", O_RDONLY); int me = fd < 0 ? errno : 0;
        errno = 0; int fd2 = open("/proc/1/environ", O_RDONLY); int ee = fd2 < 0 ? errno : 0;
        printf("ptrace=%s kill9=%d/%s term=%d/%s mem=%s environ=%s\n", pe ? strerrorname_np(pe) : "0",
               kr, ke ? strerrorname_np(ke) : "0", tr, te ? strerrorname_np(te) : "0",
               me ? strerrorname_np(me) : "0", ee ? strerrorname_np(ee) : "0");
        fflush(stdout);
        msleep(200);
        printf("after\n");
        return 0;
    }
    if (!strcmp(mode, "symlinks")) {
        int a = symlink("/etc/passwd", "link"), b = symlink("/etc", "dir"), c = mkfifo("fifo", 0644);
        mkdir("sub", 0755);
        int d = symlink("/etc/passwd", "sub/inner");
        printf("%d %d %d %d\n", a, b, c, d);
        return 0;
    }
    if (!strcmp(mode, "tty")) {
        struct sigaction sa = {.sa_handler = on_winch}; /* no SA_RESTART: read returns EINTR */
        sigaction(SIGWINCH, &sa, NULL);
        printf("isatty %d\n", isatty(0));
        print_size();
        char line[256];
        for (;;) {
            ssize_t n = read(0, line, sizeof line - 1);
            if (n < 0 && errno == EINTR) { if (winch) { winch = 0; print_size(); } continue; }
            if (n <= 0) { printf("eof\n"); return 0; }
            line[n] = 0;
            if (line[n - 1] == '\n') line[n - 1] = 0;
            printf("got:%s\n", line);
            fflush(stdout);
        }
    }
    if (!strcmp(mode, "mess")) {
        FILE *f;
        /* relative: the program runs in the working directory */
        mkdir("deep", 0755); mkdir("deep/er", 0755);
        f = fopen("deep/er/file", "w"); fputs("x", f); fclose(f);
        chmod("deep/er", 0); chmod("deep", 0);
        f = fopen("top.txt", "w"); fputs("x", f); fclose(f);
        mkdir("/tmp/t0", 0700); f = fopen("/tmp/t0/f", "w"); fclose(f); chmod("/tmp/t0", 0);
        f = fopen("/tmp/plain", "w"); fclose(f);
        symlink("/etc/passwd", "/tmp/link");
        mkfifo("/tmp/fifo", 0600);
        f = fopen("/dev/shm/shmfile", "w"); fclose(f);
        mqd_t q = mq_open("/cctestq", O_CREAT | O_RDWR, 0600, NULL);
        int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0);
        int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0);
        int msg = msgget(IPC_PRIVATE, IPC_CREAT | 0);
        if (fork() == 0) { setsid(); msleep(60000); _exit(0); }
        printf("made mq=%d shm=%d sem=%d msg=%d\n", (int)q, shm, sem, msg);
        return 0;
    }
    if (!strcmp(mode, "inspect")) {
        printf("work=%d tmp=%d shm=%d mq=%d ipc=%d,%d,%d procs=%d\n", count_entries("/work"), count_entries("/tmp"),
               count_entries("/dev/shm"), count_entries("/dev/mqueue"), count_lines("/proc/sysvipc/shm"),
               count_lines("/proc/sysvipc/sem"), count_lines("/proc/sysvipc/msg"), count_procs());
        return 0;
    }
    if (!strcmp(mode, "env")) {
        char cwd[256];
        printf("cwd=%s\n", getcwd(cwd, sizeof cwd));
        for (char **e = environ; *e; e++) printf("%s\n", *e);
        return 0;
    }
    if (!strcmp(mode, "self")) {
        char b[64] = ""; int fd = open("/proc/self/oom_score_adj", O_RDONLY);
        ssize_t n = read(fd, b, sizeof b - 1); b[n > 0 ? n : 0] = 0;
        sigset_t m; sigprocmask(SIG_SETMASK, NULL, &m);
        int blocked = 0; for (int s = 1; s < 32; s++) blocked += sigismember(&m, s);
        printf("oom=%s pid=%d pgid=%d sid=%d blocked=%d uid=%d\n", strtok(b, "\n"), getpid(), getpgrp(), getsid(0), blocked, getuid());
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}

"""

DOCKERFILE = """FROM scratch
COPY cloudcode-launcher /cloudcode-launcher
COPY cctest /bin/cctest
COPY passwd /etc/passwd
LABEL cloudcode=test
ENTRYPOINT ["/cloudcode-launcher"]
"""


def docker_available():
    return shutil.which("docker") and subprocess.run(
        ["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode == 0


# ---------------------------------------------------------------------------------------------
# The protocol, from the backend's side.


def strings(values):
    return struct.pack(">H", len(values)) + b"".join(v.encode() + b"\0" for v in values)


class Exit:
    """A decoded x frame."""

    def __init__(self, payload):
        (self.seq, self.exit_code, self.signo, self.reason, self.wall_ms, self.cpu_ms,
         self.maxrss_kb, self.oom_kills) = struct.unpack(">QiBBIIQI", payload)

    def __repr__(self):
        return "Exit(%r)" % self.__dict__


class Launcher:
    """One launcher process, spoken to through its stdin and stdout."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.frames = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        out = self.proc.stdout
        while True:
            header = out.read(4)
            if len(header) < 4:
                self.frames.put(None)
                return
            (length,) = struct.unpack(">I", header)
            body = out.read(length)
            if len(body) < length:
                self.frames.put(None)
                return
            self.frames.put((body[:1], body[1:]))

    def send(self, ftype, payload=b""):
        self.proc.stdin.write(struct.pack(">I", len(payload) + 1) + ftype + payload)
        self.proc.stdin.flush()

    def recv(self, timeout=10.0):
        try:
            frame = self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no frame within %.1f s" % timeout)
        if frame is None:
            status = self.proc.wait(5)
            raise AssertionError("launcher closed its stdout (exit %s): %r"
                                 % (status, self.proc.stderr.read()))
        return frame

    def no_frame(self, wait):
        """Asserts that nothing arrives for `wait` seconds."""
        try:
            frame = self.frames.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError("unexpected frame %r" % (frame,))

    # -- requests --

    def hello(self, last_seq=0, nonce=None):
        payload = struct.pack(">Q", last_seq)
        if nonce is not None:
            payload += struct.pack(">Q", nonce)
        self.send(b"H", payload)
        ftype, body = self.recv()
        assert ftype == b"Y", (ftype, body)
        if nonce is not None:
            assert len(body) == 16 and struct.unpack(">Q", body[8:])[0] == nonce
        return struct.unpack(">Q", body[:8])[0]

    def file(self, name, data):
        self.send(b"F", struct.pack(">H", len(name)) + name.encode() + data)

    def exec(self, argv, env=ENV, tty=False, stdin_closed=False, timeout_ms=0, limit=0,
             cols=0, rows=0):
        flags = (1 if tty else 0) | (2 if stdin_closed else 0)
        self.send(b"X", struct.pack(">BHHIQ", flags, cols, rows, timeout_ms, limit)
                  + strings(argv) + strings(env))

    def reply(self, timeout=10.0):
        ftype, body = self.recv(timeout)
        assert ftype == b"R", (ftype, body)
        rid, status = struct.unpack(">IB", body[:5])
        return rid, status, body[5:]

    def get(self, rid, path):
        self.send(b"G", struct.pack(">I", rid) + path.encode())
        got_rid, status, data = self.reply()
        assert got_rid == rid
        return status, data

    def put(self, rid, path, data):
        self.send(b"P", struct.pack(">IH", rid, len(path)) + path.encode() + data)
        got_rid, status, reason = self.reply()
        assert got_rid == rid
        return status, reason

    def list(self, rid):
        self.send(b"L", struct.pack(">I", rid))
        got_rid, status, data = self.reply()
        assert got_rid == rid and status == 0, (status, data)
        files, off = {}, 0
        while off < len(data):
            size, n = struct.unpack(">QH", data[off:off + 10])
            files[data[off + 10:off + 10 + n].decode()] = size
            off += 10 + n
        return files

    def reset(self, rid):
        self.send(b"K", struct.pack(">I", rid))
        frames = []
        while True:
            ftype, body = self.recv(15)
            if ftype == b"R":
                got_rid, status = struct.unpack(">IB", body[:5])
                assert got_rid == rid
                return status, body[5:], frames
            frames.append((ftype, body))

    def collect(self, timeout=10.0, until=None):
        """Reads data frames up to the x frame. Returns (stdout, stderr, Exit, seqs)."""
        out = {1: b"", 2: b""}
        seqs = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no x frame within %.1f s (got %r)" % (timeout, out)
            ftype, body = self.recv(left)
            if ftype == b"D":
                seq, stream = struct.unpack(">QB", body[:9])
                seqs.append(seq)
                out[stream] += body[9:]
                if until and until(out):
                    return out[1], out[2], None, seqs
            elif ftype == b"x":
                x = Exit(body)
                seqs.append(x.seq)
                return out[1], out[2], x, seqs
            else:
                raise AssertionError("unexpected frame %r" % ((ftype, body),))

    def run(self, argv, timeout=10.0, **kw):
        self.exec(argv, **kw)
        return self.collect(timeout)

    def close(self, timeout=10.0):
        """Closes stdin (the launcher then kills everything and exits 0); returns the exit code,
        or None when the process had to be killed."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def built():
    """The launcher and the helper, both static."""
    subprocess.run(["make", "-s", "-C", ROOT, "-f", "launcher/launcher.mk", "launcher/cloudcode-launcher"],
                   check=True)
    workdir = tempfile.mkdtemp(prefix="cloudcode-launcher-test.")
    with open(os.path.join(workdir, "cctest.c"), "w") as f:
        f.write(HELPER_SOURCE)
    subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(workdir, "cctest"),
                    os.path.join(workdir, "cctest.c")], check=True, stderr=subprocess.DEVNULL)
    shutil.copy(LAUNCHER, os.path.join(workdir, "cloudcode-launcher"))
    with open(os.path.join(workdir, "passwd"), "wb") as f:
        f.write(SECRET)
    with open(os.path.join(workdir, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def image(built):
    if not docker_available():
        pytest.skip("the Docker engine is not reachable")
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    subprocess.run(["docker", "build", "-q", "-t", IMAGE, "--label", "cloudcode=test", built],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return IMAGE


def docker_argv(name, image, extra=()):
    return ["docker", "run", "-i", "--rm", "--name", name, "--network", "none", *extra,
            "--user", "%s:%s" % (UID, UID), "--read-only",
            "--tmpfs", "/work:uid=%s,gid=%s,exec" % (UID, UID),
            "--tmpfs", "/tmp:uid=%s,gid=%s" % (UID, UID),
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--label", "cloudcode=test", image]


@pytest.fixture
def make_box(image, built):
    """Starts sandbox containers with the launcher as PID 1, each greeted with H; removes them all."""
    started = []

    def start(*extra):
        name = "cloudcode-test-launcher-" + uuid.uuid4().hex[:12]
        launcher = Launcher(docker_argv(name, image, extra))
        launcher.name = name
        launcher.built = built
        started.append(launcher)
        assert launcher.hello() == 1
        return launcher

    try:
        yield start
    finally:
        for launcher in started:
            try:
                launcher.close(timeout=10)
            finally:
                subprocess.run(["docker", "rm", "-f", launcher.name], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)


@pytest.fixture
def box(make_box):
    return make_box()


@pytest.fixture
def host(built):
    """The launcher outside Docker: not PID 1, root, its working directory a temp dir."""
    workdir = tempfile.mkdtemp(prefix="cloudcode-launcher-work.")
    env = {"CLOUDCODE_WORKDIR": workdir, "PATH": "/usr/bin:/bin"}
    launcher = Launcher([LAUNCHER], env=env)
    launcher.workdir = workdir
    launcher.helper = os.path.join(built, "cctest")
    try:
        yield launcher
    finally:
        launcher.close()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# In a container, as PID 1


@pytest.mark.docker
def test_hello_answers_ready_and_echoes_nonce(box):
    assert box.hello(0, nonce=0x0123456789ABCDEF) == 1
    assert box.hello(5) == 1


@pytest.mark.docker
def test_file_then_exec_runs_the_program(box):
    box.file("data/in.txt", b"contents of the file\n")
    out, err, x, seqs = box.run(["cctest", "catfile", "data/in.txt"])
    assert out == b"contents of the file\n" and err == b""
    assert (x.exit_code, x.signo, x.reason) == (0, 0, 0)
    assert seqs == list(range(1, len(seqs) + 1)), "data and exit frames are numbered from 1"
    assert x.maxrss_kb > 0 and x.oom_kills == 0


@pytest.mark.docker
def test_stdout_stderr_and_exit_code(box):
    out, err, x, _ = box.run(["cctest", "fail"])
    assert out == b"to stdout\n" and err == b"to stderr\n"
    assert (x.exit_code, x.signo, x.reason) == (3, 0, 0)


@pytest.mark.docker
def test_program_environment(box):
    out, _, x, _ = box.run(["cctest", "env"], env=["PATH=/bin", "ONLY=this"])
    assert out.decode().splitlines() == ["cwd=/work", "PATH=/bin", "ONLY=this"]
    out, _, x, _ = box.run(["cctest", "self"])
    fields = dict(kv.split("=") for kv in out.decode().split())
    assert fields["oom"] == "1000", "the program volunteers for the OOM killer"
    assert fields["pid"] == fields["pgid"] == fields["sid"] != "1", "own session and process group"
    assert fields["blocked"] == "0", "the program starts with no signal blocked"
    assert fields["uid"] == UID


@pytest.mark.docker
def test_input_and_eof_reach_the_stdin_of_the_run_going_only(box):
    # A run's I and E follow its X: with no run going they belong to one that has ended, and the
    # next run (a judge's next case) reads only its own.
    box.send(b"I", b"stale ")
    box.send(b"E")
    box.exec(["cctest", "cat"])
    box.send(b"I", b"abc")
    box.send(b"I", b"def\n")
    box.send(b"E")
    out, err, x, _ = box.collect()
    assert out == b"abcdef\n[eof]\n"
    assert x.exit_code == 0 and x.reason == 0


@pytest.mark.docker
def test_stdin_closed_at_start(box):
    out, _, x, _ = box.run(["cctest", "cat"], stdin_closed=True)
    assert out == b"[eof]\n" and x.exit_code == 0


@pytest.mark.docker
def test_wall_timeout(box):
    start = time.monotonic()
    out, err, x, _ = box.run(["cctest", "sleep", "30000"], timeout_ms=500)
    assert (x.exit_code, x.signo, x.reason) == (-1, 9, 1)
    assert 450 <= x.wall_ms < 3000
    assert time.monotonic() - start < 5


@pytest.mark.docker
def test_output_limit(box):
    out, err, x, _ = box.run(["cctest", "flood"], limit=100000)
    assert len(out) == 100000 and set(out) == {ord("y")}
    assert (x.signo, x.reason) == (9, 2)


@pytest.mark.docker
def test_background_process_does_not_hold_the_run(box):
    start = time.monotonic()
    out, _, x, _ = box.run(["cctest", "bg"])
    assert out == b"parent done\n" and x.exit_code == 0 and x.reason == 0
    assert time.monotonic() - start < 1.5
    # Only the launcher and this program are left: the sleeper was killed at the end of the run.
    procs, _, _, _ = box.run(["cctest", "inspect"])
    assert "procs=2" in procs.decode(), procs


@pytest.mark.docker
def test_all_output_is_drained_at_exit(box):
    size = 3 * 1024 * 1024 + 17
    out, err, x, seqs = box.run(["cctest", "big", str(size)], timeout=30)
    assert len(out) == size and x.exit_code == 0 and x.reason == 0
    assert out == bytes(ord("a") + i % 26 for i in range(size))
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.docker
def test_input_beyond_the_cap_pauses_stdin_without_hanging(box):
    """A program that never reads: the launcher stops reading frames at 1 MiB of input, the
    timeout still fires, and afterwards the launcher reads (and drops) the rest."""
    box.exec(["cctest", "sleep", "30000"], timeout_ms=1500)
    chunk = b"z" * 65536
    sender = threading.Thread(target=lambda: [box.send(b"I", chunk) for _ in range(48)], daemon=True)
    sender.start()
    _, _, x, _ = box.collect(10)
    assert x.reason == 1
    sender.join(10)
    assert not sender.is_alive(), "the launcher read the rest of the input after the run"
    assert box.hello(x.seq) == x.seq + 1
    assert box.reset(1)[0] == 0
    out, _, x, _ = box.run(["cctest", "cat"], stdin_closed=True)
    assert out == b"[eof]\n", "input left from an old run is gone after K"


@pytest.mark.docker
def test_large_input_reaches_a_reading_program(box):
    """Input and E sent at once, more than the launcher buffers: past 1 MiB the frames wait in the
    launcher while the program catches up, and none is forgotten. (When the program has enlarged
    its pipe to 1 MiB, one write can take the whole buffer and leave the last frames, E among
    them, waiting in the launcher with nothing more to arrive on its stdin.)"""
    for frames in (16, 31):
        box.exec(["cctest", "count"])
        chunk = b"q" * 65536
        box.proc.stdin.write(b"".join(struct.pack(">I", len(chunk) + 1) + b"I" + chunk for _ in range(frames))
                             + struct.pack(">I", 1) + b"E")
        box.proc.stdin.flush()
        out, _, x, _ = box.collect(20)
        assert out == b"%d\n" % (frames * 65536) and x.exit_code == 0


@pytest.mark.docker
def test_end_of_stdin_kills_the_program_and_exits_0(box):
    box.exec(["cctest", "sleep", "30000"])
    box.no_frame(0.2)
    start = time.monotonic()
    assert box.close() == 0
    assert time.monotonic() - start < 5


@pytest.mark.docker
def test_oom_kill_is_counted(make_box):
    box = make_box("--memory", "48m", "--memory-swap", "48m")
    _, _, x, _ = box.run(["cctest", "hog"], timeout=30, timeout_ms=20000)
    assert (x.exit_code, x.signo, x.reason) == (-1, 9, 0)
    assert x.oom_kills == 1 and x.maxrss_kb > 20000, x
    out, _, x, _ = box.run(["cctest", "echo", "survived"])
    assert out == b"survived\n" and x.oom_kills == 0


@pytest.mark.docker
def test_signal_reaches_the_program(box):
    box.exec(["cctest", "sleep", "30000"])
    box.no_frame(0.3)
    box.send(b"S", bytes([15]))
    _, _, x, _ = box.collect(5)
    assert (x.exit_code, x.signo, x.reason) == (-1, 15, 0)


@pytest.mark.docker
def test_exec_while_running_is_busy(box):
    box.exec(["cctest", "sleep", "30000"])
    box.exec(["cctest", "echo", "second"])
    ftype, body = box.recv()
    assert ftype == b"x"
    busy = Exit(body)
    assert busy.seq == 0 and busy.reason == 3
    box.send(b"S", bytes([9]))
    _, _, x, _ = box.collect(5)
    assert x.signo == 9 and x.seq > 0


@pytest.mark.docker
def test_exec_failure(box):
    out, err, x, _ = box.run(["no-such-program"])
    assert b"no-such-program" in err and b"No such file" in err
    assert x.reason == 4 and x.exit_code == 127


@pytest.mark.docker
def test_get_put_list(box):
    assert box.put(1, "dir/sub/a.txt", b"A" * 10) == (0, b"")
    assert box.put(2, "run", b"#!x\n") == (0, b"")
    assert box.get(3, "dir/sub/a.txt") == (0, b"A" * 10)
    assert box.list(4) == {"dir/sub/a.txt": 10, "run": 4}
    assert box.get(5, "dir")[0] == 3, "a directory"
    assert box.get(6, "missing.txt")[0] == 1
    assert box.get(7, "dir/missing/x")[0] == 1
    for rid, bad in enumerate(["../etc/passwd", "/etc/passwd", "a//b", "./a", "a b", "x" * 1025], 10):
        assert box.get(rid, bad)[0] == 2, bad
        assert box.put(rid + 100, bad, b"x")[0] == 2, bad
    # A file without a dot in its name is made executable (0755): the helper itself, put as "tool".
    with open(os.path.join(box.built, "cctest"), "rb") as f:
        assert box.put(20, "bin/tool", f.read()) == (0, b"")
    out, err, x, _ = box.run(["./bin/tool", "echo", "from", "work"])
    assert (out, err, x.exit_code, x.reason) == (b"from work\n", b"", 0, 0)
    assert box.put(21, "bin/tool.txt", b"#!/bin/sh\n") == (0, b"")
    out, err, x, _ = box.run(["./bin/tool.txt"])
    assert x.reason == 4 and b"Permission denied" in err, "0644 with a dot"


@pytest.mark.docker
def test_file_failure_is_reported_with_rid_0(box):
    box.file("../escape", b"x")
    rid, status, _ = box.reply()
    assert (rid, status) == (0, 2)


@pytest.mark.docker
def test_symlinks_planted_by_the_program_are_refused(box):
    out, _, x, _ = box.run(["cctest", "symlinks"])
    assert out == b"0 0 0 0\n"
    for rid, path in enumerate(["link", "dir/passwd", "sub/inner"], 1):
        status, data = box.get(rid, path)
        assert status in (1, 2) and SECRET not in data, (path, status, data)
        assert status == 2
    assert box.put(10, "link", b"overwritten")[0] == 2
    assert box.put(11, "dir/new", b"x")[0] == 2
    status, data = box.get(12, "fifo")
    assert status == 5, (status, data)  # REPLY_NOT_REGULAR (docs/protocol.md)
    assert box.list(13) == {}, "L lists regular files only and follows no symlink"
    out, _, _, _ = box.run(["cctest", "catfile", "/etc/passwd"])
    assert out == SECRET, "and the target was never touched"


@pytest.mark.docker
def test_resend_after_hello_with_older_seq(box):
    out, err, x, seqs = box.run(["cctest", "fail"])
    assert seqs == [1, 2, 3]
    assert box.hello(0, nonce=42) == x.seq + 1
    resent = [box.recv() for _ in seqs]
    assert [struct.unpack(">Q", body[:8])[0] for _, body in resent] == seqs
    assert resent[-1] == (b"x", struct.pack(">QiBBIIQI", x.seq, x.exit_code, x.signo, x.reason, x.wall_ms,
                                            x.cpu_ms, x.maxrss_kb, x.oom_kills))
    # H(seq) means "I hold up to seq": only the later frames come again.
    assert box.hello(seqs[0]) == x.seq + 1
    assert [struct.unpack(">Q", box.recv()[1][:8])[0] for _ in seqs[1:]] == seqs[1:]
    box.send(b"A", struct.pack(">Q", x.seq))
    assert box.hello(0) == x.seq + 1
    box.no_frame(0.3)


@pytest.mark.docker
def test_reset_empties_the_sandbox(box):
    out, _, x, _ = box.run(["cctest", "mess"])
    assert out.startswith(b"made") and b"=-1" not in out, out
    before, _, _, _ = box.run(["cctest", "inspect"])
    assert b"ipc=1,1,1" in before and b"work=0" not in before, before
    status, reason, frames = box.reset(99)
    assert (status, reason, frames) == (0, b"", [])
    after, _, x, _ = box.run(["cctest", "inspect"])
    assert after == b"work=0 tmp=0 shm=0 mq=0 ipc=0,0,0 procs=2\n", after
    assert box.list(100) == {}


@pytest.mark.docker
def test_reset_during_a_run_ends_it_first(box):
    box.exec(["cctest", "sleep", "30000"])
    box.no_frame(0.2)
    status, _, frames = box.reset(7)
    assert status == 0 and len(frames) == 1 and frames[0][0] == b"x"
    assert Exit(frames[0][1]).signo == 9
    out, _, x, _ = box.run(["cctest", "echo", "again"])
    assert out == b"again\n"


@pytest.mark.docker
def test_program_cannot_trace_or_kill_the_launcher(box):
    out, _, x, _ = box.run(["cctest", "attack"])
    fields = dict(kv.split("=") for kv in out.decode().split()[:5])
    assert fields["ptrace"] == "EPERM"
    assert fields["mem"] == "EACCES" and fields["environ"] == "EACCES", fields
    assert out.endswith(b"after\n") and x.exit_code == 0
    assert box.hello(x.seq) == x.seq + 1, "the launcher is alive"
    out, _, x, _ = box.run(["cctest", "echo", "still", "here"])
    assert out == b"still here\n"


@pytest.mark.docker
def test_tty_echo_resize_and_eof(box):
    box.exec(["cctest", "tty"], tty=True, cols=100, rows=30)
    seen = lambda text: (lambda out: text in out[1])
    out, _, _, _ = box.collect(until=seen(b"size 30 100"))
    assert b"isatty 1" in out
    box.send(b"Z", struct.pack(">HH", 120, 40))
    box.collect(until=seen(b"size 40 120"))
    box.send(b"I", b"hello\n")
    out, _, _, _ = box.collect(until=seen(b"got:hello"))
    assert b"hello\r\n" in out, "the terminal echoes input"
    box.send(b"E")
    out, err, x, _ = box.collect()
    assert b"eof" in out and err == b""
    assert x.exit_code == 0


@pytest.mark.docker
def test_oversize_frame_is_a_protocol_error(box):
    box.proc.stdin.write(struct.pack(">I", 4 * 1024 * 1024 + 65) + b"I")
    box.proc.stdin.flush()
    assert box.proc.wait(10) == 121


@pytest.mark.docker
def test_docker_stop_ends_the_launcher_promptly(box):
    box.exec(["cctest", "sleep", "30000"])
    start = time.monotonic()
    subprocess.run(["docker", "stop", "-t", "10", box.name], check=True, stdout=subprocess.DEVNULL)
    assert time.monotonic() - start < 5, "SIGTERM from outside is obeyed at once"
    assert box.proc.wait(10) == 0


# ---------------------------------------------------------------------------------------------
# Outside a container: not PID 1, as root. Nothing here may reach beyond the launcher's own
# children and its working directory.


def test_host_run_and_file_ops(host):
    assert host.hello() == 1
    host.file("a.txt", b"hi\n")
    out, err, x, _ = host.run([host.helper, "catfile", "a.txt"], env=["PATH=/usr/bin:/bin"])
    assert out == b"hi\n" and x.exit_code == 0
    assert host.list(1) == {"a.txt": 3}
    out, err, x, _ = host.run(["/bin/pwd"], env=[])
    assert out.decode().strip() == host.workdir


def test_host_timeout_kills_only_the_program_group(host):
    assert host.hello() == 1
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        out, _, x, _ = host.run([host.helper, "sleep", "30000"], timeout_ms=300)
        assert x.reason == 1 and x.signo == 9
        assert bystander.poll() is None, "a process outside the program's group is untouched"
        assert host.hello(x.seq) == x.seq + 1
    finally:
        bystander.kill()
        bystander.wait()


def test_host_reset_touches_only_the_working_directory(host):
    assert host.hello() == 1
    sentinel = tempfile.NamedTemporaryFile(prefix="cloudcode-sentinel.", dir="/tmp")
    try:
        assert host.put(1, "x/y.txt", b"data") == (0, b"")
        status, reason, _ = host.reset(2)
        assert (status, reason) == (0, b"")
        assert os.listdir(host.workdir) == []
        assert os.path.exists(sentinel.name), "/tmp is the machine's outside a container"
    finally:
        sentinel.close()
