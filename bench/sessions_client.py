#!/usr/bin/python3
"""bench/sessions_client.py — the measuring half of bench/sessions.sh (standard library only).

    sessions_client.py URL BENCH_LABEL PART [options]

PART is one of run, create, churn, echo, sustained, idle, phases.  Each part measures cloudcode at URL
and, in the same process, its baseline on the same Docker engine (`docker run`, or the engine's
own attach stream), alternating the two sample by sample, and prints one line per measurement
plus a ratio line.  Containers it starts itself carry the label cloudcode-bench=BENCH_LABEL, so
that bench/sessions.sh can remove them whatever happens.  Every loop is bounded in count and time.
"""
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

from common import Api, WebSocket, must, pct

DOCKER_SOCK = os.environ.get("DOCKER_SOCK", "/var/run/docker.sock")
# The baselines run the backend's own images (lua/cloudcode/images.lua names them the same way).
IMAGE_PREFIX = os.environ.get("CODECLOUD_IMAGE_PREFIX") or "cloudcode/"
PYTHON_IMAGE, C_IMAGE = IMAGE_PREFIX + "python", IMAGE_PREFIX + "c"
PY_HELLO = "print('hello')"
PY_READY = "print('ready')"
PY_ECHO = "while True: print(input())"
C_HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
# The same compile as the default image map (lua/cloudcode/images.lua), in a tmpfs.
C_SH = 'printf %s "$1" > main.c && gcc -O2 -std=gnu17 -o main main.c -lm && ./main'
IO_TIMEOUT = 30.0          # seconds: any single request or read
MAX_PART_SECONDS = 240.0   # no part runs longer than this, whatever N says


# ---- statistics ---------------------------------------------------------------------------------

def summary(xs):
    return statistics.median(xs), pct(xs, 95)


def line(name, xs, unit="ms"):
    med, p95 = summary(xs)
    print(f"  {name:<44} median {med:9.2f} {unit}   p95 {p95:9.2f} {unit}   (n={len(xs)})")
    return med, p95


def ratio(name, ours, base, target=""):
    (m1, p1), (m2, p2) = ours, base
    extra = f"   {target}" if target else ""
    print(f"  {'ratio ' + name:<44} median {m1 / m2:9.2f} x    p95 {p1 / p2:9.2f} x{extra}")


# ---- docker -------------------------------------------------------------------------------------

def docker_run_argv(label, *rest):
    return ["docker", "run", "--rm", "--network", "none", "--label", f"cloudcode-bench={label}",
            *rest]


def timed_docker_run(argv, expect):
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, timeout=IO_TIMEOUT)
    dt = (time.perf_counter() - t0) * 1000
    if p.returncode != 0 or p.stdout.decode() != expect:
        raise RuntimeError(f"{' '.join(argv[:6])}...: exit {p.returncode}, out {p.stdout!r}, "
                           f"err {p.stderr[-300:]!r}")
    return dt


