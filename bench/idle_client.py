"""bench/idle.sh's client: a backend's footprint at rest, after a one-run-per-language burst, and
once its pools are back at their minimum.

  idle_client.py URL PID (env: BACKEND_ID)"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from programs import PROGRAMS  # noqa: E402

URL, PID = sys.argv[1], int(sys.argv[2])
BACKEND_ID = os.environ["BACKEND_ID"]
SETTLE_S = 300   # two windows of 60 s and the ticks after them, with room


def get(path):
    with urllib.request.urlopen(URL + path, timeout=30) as r:
        return json.loads(r.read())


def run(language, code):
    body = json.dumps({"language": language, "code": code}).encode()
    req = urllib.request.Request(URL + "/v1/run", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def rss_mib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")


def containers():
    out = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"label=cloudcode.backend={BACKEND_ID}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def container_mib(ids):
    """Their memory cgroups' usage (cgroup v1, cgroupfs driver), MiB in all."""
    total = 0
    for cid in ids:
        try:
            with open(f"/sys/fs/cgroup/memory/docker/{cid}/memory.usage_in_bytes") as f:
                total += int(f.read())
        except FileNotFoundError:   # removed meanwhile
            pass
    return total / (1 << 20)


def pools_settled():
    pools = get("/healthz")["checks"]["pools"]
    return all(p["ready"] == p["target"] for p in pools.values()), pools


def wait_settled(what, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ok, pools = pools_settled()
        if ok and all(p["target"] == 0 or p["ready"] for p in pools.values()):
            return pools
        time.sleep(0.5)
    raise SystemExit(f"the pools did not settle {what} within {seconds} s")


def report(what, pools):
    ids = containers()
    targets = {k: v["target"] for k, v in pools.items() if v["target"]}
    print(f"| {what} | {rss_mib():.1f} | {len(ids)} | {container_mib(ids):.0f} | {targets} |", flush=True)


languages = sorted(lang["name"] for lang in get("/v1/languages")["languages"])
print("| when | backend VmRSS, MiB | containers | their memory, MiB | pool targets above 0 |")
print("|---|---|---|---|---|")
at_start = wait_settled("after start", 120)
report("at rest after start", at_start)
for name in languages:
    if name in PROGRAMS:
        answer = run(name, PROGRAMS[name]["hello"])
        if answer.get("exit_code") != 0:
            print(f"# {name}: {answer}", file=sys.stderr)
report(f"right after one hello run of each of {len(languages)} languages", pools_settled()[1])
t0 = time.monotonic()
deadline = t0 + SETTLE_S
while time.monotonic() < deadline:
    ok, pools = pools_settled()
    if ok and pools == at_start:   # every pool back at its minimum
        break
    time.sleep(1)
report(f"at rest again, {time.monotonic() - t0:.0f} s later", pools_settled()[1])
