#!/usr/bin/python3
"""bench/notebook_client.py — the measuring half of bench/notebook.sh (standard library only).

    notebook_client.py URL BENCH_LABEL

Prints, medians and p95 (nearest rank), warm-up excluded:
  (a) IPython's own time for `1+1` inside the container: InteractiveShell.run_cell alone and the
      driver's whole cell path (capture set-up, fd redirection, reply building), measured by the
      driver itself (`notebook.py --bench`) in a throw-away container of the same image;
  (b) a trivial cell `1+1` through the server: POST /v1/sessions/{id}/execute round trip;
  (c) session create -> first cell result: POST /v1/sessions, then execute `1+1` at once;
and the overhead of (b) over (a)'s run_cell, against the target of 5 ms.
"""
import json
import os
import statistics
import subprocess
import sys
import time

from common import Api, pct

CELLS = int(os.environ.get("CELLS", "300"))
CREATES = int(os.environ.get("CREATES", "10"))
WARMUP = int(os.environ.get("WARMUP", "10"))
IO_TIMEOUT = 60.0


def line(name, xs):
    med, p95 = statistics.median(xs), pct(xs, 95)
    print(f"  {name:<46} median {med:9.2f} ms   p95 {p95:9.2f} ms   (n={len(xs)})")
    return med


def execute(api, sid, code):
    status, reply = api.call("POST", f"/v1/sessions/{sid}/execute", {"code": code})
    if status != 200 or reply["status"] != "ok":
        raise SystemExit(f"execute failed: {status} {reply}")
    return reply


def in_container(label):
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--label", f"cloudcode-bench={label}",
                          "--entrypoint", "python3", "cloudcode/ipython", "/opt/cloudcode/notebook.py", "--bench",
                          str(CELLS)], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"in-container measurement failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    url, label = sys.argv[1], sys.argv[2]
    print("(a) inside the container (notebook.py --bench, same image, no server):")
    own = in_container(label)
    for name, key in (("IPython run_cell('1+1')", "ipython_run_cell_ms"),
                      ("driver cell path (capture, fds, reply)", "driver_cell_ms")):
        print(f"  {name:<46} median {own[key]:9.3f} ms   (n={own['cells']})")

    api = Api(url, timeout=IO_TIMEOUT)
    status, s = api.call("POST", "/v1/sessions", {"language": "ipython"})
    assert status == 201, (status, s)
    sid = s["id"]
    try:
        for _ in range(WARMUP):
            execute(api, sid, "1+1")
        xs = []
        for _ in range(CELLS):
            t = time.perf_counter()
            execute(api, sid, "1+1")
            xs.append((time.perf_counter() - t) * 1000)
        print("(b) through the server:")
        med = line("execute 1+1 round trip", xs)
    finally:
        api.call("DELETE", f"/v1/sessions/{sid}")

    ys = []
    for _ in range(CREATES):
        t = time.perf_counter()
        status, s = api.call("POST", "/v1/sessions", {"language": "ipython"})
        assert status == 201, (status, s)
        execute(api, s["id"], "1+1")
        ys.append((time.perf_counter() - t) * 1000)
        api.call("DELETE", f"/v1/sessions/{s['id']}")
        time.sleep(0.5)   # let a warm pool refill, as between real clients
    print("(c) session create -> first cell result:")
    line("create + execute 1+1", ys)
    over = med - own["ipython_run_cell_ms"]
    print(f"overhead of a trivial cell over IPython's own run_cell: {over:.2f} ms "
          f"(target <= 5 ms: {'met' if over <= 5 else 'NOT met'})")


if __name__ == "__main__":
    main()
