"""bench/languages.sh's client: per language, a hello program's time on the bare toolchain
(compile + run inside one already-running container of the language's image, as the backend
would run them) against POST /v1/run through the API (client-side wall time, median of REPS).

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
    lua = ('package.path = "lua/?.lua;" .. package.path; local cj = require "cjson"; '
           'io.write(cj.encode(require("cloudcode.images").default))')
    return json.loads(subprocess.run(["lua5.4", "-e", lua], cwd=ROOT, capture_output=True, text=True,
                                     check=True, env=os.environ).stdout)


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


def bare(entry, code):
    """Median ms of (compile +) run of the hello program, REPS times in one container."""
    steps = ([shlex.join(argv(entry, entry["compile"]))] if entry.get("compile") else []) + \
        [shlex.join(argv(entry, entry["run"]))]
    body = " && ".join(steps) + " >/dev/null 2>&1"
    script = (f"cd /work && printf %s {shlex.quote(code)} > {shlex.quote(entry['file'])} && "
              f"for i in $(seq {REPS + 1}); do a=$(date +%s%N); {body} || echo FAILED; "
              'b=$(date +%s%N); echo $(( (b - a) / 1000 )); done')
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--label", f"cloudcode-bench={LABEL}",
                          "--read-only", "--tmpfs", "/tmp:exec", "--tmpfs", "/work:exec,mode=1777",
                          "--user", "100123:100123", "--memory", "1g", "--entrypoint", "sh",
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


def main():
    url, langs = sys.argv[1], sys.argv[2:]
    es = entries()
    print(f"{'language':12} {'bare ms':>9} {'API ms':>9} {'overhead':>9}")
    for lang in langs:
        code = PROGRAMS[lang]["hello"]
        b, a = bare(es[lang], code), api(url, lang, code)
        if b is None or a is None:
            print(f"{lang:12} failed (bare {b}, api {a})")
            continue
        print(f"{lang:12} {b:9.1f} {a:9.1f} {a - b:9.1f}", flush=True)


main()
