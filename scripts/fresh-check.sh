#!/usr/bin/env bash
# The fresh-machine check: a bare Debian 12 container (the base image, cloudcode/base:bookworm, which
# has apt sources and nothing else) gets this work tree and only `make`, then runs
#
#   make deps all
#
# in ONE invocation, as a new user on a fresh machine would. It must build ./cloudcode and the
# launcher: proves that nothing in the Makefile needs the packages before `deps` installed them.
# Then `make unit` runs there too: the container has no Docker engine (no socket), which proves
# the unit layer needs none.
# Only the build group of scripts/deps.sh is installed in the container (CLOUDCODE_DEPS_GROUPS):
# no engine and no test packages, which this check does not use. The container uses the host's
# network (Debian's mirror); it is removed at the end. Takes minutes (it downloads and installs
# the build packages); the time is printed.
#
# Environment: CLOUDCODE_FRESH_IMAGE (default cloudcode/base:bookworm), CLOUDCODE_FRESH_TIMEOUT
# (seconds, default 1800).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${CLOUDCODE_FRESH_IMAGE:-cloudcode/base:bookworm}
NAME=cloudcode-fresh-check-$$
say() { printf 'fresh-check: %s\n' "$*"; }

docker image inspect "$IMAGE" >/dev/null 2>&1 || { say "no image $IMAGE (make images builds it)" >&2; exit 1; }
cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The work tree as it is (tracked and untracked files, not ignored ones, no build output).
say "copying $(git -C "$REPO" ls-files --cached --others --exclude-standard | wc -l) files of $REPO into $IMAGE"
START=$SECONDS
git -C "$REPO" ls-files -z --cached --others --exclude-standard |
  tar -C "$REPO" -c --null -T - -f - |
  timeout "${CLOUDCODE_FRESH_TIMEOUT:-1800}" docker run -i --name "$NAME" --network host "$IMAGE" bash -c '
    set -euo pipefail
    mkdir /src && cd /src && tar -xf -
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends make >/dev/null </dev/null
    ! command -v gcc >/dev/null || { echo "fresh-check: gcc already in the image: not a fresh machine" >&2; exit 1; }
    CLOUDCODE_DEPS_GROUPS=build make deps all </dev/null
    ./cloudcode --version >/dev/null 2>&1 || test -x ./cloudcode
    test -x launcher/cloudcode-launcher
    ! test -e /var/run/docker.sock || { echo "fresh-check: an engine socket in the container" >&2; exit 1; }
    make unit </dev/null >/tmp/unit.log 2>&1 || { tail -40 /tmp/unit.log >&2; exit 1; }
  '
say "passed: make deps all built ./cloudcode and the launcher, and make unit passed with no engine, on a bare machine in $((SECONDS - START)) s"
