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

ME=bench/notebook.sh
. "$(dirname "$0")/lib.sh"
export CELLS=${CELLS:-300} CREATES=${CREATES:-10}

need_tools docker
need_binary
need_images cloudcode/ipython
bench_setup notebook

start_backend "$ROOT/policies/backend.lua"
wait_up "$URL/healthz" "$CC_PID"
sleep 2   # the engine connection and any warm pool settle

echo "machine: $(machine), kernel $(uname -r), docker $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY "$ROOT/bench/notebook_client.py" "$URL" "$LABEL"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
