#!/usr/bin/env bash
# bench/notebook.sh — notebook cells (POST /v1/sessions/{id}/execute) on ipython sessions.
#
#   bash bench/notebook.sh                    # CELLS=300 trivial cells, CREATES=10 create+cell
#   CELLS=1000 CREATES=20 bash bench/notebook.sh
#
# Measures the median latency of a trivial cell (1+1) and of session create -> first cell result,
# beside IPython's own time for 1+1 inside the container (bench/notebook_client.py says how).
# The backend runs policies/backend.lua on a free 127.0.0.1 port with its own backend id; every
# container started here is labelled (cloudcode-bench=..., cloudcode.backend=<our id>) and removed
# on every exit path, as is the server.
# Needs: docker, /usr/bin/python3, ./cloudcode (make all), the images (scripts/images.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CODECLOUD_BENCH_BINARY:-$ROOT/cloudcode}
PY=/usr/bin/python3
export CELLS=${CELLS:-300} CREATES=${CREATES:-10}

command -v docker >/dev/null || { echo "bench/notebook.sh: docker is not installed" >&2; exit 2; }
[ -x "$BIN" ] || make -C "$ROOT" cloudcode >/dev/null
docker image inspect cloudcode/ipython >/dev/null 2>&1 || { echo "bench/notebook.sh: image cloudcode/ipython is not built" >&2; exit 2; }

TMP=$(mktemp -d /tmp/cloudcode-bench-notebook.XXXXXX)
LABEL=notebook-$$-$RANDOM
BACKEND_ID=bench-$LABEL
CC_PID=
remove_ours() {
  local ids
  ids=$( { docker ps -aq --filter "label=cloudcode-bench=$LABEL"
           docker ps -aq --filter "label=cloudcode.backend=$BACKEND_ID"; } 2>/dev/null | sort -u)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$CC_PID" ] && kill -0 "$CC_PID" 2>/dev/null; then
    kill -TERM "$CC_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$CC_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CC_PID" 2>/dev/null || true
    wait "$CC_PID" 2>/dev/null || true
  fi
  remove_ours
  if [ "$rc" != 0 ] && [ -s "$TMP/cloudcode.log" ]; then
    echo "bench/notebook.sh: failed (exit $rc); the server's last log lines:" >&2
    tail -n 5 "$TMP/cloudcode.log" >&2
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
CODECLOUD_LISTEN=127.0.0.1:$PORT CODECLOUD_BACKEND_ID=$BACKEND_ID CODECLOUD_API_KEY= \
  CODECLOUD_ADMIN_KEY= "$BIN" "$ROOT/policies/backend.lua" 2>"$TMP/cloudcode.log" &
CC_PID=$!
for _ in $(seq 1 200); do
  $PY -c "import urllib.request; urllib.request.urlopen('$URL/healthz', timeout=1)" 2>/dev/null && break
  kill -0 "$CC_PID" 2>/dev/null || { echo "bench/notebook.sh: the server exited" >&2; exit 1; }
  sleep 0.05
done
sleep 2   # the engine connection and any warm pool settle

echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), docker $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY "$ROOT/bench/notebook_client.py" "$URL" "$LABEL"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
