# shellcheck shell=bash
# bench/lib.sh — the set-up the benchmark scripts share; sourced by bench/*.sh, not run.
#
#   ME=bench/x.sh; . "$(dirname "$0")/lib.sh"
#   need_tools docker; need_binary; need_images cloudcode/python
#   bench_setup x            # TMP, LABEL, BACKEND_ID; traps: bench_cleanup on every exit path
#   bench_stop() { ...; }    # optional: what bench_cleanup stops first (default: the backend)
#   start_backend "$ROOT/policies/backend.lua" && wait_up "$URL/healthz" "$CC_PID"
#
# Containers of a run are found by label only: cloudcode-bench=$LABEL (the ones a client
# starts itself) and cloudcode.backend=$BACKEND_ID (the backend's); remove_ours removes both.
# Everything listens on 127.0.0.1, on free ports.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CODECLOUD_BENCH_BINARY:-$ROOT/cloudcode}
PY=/usr/bin/python3
ME=${ME:-bench/$(basename "$0")}
CC_PID= PORT= URL= TMP= LABEL= BACKEND_ID=

# ---- what a script needs --------------------------------------------------------------------
need_tools() { # tool... (HINT: how to install them, for the message)
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$ME: $tool is not installed${HINT:+ ($HINT)}" >&2; exit 2; }
  done
  [ -x "$PY" ] || { echo "$ME: $PY is missing" >&2; exit 2; }
}

need_binary() { [ -x "$BIN" ] || make -C "$ROOT" cloudcode >/dev/null; }

need_images() { # image...
  local img
  for img in "$@"; do
    docker image inspect "$img" >/dev/null 2>&1 || { echo "$ME: image $img is not built (make images)" >&2; exit 2; }
  done
}

# ---- processes ----------------------------------------------------------------------------------
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_up() { # url pid [text]: until GET url answers (with `text` in its body, whatever the status)
  local _
  for _ in $(seq 1 200); do
    $PY -c '
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=1); ok, body = True, r.read()
except urllib.error.HTTPError as e:
    ok, body = False, e.read()
sys.exit(0 if (sys.argv[2] in body.decode() if sys.argv[2] else ok) else 1)' "$1" "${3:-}" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "$ME: the process behind $1 exited" >&2; return 1; }
    sleep 0.05
  done
  echo "$ME: $1 did not come up" >&2
  return 1
}

stop_pid() { # pid signal: signal it, wait up to 15 s (a backend's shutdown_grace_s is 10), then KILL
  [ -n "$1" ] || return 0
  kill -0 "$1" 2>/dev/null || return 0
  kill "-$2" "$1" 2>/dev/null || true
  local _
  for _ in $(seq 1 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

start_backend() { # policy [log name]: a backend with our id and no keys → CC_PID PORT URL
  PORT=$(free_port)
  URL=http://127.0.0.1:$PORT
  CODECLOUD_LISTEN=127.0.0.1:$PORT CODECLOUD_BACKEND_ID=$BACKEND_ID CODECLOUD_API_KEY= CODECLOUD_ADMIN_KEY= \
    "$BIN" "$1" 2>"$TMP/${2:-cloudcode}.log" &
  CC_PID=$!
}

remove_ours() { # every container left that this run started, by label only
  local ids
  ids=$( { docker ps -aq --filter "label=cloudcode-bench=$LABEL"
           docker ps -aq --filter "label=cloudcode.backend=$BACKEND_ID"; } 2>/dev/null | sort -u)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
}

# ---- set-up and clean-up ------------------------------------------------------------------------
bench_stop() { # the default; a script may define its own after sourcing this file
  stop_pid "$CC_PID" TERM   # SIGTERM removes the sessions' containers within shutdown_grace_s
  if command -v docker >/dev/null; then remove_ours; fi
}

bench_cleanup() {
  local rc=$? f
  trap - EXIT INT TERM
  bench_stop
  if [ "$rc" != 0 ]; then
    for f in "$TMP"/*.log; do
      [ -s "$f" ] && { echo "$ME: failed (exit $rc); $(basename "$f" .log)'s last log lines:" >&2; tail -n 5 "$f" >&2; }
    done
  fi
  rm -rf "$TMP"
  exit "$rc"
}

bench_setup() { # name
  TMP=$(mktemp -d "/tmp/cloudcode-bench-$1.XXXXXX")
  LABEL=$1-$$-$RANDOM
  BACKEND_ID=bench-$LABEL
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# ---- reporting ----------------------------------------------------------------------------------
machine() { echo "$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"; }

median() { # file column
  sort -g -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# wrk's latency percentiles come as "99%  1.23ms" (us, ms or s).
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 }; printf "%.4f", v }'; }
