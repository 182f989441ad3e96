#!/usr/bin/env bash
# gc_server --socket: a path whose directory is missing used to be noticed
# only after the heap was built, with "no such entry" and no path. Now it
# is refused at start, naming the path (1); an empty path, or --socket with
# --no-socket, is a usage error (2).
#   tools_gc_server.sh GC_SERVER
set -euo pipefail
gs=$1
source "$(dirname "$0")/tools_lib.sh"
it_scratch tools-gc-server
export TENURE_RUN_DIR=$tmp/run

# timeout: a server that starts anyway would run until killed (124)
expect 1 '^gc_server: --socket "/nonexistent/x.sock": directory "/nonexistent": No such file or directory$' \
  timeout 60 "$gs" --socket /nonexistent/x.sock --live-mb 8 --listen 127.0.0.1:0
: > "$tmp/file"
expect 1 "^gc_server: --socket \"$tmp/file/x.sock\": \"$tmp/file\" is not a directory$" \
  timeout 60 "$gs" --socket "$tmp/file/x.sock" --live-mb 8 --listen 127.0.0.1:0
expect 1 "^gc_server: --socket \"$tmp/file\": exists and is not a socket$" \
  timeout 60 "$gs" --socket "$tmp/file" --live-mb 8 --listen 127.0.0.1:0
[ "$(cat "$tmp/file")" = "" ] && [ -f "$tmp/file" ] || fail "the file was touched"
expect 2 '^gc_server: --socket: the path is empty$' \
  timeout 60 "$gs" --socket '' --live-mb 8 --listen 127.0.0.1:0
expect 2 '^gc_server: --socket and --no-socket contradict each other$' \
  timeout 60 "$gs" --socket "$tmp/g.sock" --no-socket --live-mb 8 --listen 127.0.0.1:0
echo "tools gc_server: ok"
