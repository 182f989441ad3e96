#!/usr/bin/env bash
# The headline test: pausesim injects 25 real stalls of 10-200 ms into a
# running pausemeter, and pausestat --compare, reading what pausemeter
# detected, finds every one of them (recall 1.0) with a duration error of at
# most 2 ms at p99 — once through the live control socket, once from the
# events file after pausemeter has ended.
#
#   headline.sh PAUSESTAT PAUSEMETER PAUSESIM stop|freeze
#
# freeze stalls pausemeter's own cgroup v2 (a child of this test's cgroup)
# instead of sending SIGSTOP; without a writable cgroup v2 it skips (77)
# and says why. With no SIGCONT the detected cause is not "stopped": the
# comparison matches by time only, and the end of a freeze is seen later
# (see FREEZE_MAX_P99_NS).
source "$(dirname "$0")/lib.sh"
PAUSEMETER=${2:?} PAUSESIM=${3:?} MODE=${4:?}
N=25
# The duration error users rely on: |detected - injected| at p99.
MAX_ERR_NS=2000000
# In freeze mode there is no SIGCONT to timestamp the end of a stall: the
# monitor sees the end only when its sampler runs again after the thaw, so
# CPU contention from other processes right then adds to the detected
# length. Typically under 0.7 ms here, but up to 5 ms was seen while other
# builds loaded both CPUs. So freeze holds the median to 2 ms and the p99 to
# a wider bound.
FREEZE_MAX_P99_NS=$(( ${PAUSESTAT_FREEZE_MAX_ERR_MS:-10} * 1000000 ))

skip() {
  echo "SKIP: $*"
  exit 77
}

cg=
if [ "$MODE" = freeze ]; then
  # The cgroup2 mount (mountinfo: the fs type follows " - ") and our cgroup.
  mnt=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
    /proc/self/mountinfo | head -n1)
  [ -n "$mnt" ] || skip "freeze mode needs cgroup v2, and there is no cgroup2 mount"
  own=$(sed -n 's/^0:://p' /proc/self/cgroup)
  [ -n "$own" ] || skip "this process is in no cgroup v2 cgroup (/proc/self/cgroup has no 0:: line)"
  parent=${mnt%/}${own%/}
  cg=$parent/pausestat-it-$$
  mkdir "$cg" 2> /dev/null || skip "cannot create a cgroup under $parent (not writable by uid $(id -u))"
  remove_cgroup() {
    local i p
    [ -d "$cg" ] || return 0
    echo 0 > "$cg/cgroup.freeze" 2> /dev/null || true
    for p in $(cat "$cg/cgroup.procs" 2> /dev/null); do kill -KILL "$p" 2> /dev/null || true; done
    for i in $(seq 100); do
      rmdir "$cg" 2> /dev/null && return 0
      sleep 0.02
    done
    echo "warning: could not remove $cg" >&2
  }
  cleanup_hooks+=("remove_cgroup")
  [ -f "$cg/cgroup.freeze" ] || skip "no cgroup.freeze in $cg (kernel older than 5.2)"
elif [ "$MODE" != stop ]; then
  fail "mode must be stop or freeze, not $MODE"
fi

note "pausemeter, stalled by pausesim --mode $MODE"
"$PAUSEMETER" --events "$tmp/E.jsonl" --quiet > "$tmp/pausemeter.out" 2>&1 &
pm=$!
track "$pm"
sock=$TENURE_RUN_DIR/$pm.sock
wait_until 3000 is_socket "$sock" || fail "pausemeter never opened $sock: $(cat "$tmp/pausemeter.out")"
if [ -n "$cg" ]; then
  echo "$pm" > "$cg/cgroup.procs" 2> /dev/null ||
    skip "cannot move pausemeter into $cg (the no-internal-process rule, or permissions)"
  target=(--mode freeze --cgroup "$cg")
else
  target=(--mode stop --pid "$pm")
fi
sleep 0.3 # let the sampler settle
"$PAUSESIM" -q "${target[@]}" --seed 42 -d uniform:10ms,200ms -i 100ms -n "$N" \
  --log "$tmp/I.jsonl" || fail "pausesim exited $?"
