"""What a hostile program can do inside its sandbox — and what it cannot.  Each case ends with
api.md's status and leaves the server healthy."""
import json
import threading
import time

import pytest

from backend_util import run_ok
from conftest import slow

pytestmark = pytest.mark.docker


@pytest.fixture
def be(server):
    s = server
    yield s
    s.alive()   # /healthz still 200 after each case


def test_python_fork_bomb_main_dies_of_pids_limit(be):
    # os.fork raises once the pids limit is reached; uncaught, the main process exits 1
    r = run_ok(be, {"language": "python", "code": "import os\nwhile True:\n    os.fork()",
                    "limits": {"pids": 32, "timeout_ms": 20000}}, expect="runtime_error")
    assert r["exit_code"] == 1 and r["signal"] is None
    assert "BlockingIOError" in r["stderr"] or "Resource temporarily unavailable" in r["stderr"]


def test_c_fork_bomb_main_survives_is_timeout(be):
    t0 = time.monotonic()
    r = run_ok(be, {"language": "c", "code": "#include <unistd.h>\nint main(){for(;;) fork();}",
                    "limits": {"pids": 32, "timeout_ms": 1500}}, expect="timeout")
    assert r["exit_code"] is None
    assert time.monotonic() - t0 < slow(15)


def test_python_memory_bomb(be):
    r = run_ok(be, {"language": "python", "code": "x = []\nwhile True:\n    x.append(' ' * (1 << 20))",
                    "limits": {"memory_mb": 64}}, expect="memory_limit")
    assert r["truncated"] is False


def test_c_memory_bomb(be):
    code = ("#include <stdlib.h>\n#include <string.h>\n"
            "int main(){for(;;){char*p=malloc(1<<20); if(!p) return 3; memset(p,1,1<<20);}}")
    run_ok(be, {"language": "c", "code": code, "limits": {"memory_mb": 64}}, expect="memory_limit")


def test_output_flood(be):
    r = run_ok(be, {"language": "c", "code": "#include <stdio.h>\nint main(){for(;;) fputs(\"flood\\n\", stdout);}",
                    "limits": {"output_bytes": 65536}}, expect="output_limit")
    assert r["truncated"] is True and len(r["stdout"]) == 65536
    assert r["stdout"].startswith("flood\nflood\n")


def test_stderr_counts_in_output_limit(be):
    r = run_ok(be, {"language": "python",
                    "code": "import sys\nprint('a' * 3000)\nsys.stderr.write('b' * 3000)\nsys.stderr.flush()",
                    "limits": {"output_bytes": 4096}}, expect="output_limit")
    assert len(r["stdout"]) + len(r["stderr"]) == 4096


def test_disk_fill_python_sees_enospc_or_efbig(be):
    code = """import errno, os
buf = b'x' * (1 << 20)
n = 0
try:
    for i in range(1000):
        with open(f'fill{i}', 'wb') as f:  # in the working directory
            for _ in range(8):
                f.write(buf); f.flush(); n += 1
except OSError as e:
    print(errno.errorcode[e.errno], n)
"""
    r = run_ok(be, {"language": "python", "code": code, "limits": {"memory_mb": 128}})
    err, n = r["stdout"].split()
    assert err in ("ENOSPC", "EFBIG") and int(n) <= 32, r


def test_disk_fill_tmp(be):
    code = """import errno
buf = b'x' * (1 << 20)
try:
    with open('/tmp/fill', 'wb') as f:
        while True:
            f.write(buf); f.flush()
except OSError as e:
    print(errno.errorcode[e.errno])
"""
    r = run_ok(be, {"language": "python", "code": code, "limits": {"memory_mb": 128}})
    assert r["stdout"].strip() in ("ENOSPC", "EFBIG")


def test_disk_fill_c_gets_sigxfsz_or_enospc(be):
    code = ("#include <stdio.h>\n#include <string.h>\nstatic char b[1<<20];\n"
            "int main(){FILE*f=fopen(\"big\",\"wb\"); if(!f) return 9; memset(b,1,sizeof b);"
            "for(;;){ if(fwrite(b,1,sizeof b,f)!=sizeof b || fflush(f)) { perror(\"write\"); return 2; } }}")
    r = run_ok(be, {"language": "c", "code": code, "limits": {"memory_mb": 128}}, expect="runtime_error")
    assert r["signal"] == "SIGXFSZ" or (r["exit_code"] == 2 and "No space" in r["stderr"]), r


def test_infinite_loop_is_timeout(be):
    # gcc's time is not the program's: the compile step gets its own bound, so a loaded
    # machine's slow compile is not mistaken for the loop's timeout
    limits = {"timeout_ms": 300, "compile_timeout_ms": min(int(slow(60000)), 600000)}
    r = run_ok(be, {"language": "c", "code": "int main(){for(;;);}", "limits": limits}, expect="timeout")
    assert r["compile"]["exit_code"] == 0, r
    assert 250 <= r["time_ms"] < slow(3) * 1000


def test_background_sleep_does_not_hold_the_run(be):
    t0 = time.monotonic()
    r = run_ok(be, {"language": "python", "code": "import os\nos.system('sleep 1000 &')\nprint('done')",
                    "limits": {"timeout_ms": 30000}})
    assert r["stdout"] == "done\n" and r["exit_code"] == 0
    assert time.monotonic() - t0 < slow(5)


PROBE = r"""
import ctypes, json, os
def status(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return line.split()[1]
try:
    open('/etc/cloudcode-probe', 'w')
    etc = 'writable'
except OSError as e:
    etc = e.strerror
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
ptrace = libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH to the launcher
try:
    mem = open('/proc/1/mem', 'rb').read(1) and 'readable'
except OSError as e:
    mem = e.strerror
print(json.dumps({
    'net': sorted(os.listdir('/sys/class/net')),
    'capeff': status('CapEff'), 'capprm': status('CapPrm'), 'nnp': status('NoNewPrivs'),
    'seccomp': status('Seccomp'), 'uid': os.getuid(), 'gid': os.getgid(), 'pid': os.getpid(),
    'etc': etc, 'sock': os.path.exists('/var/run/docker.sock') or os.path.exists('/run/docker.sock'),
    'env': [k for k in os.environ if k.startswith('CODECLOUD')], 'ptrace': ptrace,
    'ptrace_errno': ctypes.get_errno(), 'mem': mem, 'cwd': os.getcwd(),
}))
"""


def test_sandbox_probes(be):
    r = run_ok(be, {"language": "python", "code": PROBE})
    p = json.loads(r["stdout"])
    assert p["net"] == ["lo"], p
    assert int(p["capeff"], 16) == 0 and int(p["capprm"], 16) == 0, p
    assert p["nnp"] == "1" and p["seccomp"] == "2", p
    assert 100000 <= p["uid"] <= 165535 and p["gid"] == p["uid"], p
    assert p["pid"] != 1, p
    assert p["etc"] in ("Read-only file system", "Permission denied"), p
    assert p["sock"] is False and p["env"] == [], p
    assert p["ptrace"] == -1, p
    assert p["mem"] != "readable", p
    assert p["cwd"] == "/work", p


def test_two_runs_get_different_uids(be):
    code = "import os, time\ntime.sleep(0.5)\nprint(os.getuid())"
    out = []
    ts = [threading.Thread(target=lambda: out.append(run_ok(be, {"language": "python", "code": code})["stdout"]))
          for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(out) == 2 and out[0] != out[1], out


def test_no_network(be):
    code = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('connected')\n"
            "except OSError as e:\n    print('refused', e.errno)")
    r = run_ok(be, {"language": "python", "code": code})
    assert r["stdout"].startswith("refused"), r
