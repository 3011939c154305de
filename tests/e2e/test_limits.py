"""The launcher's per-run resource limits through POST /v1/run and Piston: CPU time (killed at the
limit plus its extra time, measured over every process), file size (SIGXFSZ), stack and processes
(rlimits the program sees), and Piston's run_cpu_time / compile_cpu_time and cpu_time."""
import time

import pytest

from backend_util import run, run_ok
from conftest import slow

pytestmark = pytest.mark.docker

LIMITS_PY = ("import resource as r\n"
             "for n in ('RLIMIT_FSIZE', 'RLIMIT_STACK', 'RLIMIT_NPROC', 'RLIMIT_CPU'):\n"
             "    print(n, *r.getrlimit(getattr(r, n)))\n")


def rlimits(stdout):
    return {line.split()[0]: tuple(int(x) for x in line.split()[1:]) for line in stdout.splitlines()}


def test_no_limits_by_default(server):
    got = rlimits(run_ok(server, {"language": "python", "code": LIMITS_PY})["stdout"])
    assert got["RLIMIT_CPU"] == (-1, -1), got


def test_limits_never_exceed_the_containers(server):
    # The sandbox's own file-size ulimit is the hard bound: asking for more is not a failure.
    base = rlimits(run_ok(server, {"language": "python", "code": LIMITS_PY})["stdout"])["RLIMIT_FSIZE"]
    got = rlimits(run_ok(server, {"language": "python", "code": LIMITS_PY,
                                  "limits": {"file_size_bytes": 1 << 30}})["stdout"])["RLIMIT_FSIZE"]
    assert got == base, (got, base)


def test_rlimits_reach_the_program(server):
    r = run_ok(server, {"language": "python", "code": LIMITS_PY,
                        "limits": {"file_size_bytes": 1 << 20, "stack_kb": 4096, "processes": 20,
                                   "cpu_time_ms": 2000, "cpu_extra_ms": 500}})
    got = rlimits(r["stdout"])
    assert got["RLIMIT_FSIZE"] == (1 << 20, 1 << 20), got
    assert got["RLIMIT_STACK"] == (4 << 20, 4 << 20), got
    assert got["RLIMIT_NPROC"] == (21, 21), got       # the launcher counts as one of the uid's
    assert got["RLIMIT_CPU"] == (4, 5), got           # whole seconds past limit + extra: a backstop


def test_cpu_time_limit_kills_a_busy_loop(server):
    t0 = time.monotonic()
    r = run_ok(server, {"language": "python", "code": "while True: pass",
                        "limits": {"cpu_time_ms": 400, "cpu_extra_ms": 100, "timeout_ms": 30000}},
               expect="timeout")
    assert r["signal"] == "SIGKILL", r
    assert 400 <= r["cpu_ms"] < slow(5) * 1000, r
    assert time.monotonic() - t0 < slow(25)


def test_cpu_time_counts_every_process(server):
    # Two children burn CPU while the main process only waits: the cgroup sees them all.
    code = ("import os\n"
            "for _ in range(2):\n"
            "    if os.fork() == 0:\n"
            "        while True: pass\n"
            "os.wait()\n")
    r = run_ok(server, {"language": "python", "code": code,
                        "limits": {"cpu_time_ms": 600, "timeout_ms": 30000}}, expect="timeout")
    assert r["cpu_ms"] >= 600, r


def test_sleeping_uses_no_cpu_time(server):
    r = run_ok(server, {"language": "python", "code": "import time\ntime.sleep(1.2)\nprint('woke')",
                        "limits": {"cpu_time_ms": 300}})
    assert r["stdout"] == "woke\n" and r["cpu_ms"] < 300 and r["time_ms"] >= 1200, r


def test_file_size_limit_is_sigxfsz(server):
    code = ("#include <stdio.h>\n#include <string.h>\n"
            "int main(){static char b[1<<16]; memset(b,'x',sizeof b); FILE*f=fopen(\"big\",\"w\");"
            "for(int i=0;i<64;i++){fwrite(b,1,sizeof b,f);fflush(f);} puts(\"wrote\"); return 0;}")
    r = run_ok(server, {"language": "c", "code": code, "limits": {"file_size_bytes": 1 << 20}},
               expect="runtime_error")
    assert r["signal"] == "SIGXFSZ" and "wrote" not in r["stdout"], r


def test_processes_limit_refuses_forks(server):
    code = ("import os\nn = 0\n"
            "try:\n"
            "    for _ in range(50):\n"
            "        if os.fork() == 0:\n"
            "            import time; time.sleep(5); os._exit(0)\n"
            "        n += 1\n"
            "except OSError as e:\n"
            "    print('refused after', n)\n")
    r = run_ok(server, {"language": "python", "code": code, "limits": {"processes": 5}})
    assert r["stdout"].startswith("refused after "), r
    assert int(r["stdout"].split()[-1]) <= 4, r


def test_limits_are_checked_against_the_policy(server):
    status, body = run(server, {"language": "python", "code": "", "limits": {"cpu_time_ms": -1}})
    assert status == 400 and "cpu_time_ms" in body["error"]["message"], body


def test_piston_run_cpu_time(server):
    from test_compat_piston import execute, job, check_stage
    out = execute(server, job("while True: pass", run_cpu_time=300, run_timeout=20000), key=None)
    stage = check_stage(out["run"])
    assert stage["status"] == "TO" and stage["cpu_time"] >= 300, stage
    out = execute(server, job("import time\ntime.sleep(0.5)\nprint(1)"), key=None)
    stage = check_stage(out["run"])
    assert stage["status"] is None and stage["wall_time"] >= 500 and stage["cpu_time"] < stage["wall_time"], stage


def test_piston_compile_cpu_time(server):
    from test_compat_piston import execute, job, check_stage
    out = execute(server, job("int main(){return 0;}", language="c", compile_cpu_time=1), key=None)
    stage = check_stage(out["compile"])
    assert stage["status"] == "TO" and stage["cpu_time"] >= 1 and "run" not in out, out
    out = execute(server, job("int main(){return 0;}", language="c", compile_cpu_time=20000), key=None)
    assert check_stage(out["compile"])["status"] is None and out["run"]["status"] is None, out
