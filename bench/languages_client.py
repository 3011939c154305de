"""bench/languages.sh's client: per language, a hello program's time on the bare toolchain
(compile + run inside one already-running container of the language's image, as the backend
would run them: the same memory and CPUs as a run of the language gets, each time from an empty
/tmp and /work as a run gets them) against POST /v1/run through the API (client-side wall time),
the two taken in turns, median of REPS each.

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
SETTLE_S = 0.2


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


def bare_container(entry, defaults):
    """One running container of the language's image as a run gets it (read-only root, tmpfs /tmp
    and /work, an unprivileged uid, no network, the run's memory and CPUs): the bare side's."""
    return subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", "--label", f"cloudcode-bench={LABEL}",
                           "--read-only", "--tmpfs", "/tmp:exec", "--tmpfs", "/work:exec,mode=1777",
                           "--user", "100123:100123", "--entrypoint", "sleep",
                           "--memory", f"{limit(entry, defaults, 'memory_mb')}m",
                           "--cpus", str(limit(entry, defaults, "cpus")),
                           entry["image"], "infinity"],
                          capture_output=True, text=True, check=True).stdout.strip()


def bare(container, entry, code):
    """ms of one (compile +) run of the program in `container`, timed inside it (None: failed)."""
    # A /v1/run runs an entry's `script` command where it has one (ipython: its CLI, not the
    # notebook driver that sessions use), else `run` (core/backend/run.c).
    steps = ([shlex.join(argv(entry, entry["compile"]))] if entry.get("compile") else []) + \
        [shlex.join(argv(entry, entry.get("script") or entry["run"]))]
    body = " && ".join(steps) + " >/dev/null 2>&1"
    # It starts as an API run does: /tmp and /work hold nothing but the source (the reset empties
    # them between runs, so no compiler cache outlives a run), outside the timing.
    src = shlex.quote(entry['file'])
    script = (f"find /tmp /work -mindepth 1 -maxdepth 1 -exec rm -rf {{}} + 2>/dev/null; "
              f"printf %s {shlex.quote(code)} > /work/{src}; cd /work; "
              f"a=$(date +%s%N); {body} || echo FAILED; b=$(date +%s%N); echo $(( (b - a) / 1000 ))")
    out = subprocess.run(["docker", "exec", container, "sh", "-c", script],
                         capture_output=True, text=True, timeout=600).stdout.split()
    return None if not out or "FAILED" in out else int(out[-1]) / 1000


def api(url, lang, code):
    """(ms of one POST /v1/run of the program, client wall time; ms of it outside the program's
    own compile and run as the launcher timed them), None: not `ok`."""
    req = urllib.request.Request(url + "/v1/run", json.dumps({"language": lang, "code": code}).encode(),
                                 {"Content-Type": "application/json"})
    t = time.monotonic()
    reply = json.load(urllib.request.urlopen(req, timeout=600))
    dt = (time.monotonic() - t) * 1000
    if reply["status"] != "ok":
        return None
    return dt, dt - reply["time_ms"] - ((reply.get("compile") or {}).get("time_ms") or 0)


def measure(url, lang, entry, defaults, code):
    """Medians of bare, API and API outside the program, REPS each after one warm-up of each,
    bare and API taken in turns: whatever else the machine does meanwhile (the engine removing an
    idle pool container, say) falls on both sides alike instead of on whichever block of runs it
    happens to meet.  None where a run failed."""
    container = bare_container(entry, defaults)
    try:
        times = {"bare": [], "api": [], "around": []}
        for i in range(REPS + 1):
            # Each measurement starts after a pause: what the previous one left the engine to do
            # (a `docker exec` is torn down after its output has come) is not timed on the next.
            time.sleep(SETTLE_S)
            b = bare(container, entry, code)
            time.sleep(SETTLE_S)
            a = api(url, lang, code)
            if b is None or a is None:
                print(f"{lang:12} failed (bare {b}, api {a})", flush=True)
                return None
            if i:
                times["bare"].append(b)
                times["api"].append(a[0])
                times["around"].append(a[1])
        return {k: statistics.median(v) for k, v in times.items()}
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)


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
    print(f"{'language':12} {'bare ms':>9} {'API ms':>9} {'overhead':>9} {'outside':>9}")
    for lang in langs:
        m = measure(url, lang, es[lang], defaults, PROGRAMS[lang]["hello"])
        if m:
            print(f"{lang:12} {m['bare']:9.1f} {m['api']:9.1f} {m['api'] - m['bare']:9.1f} {m['around']:9.1f}",
                  flush=True)

main()
