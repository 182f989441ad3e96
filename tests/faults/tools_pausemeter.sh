#!/usr/bin/env bash
# pausemeter's arguments: a zero, negative or malformed duration is a usage
# error (2) naming the option; --for 0s used to run forever. An events file
# that cannot be opened is reported first and alone, naming the file, exit
# 1; it used to be preceded by an unrelated "control socket unavailable".
#   tools_pausemeter.sh PAUSEMETER
set -euo pipefail
pm=$1
source "$(dirname "$0")/tools_lib.sh"
it_scratch tools-pausemeter
export TENURE_RUN_DIR=$tmp/run

note "durations must be more than zero"
# timeout: without the fix --for 0s never ends; 124 fails the exit check
expect 2 '^pausemeter: --for "0s": must be more than 0$' timeout 20 "$pm" -f 0s -q
expect 2 '^pausemeter: --for "0ms": must be more than 0$' timeout 20 "$pm" --for 0ms -q
expect 2 '^pausemeter: --interval "0s": must be more than 0$' timeout 20 "$pm" -i 0s -f 1s -q
expect 2 '^pausemeter: --threshold "0us": must be more than 0$' timeout 20 "$pm" -t 0us -f 1s -q
for opt in --for --interval --threshold; do
  expect 2 "^pausemeter: $opt \"-1s\": negative duration" timeout 20 "$pm" "$opt" -1s -q
  expect 2 "^pausemeter: $opt \"nan\": expected a number" timeout 20 "$pm" "$opt" nan -q
  expect 2 "^pausemeter: $opt \"\": empty duration" timeout 20 "$pm" "$opt" '' -q
done
expect 2 'number too large' timeout 20 "$pm" --for 99999999999999999999h -q

note "events file errors come first and alone, exit 1"
expect 1 '^pausemeter: --events "/nonexistent/x": cannot open for appending: No such file or directory$' \
  timeout 20 "$pm" -e /nonexistent/x -f 1s -q
[ "$(wc -l < "$tmp/err")" = 1 ] || fail "more than the events error: $(cat "$tmp/err")"
! grep -q 'control socket' "$tmp/err" || fail "blames the control socket: $(cat "$tmp/err")"
mkdir "$tmp/dir"
expect 1 "^pausemeter: --events \"$tmp/dir\": cannot open for appending: Is a directory$" \
  timeout 20 "$pm" --events "$tmp/dir" -f 1s -q
expect 2 '^pausemeter: --events: the file name is empty$' timeout 20 "$pm" -e '' -f 1s -q

note "good arguments still run and end"
expect 0 '' timeout 20 "$pm" -f 200ms -q -e "$tmp/ok.jsonl"
[ -f "$tmp/ok.jsonl" ] || fail "the events file was not created"
grep -q '^cause ' "$tmp/out" || fail "no summary table"
echo "tools pausemeter: ok"
