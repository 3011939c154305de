#!/usr/bin/env bash
# bench/languages.sh — per language, a hello program: the bare toolchain against POST /v1/run.
#
#   bash bench/languages.sh                 # every language of the default map, REPS=5
#   REPS=10 bash bench/languages.sh java go # some
#
# bare: compile (if the language compiles) + run, timed inside ONE running container of the
# language's image (read-only root, tmpfs /tmp and /work, an unprivileged uid, no network, the
# memory and CPUs a run of the language gets), each time from an empty /tmp and /work as a run
# starts (no compiler cache survives a run): what the toolchain itself costs.  API: POST /v1/run
# of the same program against a backend with the default policy (every language pooled, lazily),
# client wall time.  The two are taken in turns (bare, API, bare, ...: background work of the
# engine falls on both alike), one warm-up each, then the median of REPS each.  The difference is
# what CloudCode adds.  outside: the API time less the compile and run times the launcher
# reports for the run: what the server adds around the program, free of the toolchain's own
# run-to-run variance (which at a compile of seconds dwarfs any 10 ms).
# Needs: docker + the images (make images), lua5.4 with lua-cjson, /usr/bin/python3, ./cloudcode.
set -euo pipefail
ME=bench/languages.sh
. "$(dirname "$0")/lib.sh"

HINT="make images" need_tools docker lua5.4
need_binary
bench_setup languages
start_backend "$ROOT/policies/backend.lua" && wait_up "$URL/healthz" "$CC_PID" '"docker":"ok"'
if (($#)); then langs=("$@"); else mapfile -t langs < <("$BIN" --print-images "$ROOT/policies/backend.lua" | cut -d' ' -f1 | sort); fi
LABEL=$LABEL $PY "$ROOT/bench/languages_client.py" "$URL" "${langs[@]}"
