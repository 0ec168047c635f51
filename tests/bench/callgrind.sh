#!/usr/bin/env bash
# tests/bench/callgrind.sh -- instruction counts per request for one path,
# under valgrind's callgrind (repeatable on a noisy machine).
#
#   tests/bench/callgrind.sh DATA_DIR PATH [N] [HEADER]
#   BODY_FILE=f tests/bench/callgrind.sh ...   POST f as application/json
#   CG_OPTS='--toggle-collect=worker_handle' ...  more valgrind options (this
#                                               one: count requests only)
#
# The environment passes through: LD_PRELOAD=libmimalloc.so.2 (or jemalloc)
# is counted too, but only as instructions; what sets allocators apart
# (cache misses, page faults, memory given back) callgrind does not see.
#
# Runs `tessera serve --workers 1` under callgrind, sends N requests (300)
# with cgi-fcgi, and prints the worker's inclusive profile head and the
# instructions per request.
set -eu
data=$1 path=$2 n=${3:-300} header=${4:-}
dir=$(mktemp -d /tmp/tessera-cg.XXXXXX)
sock=$dir/t.sock
TESSERA_DATA=$data TESSERA_LOG_REQUESTS=0 TESSERA_RATE_LIMIT_API_KEY=0 \
TESSERA_RATE_LIMIT_API_IP=0 valgrind --tool=callgrind --trace-children=yes ${CG_OPTS:-} \
  --callgrind-out-file="$dir/cg.%p" "$(dirname "$0")/../../tessera" serve \
  --listen "unix:$sock" --workers 1 >"$dir/log" 2>&1 &
sup=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
name=${header%%:*}; value=${header#*: }
body=${BODY_FILE:-/dev/null}
method=GET
[ -n "${BODY_FILE:-}" ] && method=POST
for _ in $(seq "$n"); do
  env REQUEST_METHOD=$method REQUEST_URI="$path" REMOTE_ADDR=127.0.0.1 \
    ${BODY_FILE:+CONTENT_TYPE=application/json} \
    ${BODY_FILE:+CONTENT_LENGTH=$(wc -c <"$body")} \
    ${header:+"HTTP_$(echo "$name" | tr a-z- A-Z_)=$value"} \
    cgi-fcgi -bind -connect "$sock" <"$body" >/dev/null
done
kill -TERM "$sup"; wait "$sup" || true
worker=$(ls -S "$dir"/cg.* | head -1)
total=$(callgrind_annotate --inclusive=yes "$worker" | awk '/worker_handle/ {gsub(",","",$1); print $1; exit}')
callgrind_annotate --inclusive=yes "$worker" | sed -n '20,45p'
echo "worker_handle: $((total / n)) instructions per request ($n requests)"
[ -n "${KEEP:-}" ] && echo "profile: $worker" || rm -rf "$dir"
