#!/usr/bin/env bash
# pausesim never leaves its target stopped: killed with SIGTERM, SIGINT or
# SIGHUP in the middle of a 5 s stall it resumes the target at once and dies
# of that signal; killed with SIGKILL, its guardian resumes the target. With
# a COMMAND, the signal is passed on and the command's status comes back.
#   signals.sh PAUSESIM
source "$(dirname "$0")/lib.sh"

sleep 120 &
target=$!
track "$target"

for sig in TERM INT HUP; do
  note "SIG$sig in the middle of a stall (--pid)"
  # A background job of a script starts with SIGINT ignored; pausesim must
  # catch it anyway.
  "$PAUSESIM" -q --pid "$target" -d 5s -n 1 -l "$tmp/$sig" &
  p=$!
  track "$p"
  wait_until 2000 is_stopped "$target" || fail "pid $target never stopped"
  sleep 0.3
  kill -"$sig" "$p"
  wait_until 500 is_not_stopped "$target" ||
    fail "target still stopped 500 ms after SIG$sig to pausesim"
  set +e; wait "$p" 2>/dev/null; rc=$?; set -e
  want=$((128 + $(kill -l "$sig")))
  [ "$rc" -eq "$want" ] || fail "pausesim killed by SIG$sig exited $rc, want $want"
  check_log "$tmp/$sig" 1 stop "$target"
  d=$(log_field "$(cat "$tmp/$sig")" duration_ns)
  [ "$d" -ge 300000000 ] && [ "$d" -lt 2000000000 ] ||
    fail "the interrupted stall logged $d ns, want 0.3 s to 2 s"
done

note "SIGKILL in the middle of a stall: the guardian resumes the target"
"$PAUSESIM" -q --pid "$target" -d 5s -n 1 2> "$tmp/guard.err" &
p=$!
track "$p"
wait_until 2000 is_stopped "$target" || fail "pid $target never stopped"
sleep 0.2
kill -KILL "$p"
wait "$p" 2>/dev/null || true
wait_until 500 is_not_stopped "$target" ||
  fail "target still stopped 500 ms after pausesim was SIGKILLed"
wait_until 500 grep -q "guardian" "$tmp/guard.err" ||
  fail "the guardian did not say what it did: $(cat "$tmp/guard.err")"

note "SIGKILL between stalls: the guardian leaves the target alone"
"$PAUSESIM" -q --pid "$target" -d 10ms -i 5s -n 2 2> "$tmp/guard2.err" &
p=$!
track "$p"
sleep 0.5 # the first stall is over, the gap runs
kill -STOP "$target" # someone else's stop, which pausesim must not undo
wait_until 1000 is_stopped "$target"
kill -KILL "$p"
wait "$p" 2>/dev/null || true
sleep 0.3
is_stopped "$target" || fail "the guardian resumed a target pausesim had not stopped"
kill -CONT "$target"

note "SIGTERM to pausesim -- COMMAND mid-stall: passed on, status comes back"
"$PAUSESIM" -q -d 5s -n 1 -- sleep 60 &
p=$!
track "$p"
wait_until 2000 pgrep -P "$p" -x sleep > /dev/null || fail "no child"
child=$(pgrep -P "$p" -x sleep)
wait_until 2000 is_stopped "$child" || fail "child $child never stopped"
sleep 0.2
kill -TERM "$p"
t0=$(date +%s%N)
set +e; wait "$p"; rc=$?; set -e
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 143 ] || fail "pausesim -- sleep exited $rc after SIGTERM, want 143"
[ "$took_ms" -le 1000 ] || fail "pausesim took $took_ms ms to end after SIGTERM"
is_gone "$child" || fail "the command outlived the SIGTERM passed on to it"

note "SIGKILL to pausesim -- COMMAND mid-stall: the guardian resumes the command"
"$PAUSESIM" -q -d 5s -n 1 -- sleep 60 2> /dev/null &
p=$!
track "$p"
wait_until 2000 pgrep -P "$p" -x sleep > /dev/null || fail "no child"
child=$(pgrep -P "$p" -x sleep)
started+=("$child")
wait_until 2000 is_stopped "$child" || fail "child $child never stopped"
kill -KILL "$p"
wait "$p" 2>/dev/null || true
wait_until 500 is_not_stopped "$child" || fail "command left stopped after pausesim's SIGKILL"

note "the command killed mid-stall: pausesim ends at once with 128+9"
"$PAUSESIM" -q -d 5s -n 3 -- sleep 60 &
p=$!
track "$p"
wait_until 2000 pgrep -P "$p" -x sleep > /dev/null || fail "no child"
child=$(pgrep -P "$p" -x sleep)
wait_until 2000 is_stopped "$child" || fail "child $child never stopped"
kill -KILL "$child"
t0=$(date +%s%N)
set +e; wait "$p"; rc=$?; set -e
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 137 ] || fail "pausesim exited $rc when its command was SIGKILLed, want 137"
[ "$took_ms" -le 1000 ] || fail "pausesim took $took_ms ms to see its command die"

echo "PASS"
