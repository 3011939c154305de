#!/usr/bin/env bash
# Install the Debian packages that building CloudCode, its images and its tests need.
# Idempotent: when everything is installed it only runs one dpkg-query and exits (< 1 s).
# Non-interactive (no stdin, CI=true). Must run as root when something is missing.
#
# Extra packages: CLOUDCODE_EXTRA_PACKAGES="pkg1 pkg2" scripts/deps.sh
# Only some groups: CLOUDCODE_DEPS_GROUPS="build" scripts/deps.sh (groups: build engine test)
# Services installed here (redis-server, nginx, haproxy, docker.io) are NOT started by the package
# install: tests start their own instances (and scripts/dockerd.sh the engine, with our flags).
# Set CLOUDCODE_DEPS_START_SERVICES=1 to let the packages start them as Debian normally does.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential make pkg-config
  liblua5.4-dev libuv1-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev libwslay-dev
  node-llhttp lua-cjson lua-cjson-dev libssl-dev libarchive-dev
)
ENGINE_PACKAGES=(docker.io debootstrap ca-certificates)
TEST_PACKAGES=(
  lua5.4 redis-server python3-pytest wrk nginx-light haproxy valgrind curl
  # the seed's own Flask balancer (tests/e2e/seed_balancer) and Piston's clients (node, npm)
  python3-flask python3-redis nodejs
)
# A machine may have Node.js from elsewhere (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm): Debian's npm only when no npm is there.
command -v npm >/dev/null || TEST_PACKAGES+=(npm)

# CLOUDCODE_DEPS_GROUPS picks groups (default all three): the fresh-machine check
# (scripts/fresh-check.sh) builds in a container that needs no engine and runs no tests.
PACKAGES=()
for group in ${CLOUDCODE_DEPS_GROUPS:-build engine test}; do
  case $group in
    build) PACKAGES+=("${BUILD_PACKAGES[@]}") ;;
    engine) PACKAGES+=("${ENGINE_PACKAGES[@]}") ;;
    test) PACKAGES+=("${TEST_PACKAGES[@]}") ;;
    *) printf 'deps: unknown group %s in CLOUDCODE_DEPS_GROUPS (build, engine, test)\n' "$group" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC2206
PACKAGES+=(${CLOUDCODE_EXTRA_PACKAGES:-})

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1   # never let needrestart restart services (e.g. the engine) mid-install
say() { printf 'deps: %s\n' "$*"; }

missing() {
  # dpkg-query prints "ii " for an installed package; anything else (or an unknown name) is missing.
  local p status
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == ii* ]] || printf '%s\n' "$p"
  done
}

mapfile -t MISSING < <(missing)
if ((${#MISSING[@]} == 0)); then
  say "all ${#PACKAGES[@]} packages installed, nothing to do"
  exit 0
fi
say "missing: ${MISSING[*]}"

if ((EUID != 0)); then
  say "must run as root to install packages" >&2
  exit 1
fi

# apt-get update only when needed: a missing package has no candidate in the current lists (fresh
# machine, or lists removed), or the lists are older than a day (their .debs may be gone).
need_update=0
lists_fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n1)
[[ -n $lists_fresh ]] || need_update=1
if ((need_update == 0)); then
  for p in "${MISSING[@]}"; do
    cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -z $cand || $cand == "(none)" ]]; then need_update=1; break; fi
  done
fi
if ((need_update)); then
  say "apt-get update"
  apt-get update -q
fi

# Check every missing name exists before installing, so an error names the package.
for p in "${MISSING[@]}"; do
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [[ -z $cand || $cand == "(none)" ]]; then
    say "package '$p' not found in the apt sources (apt-cache policy $p)" >&2
    exit 1
  fi
done

# Keep package installs from starting daemons (Debian's policy-rc.d convention), unless asked.
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() { if ((made_policy)); then rm -f "$policy"; fi; }
trap cleanup EXIT
if [[ ${CLOUDCODE_DEPS_START_SERVICES:-0} != 1 && ! -e $policy ]]; then
  printf '#!/bin/sh\n# temporary, from CloudCode scripts/deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi

install() {
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${MISSING[@]}" </dev/null
}
say "apt-get install -y --no-install-recommends ${MISSING[*]}"
if ! install; then
  # Stale lists (a .deb gone from the mirror): refresh once and retry.
  say "install failed; apt-get update and retry"
  apt-get update -q
  install
fi

mapfile -t STILL < <(missing)
if ((${#STILL[@]})); then
  say "still missing after install: ${STILL[*]}" >&2
  exit 1
fi
say "installed ${#MISSING[@]} package(s)"
