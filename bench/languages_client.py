"""bench/languages.sh's client: per language, a hello program's time on the bare toolchain
(compile + run inside one already-running container of the language's image, as the backend
would run them: the same memory and CPUs as a run of the language gets, each time from an empty
/tmp and /work as a run gets them) against POST /v1/run
through the API (client-side wall time, median of REPS).

  languages_client.py URL LANG... (env: REPS, IMAGE_PREFIX, LABEL)"""
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from programs import PROGRAMS  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REPS = int(os.environ.get("REPS", "5"))
LABEL = os.environ.get("LABEL", "languages-bench")


def entries():
    """The default image map, and the default limits (lua/cloudcode/limits.lua)."""
    lua = ('package.path = "lua/?.lua;" .. package.path; local cj = require "cjson"; '
           'io.write(cj.encode({ images = require("cloudcode.images").default, '
           'limits = require("cloudcode.limits").default }))')
    out = json.loads(subprocess.run(["lua5.4", "-e", lua], cwd=ROOT, capture_output=True, text=True,
                                    check=True, env=os.environ).stdout)
    return out["images"], {k: v.get("default") for k, v in out["limits"].items()}


def limit(entry, defaults, name):
    """A limit as a run of the language gets it: the entry's own default, else the policy's."""
    return entry.get("limits", {}).get(name, defaults[name])


def argv(entry, command):
    """An entry's command with its placeholders expanded as the server does (docs/policy.md) for a
    one-file program without compile options."""
    name = entry["file"]
    out = []
    for token in command:
        if token == "{options}":
            continue
        if token == "{sources}":
            out.append(name)
            continue
        out.append(token.replace("{file}", name).replace("{stem}", os.path.splitext(name)[0]))
    return out


def bare(entry, defaults, code):
    """Median ms of (compile +) run of the hello program, REPS times in one container."""
    # A /v1/run runs an entry's `script` command where it has one (ipython: its CLI, not the
    # notebook driver that sessions use), else `run` (core/backend/run.c).
    steps = ([shlex.join(argv(entry, entry["compile"]))] if entry.get("compile") else []) + \
        [shlex.join(argv(entry, entry.get("script") or entry["run"]))]
    body = " && ".join(steps) + " >/dev/null 2>&1"
    # Each iteration starts as an API run does: /tmp and /work hold nothing but the source (the
    # reset empties them between runs, so no compiler cache outlives a run), outside the timing.
    src = shlex.quote(entry['file'])
    clean = (f"find /tmp /work -mindepth 1 -maxdepth 1 -exec rm -rf {{}} + 2>/dev/null; "
             f"printf %s {shlex.quote(code)} > /work/{src}")
    script = (f"cd /work && for i in $(seq {REPS + 1}); do {clean}; a=$(date +%s%N); {body} || echo FAILED; "
              'b=$(date +%s%N); echo $(( (b - a) / 1000 )); done')
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--label", f"cloudcode-bench={LABEL}",
                          "--read-only", "--tmpfs", "/tmp:exec", "--tmpfs", "/work:exec,mode=1777",
                          "--user", "100123:100123", "--entrypoint", "sh",
                          "--memory", f"{limit(entry, defaults, 'memory_mb')}m",
                          "--cpus", str(limit(entry, defaults, "cpus")),
                          entry["image"], "-c", script],
                         capture_output=True, text=True, timeout=600).stdout.split()
    if "FAILED" in out:
        return None
    return statistics.median(int(x) for x in out[1:]) / 1000  # the first is a warm-up


def api(url, lang, code):
    times = []
    for i in range(REPS + 1):
        req = urllib.request.Request(url + "/v1/run", json.dumps({"language": lang, "code": code}).encode(),
                                     {"Content-Type": "application/json"})
        t = time.monotonic()
        reply = json.load(urllib.request.urlopen(req, timeout=600))
        dt = (time.monotonic() - t) * 1000
        if reply["status"] != "ok":
            return None
        if i:
            times.append(dt)
    return statistics.median(times)


def pools_settled(url, timeout=120):
    """Wait until every pool holds what it wants: the pools a backend fills as it starts (python,
    c, ipython) would otherwise compete for the CPU with the first language measured."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pools = json.load(urllib.request.urlopen(url + "/healthz", timeout=10))["checks"]["pools"]
        if all(p["ready"] >= p["target"] for p in pools.values()):
            return
        time.sleep(0.2)
    raise SystemExit("the pools did not fill within %d s" % timeout)


def main():
    url, langs = sys.argv[1], sys.argv[2:]
    es, defaults = entries()
    pools_settled(url)
    print(f"{'language':12} {'bare ms':>9} {'API ms':>9} {'overhead':>9}")
    for lang in langs:
        code = PROGRAMS[lang]["hello"]
        b, a = bare(es[lang], defaults, code), api(url, lang, code)
        if b is None or a is None:
            print(f"{lang:12} failed (bare {b}, api {a})")
            continue
        print(f"{lang:12} {b:9.1f} {a:9.1f} {a - b:9.1f}", flush=True)


main()
