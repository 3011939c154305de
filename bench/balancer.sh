#!/usr/bin/env bash
# bench/balancer.sh — what the balancer costs: direct to a backend, through our balancer, and
# through HAProxy in front of the same backend, all in one run.
#
#   bash bench/balancer.sh                       # defaults below
#   ROUNDS=5 DURATION=20s ECHO_N=300 bash bench/balancer.sh
#   PARTS=languages bash bench/balancer.sh       # or PARTS=echo
#
# (1) languages: GET /v1/languages with wrk --latency, -t$THREADS -c$CONNS -d$DURATION
#     (throughput, p50, p99 under load), then -t1 -c1 -d$LAT_DURATION (one request at a
#     time: the latency each proxy adds, unloaded).  The three targets are measured
#     alternately, ROUNDS times each, after a warm-up of each, and the medians compared (a
#     small VM is noisy).  The CPU time each proxy process (and Redis) used during the loaded
#     runs is read from /proc and printed per request.
# (2) echo: the long-poll echo round trip on ONE open python echo session
#     (`while True: print(input())`): POST input, then GET output?cursor=N&wait_ms=5000 until
#     the line comes back; ECHO_N sequential round trips per target and round, ECHO_ROUNDS
#     rounds alternating (bench/balancer_client.py).  The session is created through the
#     balancer, so it is in Redis; with one backend, HAProxy's only server holds it too.
# Then, per proxy: its added median latency over direct and its throughput ratio to direct,
# against the targets (balancer's added median <= HAProxy's + 0.1 ms; balancer's throughput
# ratio >= HAProxy's).
#
# Everything listens on 127.0.0.1 only, on free ports, and is stopped on every exit path:
#   redis-server  --save '' --appendonly no (the balancer's state)
#   backend       ./cloudcode policies/backend.lua, its own backend id (container label)
#   balancer      ./cloudcode policies/balancer.lua, CODECLOUD_BACKENDS = that backend
#   haproxy       Debian's haproxy, foreground, one process and one thread, mode http,
#                 http-reuse safe, the same backend as its only server (bench/balancer_haproxy.cfg)
# Both proxies log each request to a file (ours its JSON line on stderr, HAProxy its httplog
# line on stderr), as in production.  The echo session's container is removed at the end.
# Needs: wrk, haproxy, redis-server, docker + the python image (`make images`) for (2),
# /usr/bin/python3, ./cloudcode (`make all`).
set -euo pipefail

THREADS=${THREADS:-1}
CONNS=${CONNS:-50}
DURATION=${DURATION:-10s}
LAT_DURATION=${LAT_DURATION:-5s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
ECHO_N=${ECHO_N:-200}
ECHO_ROUNDS=${ECHO_ROUNDS:-3}
ECHO_WARMUP=${ECHO_WARMUP:-10}
PARTS=${PARTS:-languages echo}
ME=bench/balancer.sh
. "$(dirname "$0")/lib.sh"

HINT="apt-get install wrk haproxy redis-server curl" need_tools wrk haproxy redis-server curl
need_binary
case " $PARTS " in *" echo "*)
  HINT="needed for the echo part" need_tools docker
  need_images cloudcode/python
esac

REDIS_PID= BALANCER_PID= HAPROXY_PID=
bench_stop() {
  stop_pid "$HAPROXY_PID" USR1        # soft stop
  stop_pid "$BALANCER_PID" TERM
  stop_pid "$CC_PID" TERM             # removes the session's container (within shutdown_grace_s)
  stop_pid "$REDIS_PID" TERM
  if command -v docker >/dev/null; then remove_ours; fi
}
bench_setup balancer

# ---- start everything ---------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!

start_backend "$ROOT/policies/backend.lua" backend
BACKEND_PID=$CC_PID BACKEND_PORT=$PORT BACKEND=$URL

BALANCER_PORT=$(free_port)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
  sleep 0.05
done
CODECLOUD_LISTEN=127.0.0.1:$BALANCER_PORT CODECLOUD_REDIS=127.0.0.1:$REDIS_PORT CODECLOUD_BACKENDS=$BACKEND \
  CODECLOUD_API_KEY= CODECLOUD_ADMIN_KEY= "$BIN" "$ROOT/policies/balancer.lua" 2>"$TMP/balancer.log" &
BALANCER_PID=$!
BALANCER=http://127.0.0.1:$BALANCER_PORT

