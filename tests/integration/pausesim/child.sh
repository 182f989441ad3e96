#!/usr/bin/env bash
# pausesim -- COMMAND: the log, the stall lengths, the gaps, and the exit
# status of the command passed through.
#   child.sh PAUSESIM
source "$(dirname "$0")/lib.sh"

note "5 stalls of 50 ms, 50 ms apart, of sleep 2"
uptime_ms
t0=$uptime_ms
run_psim -d 50ms -i 50ms -n 5 -l "$tmp/log" -- sleep 2
uptime_ms
elapsed_ms=$((uptime_ms - t0))
expect_rc 0
pid=$(log_field "$(stall_lines "$tmp/log" | head -n1)" pid)
[ "$pid" -gt 0 ] || fail "no child pid in the log"
check_log "$tmp/log" 5 stop "$pid"
check_durations "$tmp/log"
while IFS= read -r line; do
  [ "$(log_field "$line" requested_ns)" -eq 50000000 ] || fail "requested is not 50 ms: $line"
done < <(stall_lines "$tmp/log")
# Each stall starts at least one interval after the previous one ended
# (exact: the next start is scheduled from the previous end), and not much
# later (TOL_NS: wake-up latency on a busy machine).
prev_end=
while IFS= read -r line; do
  start=$(log_field "$line" start_boot_ns)
  if [ -n "$prev_end" ]; then
    gap=$((start - prev_end))
    [ "$gap" -ge 50000000 ] || fail "gap of $gap ns is shorter than --interval 50ms"
    [ "$gap" -le $((50000000 + TOL_NS)) ] || fail "gap of $gap ns is far longer than 50 ms"
  fi
  prev_end=$((start + $(log_field "$line" duration_ns)))
done < <(stall_lines "$tmp/log")
# pausesim waits for the command after the last stall. (sleep's own timer
# runs on while it is stopped; /proc/uptime has 10 ms steps.)
[ "$elapsed_ms" -ge 1990 ] || fail "pausesim returned after $elapsed_ms ms, before sleep 2 ended"
expect_err "5 stalls injected into pid $pid"
expect_err "measured - requested"

note "log lines appear as the stalls happen, not at the end"
# The second stall is due 10 s after the first: however slow this machine,
# the first line is there long before, and the run is still going.
"$PAUSESIM" -q -d 20ms -i 10s -n 3 -l "$tmp/live" -- sleep 60 &
p=$!
track "$p"
wait_until 8000 file_has_lines "$tmp/live" 1 || fail "no log line 8 s into the run"
kill -0 "$p" 2>/dev/null || fail "pausesim ended too early for this test"
[ "$(stall_count "$tmp/live")" -eq 1 ] || fail "want 1 line before the second stall: $(cat "$tmp/live")"
kill -TERM "$p"
wait "$p" || true

note "-v prints each stall and the seed; -q prints nothing"
# 3 stalls take about 60 ms: sleep 1.5 outlasts them on a busy machine
# too (a command that ends first would end the run early).
run_psim -v -d 10ms -i 10ms -n 3 -- sleep 1.5
expect_rc 0
for i in 1 2 3; do expect_err "stall $i: pid"; done
expect_err "seed "
run_psim -q -d 10ms -i 10ms -n 2 -- sleep 0.3
expect_rc 0
[ ! -s "$tmp/err" ] || fail "-q printed: $(cat "$tmp/err")"

note "the command's exit status is pausesim's"
run_psim -q -d 10ms -i 10ms -l "$tmp/exit3" -- sh -c 'sleep 1; exit 3'
expect_rc 3 "a command exiting 3"
[ "$(stall_count "$tmp/exit3")" -ge 3 ] || fail "the command exiting 3 was not stalled"
run_psim -q -d 10ms -i 10ms -- sh -c 'sleep 0.2; kill -TERM $$'
expect_rc 143 "a command killed by SIGTERM"
run_psim -q -d 10ms -i 10ms -- sh -c 'sleep 0.2; kill -KILL $$'
expect_rc 137 "a command killed by SIGKILL"
run_psim -q -n 1 -- true
expect_rc 0 "true"
run_psim -q -n 1 -- false
expect_rc 1 "false"
run_psim -q -n 1 -- "$tmp/no-such-command"
expect_rc 127 "a command that does not exist"
expect_err "cannot run"

note "the command's own options are not pausesim's"
run_psim -q -n 1 -d 1ms sh -c 'exit 4' -n 7
expect_rc 4 "sh -c 'exit 4' without --"

note "--for ends the stalling; the command runs on to its end"
# Cycles of at least 100 ms (50 ms stall, then a 50 ms gap from its end):
# at most 10 stalls can start within --for 1s, whatever the load; 2 need
# only the first cycle to end within 1 s.
uptime_ms
t0=$uptime_ms
run_psim -q -d 50ms -i 50ms --for 1s -l "$tmp/for" -- sleep 1.5
uptime_ms
elapsed_ms=$((uptime_ms - t0))
expect_rc 0
n=$(stall_count "$tmp/for")
[ "$n" -ge 2 ] && [ "$n" -le 10 ] || fail "--for 1s with 100 ms cycles gave $n stalls"
[ "$elapsed_ms" -ge 1490 ] || fail "pausesim did not wait for the command after --for"

note "--start-after delays the first stall"
# sleep 1.5: the command must still be there when the first stall is due.
before=$(boot_ns)
run_psim -q -d 10ms -n 1 --start-after 400ms -l "$tmp/late" -- sleep 1.5
expect_rc 0
check_log "$tmp/late" 1 stop "$(log_field "$(stall_lines "$tmp/late")" pid)"
delay=$(( $(log_field "$(stall_lines "$tmp/late")" start_boot_ns) - before ))
# /proc/uptime has 10 ms steps
[ "$delay" -ge 390000000 ] || fail "the first stall came $delay ns after the start"

echo "PASS"
