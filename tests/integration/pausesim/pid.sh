#!/usr/bin/env bash
# pausesim --pid: a busy process really stops (no CPU time while stalled) and
# runs again after; every thread stops; a sleeping process is stalled on
# schedule; a target stopped by someone else is left alone; a target that
# exits, mid-stall or between stalls, ends the run cleanly.
#   pid.sh PAUSESIM CTL_TARGET
source "$(dirname "$0")/lib.sh"
CTL_TARGET=${2:?usage: pid.sh PAUSESIM CTL_TARGET}

note "a busy loop gets no CPU while stalled, and runs again after"
sh -c 'while :; do :; done' &
busy=$!
track "$busy"
"$PAUSESIM" -q --pid "$busy" -d 600ms -n 1 -l "$tmp/busy" &
p=$!
track "$p"
wait_until 2000 is_stopped "$busy" || fail "pid $busy never stopped"
t1=$(cpu_ticks "$busy")
sleep 0.3
t2=$(cpu_ticks "$busy")
[ "$t1" -eq "$t2" ] || fail "the stalled busy loop used $((t2 - t1)) ticks of CPU"
wait "$p" || fail "pausesim --pid exited $?"
wait_until 500 is_not_stopped "$busy" || fail "pid $busy still stopped after pausesim ended"
t1=$(cpu_ticks "$busy")
sleep 0.3
t2=$(cpu_ticks "$busy")
[ "$t2" -gt "$t1" ] || fail "the busy loop did not run again after the stall"
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
wait_until 2000 test -s "$tmp/ctl.out" || fail "ctl_target did not start"
[ "$(ls /proc/"$mt"/task | wc -l)" -ge 2 ] || fail "ctl_target has one thread only"
"$PAUSESIM" -q --pid "$mt" -d 500ms -n 1 &
p=$!
track "$p"
wait_until 2000 is_stopped "$mt" || fail "pid $mt never stopped"
all_threads_stopped "$mt" || fail "pausesim confirmed the stop while a thread ran"
wait "$p" || fail "pausesim exited $?"
wait_until 500 is_not_stopped "$mt" || fail "multithreaded target left stopped"

note "a process someone else stopped is refused, and stays stopped"
kill -STOP "$sl"
wait_until 1000 is_stopped "$sl"
run_psim --pid "$sl" -d 10ms -n 1
expect_rc 1 "pausesim on a stopped process"
expect_err "already stopped"
is_stopped "$sl" || fail "pausesim resumed a process it had not stopped"
kill -CONT "$sl"

note "the target killed mid-stall ends the run at once, exit 0"
"$PAUSESIM" --pid "$sl" -d 5s -n 3 -l "$tmp/killed" 2> "$tmp/killed.err" &
p=$!
track "$p"
wait_until 2000 is_stopped "$sl" || fail "pid $sl never stopped"
kill -KILL "$sl"
t0=$(date +%s%N)
set +e; wait "$p"; rc=$?; set -e
wait "$sl" 2>/dev/null || true
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 0 ] || fail "pausesim exited $rc when its target died: $(cat "$tmp/killed.err")"
[ "$took_ms" -le 1000 ] || fail "pausesim took $took_ms ms to notice its target died"
grep -q "pid $sl exited" "$tmp/killed.err" || fail "no report of the exit: $(cat "$tmp/killed.err")"
check_log "$tmp/killed" 1 stop "$sl"
d=$(log_field "$(cat "$tmp/killed")" duration_ns)
[ "$d" -lt 5000000000 ] || fail "the interrupted stall logged $d ns"

note "the target exiting between stalls ends the run, exit 0"
sleep 0.4 &
short=$!
t0=$(date +%s%N)
run_psim --pid "$short" -d 20ms -i 50ms -l "$tmp/short"
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_rc 0 "pausesim on a target that exits"
expect_err "exited"
[ "$took_ms" -le 1500 ] || fail "pausesim ran $took_ms ms after a 0.4 s target"
[ "$(wc -l < "$tmp/short")" -ge 2 ] || fail "too few stalls before the target exited"

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
