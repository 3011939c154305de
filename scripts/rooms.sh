#!/bin/sh
# scripts/rooms.sh — the include graph between core/'s rooms (docs/architecture.md), one
# "from to" line per edge, and a check that it has no cycle (tsort fails on a loop).
# A room is a folder under core/ (core/main.c is the room "main"); a file includes another
# room's header by its path under core/, so the edges are read from the #include lines.
set -eu
cd "$(dirname "$0")/../core"
edges=$(find . -name '*.[ch]' | sort | while read -r f; do
    from=$(dirname "${f#./}"); [ "$from" = . ] && from=main
    sed -n 's/^#include "\([^"]*\)\/[^/"]*\.h".*/\1/p' "$f" | while read -r to; do
        [ "$to" = launcher ] && continue          # the launcher's codec, outside core/
        [ "$to" != "$from" ] && echo "$from $to"
    done
done | sort -u)
echo "$edges"
echo "$edges" | tsort >/dev/null && echo "no cycle between rooms"
