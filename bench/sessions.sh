#!/usr/bin/env bash
# bench/sessions.sh — runs and sessions: cloudcode against plain Docker on the same engine.
#
#   bash bench/sessions.sh                 # defaults: N=30 samples, 3 warm-up, 20 s sustained
#   N=50 SECONDS_SUSTAINED=30 bash bench/sessions.sh
#   PARTS="run echo" bash bench/sessions.sh
#
# Measures, each beside its baseline taken in the same run (alternating sample by sample where
# the samples are short), medians and p95 (nearest rank) with the warm-up excluded:
#   (a) run      POST /v1/run python and c hello   vs  docker run --rm (python3 -c; gcc + run in a tmpfs)
#   (b) create   session create -> first output    vs  docker run --rm -> first stdout byte
#   (g) churn    sessions one after another: create -> first output -> DELETE, N back to back,
#                then CHURN_RATE (10) per second for SECONDS_CHURN (10) s, vs docker run --rm ->
#                first stdout byte (N samples, after); once per language of CHURN_LANGS (python
#                bash: python's own start-up is most of its number, bash's shows the server's part)
#   (c) echo     input -> output round trip on a python echo session, long-poll and WebSocket,
#                vs the engine's own hijacked attach stream on a `docker run -d -i` container
#   (d) sustained  CLIENTS (4) clients of back-to-back python hellos for SECONDS_SUSTAINED (20) s
#                vs docker run --rm at the same concurrency
#   (e) idle     the backend's VmRSS with IDLE (50) idle sessions; the containers' memory apart
#   (f) phases   the engine calls of one container's life, timed one by one (where time goes)
# and prints ratios ours / baseline.
#
# The backend runs bench/sessions_policy.lua (policies/backend.lua with the session caps raised)
# on a free 127.0.0.1 port with its own backend id; its log goes to a temporary file.  Every
# container this script starts is labelled (cloudcode-bench=..., or cloudcode.backend=<our id>)
# and removed on every exit path, as is the server.
# Needs: docker, /usr/bin/python3, ./cloudcode (built with `make all`), the images (`make images`).
set -euo pipefail

ME=bench/sessions.sh
. "$(dirname "$0")/lib.sh"
PARTS=${PARTS:-run create churn echo sustained idle phases}
export N=${N:-30} WARMUP=${WARMUP:-3} ECHO_N=${ECHO_N:-300} ECHO_ROUNDS=${ECHO_ROUNDS:-3}
export CLIENTS=${CLIENTS:-4} SECONDS_SUSTAINED=${SECONDS_SUSTAINED:-20} IDLE=${IDLE:-50}
export CHURN_RATE=${CHURN_RATE:-10} SECONDS_CHURN=${SECONDS_CHURN:-10} CHURN_LANGS=${CHURN_LANGS:-python bash}
PREFIX=${CODECLOUD_IMAGE_PREFIX:-cloudcode/}

need_tools docker
need_binary
need_images "${PREFIX}python" "${PREFIX}c"

CLIENT_PID=
bench_stop() {
  if [ -n "$CLIENT_PID" ] && kill -0 "$CLIENT_PID" 2>/dev/null; then
    # the measuring client and the docker commands it started (its children, by parent pid)
    pkill -TERM -P "$CLIENT_PID" 2>/dev/null || true
    kill -TERM "$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" 2>/dev/null || true
  fi
  stop_pid "$CC_PID" TERM   # SIGTERM removes the sessions' containers within shutdown_grace_s
  # whatever is left: ours only, by label (twice: a docker command stopped mid-way may still
  # have been creating a container the first time)
  remove_ours
  sleep 1
  remove_ours
}
bench_setup sessions

start_backend "$ROOT/bench/sessions_policy.lua"
wait_up "$URL/healthz" "$CC_PID"
START_RSS=$(awk '/^VmRSS/ { printf "%.2f", $2 / 1024 }' "/proc/$CC_PID/status")

echo "machine: $(machine), kernel $(uname -r), docker $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
echo "server: $BIN bench/sessions_policy.lua on $URL (VmRSS at start $START_RSS MiB)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"
echo
client() { # in the background, so that a signal reaches the traps at once
  $PY "$ROOT/bench/sessions_client.py" "$URL" "$LABEL" "$@" &
  CLIENT_PID=$!
  wait "$CLIENT_PID"
  CLIENT_PID=
}
for part in $PARTS; do
  case $part in
    idle) client idle "$CC_PID" "$BACKEND_ID" ;;
    run|create|churn|echo|sustained|phases) client "$part" ;;
    *) echo "$ME: unknown part $part" >&2; exit 2 ;;
  esac
  echo
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
