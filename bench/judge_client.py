"""bench/judge_client.py — the measuring client of bench/judge.sh (standard library only)."""
import os
import statistics
import sys
import time

from common import Api, must

URL = sys.argv[1]
CASES, ROUNDS = int(os.environ.get("CASES", 20)), int(os.environ.get("ROUNDS", 3))
PROGRAM = ("#include <stdio.h>\n"
           "int main(void){ long a, b; if (scanf(\"%ld %ld\", &a, &b) != 2) return 1;"
           " printf(\"%ld\\n\", a + b); return 0; }\n")
TESTS = [(f"{i} {i * i}", str(i + i * i)) for i in range(CASES)]


def judge(api):
    status, r = api.call("POST", "/v1/judge", {"language": "c", "code": PROGRAM,
                                               "cases": [{"stdin": s, "expected_output": e} for s, e in TESTS]})
    must(status, r, 200, "judge")
    assert r["summary"]["accepted"] == CASES, r


def batch(api):
    subs = [{"source_code": PROGRAM, "language_id": 50, "stdin": s, "expected_output": e} for s, e in TESTS]
    status, made = api.call("POST", "/submissions/batch", {"submissions": subs})
    tokens = ",".join(m["token"] for m in must(status, made, 201, "batch"))
    while True:
        status, got = api.call("GET", f"/submissions/batch?tokens={tokens}&fields=status_id")
        ids = [s["status_id"] for s in must(status, got, 200, "batch show")["submissions"]]
        if min(ids) >= 3:
            assert ids == [3] * CASES, ids
            return
        time.sleep(0.05)


def sequential(api):
    for s, e in TESTS:
        status, r = api.call("POST", "/submissions?wait=true&fields=status_id",
                             {"source_code": PROGRAM, "language_id": 50, "stdin": s, "expected_output": e})
        assert must(status, r, 201, "submission")["status_id"] == 3, r


def main():
    api = Api(URL, timeout=300)
    judge(api)  # warm-up: the pool, the image, the page cache
    times = {"judge": [], "batch": [], "sequential": []}
    for n in range(ROUNDS):
        for name, fn in (("judge", judge), ("batch", batch), ("sequential", sequential)):
            t0 = time.monotonic()
            fn(api)
            times[name].append(time.monotonic() - t0)
        print(f"round {n + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{CASES} cases, median of {ROUNDS}: judge {med['judge']:.2f} s, batch {med['batch']:.2f} s "
          f"({med['batch'] / med['judge']:.1f}x), sequential {med['sequential']:.2f} s "
          f"({med['sequential'] / med['judge']:.1f}x)")


main()
