#!/usr/bin/env bash
# Untrusted input: each bad line of a JSON-lines file is named on stderr
# with its line number and skipped while the rest still counts; a file that
# is not JSON lines at all (binary, plain text, the wrong kind of objects),
# a missing file and a directory are refused with exit 1, naming the file.
#   malformed.sh PAUSESTAT
source "$(dirname "$0")/lib.sh"

S=1000000000
MS=1000000
E=$tmp/events.jsonl

note "bad lines are named and skipped, the others count"
{
  event_line 1 stopped $((10 * S)) $((10 * MS))                           # 1
  event_line 2 stopped $((11 * S)) $((20 * MS))                           # 2
  echo '{"seq":3,"cause":"stopped","start_boot_ns":"12000000000","duration_ns":5000000}' # 3 string
  echo '[1,2,3]'                                                          # 4 array
  event_line 5 cpu $((13 * S)) $((30 * MS))                               # 5
  echo '{"seq":6,"cause":"cpu","start_boot_ns":14000000000,"duration_ns":-5}' # 6 negative
  echo '{"seq":7,"cause":"cpu","start_boot_ns":15000000000,"duration_ns":99999999999999999999}' # 7 huge
  echo ''                                                                 # 8 blank
  event_line 9 stopped $((16 * S)) $((40 * MS))                           # 9
  echo '{"seq":10,"cause":"cpu","start_boot_ns":17000000000}'             # 10 missing
  echo '{"seq":11,"cause":"cpu","cause":"gc","start_boot_ns":1,"duration_ns":1}' # 11 duplicate key
  printf '{"seq":12,"cause":"\\u001b[31m","start_boot_ns":1,"duration_ns":1}\n' # 12 not a name
  echo '{"seq":13,"cause":"cpu","start_boot_ns":1,"duration_ns":1.5e6}'   # 13 fraction
  echo '{"seq":14,"cause":"cpu","start_boot_ns":9223372036854775807,"duration_ns":1}' # 14 > 2^62
  echo '{"seq":15,"cause":"cpu","start_boot_ns":1,"duration_ns":1,"planned":"no"}' # 15 bool as string
  echo '{"seq":0,"cause":"cpu","start_boot_ns":1,"duration_ns":1}'        # 16 seq 0
  echo '"just a string"'                                                  # 17
  printf '{"seq":18,"cause":"stopped","start_boot_ns":18000'              # 18 truncated, no \n
} > "$E"
run_pstat --events "$E" --json
expect_rc 0 "pausestat on a file with bad lines"
expect_json "$tmp/out" \
  "d['events_file']['events'] == 4" \
  "d['events_file']['malformed'] == 13" \
  "d['events_file']['lines'] == 18" \
  "d['pauses']['stopped']['count'] == 3 and d['pauses']['cpu']['count'] == 1" \
  "d['pauses']['stopped']['max_ns'] == $((40 * MS))"
expect_err "pausestat: $E:3: field \"start_boot_ns\" is a string, not an integer (skipped)"
expect_err "pausestat: $E:4: not a JSON object (an array) (skipped)"
expect_err "pausestat: $E:6: field \"duration_ns\" is negative (-5) (skipped)"
expect_err "pausestat: $E:7: not valid JSON"
expect_err "pausestat: $E:10: field \"duration_ns\" is missing (skipped)"
expect_err "pausestat: $E:11: not valid JSON: duplicate object key"
expect_err "pausestat: $E:12: field \"cause\" is not a name (skipped)"
expect_err "pausestat: $E:13: field \"duration_ns\" is a fraction, not an integer (skipped)"
expect_err "pausestat: $E:14: field \"start_boot_ns\" is too large"
expect_err "pausestat: $E:15: field \"planned\" is a string, not a boolean (skipped)"
expect_err "pausestat: $E:16: field \"seq\" is too small (0) (skipped)"
expect_err "pausestat: $E:17: not a JSON object (a string) (skipped)"
expect_err "pausestat: $E:18: truncated: no newline at the end"
for n in 1 2 5 8 9; do
  expect_no_err "$E:$n:"
done
[ "$(wc -l < "$tmp/err")" -eq 13 ] || fail "want 13 lines on stderr: $(cat "$tmp/err")"
grep -q $'\x1b' "$tmp/err" && fail "an escape byte from the file reached stderr"
# The text report counts the same.
run_pstat --events "$E"
expect_rc 0
expect_out "$E: 4 events (13 malformed lines skipped)"
grep -Eq '^stopped +3 ' "$tmp/out" || fail "the stopped row does not count 3: $(cat "$tmp/out")"

