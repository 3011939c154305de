#!/usr/bin/env bash
# Make sure a Docker engine answers on the default socket.
#
# - An engine already answers: do nothing (the recorded files are left as they are).
# - Otherwise start `dockerd --bridge=none --iptables=false --ip-forward=false` in the background
#   (own session, log in /var/log/cloudcode-dockerd.log), record its pid in
#   /var/lib/cloudcode/dockerd.pid and its command line (one line, words separated by single spaces,
#   no quoting needed) in /var/lib/cloudcode/dockerd.cmd, and wait until it answers (60 s).
# The engine gets no bridge and no iptables rules; this script never creates Docker networks.
set -euo pipefail

STATE_DIR=/var/lib/cloudcode
PID_FILE=$STATE_DIR/dockerd.pid
CMD_FILE=$STATE_DIR/dockerd.cmd
LOG_FILE=/var/log/cloudcode-dockerd.log
TIMEOUT_S=${CLOUDCODE_DOCKERD_TIMEOUT:-60}
CMD=(dockerd --bridge=none --iptables=false --ip-forward=false)

say() { printf 'dockerd: %s\n' "$*"; }

server_version() {
  timeout 5 docker version --format '{{.Server.Version}}' 2>/dev/null
}

if v=$(server_version) && [[ -n $v ]]; then
  say "engine answers (server $v); nothing to do"
  exit 0
fi

command -v dockerd >/dev/null || { say "dockerd not installed (run scripts/deps.sh)" >&2; exit 1; }
command -v docker >/dev/null || { say "docker client not installed (run scripts/deps.sh)" >&2; exit 1; }
((EUID == 0)) || { say "the engine does not answer and starting one needs root" >&2; exit 1; }

is_dockerd() { # pid -> true when it is a live dockerd process
  local argv0
  [[ ${1:-} =~ ^[0-9]+$ && -r /proc/$1/cmdline ]] || return 1
  argv0=$(tr '\0' '\n' <"/proc/$1/cmdline" | head -n1) || true
  [[ ${argv0##*/} == dockerd ]]
}

wait_for() { # pid -> waits for the engine to answer while pid lives
  local pid=$1 start=$SECONDS
  while ((SECONDS - start < TIMEOUT_S)); do
    if v=$(server_version) && [[ -n $v ]]; then
      say "engine answers (server $v, pid $pid) after $((SECONDS - start)) s"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "dockerd (pid $pid) exited before answering; last lines of $LOG_FILE:" >&2
      tail -n 20 "$LOG_FILE" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  say "engine did not answer within ${TIMEOUT_S} s (pid $pid); last lines of $LOG_FILE:" >&2
  tail -n 20 "$LOG_FILE" >&2 || true
  return 1
}

# One starter at a time; whoever waited for the lock re-checks first.
mkdir -p "$STATE_DIR"
exec 9>"$STATE_DIR/dockerd.lock"
flock 9
if v=$(server_version) && [[ -n $v ]]; then
  say "engine answers (server $v); nothing to do"
  exit 0
fi

# A dockerd that is still starting (ours, or anyone's holding /var/run/docker.pid): wait for it
# rather than start a second one that would fail on the pid file.
for f in "$PID_FILE" /var/run/docker.pid; do
  pid=$(cat "$f" 2>/dev/null || true)
  if is_dockerd "$pid"; then
    say "dockerd pid $pid (from $f) is running but not answering yet; waiting"
    wait_for "$pid"
    exit
  fi
done

mkdir -p "$STATE_DIR" "$(dirname "$LOG_FILE")"
say "starting: ${CMD[*]} (log: $LOG_FILE)"
printf '\n=== %s scripts/dockerd.sh: %s\n' "$(date -u +%FT%TZ)" "${CMD[*]}" >>"$LOG_FILE"
setsid "${CMD[@]}" </dev/null >>"$LOG_FILE" 2>&1 9>&- &
pid=$!
printf '%s\n' "$pid" >"$PID_FILE"
printf '%s\n' "${CMD[*]}" >"$CMD_FILE"
wait_for "$pid"