HAPROXY_PORT=$(free_port)
sed -e "s/@LISTEN@/127.0.0.1:$HAPROXY_PORT/" -e "s/@BACKEND@/127.0.0.1:$BACKEND_PORT/" \
  "$ROOT/bench/balancer_haproxy.cfg" >"$TMP/haproxy.cfg"
haproxy -c -q -f "$TMP/haproxy.cfg" >/dev/null
haproxy -db -f "$TMP/haproxy.cfg" 2>"$TMP/haproxy.log" &
HAPROXY_PID=$!
HAPROXY=http://127.0.0.1:$HAPROXY_PORT

wait_up "$BACKEND/healthz" "$BACKEND_PID" '"status"'
# the balancer is ready when Redis is up and its first health check found the backend
wait_up "$BALANCER/healthz" "$BALANCER_PID" '"status":"ok"'
wait_up "$HAPROXY/healthz" "$HAPROXY_PID" '"status"'
for u in "$BACKEND" "$BALANCER" "$HAPROXY"; do
  curl -sf "$u/v1/languages" | grep -q '"languages"' || { echo "$ME: $u/v1/languages failed" >&2; exit 1; }
done

TARGETS=(direct balancer haproxy)
declare -A TARGET_URL=([direct]=$BACKEND [balancer]=$BALANCER [haproxy]=$HAPROXY)
declare -A TARGET_PID=([direct]=$BACKEND_PID [balancer]=$BALANCER_PID [haproxy]=$HAPROXY_PID)

echo "machine: $(machine); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "haproxy: $(haproxy -v | awk 'NR == 1 { print $3 }'), one process, one thread, http-reuse safe"

# ---- helpers ------------------------------------------------------------------------------------
cpu_ticks() { # pid → utime + stime in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
TICK=$(getconf CLK_TCK)

wrk_run() { # name kind(load|lat) round → appends "rps p50 p99 [cpu_us/req redis_us/req]" to $TMP/name.kind
  local name=$1 kind=$2 round=$3 out="$TMP/$1.$2.$3.wrk" c0 r0 c1 r1
  local args=(-t"$THREADS" -c"$CONNS" -d"$DURATION")
  [ "$kind" = lat ] && args=(-t1 -c1 -d"$LAT_DURATION")
  c0=$(cpu_ticks "${TARGET_PID[$name]}"); r0=$(cpu_ticks "$REDIS_PID")
  wrk "${args[@]}" --latency "${TARGET_URL[$name]}/v1/languages" >"$out"
  c1=$(cpu_ticks "${TARGET_PID[$name]}"); r1=$(cpu_ticks "$REDIS_PID")
  local rps p50 p99 n errors cpu redis
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  n=$(awk '/requests in/ { print $1 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_ms)
  p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_ms)
  errors=$(awk '/Non-2xx|Socket errors/ { print }' "$out" | tr '\n' ' ')
  cpu=$(awk -v a="$c0" -v b="$c1" -v n="$n" -v t="$TICK" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')
  redis=$(awk -v a="$r0" -v b="$r1" -v n="$n" -v t="$TICK" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')
  printf '  round %d  %-3s %-9s %9.0f req/s   p50 %7.3f ms   p99 %7.3f ms   cpu %6.1f us/req (redis %4.1f)  %s\n' \
    "$round" "$kind" "$name" "$rps" "$p50" "$p99" "$cpu" "$redis" "$errors" >&2
  echo "$rps $p50 $p99 $cpu $redis" >>"$TMP/$name.$kind"
}

# ---- (1) GET /v1/languages ----------------------------------------------------------------------
case " $PARTS " in *" languages "*)
  echo
  echo "(1) GET /v1/languages: wrk -t$THREADS -c$CONNS -d$DURATION --latency (load), then -t1 -c1 -d$LAT_DURATION (lat);"
  echo "    $ROUNDS rounds alternating, after a $WARMUP warm-up of each; cpu = the process's CPU time per request"
  for t in "${TARGETS[@]}"; do wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${TARGET_URL[$t]}/v1/languages" >/dev/null; done
  for round in $(seq 1 "$ROUNDS"); do
    for t in "${TARGETS[@]}"; do wrk_run "$t" load "$round"; done
    for t in "${TARGETS[@]}"; do wrk_run "$t" lat "$round"; done
  done 2>&1
  echo "  median of $ROUNDS:"
  for t in "${TARGETS[@]}"; do
    printf '  %-9s load %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.1f us/req | c1: %7.0f req/s  p50 %7.3f ms  p99 %7.3f ms\n' "$t" \
      "$(median "$TMP/$t.load" 1)" "$(median "$TMP/$t.load" 2)" "$(median "$TMP/$t.load" 3)" "$(median "$TMP/$t.load" 4)" \
      "$(median "$TMP/$t.lat" 1)" "$(median "$TMP/$t.lat" 2)" "$(median "$TMP/$t.lat" 3)"
  done
  d_rps=$(median "$TMP/direct.load" 1); d_p50=$(median "$TMP/direct.lat" 2); d_p50l=$(median "$TMP/direct.load" 2)
  for t in balancer haproxy; do
    awk -v name="$t" -v rps="$(median "$TMP/$t.load" 1)" -v drps="$d_rps" \
        -v p="$(median "$TMP/$t.lat" 2)" -v dp="$d_p50" -v pl="$(median "$TMP/$t.load" 2)" -v dpl="$d_p50l" \
      'BEGIN { printf "  %-9s added p50 %+7.3f ms unloaded (c1), %+7.3f ms loaded (c%s); throughput %.2f x direct\n",
               name, p - dp, pl - dpl, "'"$CONNS"'", rps / drps }'
  done
  awk -v bp="$(median "$TMP/balancer.lat" 2)" -v hp="$(median "$TMP/haproxy.lat" 2)" \
      -v br="$(median "$TMP/balancer.load" 1)" -v hr="$(median "$TMP/haproxy.load" 1)" -v dr="$d_rps" \
    'BEGIN { printf "  target: balancer added p50 <= haproxy + 0.100 ms: %s (%+.3f ms); balancer ratio >= haproxy ratio: %s (%.2f vs %.2f)\n",
             (bp <= hp + 0.1) ? "MET" : "NOT MET", bp - hp, (br >= hr) ? "MET" : "NOT MET", br / dr, hr / dr }'
