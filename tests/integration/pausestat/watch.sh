#!/usr/bin/env bash
# --watch: refreshes until SIGINT or SIGTERM (exit 0), reads a growing
# events file like tail, clears the screen only on a terminal, and ends
# cleanly with a final line when the target goes away.
#   watch.sh PAUSESTAT PAUSEMETER
source "$(dirname "$0")/lib.sh"
PAUSEMETER=${2:?usage: watch.sh PAUSESTAT PAUSEMETER}

S=1000000000
MS=1000000

blocks() { local n; n=$(grep -c '^pausestat --watch every ' "$1" 2> /dev/null) || :; echo "${n:-0}"; }
has_blocks() { [ "$(blocks "$1")" -ge "$2" ]; }
has_lines() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }
out_has() { grep -qF -- "$2" "$1"; }
# watch_bg ARGS...: pausestat ARGS in the background, $p its pid, output in
# $tmp/w.out and $tmp/w.err. Both are emptied here first: the background
# job opens them only once it runs, and until then a poll would read the
# previous run's output (on a loaded machine, for long enough to act on).
watch_bg() {
  : > "$tmp/w.out"
  : > "$tmp/w.err"
  "$PAUSESTAT" "$@" > "$tmp/w.out" 2> "$tmp/w.err" &
  p=$!
  track "$p"
}

note "a file: refreshes, picks up appended lines, SIGINT ends it with 0"
{
  event_line 1 stopped $((10 * S)) $((10 * MS))
  event_line 2 stopped $((11 * S)) $((20 * MS))
} > "$tmp/E.jsonl"
watch_bg --events "$tmp/E.jsonl" --watch=0.2
wait_until 20000 has_blocks "$tmp/w.out" 2 || fail "no 2 refreshes in 20 s: $(cat "$tmp/w.out")"
grep -q '2 events' "$tmp/w.out" || fail "the first refreshes do not count 2 events"
event_line 3 cpu $((12 * S)) $((7 * MS)) >> "$tmp/E.jsonl"
wait_until 20000 out_has "$tmp/w.out" "3 events" || fail "the appended event was not picked up: $(tail -n 9 "$tmp/w.out")"
kill -INT "$p"
set +e; wait "$p"; rc=$?; set -e
[ "$rc" -eq 0 ] || fail "pausestat --watch exited $rc on SIGINT: $(cat "$tmp/w.err")"
grep -q $'\x1b' "$tmp/w.out" && fail "screen-clearing codes written to a file"
[ ! -s "$tmp/w.err" ] || fail "stderr: $(cat "$tmp/w.err")"
# A truncated (rotated) file is counted from its start again.
watch_bg --events "$tmp/E.jsonl" --watch=0.2
wait_until 20000 out_has "$tmp/w.out" "3 events" || fail "no first refresh"
event_line 1 gc $((20 * S)) $((9 * MS)) > "$tmp/E.jsonl"
wait_until 20000 out_has "$tmp/w.out" "1 event," || fail "a truncated file was not read again: $(tail -n 9 "$tmp/w.out")"
wait_until 20000 grep -q "truncated or replaced" "$tmp/w.err" || fail "no notice of the truncation: $(cat "$tmp/w.err")"
kill -TERM "$p"
set +e; wait "$p"; rc=$?; set -e
[ "$rc" -eq 0 ] || fail "pausestat --watch exited $rc on SIGTERM"

note "--watch --json: one JSON object per refresh"
watch_bg --events "$tmp/E.jsonl" --watch=0.2 --json
wait_until 20000 has_lines "$tmp/w.out" 2 || fail "no 2 JSON refreshes"
kill -TERM "$p"
set +e; wait "$p"; rc=$?; set -e
[ "$rc" -eq 0 ] || fail "pausestat --watch --json exited $rc on SIGTERM"
while IFS= read -r line; do
  printf '%s\n' "$line" > "$tmp/line.json"
  expect_json "$tmp/line.json" "d['events_file']['events'] == 1 and d['pauses']['gc']['count'] == 1"
done < "$tmp/w.out"

note "on a terminal the screen is cleared before each refresh"
# Until two clears have been written (script(1) copies the terminal's
# output to the file as it comes); then the events file is removed, which
# ends pausestat (as tested below) and so script. (A background job has
# SIGINT ignored, so that cannot end it.) timeout's 60 s bounds a hang.
: > "$tmp/tty.out"
cp "$tmp/E.jsonl" "$tmp/tty.jsonl"
clears() { [ "$(grep -o $'\x1b\[H\x1b\[2J' "$tmp/tty.out" | wc -l)" -ge 2 ]; }
timeout 60 script -qec "'$PAUSESTAT' --events '$tmp/tty.jsonl' --watch=0.3" "$tmp/tty.out" > /dev/null 2>&1 &
tty_run=$!
track "$tty_run"
wait_until 30000 clears || fail "no screen clearing on a terminal: $(od -c "$tmp/tty.out" | head)"
rm "$tmp/tty.jsonl"
wait_until 20000 is_gone "$tty_run" || fail "pausestat on a terminal did not end when its file was removed"
wait "$tty_run" 2> /dev/null || true