def first_output_of(argv):
    """Run argv (docker run, or a bare command); ms until its first stdout byte reaches us, and
    until it returns."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stdout.read(1)
        t1 = time.perf_counter()
        p.stdout.read()
        p.wait(timeout=IO_TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    t2 = time.perf_counter()
    if not first or p.returncode != 0:
        raise RuntimeError(f"{argv[0]}: exit {p.returncode}, {p.stderr.read()[-300:]!r}")
    return (t1 - t0) * 1000, (t2 - t0) * 1000


class EngineHTTP:
    """A minimal HTTP/1.1 client for the engine's unix socket."""

    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(IO_TIMEOUT)
        self.s.connect(DOCKER_SOCK)
        self.buf = b""

    def request_head(self, method, path, body=b"", extra=""):
        head = (f"{method} {path} HTTP/1.1\r\nHost: docker\r\n{extra}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.s.sendall(head.encode() + body)

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("engine closed the connection")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def read_body(self, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                while b"\r\n" not in self.buf:
                    self.buf += self.s.recv(65536)
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self.buf += self.s.recv(65536)
                out += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    return out
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self.buf += self.s.recv(65536)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def call(self, method, path, body=None):
        self.request_head(method, path, json.dumps(body).encode() if body is not None else b"")
        status, headers = self.read_head()
        raw = self.read_body(headers)
        return status, (json.loads(raw) if raw.strip() else None)

    def close(self):
        self.s.close()


class RawAttach:
    """The engine's hijacked attach stream (Upgrade: tcp) on a non-tty container."""

    def __init__(self, cid):
        self.e = EngineHTTP()
        self.e.request_head("POST", f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1",
                            extra="Upgrade: tcp\r\nConnection: Upgrade\r\n")
        status, _ = self.e.read_head()
        if status not in (101, 200):
            raise RuntimeError(f"attach: HTTP {status}")
        self.s, self.buf, self.out = self.e.s, self.e.buf, b""

    def write(self, data):
        self.s.sendall(data)

    def read_until(self, token):
        # stdout/stderr arrive multiplexed: 8-byte header (stream, 0, 0, 0, big-endian size)
        while token not in self.out:
            while len(self.buf) >= 8:
                size = struct.unpack(">I", self.buf[4:8])[0]
                if len(self.buf) < 8 + size:
                    break
                if self.buf[0] == 1:
                    self.out += self.buf[8:8 + size]
                self.buf = self.buf[8 + size:]
            if token in self.out:
                break
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("attach stream closed")
            self.buf += chunk
        self.out = self.out.split(token, 1)[1]

    def close(self):
        self.s.close()


# ---- parts --------------------------------------------------------------------------------------

def run_once(api, language, code, expect="hello\n"):
    t0 = time.perf_counter()
    status, body = api.call("POST", "/v1/run", {"language": language, "code": code})
    dt = (time.perf_counter() - t0) * 1000
    if status != 200 or body.get("status") != "ok" or body.get("stdout") != expect:
        raise RuntimeError(f"POST /v1/run {language}: HTTP {status} {body}")
    return dt


def part_run(api, label, n, warmup):
    print(f"(a) one-shot hello: POST /v1/run vs docker run --rm, {n} samples each, alternating "
          f"(after {warmup} warm-up)")
    py_base = docker_run_argv(label, "--entrypoint", "python3", PYTHON_IMAGE, "-c", PY_HELLO)
    c_base = docker_run_argv(label, "--tmpfs", "/work:rw,exec,size=64m", "-w", "/work",
                             "--entrypoint", "sh", C_IMAGE, "-c", C_SH, "sh", C_HELLO)
    for lang, code, base in (("python", PY_HELLO, py_base), ("c", C_HELLO, c_base)):
        ours, theirs = [], []
        deadline = time.monotonic() + MAX_PART_SECONDS / 2
        for i in range(warmup + n):
            if time.monotonic() > deadline:
                break
            a = run_once(api, lang, code)
            b = timed_docker_run(base, "hello\n")
            if i >= warmup:
                ours.append(a)
                theirs.append(b)
        o = line(f"{lang}: POST /v1/run", ours)
        t = line(f"{lang}: docker run --rm", theirs)
        ratio(f"{lang} run / docker run", o, t, "(target <= 1.1x; with warm pools <= 0.1x)")


def session_first_output(api, code, body_extra=None):
    """POST /v1/sessions, then long-poll output until the first event: ms, and the id."""
    t0 = time.perf_counter()
    req = {"language": "python", "code": code}
    req.update(body_extra or {})
    s = must(*api.call("POST", "/v1/sessions", req), 201, "POST /v1/sessions")
    t_created = time.perf_counter()
    cursor = 0
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        o = must(*api.call("GET", f"/v1/sessions/{s['id']}/output?cursor={cursor}&wait_ms=10000"),
                 200, "GET output")
        cursor = o["cursor"]
        if o["events"]:
            t1 = time.perf_counter()
            return (t1 - t0) * 1000, (t_created - t0) * 1000, s["id"], o
        if o["state"] not in ("starting", "running"):
            break
    raise RuntimeError(f"session {s['id']}: no output")


def part_create(api, label, n, warmup):
    print(f"(b) session create -> first output of {PY_READY!r}: POST /v1/sessions + long-poll vs "
          f"docker run --rm (first stdout byte), {n} samples each, alternating")
    base = docker_run_argv(label, "--entrypoint", "python3", PYTHON_IMAGE, "-u", "-c",
                           PY_READY)
    ours, created, theirs, theirs_total = [], [], [], []
    deadline = time.monotonic() + MAX_PART_SECONDS / 2
    for i in range(warmup + n):
        if time.monotonic() > deadline:
            break
        a, c, sid, o = session_first_output(api, PY_READY)
        if not o["events"][0]["data"].startswith("ready"):
            raise RuntimeError(f"unexpected first event {o['events']}")
        api.call("DELETE", f"/v1/sessions/{sid}")
        b, b_total = first_output_of(base)
        if i >= warmup:
            ours.append(a)
            created.append(c)
            theirs.append(b)
            theirs_total.append(b_total)
    line("POST /v1/sessions answered (201)", created)
    o = line("session create -> first output", ours)
    t = line("docker run -> first stdout byte", theirs)
    line("docker run -> exit (container removed)", theirs_total)
    ratio("create->first output / docker run", o, t)


# The churn's programs: what prints the first output, its image and its argv on the host.  python is
# the default; bash shows the server's part when the program itself starts in a few ms.
CHURN_PROGRAMS = {
    "python": (PY_READY, PYTHON_IMAGE, ["python3", "-u", "-c"]),
    "bash": ("echo ready", IMAGE_PREFIX + "scripts", ["bash", "-c"]),
}


def part_churn(api, label, n, warmup, rate, seconds, lang):
    """Sessions one after another: create -> first output -> DELETE, back to back and paced."""
    code, image, argv = CHURN_PROGRAMS[lang]
    print(f"(g) session churn, {lang} {code!r}: create -> first output -> DELETE, one after another "
          f"({n} back to back, then {rate:g}/s for {seconds:g} s), vs docker run --rm (first stdout "
          f"byte), {n} samples after")

    def cycle():
        first, created, sid, o = session_first_output(api, code, {"language": lang})
        if not o["events"][0]["data"].startswith("ready"):
            raise RuntimeError(f"unexpected first event {o['events']}")
        t0 = time.perf_counter()
        must(*api.call("DELETE", f"/v1/sessions/{sid}"), 204, "DELETE session")
        return first, (time.perf_counter() - t0) * 1000, created

    deadline = time.monotonic() + MAX_PART_SECONDS / 2
    back, back_del, back_201 = [], [], []
    t_start = time.perf_counter()
    for i in range(warmup + n):
        if time.monotonic() > deadline:
            break
        a, d, c = cycle()
        if i >= warmup:
            back.append(a)
            back_del.append(d)
            back_201.append(c)
    back_rate = len(back) / (time.perf_counter() - t_start)
    paced, late = [], 0
    period = 1.0 / rate
    t_start = time.perf_counter()
    next_at = t_start
    while time.perf_counter() < t_start + seconds and time.monotonic() < deadline:
        now = time.perf_counter()
        if now < next_at:
            time.sleep(next_at - now)
        elif now - next_at > period:
            late += 1   # started more than a period after its slot: the churn fell behind
        paced.append(cycle()[0])
        next_at += period
    paced_rate = len(paced) / (time.perf_counter() - t_start)
    base = docker_run_argv(label, "--entrypoint", argv[0], image, *argv[1:], code)
    bare = (argv if lang != "python" else [sys.executable, *argv[1:]]) + [code]
    theirs, floor = [], []
    for _ in range(n):
        if time.monotonic() > deadline + MAX_PART_SECONDS / 2:
            break
        theirs.append(first_output_of(base)[0])
        floor.append(first_output_of(bare)[0])
    b = line(f"back to back ({back_rate:.1f}/s): create -> first output", back)
    line("back to back: POST /v1/sessions answered (201)", back_201)
    line("back to back: DELETE answered (reset done)", back_del)
    p = line(f"paced {rate:g}/s ({paced_rate:.1f}/s, {late} late): create -> first", paced)
    t = line("docker run -> first stdout byte", theirs)
    f = line(f"the same {argv[0]} on the host, no container", floor)
    ratio("back to back / docker run", b, t)
    ratio(f"paced {rate:g}/s / docker run", p, t, "(target: median <= 20 ms)")
    ratio(f"paced {rate:g}/s / {argv[0]} on the host", p, f, f"(+{p[0] - f[0]:.2f} ms median)")


def echo_session(api):
    s = must(*api.call("POST", "/v1/sessions",
                       {"language": "python", "code": PY_ECHO,
                        "limits": {"idle_timeout_s": 600}}), 201, "POST /v1/sessions")
    return s["id"]


def echo_longpoll(url, sid, n, warmup, tag):
    """Leave a long-poll pending, POST the line, time until the long-poll brings it back."""
    poll, inp = Api(url), Api(url)
    cursor, out, samples = 0, "", []
    try:
        for i in range(warmup + n):
            token = f"lp-{tag}-{i}-{os.getpid()}"
            poll.send("GET", f"/v1/sessions/{sid}/output?cursor={cursor}&wait_ms=10000")
            time.sleep(0.002)   # let the long-poll reach the server and park
            t0 = time.perf_counter()
            must(*inp.call("POST", f"/v1/sessions/{sid}/input", {"data": token + "\n"}), 204,
                 "POST input")
            for _ in range(100):
                o = must(*poll.receive(), 200, "GET output")
                cursor = o["cursor"]
                out += "".join(e["data"] for e in o["events"] if e["stream"] == "stdout")
                if token + "\n" in out:
                    break
                if o["state"] != "running":
                    raise RuntimeError(f"echo session ended: {o}")
                poll.send("GET", f"/v1/sessions/{sid}/output?cursor={cursor}&wait_ms=10000")
            else:
                raise RuntimeError("echo: the line never came back")
            dt = (time.perf_counter() - t0) * 1000
            out = out.split(token + "\n", 1)[1]
            if i >= warmup:
                samples.append(dt)
    finally:
        poll.close()
        inp.close()
    return samples


def echo_ws(host, port, sid, n, warmup, tag, cursor):
    ws = WebSocket((host, port), f"/v1/sessions/{sid}/ws?cursor={cursor}", timeout=IO_TIMEOUT, nodelay=True)
    if ws.status != 101:
        raise RuntimeError(f"WebSocket handshake: {ws.head[:200]!r}")
    out, samples = "", []
    try:
        for i in range(warmup + n):
            token = f"ws-{tag}-{i}-{os.getpid()}"
            t0 = time.perf_counter()
            ws.send({"type": "input", "data": token + "\n"})
            for _ in range(1000):
                m = ws.recv()
                if isinstance(m, tuple):
                    raise RuntimeError(f"WebSocket closed by the server: {m}")
                if m.get("type") == "stdout":
                    out += m["data"]
                    if token + "\n" in out:
                        break
                elif m.get("type") in ("exit", "error"):
                    raise RuntimeError(f"echo session: {m}")
            else:
                raise RuntimeError("echo: the line never came back")
            dt = (time.perf_counter() - t0) * 1000
            out = out.split(token + "\n", 1)[1]
            if i >= warmup:
                samples.append(dt)
    finally:
        ws.close()
    return samples


def echo_raw(label, n, warmup):
    p = subprocess.run(["docker", "run", "-d", "-i", "--network", "none", "--label",
                        f"cloudcode-bench={label}", "--entrypoint", "python3", PYTHON_IMAGE,
                        "-u", "-c", PY_ECHO], capture_output=True, timeout=IO_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError(f"docker run -d -i: {p.stderr!r}")
    cid = p.stdout.decode().strip()
    samples = []
    try:
        a = RawAttach(cid)
        for i in range(warmup + n):
            token = f"raw-{i}-{os.getpid()}".encode()
            t0 = time.perf_counter()
            a.write(token + b"\n")
            a.read_until(token + b"\n")
            dt = (time.perf_counter() - t0) * 1000
            if i >= warmup:
                samples.append(dt)
        a.close()
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=IO_TIMEOUT)
    return samples


def part_echo(api, url, label, n, warmup, rounds):
    print(f"(c) echo round trip (write a line -> read it back) on `{PY_ECHO}`: {rounds} rounds "
          f"of {n // rounds} per transport, alternating transports")
    u = urllib.parse.urlsplit(url)
    sid = echo_session(api)
    lp, ws, raw = [], [], []
    per = max(1, n // rounds)
    try:
        for r in range(rounds):
            lp += echo_longpoll(url, sid, per, warmup, r)
            cursor = must(*api.call("GET", f"/v1/sessions/{sid}/output?cursor=0"), 200,
                          "GET output")["cursor"]
            ws += echo_ws(u.hostname, u.port, sid, per, warmup, r, cursor)
            raw += echo_raw(label, per, warmup)
    finally:
        api.call("DELETE", f"/v1/sessions/{sid}")
    l = line("long-poll (output pending, POST input)", lp)
    w = line("WebSocket (input frame -> stdout frame)", ws)
    b = line("raw engine attach (docker.sock, Upgrade: tcp)", raw)
    ratio("long-poll / raw attach", l, b, f"(+{l[0] - b[0]:.2f} ms median; target +1 ms)")
    ratio("WebSocket / raw attach", w, b, f"(+{w[0] - b[0]:.2f} ms median; target +1 ms)")


def part_sustained(url, label, clients, seconds):
    print(f"(d) sustained python hellos: {clients} clients back to back for {seconds:g} s")
    base = docker_run_argv(label, "--entrypoint", "python3", PYTHON_IMAGE, "-c", PY_HELLO)

    def drive(one, make_ctx):
        done, errors, lat, lock = [0], [0], [], threading.Lock()
        t_start = time.perf_counter()
        stop = t_start + seconds
        last = [t_start]

        def worker():
            ctx = make_ctx()
            while time.perf_counter() < stop:
                try:
                    dt = one(ctx)
                    with lock:
                        done[0] += 1
                        lat.append(dt)
                        last[0] = time.perf_counter()
                except Exception as e:   # counted, and reported below
                    with lock:
                        errors[0] += 1
                    if errors[0] <= 3:
                        print(f"    error: {e}", file=sys.stderr)
                    time.sleep(0.05)
            if isinstance(ctx, Api):
                ctx.close()

        ts = [threading.Thread(target=worker) for _ in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(seconds + 2 * IO_TIMEOUT)
        elapsed = last[0] - t_start
        return done[0] / elapsed if elapsed > 0 else 0.0, done[0], errors[0], lat

    o_rate, o_n, o_err, o_lat = drive(lambda a: run_once(a, "python", PY_HELLO), lambda: Api(url))
    b_rate, b_n, b_err, b_lat = drive(lambda _: timed_docker_run(base, "hello\n"), lambda: None)
    for name, rate, cnt, err, lat in (("POST /v1/run", o_rate, o_n, o_err, o_lat),
                                      ("docker run --rm", b_rate, b_n, b_err, b_lat)):
        med, p95 = summary(lat) if lat else (0, 0)
        print(f"  {name:<44} {rate:9.2f} runs/s   ({cnt} runs, {err} errors; latency median "
              f"{med:.1f} ms, p95 {p95:.1f} ms)")
    print(f"  {'ratio runs/s ours / docker run':<44} {o_rate / b_rate if b_rate else 0:9.2f} x")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))


def mem_to_mib(s):
    m = re.match(r"([\d.]+)\s*([KMGT]?i?B)", s.strip())
    v, u = float(m.group(1)), m.group(2)
    return v * {"B": 1 / 2**20, "KiB": 1 / 1024, "kB": 1 / 1024, "MiB": 1, "MB": 1,
                "GiB": 1024, "GB": 1024}.get(u, 1)


def part_idle(api, pid, backend_id, count):
    print(f"(e) memory with {count} idle python sessions (`{PY_ECHO}` waiting for input)")
    before = rss_kib(pid)
    ids = []
    t0 = time.perf_counter()
    try:
        for _ in range(count):
            if time.perf_counter() - t0 > MAX_PART_SECONDS / 2:
                break
            s = must(*api.call("POST", "/v1/sessions",
                               {"language": "python", "code": PY_ECHO,
                                "limits": {"idle_timeout_s": 600, "memory_mb": 64}}),
                     201, "POST /v1/sessions")
            ids.append(s["id"])
        # wait (bounded) until every one is running
        for sid in ids:
            for _ in range(100):
                st = must(*api.call("GET", f"/v1/sessions/{sid}"), 200, "GET session")["state"]
                if st != "starting":
                    break
                time.sleep(0.05)
        created_s = time.perf_counter() - t0
        time.sleep(1.0)
        with_sessions = rss_kib(pid)
        ps = subprocess.run(["docker", "ps", "-q", "--filter", f"label=cloudcode.backend={backend_id}"],
                            capture_output=True, timeout=IO_TIMEOUT).stdout.decode().split()
        stats = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", *ps],
                               capture_output=True, timeout=120).stdout.decode().splitlines()
        mib = [mem_to_mib(l.split("/")[0]) for l in stats if l.strip()]
    finally:
        for sid in ids:
            try:
                api.call("DELETE", f"/v1/sessions/{sid}")
            except Exception:
                pass
    time.sleep(1.0)
    after = rss_kib(pid)
    print(f"  backend VmRSS before the sessions              {before / 1024:9.2f} MiB")
    print(f"  backend VmRSS with {len(ids)} idle sessions            {with_sessions / 1024:9.2f} MiB"
          f"   (target <= 30 MiB; {(with_sessions - before) / max(1, len(ids)):.0f} KiB per session)")
    print(f"  backend VmRSS after deleting them              {after / 1024:9.2f} MiB")
    print(f"  containers (docker stats, {len(mib)} of them)          {sum(mib):9.2f} MiB in all,"
          f" {statistics.median(mib) if mib else 0:.2f} MiB median each")
    print(f"  ({len(ids)} sessions created and running in {created_s:.1f} s)")
    print(f"  ratio backend RSS / 30 MiB target             {with_sessions / 1024 / 30:9.2f} x")


def engine_life(label, network_disabled):
    """One python hello through the engine API, as docker run does it: ms per call."""
    e = EngineHTTP()
    t0 = time.perf_counter()
    cfg = {"Image": PYTHON_IMAGE, "Entrypoint": ["python3"], "Cmd": ["-u", "-c", PY_HELLO],
           "AttachStdout": True, "AttachStderr": True, "Labels": {"cloudcode-bench": label},
           "HostConfig": {"NetworkMode": "none", "LogConfig": {"Type": "none"}}}
    if network_disabled:
        cfg["NetworkDisabled"] = True
    st, body = e.call("POST", "/containers/create", cfg)
    t1 = time.perf_counter()
    if st != 201:
        raise RuntimeError(f"create: {st} {body}")
    cid = body["Id"]
    try:
        a = RawAttach(cid)
        t2 = time.perf_counter()
        e.call("POST", f"/containers/{cid}/start")
        t3 = time.perf_counter()
        a.read_until(b"hello\n")
        t4 = time.perf_counter()
        e.call("POST", f"/containers/{cid}/wait")
        t5 = time.perf_counter()
    finally:
        e.call("DELETE", f"/containers/{cid}?force=1")
    t6 = time.perf_counter()
    a.close()
    e.close()
    return {"create": (t1 - t0) * 1000, "attach": (t2 - t1) * 1000, "start": (t3 - t2) * 1000,
            "first output": (t4 - t3) * 1000, "exit": (t5 - t4) * 1000,
            "remove": (t6 - t5) * 1000, "total": (t6 - t0) * 1000}


def part_phases(label, n):
    """Where a container's life goes: the engine calls, timed one by one over docker.sock."""
    print(f"(f) engine calls of one python hello, timed one by one over docker.sock ({n} samples "
          f"each, alternating); median / p95 ms")
    names = ("create", "attach", "start", "first output", "exit", "remove", "total")
    variants = (("NetworkMode none (= docker run --network none)", False),
                ("+ NetworkDisabled (as cloudcode creates)", True))
    steps = {v: {k: [] for k in names} for v, _ in variants}
    deadline = time.monotonic() + MAX_PART_SECONDS / 2
    for i in range(n + 1):
        if time.monotonic() > deadline:
            break
        for v, nd in variants:
            r = engine_life(label, nd)
            if i:   # the first is a warm-up
                for k in names:
                    steps[v][k].append(r[k])
    for v, _ in variants:
        print(f"  {v}:")
        print("    " + "  ".join(f"{k} {statistics.median(x):.1f}/{pct(x, 95):.1f}"
                                 for k, x in steps[v].items()))


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, label, part = sys.argv[1], sys.argv[2], sys.argv[3]
    n = int(os.environ.get("N", "30"))
    warmup = int(os.environ.get("WARMUP", "3"))
    api = Api(url)
    try:
        if part == "run":
            part_run(api, label, n, warmup)
        elif part == "create":
            part_create(api, label, n, warmup)
        elif part == "churn":
            for lang in os.environ.get("CHURN_LANGS", "python bash").split():
                part_churn(api, label, n, warmup, float(os.environ.get("CHURN_RATE", "10")),
                           float(os.environ.get("SECONDS_CHURN", "10")), lang)
        elif part == "echo":
            part_echo(api, url, label, int(os.environ.get("ECHO_N", "300")), warmup,
                      int(os.environ.get("ECHO_ROUNDS", "3")))
        elif part == "sustained":
            part_sustained(url, label, int(os.environ.get("CLIENTS", "4")),
                           float(os.environ.get("SECONDS_SUSTAINED", "20")))
        elif part == "idle":
            part_idle(api, int(sys.argv[4]), sys.argv[5], int(os.environ.get("IDLE", "50")))
        elif part == "phases":
            part_phases(label, n)
        else:
            print(f"unknown part {part}", file=sys.stderr)
            return 2
    finally:
        api.close()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