esac

# ---- (2) long-poll echo round trip ----------------------------------------------------------------
case " $PARTS " in *" echo "*)
  echo
  echo "(2) long-poll echo round trip (POST input, GET output?wait_ms=5000 until the line is back) on one python"
  echo "    echo session: $ECHO_N sequential round trips per target and round, $ECHO_ROUNDS rounds alternating, $ECHO_WARMUP warm-up each"
  SID=$($PY "$ROOT/bench/balancer_client.py" create "$BALANCER")
  $PY "$ROOT/bench/balancer_client.py" echo "$SID" "$ECHO_N" "$ECHO_ROUNDS" "$ECHO_WARMUP" \
    direct="$BACKEND" balancer="$BALANCER" haproxy="$HAPROXY" >"$TMP/echo.out"
  $PY "$ROOT/bench/balancer_client.py" delete "$BALANCER" "$SID" || true
  while read -r name rps p50 p99 n; do
    printf '  %-9s %8.1f round trips/s   p50 %7.3f ms   p99 %7.3f ms   (%d samples)\n' "$name" "$rps" "$p50" "$p99" "$n"
  done <"$TMP/echo.out"
  read -r _ d_rps d_p50 _ _ < <(grep '^direct ' "$TMP/echo.out")
  for t in balancer haproxy; do
    read -r _ rps p50 _ _ < <(grep "^$t " "$TMP/echo.out")
    awk -v name="$t" -v rps="$rps" -v p="$p50" -v drps="$d_rps" -v dp="$d_p50" \
      'BEGIN { printf "  %-9s added p50 %+7.3f ms per round trip (2 requests); throughput %.2f x direct\n", name, p - dp, rps / drps }'
  done
  read -r _ b_rps b_p50 _ _ < <(grep '^balancer ' "$TMP/echo.out")
  read -r _ h_rps h_p50 _ _ < <(grep '^haproxy ' "$TMP/echo.out")
  awk -v bp="$b_p50" -v hp="$h_p50" -v br="$b_rps" -v hr="$h_rps" \
    'BEGIN { printf "  target: balancer added p50 <= haproxy + 0.100 ms: %s (%+.3f ms); balancer ratio >= haproxy ratio: %s\n",
             (bp <= hp + 0.1) ? "MET" : "NOT MET", bp - hp, (br >= hr) ? "MET" : "NOT MET" }'
esac
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