[ "$(wc -l < "$tmp/I.jsonl")" -eq "$N" ] || fail "pausesim logged $(wc -l < "$tmp/I.jsonl") stalls, want $N"
sleep 0.2 # the last stall's event is written when the sampler wakes

# check_compare JSON WHAT: the figures users rely on.
check_compare() {
  local f=$1 what=$2
  expect_json "$f" "d['compare']['injected'] == $N"
  expect_json "$f" "d['compare']['injected_above_threshold'] == $N"
  expect_json "$f" "d['compare']['recall'] == 1.0"
  expect_json "$f" "d['compare']['matched'] == $N"
  expect_json "$f" "d['compare']['unmatched_injected'] == []"
  if [ "$MODE" = stop ]; then
    expect_json "$f" "d['compare']['error_p99_ns'] <= $MAX_ERR_NS"
    expect_json "$f" "d['compare']['error_p99_abs_ns'] <= $MAX_ERR_NS"
  else
    expect_json "$f" "abs(d['compare']['error_p50_ns']) <= $MAX_ERR_NS"
    expect_json "$f" "d['compare']['error_p99_abs_ns'] <= $FREEZE_MAX_P99_NS"
  fi
  expect_json "$f" "d['compare']['pass'] is True"
  if [ "$MODE" = stop ]; then
    expect_json "$f" "all(m['detected_cause'] == 'stopped' for m in d['compare']['matches'])"
  fi
  python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))["compare"]
ms = lambda v: "n/a" if v is None else "%+.3f ms" % (v / 1e6)
ams = lambda v: "n/a" if v is None else "%.3f ms" % (v / 1e6)
print("%s %s: injected %d, detected %d, matched %d, recall %s, precision %s, "
      "error p50 %s p99 %s max|e| %s, over 2 ms: %d" % (
      sys.argv[2], sys.argv[3], c["injected"], c["detected"], c["matched"],
      c["recall"], c["precision"], ms(c["error_p50_ns"]), ms(c["error_p99_ns"]),
      ams(c["error_max_abs_ns"]), c["over_tolerance"]))' "$f" "$MODE" "$what"
}

note "live: pausestat --socket while pausemeter runs"
run_pstat --socket "$sock" --compare "$tmp/I.jsonl" --json
expect_rc 0 "pausestat --socket --compare --json"
cp "$tmp/out" "$tmp/live.json"
expect_json "$tmp/live.json" "d['source']['kind'] == 'socket'"
expect_json "$tmp/live.json" "d['pid'] == $pm"
check_compare "$tmp/live.json" socket
# The same through --pid, as text.
run_pstat --pid "$pm" --compare "$tmp/I.jsonl"
expect_rc 0 "pausestat --pid --compare"
expect_out "recall     1.000 ($N of $N stalls longer than the threshold)"
expect_out "result: PASS"
if [ "$MODE" = stop ]; then
  stopped=$(awk '$1 == "stopped" { print $2 }' "$tmp/out")
  [ "${stopped:-0}" -ge "$N" ] || fail "the stopped row counts ${stopped:-no} events, want $N: $(cat "$tmp/out")"
fi

note "pausemeter ends on SIGINT"
kill -INT "$pm"
wait "$pm" || fail "pausemeter exited $? on SIGINT"

note "offline: pausestat --events"
run_pstat --events "$tmp/E.jsonl" --compare "$tmp/I.jsonl" --json
expect_rc 0 "pausestat --events --compare --json"
cp "$tmp/out" "$tmp/file.json"
expect_json "$tmp/file.json" "d['events_file']['malformed'] == 0"
check_compare "$tmp/file.json" file
# Both views saw the same events.
expect_json "$tmp/file.json" "d['compare']['matches'] == $(jq_py "$tmp/live.json" "d['compare']['matches']")"

note "a detector that missed a stall fails the comparison"
head -n 3 "$tmp/E.jsonl" > "$tmp/E3.jsonl"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/I.jsonl"
expect_rc 1 "pausestat --compare with 3 of $N events"
expect_out "result: FAIL"
echo "PASS"
