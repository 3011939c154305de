#!/usr/bin/env bash
# bench/judge.sh — 20 test cases of one C program: POST /v1/judge against 20 Judge0-style
# submissions, on the same backend, end to end (request sent → every verdict known).
#
#   bash bench/judge.sh               # defaults: CASES=20, ROUNDS=3
#   CASES=10 ROUNDS=5 bash bench/judge.sh
#
# Each round measures, alternately:
#   judge      one POST /v1/judge with the CASES cases (compiled once, one container)
#   batch      POST /submissions/batch with CASES submissions, then GET /submissions/batch until
#              every one has finished (Judge0's own way; judge0.workers run at a time)
#   sequential CASES POST /submissions?wait=true one after another (a simple Judge0 client)
# and prints each round's seconds and the medians.  The backend runs policies/backend.lua on a
# free 127.0.0.1 port with its own backend id, no keys; everything it started is removed at exit.
# Needs: docker, /usr/bin/python3, ./cloudcode (`make all`), the images (`make images`).
set -euo pipefail

ME=bench/judge.sh
. "$(dirname "$0")/lib.sh"
export CASES=${CASES:-20} ROUNDS=${ROUNDS:-3}
PREFIX=${CODECLOUD_IMAGE_PREFIX:-cloudcode/}

need_tools docker
need_binary
need_images "${PREFIX}c"
bench_setup judge

start_backend "$ROOT/policies/backend.lua"
wait_up "$URL/healthz" "$CC_PID"
echo "machine: $(machine), kernel $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$ROOT/bench/judge_client.py" "$URL"
