#!/usr/bin/env python3
"""bench/balancer_client.py — the long-poll echo round trip of bench/balancer.sh.

    balancer_client.py create URL                  # open a python echo session, print its id
    balancer_client.py echo SID N ROUNDS WARMUP name=URL [name=URL ...]
    balancer_client.py delete URL SID

`echo` measures, on ONE open echo session (`while True: print(input())`), N sequential round
trips per target and round: POST /v1/sessions/SID/input {"data":"<token>\\n"} (204), then
GET /v1/sessions/SID/output?cursor=C&wait_ms=5000 until the token's line has come back.  Each
target (direct to the backend, through our balancer, through HAProxy) reaches the same session
on the same backend; the targets are measured alternately, round by round, each over its own
keep-alive connection (TCP_NODELAY), after WARMUP unmeasured round trips per round.
It prints one line per target: `name rps p50_ms p99_ms n`, rps being round trips per second
(1 / mean) over every measured sample of every round.  Python stdlib only.
"""
import os
import sys
import time

from common import Api, must, pct

PY_ECHO = "while True:\n    print(input())\n"


def create(url):
    api = Api(url)
    s = must(*api.call("POST", "/v1/sessions",
                       {"language": "python", "code": PY_ECHO,
                        "limits": {"idle_timeout_s": 600, "lifetime_s": 1800}}),
             201, "POST /v1/sessions")
    sid = s["id"]
    # wait until the program runs (its first round trip also pays the container's start)
    one_round_trip(api, sid, 0, f"start-{os.getpid()}")
    api.close()
    print(sid)


def one_round_trip(api, sid, cursor, token):
    """POST the line, long-poll until it comes back; return the new cursor."""
    must(*api.call("POST", f"/v1/sessions/{sid}/input", {"data": token + "\n"}), 204, "POST input")
    out = ""
    for _ in range(100):
        o = must(*api.call("GET", f"/v1/sessions/{sid}/output?cursor={cursor}&wait_ms=5000"), 200,
                 "GET output")
        cursor = o["cursor"]
        out += "".join(e["data"] for e in o["events"] if e["stream"] == "stdout")
        if token + "\n" in out:
            return cursor
        if o["state"] != "running":
            raise RuntimeError(f"the echo session ended: {o}")
    raise RuntimeError("echo: the line never came back")


def current_cursor(api, sid):
    return must(*api.call("GET", f"/v1/sessions/{sid}/output?cursor=0"), 200, "GET output")["cursor"]


def echo(sid, n, rounds, warmup, targets):
    apis = {name: Api(url) for name, url in targets}
    samples = {name: [] for name, _ in targets}
    pid = os.getpid()
    for r in range(rounds):
        for name, _ in targets:
            api = apis[name]
            cursor = current_cursor(api, sid)
            for i in range(warmup + n):
                t0 = time.perf_counter()
                cursor = one_round_trip(api, sid, cursor, f"{name}-{r}-{i}-{pid}")
                dt = time.perf_counter() - t0
                if i >= warmup:
                    samples[name].append(dt * 1000)
    for api in apis.values():
        api.close()
    for name, _ in targets:
        xs = samples[name]
        print(f"{name} {1000 * len(xs) / sum(xs):.1f} {pct(xs, 50):.3f} {pct(xs, 99):.3f} {len(xs)}")


def delete(url, sid):
    api = Api(url)
    st, body = api.call("DELETE", f"/v1/sessions/{sid}")
    api.close()
    if st not in (200, 204, 404):
        raise RuntimeError(f"DELETE: HTTP {st} {body}")


def main(argv):
    if len(argv) >= 2 and argv[0] == "create":
        create(argv[1])
    elif len(argv) >= 6 and argv[0] == "echo":
        targets = [tuple(t.split("=", 1)) for t in argv[5:]]
        echo(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), targets)
    elif len(argv) == 3 and argv[0] == "delete":
        delete(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
