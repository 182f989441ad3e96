#!/usr/bin/env bash
# pausestat's command line: --help (stdout, 0), --version, and exit 2 with
# a clear message for every bad argument (a bad TIME names the option, the
# text and the byte offset).
#   cli.sh PAUSESTAT
source "$(dirname "$0")/lib.sh"

S=1000000000
MS=1000000
event_line 1 stopped $((10 * S)) $((10 * MS)) > "$tmp/E.jsonl"
stall_line 1 $((10 * S)) $((10 * MS)) > "$tmp/I.jsonl"

note "--help and --version"
run_pstat --help
expect_rc 0 "pausestat --help"
expect_out "usage: pausestat --pid PID | --socket PATH | --events FILE"
for word in --pid --socket --events --json --watch --compare --tolerance --threshold --help --version; do
  expect_out "$word"
done
[ ! -s "$tmp/err" ] || fail "--help wrote to stderr"
run_pstat -h
expect_rc 0 "pausestat -h"
version=$("$PAUSESTAT" --version)
[[ $version =~ ^pausestat\ \(tenure\)\ [0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "--version printed \"$version\""

# bad ARGS... MESSAGE: exit 2, MESSAGE on stderr, nothing on stdout.
bad() {
  local msg=${*: -1}
  run_pstat "${@:1:$#-1}"
  expect_rc 2 "pausestat ${*:1:$#-1}"
  expect_err "$msg"
  [ ! -s "$tmp/out" ] || fail "pausestat ${*:1:$#-1} wrote to stdout: $(cat "$tmp/out")"
}

note "bad arguments: exit 2"
bad "no source"
bad --json "no source"
bad --events "$tmp/E.jsonl" --pid 1 "give only one of --pid, --socket and --events"
bad --events "$tmp/E.jsonl" --events "$tmp/E.jsonl" "give only one of"
bad --pid abc '--pid "abc": not a process id'
bad --pid 0 '--pid "0": not a process id'
bad --pid -5 '--pid "-5": not a process id'
bad --pid 99999999999 'not a process id'
bad --events "$tmp/E.jsonl" --compare "$tmp/I.jsonl" --tolerance 5xs '--tolerance "5xs":'
run_pstat --events "$tmp/E.jsonl" --compare "$tmp/I.jsonl" --tolerance 5xs
expect_err "at offset 1"
bad --events "$tmp/E.jsonl" --compare "$tmp/I.jsonl" --threshold 0s '--threshold "0s": must be more than 0'
bad --events "$tmp/E.jsonl" --compare "$tmp/I.jsonl" --threshold -1ms '--threshold "-1ms":'
bad --events "$tmp/E.jsonl" --tolerance 2ms "--tolerance only applies with --compare"
bad --events "$tmp/E.jsonl" --threshold 2ms "--threshold only applies with --compare"
bad --events "$tmp/E.jsonl" --watch=0 '--watch "0": must be between 100ms and 1h'
bad --events "$tmp/E.jsonl" --watch=abc '--watch "abc":'
bad --events "$tmp/E.jsonl" --watch=2h '--watch "2h": must be between 100ms and 1h'
bad --events "$tmp/E.jsonl" --watch=1.2.3 '--watch "1.2.3":'
bad --events "$tmp/E.jsonl" extra 'unexpected argument "extra"'
bad --events "$tmp/E.jsonl" --bogus "usage: pausestat"
bad --events "usage: pausestat"

note "good spellings of the same"
run_pstat -e "$tmp/E.jsonl" -c "$tmp/I.jsonl" -T 1.5ms -t 2ms -j
expect_rc 0 "short options"
expect_json "$tmp/out" "d['compare']['tolerance_ns'] == 1500000 and d['compare']['threshold_ns'] == 2000000"
run_pstat --events="$tmp/E.jsonl" --compare="$tmp/I.jsonl"
expect_rc 0 "--opt=value spellings"
expect_out "result: PASS"
echo "PASS"
