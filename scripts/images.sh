#!/usr/bin/env bash
# Build CloudCode's sandbox images, offline (no registry): a Debian base made with debootstrap from
# the Debian mirror this machine's apt uses, then the language images from docker-services/.
#
#   ./cloudcode --print-images policies/backend.lua | scripts/images.sh
#
# stdin: lines "<language> <image>" (blank lines and #-comments ignored). Each image is built once,
# however many languages it serves, from docker-services/<name>/Dockerfile, <name> being the image's
# last path component without its tag (cloudcode/jvm:latest -> jvm), FROM cloudcode/base:bookworm,
# with the launcher copied into the build context as ./cloudcode-launcher.
#
# Environment:
#   CLOUDCODE_LANGS           build only the images of these languages (space- or comma-separated;
#                             `make images LANGS=java,go`)
#   LAUNCHER                  static launcher binary (default: launcher/cloudcode-launcher)
#   CLOUDCODE_MIRROR          Debian mirror URL (default: read from /etc/apt sources)
#   CLOUDCODE_CACHE           cache directory (default: /var/cache/cloudcode)
#   CLOUDCODE_REBUILD=1       rebuild every listed image even when its build hash matches
#   CLOUDCODE_NO_CACHE=1      ... and without Docker's layer cache (fresh apt-get install)
#   CLOUDCODE_REBUILD_BASE=1  re-import the base (from the cached debootstrap tree)
#   CLOUDCODE_FRESH_ROOTFS=1  discard the cached debootstrap tree first
#   CLOUDCODE_IMAGES_VERBOSE=1  stream the docker build output (default: to a log, tail on failure)
#
# Every image carries the label cloudcode.build-hash: a SHA-256 of its inputs (this recipe's
# version, every file of docker-services/<language>/, the launcher, the base image id). An image
# whose label matches is skipped, so a rerun with nothing changed takes about a second.
set -euo pipefail

# Bump when the way images are built changes, to force rebuilds.
RECIPE_VERSION=1
BASE_RECIPE_VERSION=1

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$REPO/docker-services
LAUNCHER=${LAUNCHER:-$REPO/launcher/cloudcode-launcher}
CACHE=${CLOUDCODE_CACHE:-/var/cache/cloudcode}
SUITE=bookworm
BASE_IMAGE=cloudcode/base:$SUITE
ROOTFS=$CACHE/$SUITE-minbase
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
export DOCKER_BUILDKIT=0 # the classic builder: no buildx plugin needed, honours --network host

