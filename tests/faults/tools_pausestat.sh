#!/usr/bin/env bash
# pausestat's paths: an empty one is a usage error (2) naming the option;
# --socket '' used to fail at run time with exit 1 and ': "status" failed'.
#   tools_pausestat.sh PAUSESTAT
set -euo pipefail
ps=$1
source "$(dirname "$0")/tools_lib.sh"
it_scratch tools-pausestat
: > "$tmp/e.jsonl"

expect 2 '^pausestat: --socket: the path is empty$' "$ps" --socket ''
expect 2 '^pausestat: --socket: the path is empty$' "$ps" --socket= --json
expect 2 '^pausestat: --events: the path is empty$' "$ps" --events ''
expect 2 '^pausestat: --compare: the path is empty$' "$ps" --events "$tmp/e.jsonl" --compare ''
expect 2 '^pausestat: --pid "": not a process id' "$ps" --pid ''
expect 2 '^pausestat: --tolerance "": empty duration' "$ps" --events "$tmp/e.jsonl" --compare "$tmp/e.jsonl" --tolerance ''
expect 2 '^pausestat: --threshold "": empty duration' "$ps" --events "$tmp/e.jsonl" --compare "$tmp/e.jsonl" --threshold ''
expect 2 '^pausestat: --watch "": empty duration' "$ps" --events "$tmp/e.jsonl" --watch=
long=/$(printf 'x%.0s' $(seq 1 120)).sock
expect 2 "^pausestat: --socket \"$long\": longer than the 107 bytes" "$ps" --socket "$long"
# a real path that is not there is a failure (1), not a usage error
expect 1 '/nonexistent/x.sock' "$ps" --socket /nonexistent/x.sock
echo "tools pausestat: ok"
