#!/usr/bin/env bash
# bench/idle.sh — what a backend with the default policy (every language of the default map
# pooled, most of them lazily) holds when nobody uses it: its VmRSS, its containers and their
# memory, at start (pools settled), right after one hello run per language, and once the pools
# have forgotten that demand (one to two windows_s later, 60 s by default: up to ~2.5 min).
#
#   bash bench/idle.sh
# Needs: docker + the images (make images), /usr/bin/python3, ./cloudcode.
set -euo pipefail
ME=bench/idle.sh
. "$(dirname "$0")/lib.sh"

HINT="make images" need_tools docker
need_binary
bench_setup idle
start_backend "$ROOT/policies/backend.lua" && wait_up "$URL/healthz" "$CC_PID" '"docker":"ok"'
echo "# $(machine); $(date -u +%FT%TZ)"
BACKEND_ID=$BACKEND_ID $PY "$ROOT/bench/idle_client.py" "$URL" "$CC_PID"
