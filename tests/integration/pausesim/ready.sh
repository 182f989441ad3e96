#!/usr/bin/env bash
# pausesim -- COMMAND waits until the command can see a stall:
#   - a command that starts a tenure runtime (pausemeter) is stalled only
#     once its monitor runs and its socket answers: with --seed 42 the first
#     stall used to land before the monitor was up and was never seen;
#   - a command that starts none is stalled after --warmup;
#   - a runtime that begins starting and never gets up fails the run after
#     --ready-timeout, naming the command, and the command is ended;
#   - --warmup and --ready-timeout are for -- COMMAND only (exit 2).
# usage: ready.sh PAUSESIM PAUSEMETER
source "$(dirname "$0")/lib.sh"
PAUSEMETER=${2:?usage: $0 PAUSESIM PAUSEMETER}

stall_lines() { grep -v '"begin_boot_ns"' "$1" || true; }
logged() { [ "$(stall_lines "$1" 2> /dev/null | wc -l)" -eq "$2" ]; }

# Every stall in the log overlaps a "stopped" event in the child's own
# events file. Behaviour, not accuracy: overlap, not a duration bound.
all_seen() {
  python3 - "$1" "$2" <<'PY'
import json, sys
stalls = [json.loads(l) for l in open(sys.argv[1]) if '"begin_boot_ns"' not in l]
events = [json.loads(l) for l in open(sys.argv[2]) if '"cause"' in l]
missed = []
for s in stalls:
    a, b = s["start_boot_ns"], s["start_boot_ns"] + s["duration_ns"]
    if not any(e["cause"] == "stopped" and e["start_boot_ns"] < b and
               e["start_boot_ns"] + e["duration_ns"] > a for e in events):
        missed.append(s["seq"])
print("%d stalls, missed: %s" % (len(stalls), missed))
sys.exit(1 if missed or not stalls else 0)
PY
}

note "a tenure runtime: all 12 stalls of --seed 42 seen by the child, the first included"
"$PAUSESIM" -q --seed 42 -n 12 -d uniform:20ms,80ms -i uniform:50ms,150ms \
  -l "$tmp/gt" -- "$PAUSEMETER" -q -f 30s --events "$tmp/ev" > /dev/null &
p=$!
track "$p"
# pausemeter runs its full --for; the stalls are done well before.
wait_until 60000 logged "$tmp/gt" 12 ||
  fail "pausesim did not log 12 stalls"
kill -TERM "$p" # passed on to pausemeter, which writes its summary and ends
wait "$p" || true
all_seen "$tmp/gt" "$tmp/ev" || { cat "$tmp/gt" "$tmp/ev"; fail "a stall the child never saw"; }

note "no runtime: the first stall comes after --warmup"
"$PAUSESIM" -q -n 1 -d 10ms --warmup 500ms -l "$tmp/w" -- sleep 1 ||
  fail "pausesim -- sleep failed"
# The begin record names the child's start (clock ticks since boot, cut
# down to a tick); the stall must start at least the warmup after it. A
# slow machine only makes it later.
python3 - "$tmp/w" <<'PY' || fail "the stall came before the warmup was over"
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
begin = next(l for l in lines if "begin_boot_ns" in l)
stall = next(l for l in lines if "start_boot_ns" in l)
tick = 10**9 // os.sysconf("SC_CLK_TCK")
born = begin["pid_start"] * tick
print("stall %.1f ms after the child started" % ((stall["start_boot_ns"] - born) / 1e6))
sys.exit(0 if stall["start_boot_ns"] >= born + 500 * 10**6 - tick else 1)
PY

note "a runtime that never gets up: exit 1 after --ready-timeout, the command ended"
uptime_ms
t0=$uptime_ms
rc=0
"$PAUSESIM" -n 3 -d 10ms --ready-timeout 1s -l "$tmp/t" -- \
  bash -c 'printf S >&"$TENURE_READY_FD"; exec sleep 60' 2> "$tmp/err" || rc=$?
uptime_ms
[ "$rc" -eq 1 ] || fail "exit $rc, not 1, for a command that never got ready"
grep -q 'did not become ready' "$tmp/err" || fail "no clear message: $(cat "$tmp/err")"
grep -q '(bash)' "$tmp/err" || fail "the message does not name the command: $(cat "$tmp/err")"
grep -q -- '--ready-timeout' "$tmp/err" || fail "the message does not name the option"
[ "$(stall_lines "$tmp/t" | wc -l)" -eq 0 ] || fail "stalls were injected anyway"
# 60 s is the command's own length: ending it is what brings pausesim back
# before that. 40 s leaves any loaded machine room for the 1 s timeout.
[ $((uptime_ms - t0)) -lt 40000 ] || fail "pausesim waited for the command to end by itself"

note "usage errors"
rc=0
"$PAUSESIM" --pid $$ --warmup 1s 2> "$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "--warmup with --pid: exit $rc, not 2"
grep -q 'apply to -- COMMAND only' "$tmp/err" || fail "unclear: $(cat "$tmp/err")"
rc=0
"$PAUSESIM" --ready-timeout 0s -- true 2> "$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "--ready-timeout 0s: exit $rc, not 2"
echo "ready: ok"
