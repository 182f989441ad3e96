#!/usr/bin/env bash
# pausesim never leaves its target stopped: killed with SIGTERM, SIGINT or
# SIGHUP in the middle of a 20 s stall it resumes the target at once and
# dies of that signal; killed with SIGKILL, its guardian resumes the target.
# With a COMMAND, the signal is passed on and the command's status comes
# back.
#
# "At once" is checked as "within 10 s" against stalls of 20 s: the
# difference between resuming on the signal and sleeping the stall out, with
# seconds to spare for a machine whose CPUs are both busy.
#   signals.sh PAUSESIM
source "$(dirname "$0")/lib.sh"

sleep 120 &
target=$!
track "$target"

for sig in TERM INT HUP; do
  note "SIG$sig in the middle of a stall (--pid)"
  # A background job of a script starts with SIGINT ignored; pausesim must
  # catch it anyway.
  "$PAUSESIM" -q --pid "$target" -d 20s -n 1 -l "$tmp/$sig" &
  p=$!
  track "$p"
  wait_until 10000 is_stopped "$target" || fail "pid $target never stopped"
  sleep 0.3
  kill -"$sig" "$p"
  wait_until 10000 is_not_stopped "$target" ||
    fail "target still stopped 10 s after SIG$sig to pausesim (in a 20 s stall)"
  set +e; wait "$p" 2>/dev/null; rc=$?; set -e
  want=$((128 + $(kill -l "$sig")))
  [ "$rc" -eq "$want" ] || fail "pausesim killed by SIG$sig exited $rc, want $want"
  check_log "$tmp/$sig" 1 stop "$target"
  # At least the 0.3 s slept while it was stopped; cut short of the 20 s.
  d=$(log_field "$(stall_lines "$tmp/$sig")" duration_ns)
  [ "$d" -ge 300000000 ] && [ "$d" -lt 20000000000 ] ||
    fail "the interrupted stall logged $d ns, want 0.3 s to less than 20 s"
done

note "SIGKILL in the middle of a stall: the guardian resumes the target"
"$PAUSESIM" -q --pid "$target" -d 20s -n 1 2> "$tmp/guard.err" &
p=$!
track "$p"
wait_until 10000 is_stopped "$target" || fail "pid $target never stopped"
sleep 0.2
kill -KILL "$p"
wait "$p" 2>/dev/null || true
wait_until 10000 is_not_stopped "$target" ||
  fail "target still stopped 10 s after pausesim was SIGKILLed (in a 20 s stall)"
wait_until 10000 grep -q "guardian" "$tmp/guard.err" ||
  fail "the guardian did not say what it did: $(cat "$tmp/guard.err")"

note "SIGKILL between stalls: the guardian leaves the target alone"
# The first stall is logged once it is over; the second is 60 s away. The
# guardian's pid comes from -v; once it has exited, it has decided.
"$PAUSESIM" -v --pid "$target" -d 10ms -i 60s -n 2 -l "$tmp/guard2.log" 2> "$tmp/guard2.err" &
p=$!
track "$p"
wait_until 10000 file_has_lines "$tmp/guard2.log" 1 || fail "no first stall: $(cat "$tmp/guard2.err")"
guardian=$(sed -n 's/^pausesim: guardian \([0-9]*\) .*/\1/p' "$tmp/guard2.err")
[ -n "$guardian" ] || fail "-v did not name the guardian: $(cat "$tmp/guard2.err")"
kill -STOP "$target" # someone else's stop, which pausesim must not undo
wait_until 10000 is_stopped "$target" || fail "SIGSTOP did not stop pid $target"
kill -KILL "$p"
wait "$p" 2>/dev/null || true
wait_until 10000 is_gone "$guardian" || fail "the guardian $guardian outlived pausesim by 10 s"
is_stopped "$target" || fail "the guardian resumed a target pausesim had not stopped"
kill -CONT "$target"

note "SIGTERM to pausesim -- COMMAND mid-stall: passed on, status comes back"
"$PAUSESIM" -q -d 20s -n 1 -- sleep 60 &
p=$!
track "$p"
wait_until 10000 pgrep -P "$p" -x sleep > /dev/null || fail "no child"
child=$(pgrep -P "$p" -x sleep)
wait_until 10000 is_stopped "$child" || fail "child $child never stopped"
sleep 0.2
kill -TERM "$p"
uptime_ms
t0=$uptime_ms
set +e; wait "$p"; rc=$?; set -e
uptime_ms
took_ms=$((uptime_ms - t0))
[ "$rc" -eq 143 ] || fail "pausesim -- sleep exited $rc after SIGTERM, want 143"
[ "$took_ms" -le 10000 ] || fail "pausesim took $took_ms ms to end after SIGTERM (in a 20 s stall)"
is_gone "$child" || fail "the command outlived the SIGTERM passed on to it"

note "SIGKILL to pausesim -- COMMAND mid-stall: the guardian resumes the command"
"$PAUSESIM" -q -d 20s -n 1 -- sleep 60 2> /dev/null &
p=$!
track "$p"
wait_until 10000 pgrep -P "$p" -x sleep > /dev/null || fail "no child"
child=$(pgrep -P "$p" -x sleep)
started+=("$child")
wait_until 10000 is_stopped "$child" || fail "child $child never stopped"
kill -KILL "$p"
wait "$p" 2>/dev/null || true
wait_until 10000 is_not_stopped "$child" ||
  fail "command still stopped 10 s after pausesim's SIGKILL (in a 20 s stall)"

note "the command killed mid-stall: pausesim ends at once with 128+9"
"$PAUSESIM" -q -d 20s -n 3 -- sleep 60 &
p=$!
track "$p"
wait_until 10000 pgrep -P "$p" -x sleep > /dev/null || fail "no child"
child=$(pgrep -P "$p" -x sleep)
wait_until 10000 is_stopped "$child" || fail "child $child never stopped"
kill -KILL "$child"
uptime_ms
t0=$uptime_ms
set +e; wait "$p"; rc=$?; set -e
uptime_ms
took_ms=$((uptime_ms - t0))
[ "$rc" -eq 137 ] || fail "pausesim exited $rc when its command was SIGKILLed, want 137"
[ "$took_ms" -le 10000 ] || fail "pausesim took $took_ms ms to see its command die (in a 20 s stall)"

echo "PASS"
