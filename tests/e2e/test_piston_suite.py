"""Piston's own material against our servers, through a backend and through a balancer: its
per-language test programs (each prints OK) for every language the server lists, its exploit
scripts, its CLI and the npm package piston-client. Vendored: tests/e2e/piston/README.md."""
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from balancer_util import Fleet, auth, redis  # noqa: F401  (fixture)
from conftest import slow
from npm_util import installed

pytestmark = pytest.mark.docker

PISTON = Path(__file__).resolve().parent / "piston"
TARGETS = ["backend", "balancer"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory, redis):
    """One backend and a balancer in front of it, both serving Piston's keyless clients too."""
    redis.command("FLUSHALL")
    fleet = Fleet(tmp_path_factory.mktemp("piston-suite"), redis)
    open_env = {"CODECLOUD_PISTON_OPEN": "1"}
    try:
        yield {"backend": fleet.backend(env=open_env), "balancer": fleet.balancer(env=open_env)}
    finally:
        errors = fleet.close()
        assert not errors, "\n\n".join(errors)


def execute(server, job, key="k1"):
    status, _, reply = server.request("POST", "/api/v2/execute", job, headers=auth(key), timeout=slow(120))
    assert status == 200, (status, reply)
    return reply


def job(language, code, **more):
    # Time bounds a loaded test machine cannot hit by accident (Piston's defaults are 3 s and 10 s).
    bounds = {"run_timeout": int(slow(20000)), "compile_timeout": int(slow(60000))}
    return {"language": language, "version": "*", "files": [{"content": code}], **bounds, **more}


def version_tuple(v):
    out = []
    for part in v.replace("-", ".").split("."):
        out.append(int(part) if part.isdigit() else 0)
    return tuple(out)


def programs_for(runtimes):
    """Piston's test programs our runtimes can run: per (runtime, language asked for), the test of
    the package version nearest to ours (the same major version first)."""
    chosen = {}
    for path in sorted((PISTON / "packages").glob("*/*/test.*")):
        asked = path.name.split(".")[1]   # as Piston's test.sh: test.nasm64.asm asks for nasm64
        rt = next((r for r in runtimes if asked == r["language"] or asked in r["aliases"]), None)
        if not rt:
            continue
        ours, theirs = version_tuple(rt["version"]), version_tuple(path.parent.name)
        distance = (ours[:1] != theirs[:1], [abs(a - b) for a, b in zip(ours, theirs)])
        best = chosen.get((rt["language"], asked))
        if best is None or distance < best[0]:
            chosen[(rt["language"], asked)] = (distance, path)
    return {key: path for key, (_, path) in chosen.items()}


# Piston's tests that cannot pass as they stand, and why (docs/compat.md).
NOT_RUNNABLE = {
    # Scala 3 syntax (`@main def`); Debian 12's Scala is 2.11.
    "packages/scala/3.0.0/test.scala", "packages/scala/3.2.2/test.scala",
}
# Piston's test.awk prints OK for each line it reads, and Piston's test.sh sends no stdin (so it
# prints nothing on Piston either): it gets one line.
STDIN = {"packages/gawk/5.1.0/test.awk": "line\n"}


@pytest.mark.parametrize("target", TARGETS)
def test_pistons_test_programs(servers, target):
    server = servers[target]
    status, _, runtimes = server.request("GET", "/api/v2/runtimes", headers=auth("k1"))
    assert status == 200, runtimes
    programs = programs_for(runtimes)
    assert {"python", "c"} <= {lang for lang, _ in programs}, programs
    failed = {}
    for (lang, asked), path in sorted(programs.items()):
        name = str(path.relative_to(PISTON))
        if name in NOT_RUNNABLE:
            continue
        # As Piston's packages/test.sh: the file's extension names the language, one nameless file.
        r = execute(server, job(asked, path.read_text(), stdin=STDIN.get(name, "")))
        if "OK" not in (r.get("run") or {}).get("stdout", ""):
            failed[name] = r
    assert not failed, json.dumps(failed, indent=1)[:4000]


# ---- Piston's exploit scripts (tests/ in its repository) --------------------------------------------

def exploit(name):
    return (PISTON / "exploits" / name).read_text()


def serving(server):
    """Wait until the server lists python again: a balancer drops a backend whose health checks
    time out, as they may on a loaded machine right after a fork bomb."""
    deadline = time.monotonic() + slow(60)
    while True:
        status, _, rts = server.request("GET", "/api/v2/runtimes", headers=auth("k1"))
        if status == 200 and any(r["language"] == "python" for r in rts):
            return
        assert time.monotonic() < deadline, (status, rts)
        time.sleep(0.2)


