#!/usr/bin/env bash
# pausesim cannot strand its target.
#   stretch   kill -STOP pausesim mid-stall: the target is resumed on time
#             by the guardian while pausesim stays stopped
#   orphan    kill -9 pausesim in -- COMMAND mode: the command ends too
#   recover   kill -9 pausesim and its guardian mid-stall: the target stays
#             stopped (the hazard), --recover continues it, a second
#             --recover has nothing to do, and a record whose pid start
#             time does not match is not acted on
# Bounds are "at once" against "never": seconds against a stall of 20 s or
# a pausesim kept stopped for 30 s, so a loaded machine cannot break them.
# usage: pausesim_strand.sh PAUSESIM
set -euo pipefail
PAUSESIM=${1:?usage: $0 PAUSESIM}
source "$(dirname "$0")/../integration/common.sh"
it_scratch pausesim-strand

state() {
  local s
  s=$(cat "/proc/$1/stat" 2> /dev/null) || { echo X; return; }
  s=${s##*) }
  echo "${s%% *}"
}
is_state() { [ "$(state "$1")" = "$2" ]; }
not_state() { [ "$(state "$1")" != "$2" ]; }
gone() { local s; s=$(state "$1"); [ "$s" = X ] || [ "$s" = Z ]; }
# The guardian: the other pausesim process whose parent is pausesim.
guardian_of() { pgrep -P "$1" -f pausesim | head -1; }
logged_begin() { grep -q '"begin_boot_ns"' "$1" 2> /dev/null; }

note "stretch: pausesim stopped mid-stall, the 2 s stall still ends on time"
sleep 120 &
target=$!
track "$target"
"$PAUSESIM" -q --pid "$target" -n 1 -d 2s -l "$tmp/s.log" &
psim=$!
track "$psim"
wait_until 20000 is_state "$target" T || fail "the target was never stopped"
kill -STOP "$psim"
# pausesim stays stopped for up to 30 s; the stall is 2 s.
wait_until 30000 not_state "$target" T ||
  fail "the target stayed stopped while pausesim was: the stall was stretched"
is_state "$psim" T || fail "pausesim was not stopped all along"
kill -CONT "$psim"
# bash's wait may report the stop it saw (128 + SIGSTOP = 147) before the
# exit: wait again for the exit itself.
rc=0
wait "$psim" || rc=$?
while [ "$rc" -eq 147 ]; do rc=0; wait "$psim" || rc=$?; done
[ "$rc" -eq 0 ] || fail "pausesim failed after being continued (exit $rc)"
grep -q '"duration_ns"' "$tmp/s.log" || fail "the stall was not logged"

note "orphan: kill -9 of pausesim ends its COMMAND"
"$PAUSESIM" -q -n 1000 -d 50ms -i 50ms -- sleep 120 &
psim=$!
track "$psim"
wait_until 20000 pgrep -P "$psim" -x sleep > /dev/null || fail "no command started"
cmd=$(pgrep -P "$psim" -x sleep)
track "$cmd"
kill -KILL "$psim"
wait "$psim" 2> /dev/null || true
wait_until 20000 gone "$cmd" || fail "the command ran on after pausesim died ($(state "$cmd"))"

note "recover: pausesim and its guardian killed mid-stall"
sleep 120 &
target=$!
track "$target"
"$PAUSESIM" -q --pid "$target" -n 1 -d 60s -l "$tmp/r.log" &
psim=$!
track "$psim"
wait_until 20000 is_state "$target" T || fail "the target was never stopped"
guard=$(guardian_of "$psim")
[ -n "$guard" ] || fail "no guardian found"
track "$guard"
# A wrong pid_start must not be acted on (a recycled pid): checked first,
# on a copy, while the target is really stopped.
sed 's/"pid_start":[0-9]*/"pid_start":1/' "$tmp/r.log" > "$tmp/wrong.log"
# Stop both first: killed one after the other, the survivor would see the
# other's pipe close and resume the target (as it should).
kill -STOP "$psim" "$guard"
wait_until 10000 is_state "$guard" T || fail "the guardian did not stop"
wait_until 10000 is_state "$psim" T || fail "pausesim did not stop"
kill -KILL "$psim" "$guard"
wait "$psim" 2> /dev/null || true
wait_until 10000 gone "$guard" || fail "the guardian did not die"
sleep 1 # a guardian that survived would resume it in this second
is_state "$target" T || fail "the target is not stopped after the kills (did the guardian survive?)"
"$PAUSESIM" --recover "$tmp/wrong.log" > "$tmp/out" || fail "--recover on a stale record failed"
grep -q 'has exited; nothing to resume' "$tmp/out" || fail "stale record: $(cat "$tmp/out")"
is_state "$target" T || fail "--recover signalled a pid whose start time does not match"
"$PAUSESIM" --recover "$tmp/r.log" > "$tmp/out" || fail "--recover failed: $(cat "$tmp/out")"
grep -q "resumed pid $target" "$tmp/out" || fail "--recover said: $(cat "$tmp/out")"
wait_until 10000 not_state "$target" T || fail "--recover did not resume the target"
"$PAUSESIM" --recover "$tmp/r.log" > "$tmp/out" || fail "second --recover failed"
grep -q 'nothing to resume' "$tmp/out" || fail "second --recover: $(cat "$tmp/out")"

note "recover: bad input"
rc=0
"$PAUSESIM" --recover "$tmp/missing.log" 2> "$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "--recover of a missing file: exit $rc, not 1"
grep -q 'missing.log: No such file' "$tmp/err" || fail "unclear: $(cat "$tmp/err")"
rc=0
"$PAUSESIM" --recover "$tmp/r.log" --pid 1 2> "$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "--recover with a target: exit $rc, not 2"
printf '{"seq":1,"pid":1,"mode":"stop","start_boot_ns":1,"duration_ns":1,"requested_ns":1}\n{"seq":2,"begin_b' > "$tmp/torn.log"
"$PAUSESIM" --recover "$tmp/torn.log" > "$tmp/out" 2> "$tmp/err" || fail "a torn last line made --recover fail"
grep -q 'nothing to resume' "$tmp/out" || fail "torn log: $(cat "$tmp/out")"
echo "pausesim strand: ok"
