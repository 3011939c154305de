#!/usr/bin/env bash
# bench/http.sh — GET /healthz requests/s and p99 latency: cloudcode against nginx.
#
#   bench/http.sh                   # defaults: -t1 -c50 -d10s, 3 rounds, after a 2 s warm-up
#   THREADS=2 CONNS=100 DURATION=20s ROUNDS=5 bench/http.sh
#
# The two servers are measured alternately, ROUNDS times each, and the medians compared
# (a small VM is noisy: one pair of runs can differ by 30 %).
#
# Both servers run on 127.0.0.1 only, on free ports, in the same run, with the same wrk
# settings.  nginx (Debian nginx-light) runs ONE worker with its own temporary prefix and
# config, serving a 2-byte static file; it is stopped at the end.  cloudcode runs the
# default backend policy, its log (one JSON line per request) going to a file, as in
# production; nginx writes an access log to a file too, so both do the same work per request.
# Needs: wrk, nginx, ./cloudcode (built with `make cloudcode` if missing).
set -euo pipefail

THREADS=${THREADS:-1}
CONNS=${CONNS:-50}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CODECLOUD_BENCH_BINARY:-$ROOT/cloudcode}

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench/http.sh: $tool is not installed (apt-get install wrk nginx-light)" >&2; exit 2; }
done
[ -x "$BIN" ] || make -C "$ROOT" cloudcode >/dev/null

TMP=$(mktemp -d /tmp/cloudcode-bench.XXXXXX)
CC_PID= NGINX_PID=
cleanup() {
  [ -n "$CC_PID" ] && kill -TERM "$CC_PID" 2>/dev/null && wait "$CC_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  # bind port 0 on loopback and print what the kernel gave
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_up() { # url
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" 2>/dev/null && return 0
    # without curl: bash's /dev/tcp
    if ! command -v curl >/dev/null; then
      (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null && return 0
    fi
    sleep 0.05
  done
  echo "bench/http.sh: $1 did not come up" >&2
  return 1
}

# ---- cloudcode ---------------------------------------------------------------------------
CC_PORT=$(free_port)
CODECLOUD_LISTEN=127.0.0.1:$CC_PORT "$BIN" "$ROOT/policies/backend.lua" 2>"$TMP/cloudcode.log" &
CC_PID=$!

# ---- nginx, one worker, a 2-byte file ----------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx/www" "$TMP/nginx/logs" "$TMP/nginx/tmp"
printf 'ok' >"$TMP/nginx/www/healthz"
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat >"$TMP/nginx/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log $TMP/nginx/logs/access.log;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /healthz { root $TMP/nginx/www; default_type application/json; }
  }
}
EOF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
NGINX_PID=$!

wait_up "http://127.0.0.1:$CC_PORT/healthz"
wait_up "http://127.0.0.1:$NGINX_PORT/healthz"

# ---- measure -----------------------------------------------------------------------------
# wrk's latency percentiles come as "99%  1.23ms" (us, ms or s).
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 }; printf "%.3f", v }'; }

bench() { # name url round → "rps p99_ms"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2" >"$TMP/$1.$3.wrk"
  local rps p99 errors
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/$1.$3.wrk")
  p99=$(awk '$1 == "99%" { print $2 }' "$TMP/$1.$3.wrk" | to_ms)
  errors=$(awk '/Non-2xx|Socket errors/ { print }' "$TMP/$1.$3.wrk" | tr '\n' ' ')
  printf '  round %d  %-10s %10.0f req/s   p99 %8.3f ms   %s\n' "$3" "$1" "$rps" "$p99" "$errors" >&2
  echo "$rps $p99" >>"$TMP/$1.results"
}

median() { # file column
  sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency, GET /healthz, $ROUNDS rounds alternating (after a $WARMUP warm-up each)"
CC_URL="http://127.0.0.1:$CC_PORT/healthz"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/healthz"
wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$CC_URL" >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$NGINX_URL" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  bench cloudcode "$CC_URL" "$round"
  bench nginx "$NGINX_URL" "$round"
done 2>&1
cc_rps=$(median "$TMP/cloudcode.results" 1); cc_p99=$(median "$TMP/cloudcode.results" 2)
ng_rps=$(median "$TMP/nginx.results" 1); ng_p99=$(median "$TMP/nginx.results" 2)
printf 'median     %-10s %10.0f req/s   p99 %8.3f ms\n' cloudcode "$cc_rps" "$cc_p99"
printf 'median     %-10s %10.0f req/s   p99 %8.3f ms\n' nginx "$ng_rps" "$ng_p99"
awk -v a="$cc_rps" -v b="$ng_rps" -v pa="$cc_p99" -v pb="$ng_p99" \
  'BEGIN { printf "ratio cloudcode/nginx: %.2f (req/s; target >= 0.80), p99 %.2fx\n", a / b, pa / pb }'
