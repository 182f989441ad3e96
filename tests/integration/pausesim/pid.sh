#!/usr/bin/env bash
# pausesim --pid: a busy process really stops (no CPU time while stalled) and
# runs again after; every thread stops; a sleeping process is stalled on
# schedule; a target stopped by someone else is left alone; a target that
# exits, mid-stall or between stalls, ends the run cleanly.
#   pid.sh PAUSESIM CTL_TARGET
source "$(dirname "$0")/lib.sh"
CTL_TARGET=${2:?usage: pid.sh PAUSESIM CTL_TARGET}

note "a busy loop gets no CPU while stalled, and runs again after"
# The CPU time is compared only across a window in which the loop was
# stopped from start to end: its state is read before the first and after
# the second reading, and pausesim stalls only once. (With a fixed sleep
# inside a short stall, a slow shell read the second figure after the
# stall had ended, and counted the loop's running time as "used while
# stalled".) The 3 s stall leaves seconds for this shell to be slow in.
sh -c 'while :; do :; done' &
busy=$!
track "$busy"
"$PAUSESIM" -q --pid "$busy" -d 3s -n 1 -l "$tmp/busy" &
p=$!
track "$p"
wait_until 10000 is_stopped "$busy" || fail "pid $busy never stopped"
t1=$(cpu_ticks "$busy")
sleep 0.3
t2=$(cpu_ticks "$busy")
is_stopped "$busy" ||
  fail "the stall ended while this test read the CPU time (3 s stall): cannot tell"
[ "$t1" -eq "$t2" ] || fail "the stalled busy loop used $((t2 - t1)) ticks of CPU"
wait "$p" || fail "pausesim --pid exited $?"
wait_until 10000 is_not_stopped "$busy" || fail "pid $busy still stopped 10 s after pausesim ended"
# It runs again: its CPU time grows (a tick is 10 ms of CPU; on a busy
# machine it may take a while to get them).
t1=$(cpu_ticks "$busy")
cpu_grew() { [ "$(cpu_ticks "$busy")" -gt "$t1" ]; }
wait_until 10000 cpu_grew || fail "the busy loop did not run again within 10 s of the stall"
check_log "$tmp/busy" 1 stop "$busy"
check_durations "$tmp/busy"
kill_reap "$busy"

note "a sleeping process, 3 stalls on schedule"
sleep 60 &
sl=$!
track "$sl"
run_psim --pid "$sl" -d 50ms -i 50ms -n 3 -l "$tmp/sleep"
expect_rc 0
check_log "$tmp/sleep" 3 stop "$sl"
check_durations "$tmp/sleep"
is_not_stopped "$sl" || fail "the target was left stopped"
expect_err "3 stalls injected into pid $sl"

note "every thread of a multithreaded process stops"
"$CTL_TARGET" collect:0 > "$tmp/ctl.out" 2>&1 &
mt=$!
track "$mt"
wait_until 10000 test -s "$tmp/ctl.out" || fail "ctl_target did not start"
[ "$(ls /proc/"$mt"/task | wc -l)" -ge 2 ] || fail "ctl_target has one thread only"
# pausesim logs the stall once it has confirmed that every thread stopped;
# the threads are looked at before that stall ends (it is 3 s long).
"$PAUSESIM" -q --pid "$mt" -d 3s -n 1 &
p=$!
track "$p"
wait_until 10000 is_stopped "$mt" || fail "pid $mt never stopped"
all_threads_stopped "$mt" || fail "pausesim confirmed the stop while a thread ran"
wait "$p" || fail "pausesim exited $?"
wait_until 10000 is_not_stopped "$mt" || fail "multithreaded target left stopped"

note "a process someone else stopped is refused, and stays stopped"
kill -STOP "$sl"
wait_until 10000 is_stopped "$sl" || fail "SIGSTOP did not stop pid $sl"
run_psim --pid "$sl" -d 10ms -n 1
expect_rc 1 "pausesim on a stopped process"
expect_err "already stopped"
is_stopped "$sl" || fail "pausesim resumed a process it had not stopped"
kill -CONT "$sl"

note "the target killed mid-stall ends the run at once, exit 0"
# "At once" against a 20 s stall: a pausesim that did not notice would
# sleep it out; 10 s is far beyond a busy machine's delays. The logged
# stall must be cut short.
"$PAUSESIM" --pid "$sl" -d 20s -n 3 -l "$tmp/killed" 2> "$tmp/killed.err" &
p=$!
track "$p"
wait_until 10000 is_stopped "$sl" || fail "pid $sl never stopped"
kill -KILL "$sl"
uptime_ms
t0=$uptime_ms
set +e; wait "$p"; rc=$?; set -e
wait "$sl" 2>/dev/null || true
uptime_ms
took_ms=$((uptime_ms - t0))
[ "$rc" -eq 0 ] || fail "pausesim exited $rc when its target died: $(cat "$tmp/killed.err")"
[ "$took_ms" -le 10000 ] || fail "pausesim took $took_ms ms to notice its target died"
grep -q "pid $sl exited" "$tmp/killed.err" || fail "no report of the exit: $(cat "$tmp/killed.err")"
check_log "$tmp/killed" 1 stop "$sl"
d=$(log_field "$(stall_lines "$tmp/killed")" duration_ns)
[ "$d" -lt 20000000000 ] || fail "the interrupted stall logged $d ns of a 20 s stall"

note "the target exiting between stalls ends the run, exit 0"
# The target counts its SIGCONTs and exits after the second, so it exits
# in the gap after stall 2 (or during stall 3) however slow the machine,
# and an unbounded pausesim run (no --count) must end by itself.
bash -c 'n=0; trap "n=\$((n + 1))" CONT; while [ "$n" -lt 2 ]; do sleep 0.01; done' &
short=$!
track "$short"
uptime_ms
t0=$uptime_ms
run_psim --pid "$short" -d 20ms -i 50ms -l "$tmp/short"
uptime_ms
took_ms=$((uptime_ms - t0))
expect_rc 0 "pausesim on a target that exits"
expect_err "exited"
[ "$took_ms" -le 10000 ] || fail "pausesim ran $took_ms ms with a target that exits after 2 stalls"
[ "$(stall_count "$tmp/short")" -ge 2 ] || fail "too few stalls before the target exited: $(cat "$tmp/short")"
wait "$short" 2> /dev/null || true

note "no such process, and a pid that is not a number"
true &
gone=$!
wait "$gone"
run_psim --pid "$gone" -n 1
expect_rc 1 "pausesim --pid of an exited process"
expect_err "no such process"
run_psim --pid 12abc -n 1
expect_rc 2 "pausesim --pid 12abc"
expect_err "not a process id"

echo "PASS"