say() { printf 'images: %s\n' "$*"; }
die() { printf 'images: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
sha() { sha256sum | cut -d' ' -f1; }

T0=$(now)

# ---------------------------------------------------------------- the list
declare -a LANGS=() IMAGES=()
declare -A WANTED=() MISSING=()
LANGS_WANTED=${CLOUDCODE_LANGS:-}
for l in ${LANGS_WANTED//,/ }; do WANTED[$l]=1 MISSING[$l]=1; done
while read -r lang image rest || [[ -n ${lang:-} ]]; do
  [[ -z ${lang:-} || $lang == \#* ]] && continue
  [[ -n ${image:-} && -z ${rest:-} ]] || die "bad line '$lang ${image:-} ${rest:-}': expected '<language> <image>'"
  [[ $lang =~ ^[A-Za-z0-9][A-Za-z0-9_.+-]*$ ]] || die "bad language name '$lang'"
  [[ $image =~ ^[a-z0-9][a-z0-9._/:-]*$ ]] || die "bad image name '$image' (language $lang)"
  ((${#WANTED[@]})) && [[ -z ${WANTED[$lang]:-} ]] && continue
  LANGS+=("$lang")
  IMAGES+=("$image")
  unset "MISSING[$lang]"
done
((${#MISSING[@]})) && die "CLOUDCODE_LANGS names languages the policy does not map: ${!MISSING[*]}"
((${#LANGS[@]})) || die "no '<language> <image>' lines on stdin (try: ./cloudcode --print-images policies/backend.lua | $0)"

service_of() { # image -> its docker-services/ directory name
  local name=${1##*/}
  printf '%s\n' "${name%%:*}"
}

# Check everything before building anything; each image once, with the languages it serves.
declare -a BUILD=()
declare -A SERVES=()
for i in "${!LANGS[@]}"; do
  lang=${LANGS[$i]} image=${IMAGES[$i]} svc=$(service_of "${IMAGES[$i]}")
  [[ -f $SERVICES/$svc/Dockerfile ]] ||
    die "no docker-services/$svc/Dockerfile for image '$image' of language '$lang' (see docs/images.md, 'Adding a language')"
  [[ -n ${SERVES[$image]:-} ]] || BUILD+=("$image")
  SERVES[$image]+="${SERVES[$image]:+ }$lang"
done
[[ -f $LAUNCHER && -x $LAUNCHER ]] || die "launcher binary '$LAUNCHER' missing or not executable (run make, or set LAUNCHER=)"
if command -v readelf >/dev/null && readelf -l "$LAUNCHER" 2>/dev/null | grep -q 'program interpreter'; then
  say "WARNING: $LAUNCHER is dynamically linked; the launcher should be static"
fi
timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  die "the Docker engine does not answer (run scripts/dockerd.sh)"

# ---------------------------------------------------------------- apt sources of this machine
# Prints "URI SUITE" for every enabled deb source of this machine (deb822 and one-line formats).
host_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^#/) continue
          split(line, kv, ":"); key = tolower(kv[1]); val = substr(line, length(kv[1]) + 2)
          gsub(/^[ \t]+|[ \t]+$/, "", val)
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "enabled") enabled = tolower(val)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
        for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print u[a], s[b]
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
  done
}

mirror_url() {
  if [[ -n ${CLOUDCODE_MIRROR:-} ]]; then printf '%s\n' "$CLOUDCODE_MIRROR"; return; fi
  host_sources | awk -v s="$SUITE" '$2 == s && $1 ~ /^https?:\/\// { print $1; exit }'
}

# The base image's apt sources: the URIs this machine uses for our suite and its -updates and
# -security companions, as one deb822 stanza per URI.
image_sources() {
  local mirror=$1
  {
    printf '%s %s\n' "$mirror" "$SUITE"
    host_sources | awk -v s="$SUITE" '$1 ~ /^https?:\/\// && ($2 == s "-updates" || $2 == s "-security" || $2 == s "/updates")'
  } | awk '!seen[$0]++ { if (!($1 in suites)) order[++n] = $1; suites[$1] = suites[$1] (suites[$1] == "" ? "" : " ") $2 }
      END { for (i = 1; i <= n; i++) {
              if (i > 1) print ""
              print "Types: deb"; print "URIs: " order[i]; print "Suites: " suites[order[i]]
              print "Components: main"; print "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" } }'
}

# ---------------------------------------------------------------- base image
configure_rootfs() { # rootfs sources-text
  local r=$1 sources=$2
  rm -f "$r/etc/apt/sources.list"
  mkdir -p "$r/etc/apt/sources.list.d" "$r/etc/apt/apt.conf.d" "$r/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' "$sources" >"$r/etc/apt/sources.list.d/debian.sources"
  cat >"$r/etc/apt/apt.conf.d/90cloudcode" <<'EOF'
// CloudCode image defaults: small, non-interactive installs; no package cache kept.
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Keep-Downloaded-Packages "false";
Acquire::Languages "none";
Dpkg::Use-Pty "0";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
  cat >"$r/etc/dpkg/dpkg.cfg.d/90cloudcode-nodoc" <<'EOF'
# CloudCode images carry no documentation, man pages or translations (licences are kept).
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
EOF
  # No daemon may start during image builds.
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
  # The engine provides these at run time; keep the build host's out of the image.
  : >"$r/etc/resolv.conf"
  : >"$r/etc/hostname"
  : >"$r/etc/machine-id" 2>/dev/null || true
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
    "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/var/log/*.log \
    "$r"/var/log/apt/* "$r"/tmp/* "$r"/var/tmp/*
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  # Defense in depth: no setuid/setgid binaries at all.
  find "$r" -xdev -perm /6000 -type f -exec chmod a-s {} +
}

build_base() {
  local t mirror sources base_hash have
  mirror=$(mirror_url)
  [[ -n $mirror ]] || die "no Debian mirror for '$SUITE' found in /etc/apt/sources.list{,.d/} (set CLOUDCODE_MIRROR=)"
  sources=$(image_sources "$mirror")
  base_hash=$(printf 'base %s\n%s\n%s\n' "$BASE_RECIPE_VERSION" "$SUITE" "$sources" | sha)
  have=$(docker image inspect -f '{{index .Config.Labels "cloudcode.build-hash"}}' "$BASE_IMAGE" 2>/dev/null || true)
  if [[ $have == "$base_hash" && ${CLOUDCODE_REBUILD_BASE:-0} != 1 ]]; then
    say "$BASE_IMAGE: up to date, skipped"
    return
  fi
  [[ -n $have ]] && say "$BASE_IMAGE: exists but its recipe or apt sources changed; re-importing"

  mkdir -p "$CACHE"
  if [[ ${CLOUDCODE_FRESH_ROOTFS:-0} == 1 ]]; then
    say "discarding the cached tree $ROOTFS"
    rm -rf "$ROOTFS" "$ROOTFS.ok"
  fi
  if [[ -f $ROOTFS.ok && -d $ROOTFS ]]; then
    say "$BASE_IMAGE: using the cached debootstrap tree $ROOTFS"
  else
    command -v debootstrap >/dev/null || die "debootstrap not installed (run scripts/deps.sh)"
    rm -rf "$ROOTFS" "$ROOTFS.ok" "$ROOTFS.tmp"
    mkdir -p "$CACHE/debs"
    t=$(now)
    say "$BASE_IMAGE: debootstrap --variant=minbase $SUITE from $mirror (log: $CACHE/debootstrap.log)"
    local keyring=()
    [[ -r $KEYRING ]] && keyring=(--keyring="$KEYRING")
    if ! debootstrap --variant=minbase "${keyring[@]}" --cache-dir="$CACHE/debs" \
      "$SUITE" "$ROOTFS.tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
      tail -n 30 "$CACHE/debootstrap.log" >&2
      die "debootstrap failed (full log: $CACHE/debootstrap.log)"
    fi
    mv "$ROOTFS.tmp" "$ROOTFS"
    touch "$ROOTFS.ok"
    say "$BASE_IMAGE: debootstrap done in $(since "$t")"
  fi

  t=$(now)
  configure_rootfs "$ROOTFS" "$sources"
  tar --numeric-owner --xattrs -C "$ROOTFS" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' -c . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["/bin/bash"]' \
      --change 'LABEL cloudcode.image=1' \
      --change "LABEL cloudcode.build-hash=$base_hash" \
      --message "CloudCode base: debootstrap --variant=minbase $SUITE" \
      - "$BASE_IMAGE" >/dev/null
  say "$BASE_IMAGE: imported in $(since "$t")"
}

# ---------------------------------------------------------------- language images
input_hash() { # service -> hash of everything the image is built from
  local svc=$1 base_id=$2
  {
    printf 'recipe %s\nbase %s\n' "$RECIPE_VERSION" "$base_id"
    printf 'launcher %s\n' "$(sha <"$LAUNCHER")"
    (cd "$SERVICES/$svc" && find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z |
      while IFS= read -r -d '' f; do
        if [[ -L $f ]]; then printf 'link %s %s\n' "$f" "$(readlink "$f")"
        else printf 'file %s %s %s\n' "$f" "$(stat -c %a "$f")" "$(sha <"$f")"; fi
      done)
  } | sha
}

build_image() { # image base-id
  local image=$1 base_id=$2 svc hash have ctx t log rc
  local what="$image (${SERVES[$image]})"
  t=$(now)
  svc=$(service_of "$image")
  hash=$(input_hash "$svc" "$base_id")
  have=$(docker image inspect -f '{{index .Config.Labels "cloudcode.build-hash"}}' "$image" 2>/dev/null || true)
  if [[ $have == "$hash" && ${CLOUDCODE_REBUILD:-0} != 1 && ${CLOUDCODE_NO_CACHE:-0} != 1 ]]; then
    say "$what: up to date, skipped"
    return
  fi
  ctx=$(mktemp -d /tmp/cloudcode-image.XXXXXX)
  cp -a "$SERVICES/$svc/." "$ctx/"
  install -m 0755 "$LAUNCHER" "$ctx/cloudcode-launcher"
  mkdir -p "$CACHE/logs"
  log=$CACHE/logs/$svc.log
  say "$what: building (log: $log)"
  local cmd=(docker build --network host --force-rm)
  [[ ${CLOUDCODE_NO_CACHE:-0} == 1 ]] && cmd+=(--no-cache)
  cmd+=(
    --label cloudcode.image=1 --label "cloudcode.service=$svc" --label "cloudcode.build-hash=$hash"
    -t "$image" "$ctx")
  rc=0
  if [[ ${CLOUDCODE_IMAGES_VERBOSE:-0} == 1 ]]; then
    "${cmd[@]}" 2>&1 | tee "$log" || rc=$?
  else
    "${cmd[@]}" >"$log" 2>&1 || rc=$?
  fi
  rm -rf "$ctx"
  if ((rc)); then
    tail -n 40 "$log" >&2
    die "building $what failed (full log: $log)"
  fi
  say "$what: built in $(since "$t"), $(docker image inspect -f '{{.Size}}' "$image" |
    awk '{ printf "%.0f MB", $1 / 1e6 }')"
}

# One build at a time on this machine (parallel test runs share the engine and the cache).
mkdir -p "$CACHE"
exec 9>"$CACHE/images.lock"
if ! flock -n 9; then
  say "another scripts/images.sh is running; waiting for it"
  flock 9
fi

build_base
BASE_ID=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
for image in "${BUILD[@]}"; do
  build_image "$image" "$BASE_ID"
done

# Images replaced by a rebuild are left untagged: remove them (ones still used by a container stay).
docker image prune -f --filter label=cloudcode.image=1 >/dev/null 2>&1 || true
say "done in $(since "$T0")"
