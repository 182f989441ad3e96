#!/usr/bin/env bash
# --mode gc: a target without a tenure runtime, and one whose runtime has no
# collector governor, are clear errors (exit 1); a target that collects gets
# one logged collection per request.
#   gc.sh PAUSESIM CTL_TARGET
source "$(dirname "$0")/lib.sh"
CTL_TARGET=${2:?usage: gc.sh PAUSESIM CTL_TARGET}

export TENURE_RUN_DIR=$tmp/run
mkdir -m 700 "$TENURE_RUN_DIR"

start_ctl() { # BEHAVIOUR: start ctl_target, set $ctl, wait for its socket
  "$CTL_TARGET" "$1" > "$tmp/ctl.out" &
  ctl=$!
  track "$ctl"
  wait_until 10000 test -S "$TENURE_RUN_DIR/$ctl.sock" || fail "ctl_target $1 has no socket"
}

note "a process without a tenure runtime"
sleep 60 &
plain=$!
track "$plain"
run_psim -m gc --pid "$plain" -n 1
expect_rc 1 "gc mode on a plain process"
expect_err "does not run a tenure runtime"
expect_err "$TENURE_RUN_DIR/$plain.sock"

note "a runtime without a collector governor (error unsupported)"
start_ctl unsupported
run_psim -m gc --pid "$ctl" -n 1
expect_rc 1 "gc mode on a runtime without a governor"
expect_err "without a collector governor"
kill -TERM "$ctl"
wait "$ctl" || fail "ctl_target did not stop cleanly"

note "a runtime that collects: one log line per collection"
start_ctl collect:30
run_psim -m gc --pid "$ctl" -i 20ms -n 3 -l "$tmp/gc"
expect_rc 0
check_log "$tmp/gc" 3 gc "$ctl"
while IFS= read -r line; do
  [ "$(log_field "$line" requested_ns)" -eq 0 ] || fail "gc stall with a requested duration: $line"
  [ "$(log_field "$line" duration_ns)" -ge 30000000 ] ||
    fail "a 30 ms collection logged shorter: $line"
done < <(stall_lines "$tmp/gc")
expect_err "3 unplanned collections in pid $ctl"
kill -TERM "$ctl"
wait "$ctl" || true

note "gc mode takes no --duration"
run_psim -m gc -d 1s --pid "$plain" -n 1
expect_rc 2 "gc mode with --duration"

echo "PASS"
