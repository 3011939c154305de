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
ME=bench/http.sh
. "$(dirname "$0")/lib.sh"

HINT="apt-get install wrk nginx-light" need_tools wrk nginx
need_binary

NGINX_PID=
bench_stop() {
  stop_pid "$CC_PID" TERM
  stop_pid "$NGINX_PID" QUIT
  if command -v docker >/dev/null; then remove_ours; fi   # its warm pool, were SIGTERM not enough
}
bench_setup http

# ---- cloudcode ---------------------------------------------------------------------------
start_backend "$ROOT/policies/backend.lua"
CC_PORT=$PORT

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

wait_up "http://127.0.0.1:$CC_PORT/healthz" "$CC_PID"
wait_up "http://127.0.0.1:$NGINX_PORT/healthz" "$NGINX_PID"

# ---- measure -----------------------------------------------------------------------------
bench() { # name url round → "rps p99_ms"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2" >"$TMP/$1.$3.wrk"
  local rps p99 errors
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/$1.$3.wrk")
  p99=$(awk '$1 == "99%" { print $2 }' "$TMP/$1.$3.wrk" | to_ms)
  errors=$(awk '/Non-2xx|Socket errors/ { print }' "$TMP/$1.$3.wrk" | tr '\n' ' ')
  printf '  round %d  %-10s %10.0f req/s   p99 %8.3f ms   %s\n' "$3" "$1" "$rps" "$p99" "$errors" >&2
  echo "$rps $p99" >>"$TMP/$1.results"
}

echo "machine: $(machine)"
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