note "a whole last line without its newline is still an event"
{ event_line 1 stopped $((10 * S)) $((10 * MS)); event_line 2 cpu $((11 * S)) $((6 * MS)) | tr -d '\n'; } > "$tmp/nonl.jsonl"
run_pstat --events "$tmp/nonl.jsonl" --json
expect_rc 0
expect_json "$tmp/out" "d['events_file']['events'] == 2 and d['events_file']['malformed'] == 0"
[ ! -s "$tmp/err" ] || fail "stderr: $(cat "$tmp/err")"

note "bad lines of the --compare log are named too"
{
  stall_line 1 $((10 * S)) $((10 * MS))
  echo '{"seq":2,"pid":4242,"mode":"stop","start_boot_ns":11000000000,"duration_ns":"10ms","requested_ns":10000000}'
  echo '{"seq":3,"pid":4242,"start_boot_ns":12000000000,"duration_ns":10000000,"requested_ns":10000000}'
} > "$tmp/I.jsonl"
run_pstat --events "$E" --compare "$tmp/I.jsonl" --json
expect_rc 0 "pausestat --compare with bad stall lines"
expect_err "pausestat: $tmp/I.jsonl:2: field \"duration_ns\" is a string, not an integer (skipped)"
expect_err "pausestat: $tmp/I.jsonl:3: field \"mode\" is missing (skipped)"
expect_json "$tmp/out" "d['compare']['injected'] == 1 and d['compare']['matched'] == 1"

note "only the first 20 bad lines are named, then a count"
{ for i in $(seq 30); do echo '{"seq":"x"}'; done; event_line 1 cpu $((10 * S)) $((6 * MS)); } > "$tmp/many.jsonl"
run_pstat --events "$tmp/many.jsonl"
expect_rc 0
[ "$(grep -c '(skipped)$' "$tmp/err")" -eq 20 ] || fail "want 20 named lines: $(cat "$tmp/err")"
expect_err "$tmp/many.jsonl: 30 malformed lines in all, 20 named above"

note "not JSON lines at all: exit 1, naming the file"
head -c 4096 /dev/urandom > "$tmp/random.bin"
printf '\x7fELF\x02\x01\x01\x00' | cat - "$tmp/random.bin" > "$tmp/binary"
run_pstat --events "$tmp/binary"
expect_rc 1 "pausestat on a binary file"
expect_err "pausestat: $tmp/binary: not a JSON-lines file"
printf '{\x00\x00\x00\x00\x00\n' > "$tmp/nul"
run_pstat --events "$tmp/nul"
expect_rc 1 "pausestat on a file of NUL bytes"
expect_err "pausestat: $tmp/nul: not a JSON-lines file (binary"
printf 'hello, world\nthis is text\n' > "$tmp/text"
run_pstat --events "$tmp/text"
expect_rc 1 "pausestat on a text file"
expect_err "pausestat: $tmp/text: not a JSON-lines file (line 1 starts with 'h', not '{')"
printf '{"a":1}\n{"b":2}\n' > "$tmp/other.jsonl"
run_pstat --events "$tmp/other.jsonl"
expect_rc 1 "pausestat on JSON lines that are not events"
expect_err "pausestat: $tmp/other.jsonl: not a JSON-lines file of pause events (none of its 2 lines is one)"
run_pstat --events "$tmp/I.jsonl"
expect_rc 1 "pausestat --events on a pausesim log"
run_pstat --events "$E" --compare "$E"
expect_rc 1 "pausestat --compare on an events file"
expect_err "not a JSON-lines file of injected stalls"
run_pstat --events "$E" --compare "$tmp/binary"
expect_rc 1 "pausestat --compare on a binary file"
expect_err "pausestat: $tmp/binary: not a JSON-lines file"

note "missing files and directories: exit 1, naming them"
run_pstat --events "$tmp/nonexistent.jsonl"
expect_rc 1 "pausestat on a missing file"
expect_err "pausestat: $tmp/nonexistent.jsonl: No such file or directory"
run_pstat --events "$E" --compare "$tmp/nonexistent-I.jsonl"
expect_rc 1 "pausestat --compare on a missing file"
expect_err "pausestat: $tmp/nonexistent-I.jsonl: No such file or directory"
run_pstat --events "$tmp"
expect_rc 1 "pausestat on a directory"
expect_err "pausestat: $tmp: is a directory"

note "an empty file is no events, not an error"
: > "$tmp/empty.jsonl"
run_pstat --events "$tmp/empty.jsonl" --json
expect_rc 0
expect_json "$tmp/out" "d['events_file']['events'] == 0 and d['events_file']['first_start_boot_ns'] is None"
echo "PASS"