note "the events file is removed: a final line, exit 0"
cp "$tmp/E.jsonl" "$tmp/gone.jsonl"
watch_bg --events "$tmp/gone.jsonl" --watch=0.2
wait_until 20000 has_blocks "$tmp/w.out" 1 || fail "no first refresh"
rm "$tmp/gone.jsonl"
wait_until 10000 is_gone "$p" || fail "pausestat still runs 10 s after its file was removed"
set +e; wait "$p"; rc=$?; set -e
[ "$rc" -eq 0 ] || fail "pausestat --watch exited $rc when its file was removed: $(cat "$tmp/w.err")"
tail -n 1 "$tmp/w.out" | grep -q "the file was removed; the target is gone" ||
  fail "no final line: $(tail -n 3 "$tmp/w.out")"

note "a source missing from the start is an error, not an end"
run_pstat --events "$tmp/never.jsonl" --watch=0.2
expect_rc 1 "pausestat --watch on a missing file"
expect_err "$tmp/never.jsonl: No such file or directory"
run_pstat --socket "$tmp/never.sock" --watch=0.2
expect_rc 1 "pausestat --watch on a missing socket"
expect_err "$tmp/never.sock: no such socket"

note "a live pausemeter: refreshes, then it exits and pausestat ends with 0"
"$PAUSEMETER" --quiet > /dev/null 2>&1 &
pm=$!
track "$pm"
wait_until 30000 is_socket "$TENURE_RUN_DIR/$pm.sock" || fail "pausemeter never listened"
watch_bg --pid "$pm" --watch=0.2
wait_until 20000 has_blocks "$tmp/w.out" 2 || fail "no 2 refreshes of a live pausemeter: $(cat "$tmp/w.out" "$tmp/w.err")"
grep -q "^pausestat: pid $pm, tenure " "$tmp/w.out" || fail "no status header: $(head "$tmp/w.out")"
grep -q "^sampler: interval 1.000ms, threshold 5.000ms" "$tmp/w.out" || fail "no sampler line"
kill -INT "$pm"
wait "$pm" || fail "pausemeter exited $?"
wait_until 10000 is_gone "$p" || fail "pausestat --watch still runs 10 s after pausemeter exited"
set +e; wait "$p"; rc=$?; set -e
[ "$rc" -eq 0 ] || fail "pausestat --watch exited $rc after its target exited: $(cat "$tmp/w.err")"
tail -n 1 "$tmp/w.out" | grep -q "the target is gone, stopping after" ||
  fail "no final line: $(tail -n 3 "$tmp/w.out")"

note "--watch --compare on a live pausemeter: the verdict of the last refresh"
"$PAUSEMETER" --quiet > /dev/null 2>&1 &
pm=$!
track "$pm"
wait_until 30000 is_socket "$TENURE_RUN_DIR/$pm.sock" || fail "pausemeter never listened"
stop_for() { # PID MS: a stall we make ourselves, logged like pausesim
  local t0
  kill -STOP "$1"
  t0=$(python3 -I -S -c 'import time; print(time.clock_gettime_ns(time.CLOCK_BOOTTIME))')
  sleep "0.0$2"
  kill -CONT "$1"
  echo "$t0"
}
# The (empty) stall log exists before pausestat reads it.
: > "$tmp/I.jsonl"
watch_bg --pid "$pm" --watch=0.2 --json --compare "$tmp/I.jsonl"
sleep 0.3
for i in 1 2 3; do
  t0=$(stop_for "$pm" 40)
  # logged 20 ms long: well inside the real stall, whatever the shell adds
  stall_line "$i" $((t0 + 5 * MS)) $((20 * MS)) >> "$tmp/I.jsonl"
  sleep 0.2
done
# A refresh that matched all three: every later one has the same events
# and more, so the last refresh (after which pausestat ends) matches them
# too.
wait_until 20000 out_has "$tmp/w.out" '"matched":3,' ||
  fail "the stalls never all matched in a refresh: $(tail -n 1 "$tmp/w.out")"
kill -INT "$pm"
wait "$pm" || true
wait_until 10000 is_gone "$p" || fail "pausestat --watch --compare still runs 10 s after pausemeter exited"
set +e; wait "$p"; rc=$?; set -e
[ "$rc" -eq 0 ] || fail "pausestat --watch --compare exited $rc: $(tail -n 1 "$tmp/w.out"; cat "$tmp/w.err")"
tail -n 1 "$tmp/w.out" > "$tmp/last.json"
expect_json "$tmp/last.json" "d['compare']['recall'] == 1.0 and d['compare']['matched'] == 3"
grep -q "the target is gone" "$tmp/w.err" || fail "no final line on stderr with --json: $(cat "$tmp/w.err")"
echo "PASS"