@pytest.mark.parametrize("target", TARGETS)
def test_pistons_exploits(servers, target):
    server = servers[target]
    # A fork bomb ends within its timeout; the server goes on serving.
    run = execute(server, job("python", exploit("fork.py"), run_timeout=3000))["run"]
    assert run["status"] in ("TO", "SG", "RE"), run
    serving(server)
    # Filling the disk fails inside the sandbox (ENOSPC or the file size limit, or it is still
    # at it when its time is up on a loaded machine) and harms no one.
    run = execute(server, job("python", exploit("fallocate.py"), run_timeout=10000))["run"]
    assert run["status"] in ("RE", "SG", "TO"), {**run, "stderr": run["stderr"][-300:]}
    serving(server)
    # Files left in world-writable folders do not outlive the job: the second run prints nothing.
    first = execute(server, job("python", exploit("file_persistance.py")))["run"]
    second = execute(server, job("python", exploit("file_persistance.py")))["run"]
    assert second["stdout"] == "", (first, second)
    # Runaway output is cut at the limit.
    run = execute(server, job("python", exploit("runaway_output.py"), run_timeout=10000))["run"]
    assert run["status"] == "OL" and "Piston is secure" in run["stdout"], {**run, "stdout": run["stdout"][:80]}
    # No network.
    run = execute(server, job("python", exploit("network.py")))["run"]
    assert run["status"] == "RE" and run["code"] != 0 and "urlopen" in run["stderr"], run
    # multi_request.py: five jobs at once, each answered with its own output.
    results = {}

    def one(i):
        results[i] = execute(server, job("python", f"print('Request #{i}')"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=slow(120))
    assert {i: r["run"]["stdout"] for i, r in results.items()} == {i: f"Request #{i}\n" for i in range(5)}, results
    assert "OK" in execute(server, job("py", 'print("OK")'))["run"]["stdout"]


# ---- Piston's CLI and the npm package piston-client ----------------------------------------------------

@pytest.fixture(scope="module")
def cli():
    return installed("piston-cli", PISTON / "cli") / "index.js"


@pytest.fixture(scope="module")
def client():
    return installed("piston-client", PISTON / "client") / "node_modules" / "piston-client" / "index.js"


def node(*args, stdin=None, timeout=120):
    r = subprocess.run(["node", *map(str, args)], input=stdin, capture_output=True, text=True,
                       timeout=slow(timeout))
    return r


@pytest.mark.parametrize("target", TARGETS)
def test_pistons_cli(servers, target, cli, tmp_path):
    url = servers[target].url
    c_test = PISTON / "packages" / "gcc" / "10.2.0" / "test.c"
    # Non-interactive (POST /api/v2/execute), with stdin, args and a second file.
    (tmp_path / "helper.py").write_text("def greet(x):\n    return 'hello ' + x\n")
    (tmp_path / "main.py").write_text("import sys, helper\nprint(helper.greet(input()), sys.argv[1:])\n")
    r = node(cli, "-u", url, "execute", "python", tmp_path / "main.py", "a", "b", "-i", "-f", tmp_path / "helper.py",
             stdin="you\n")
    assert r.returncode == 0, (r.stdout, r.stderr)
    # The CLI lists the extra files first: as in Piston, the main file is the first utf8 one.
    assert "== Run ==" in r.stdout, r.stdout
    r = node(cli, "-u", url, "run", "c", c_test)
    assert r.returncode == 0 and "== Compile ==" in r.stdout and "OK" in r.stdout, (r.stdout, r.stderr)
    r = node(cli, "-u", url, "run", "python", "-l", "3.x", PISTON / "packages/python/3.11.0/test.py")
    assert r.returncode == 0 and "OK" in r.stdout, (r.stdout, r.stderr)
    # Interactive: the WebSocket /api/v2/connect, stdin sent as data messages.
    (tmp_path / "echo.py").write_text("print('echo', input())\n")
    r = node(cli, "-u", url, "run", "python", "-t", tmp_path / "echo.py", stdin="over ws\n")
    assert "echo over ws" in r.stdout, (r.returncode, r.stdout, r.stderr)


CLIENT_SCRIPT = """
import piston from %s;
const api = piston({ server: %s });
const runtimes = await api.runtimes();
const py = await api.execute('python', 'import sys\\nprint("OK", sys.argv[1:])');
const c = await api.execute({ language: 'c', files: [{ name: 'test.c', content: %s }] });
const multi = await api.execute({ language: 'python', files: [
  { name: 'main.py', content: 'import helper; helper.run()' },
  { name: 'helper.py', content: 'def run():\\n    print(input()[::-1])' }], stdin: 'KO', args: [] });
console.log(JSON.stringify({ runtimes, py, c, multi }));
"""


@pytest.mark.parametrize("target", TARGETS)
def test_piston_client_npm(servers, target, client, tmp_path):
    c_src = (PISTON / "packages" / "gcc" / "10.2.0" / "test.c").read_text()
    script = tmp_path / "client.mjs"
    script.write_text(CLIENT_SCRIPT % (json.dumps(str(client)), json.dumps(servers[target].url), json.dumps(c_src)))
    r = node(script)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert {"python", "c"} <= {rt["language"] for rt in out["runtimes"]}, out["runtimes"]
    assert out["py"]["run"]["stdout"] == "OK ['1', '2', '3']\n", out["py"]   # the client's default args
    assert out["c"]["compile"]["code"] == 0 and out["c"]["run"]["stdout"] == "OK", out["c"]
    assert out["multi"]["run"]["stdout"] == "OK\n", out["multi"]
