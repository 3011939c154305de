#!/bin/sh
# examples/clients/curl.sh — CloudCode from the shell with curl: a one-shot run, an
# interactive session over long-polling, and a notebook cell.
#
#   examples/clients/curl.sh [URL] [API_KEY]
#
# URL defaults to $CLOUDCODE_URL or http://127.0.0.1:8080, the key to $CLOUDCODE_API_KEY
# (none if unset).  Needs only curl and sed (jq would be nicer for real JSON work).
set -eu
URL=${1:-${CLOUDCODE_URL:-http://127.0.0.1:8080}}
KEY=${2:-${CLOUDCODE_API_KEY:-}}

# api METHOD PATH [JSON]: one call; prints the body, fails on an HTTP error status.
api() {
  set -- "$1" "$2" "${3:-}"
  if [ -n "$3" ]; then
    curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' -d "$3" "$URL$2"
  else
    curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $KEY" "$URL$2"
  fi
}

echo "== a run: POST /v1/run answers once the program ended"
api POST /v1/run '{"language":"python","code":"print(sum(range(10)))"}'
echo

echo "== a session: create, send a line, read its output, close its input"
sid=$(api POST /v1/sessions \
  '{"language":"python","code":"name = input()\nprint(\"hello,\", name)"}' |
  sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
echo "session $sid"
api POST "/v1/sessions/$sid/input" '{"data":"curl\n","eof":true}'
# wait_ms long-polls: the call returns as soon as there is output or the session ended.
# A real client loops, passing back the answer's "cursor", until "state" is final.
cursor=0
while :; do
  out=$(api GET "/v1/sessions/$sid/output?cursor=$cursor&wait_ms=5000")
  printf '%s\n' "$out"
  cursor=$(printf '%s' "$out" | sed -n 's/.*"cursor":\([0-9]*\).*/\1/p')
  case $out in *'"state":"running"'* | *'"state":"starting"'*) ;; *) break ;; esac
done
api DELETE "/v1/sessions/$sid"

echo "== a notebook cell: an ipython session runs cells with POST .../execute"
sid=$(api POST /v1/sessions '{"language":"ipython"}' | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
api POST "/v1/sessions/$sid/execute" '{"code":"6 * 7","timeout_ms":60000}'
echo
api DELETE "/v1/sessions/$sid"
