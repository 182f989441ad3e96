#!/usr/bin/env bash
# A 3-member etcd cluster losing its raft leader, then its quorum, while
# three fenced_counter candidates lead through it (TTL 2 s).
#
#   cluster.sh BUILD_DIR RIG FIXTURE_DIR
#
# Phase A: the etcd leader is SIGSTOPped for 5 s. The other two elect a new
#   leader within an election timeout or two; the tenure holder either
#   renews through it in time or steps down. Either is correct.
# Phase B: the etcd leader and one follower are SIGSTOPped for 5 s: no
#   quorum, so no renewal can succeed. The holder must step down when its
#   deadline passes (guards refuse from then on), and no write may be
#   accepted from TTL after the outage began until it ends: nobody can hold
#   the lease then.
# Phase C: a follower is SIGKILLed while a holder leads, and restarted
#   (etcd.sh restart: same name, data dir and flags); it must report /health
#   again. The holder keeps leading (the other two are a quorum) or steps
#   down cleanly. Then the holder is stopped so that another candidate
#   acquires: its token must be above every token accepted before.
# After each phase the members are resumed and writes must resume. The
# checker must find 0 violations over the whole run (no stale or
# overlapping holder's write accepted).
set -euo pipefail
build=$1
rig=$2
fixture=$3
fc=$build/examples/fenced_counter
check=$build/examples/check_writes

work=$(mktemp -d /tmp/tenure-it-etcd-cluster-XXXXXX)
pids=()
stopped=()
cleanup() {
  local p
  for p in "${stopped[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; fi; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/c*.log; do echo "--- $f"; tail -n 15 "$f"; done
  exit 1
}

boot_ns() { python3 -I -S -c 'import time; print(time.clock_gettime_ns(time.CLOCK_BOOTTIME))'; }
uptime_s() { local up; read -r up _ </proc/uptime; echo "${up%.*}"; }
accepted() { grep -c '"accepted":true' "$work/store/writes.jsonl" 2>/dev/null || echo 0; }

# wait_writes N SECONDS: until N more writes than now are accepted, for at
# most SECONDS of real time (not a count of polls: on a loaded machine each
# poll takes longer, and the bounds below would silently grow). The bounds
# are liveness bounds with slack: a holder writes every few ms, and etcd
# elects a leader within an election timeout (1 s) or two.
wait_writes() {
  local from t0
  from=$(accepted)
  t0=$(uptime_s)
  until [ "$(accepted)" -ge $((from + $1)) ]; do
    [ $(($(uptime_s) - t0)) -le "$2" ] || return 1
    sleep 0.1
  done
}

endpoints=$(cat "$fixture/endpoints")
[ "$(tr ',' '\n' <<<"$endpoints" | wc -l)" -eq 3 ] || fail "want 3 endpoints, got $endpoints"
uri="etcd://$endpoints/it-cluster-$$?timeout=300ms"
t0=$(python3 -I -S -c 'import time; print(time.clock_gettime(time.CLOCK_BOOTTIME))')
for i in 1 2 3; do
  "$fc" --authority "$uri" --lease counter --id "c$i" --store "$work/store" \
    --ttl 2s --work 10ms --interval 5ms --t0 "$t0" >"$work/c$i.log" 2>&1 &
  pids+=($!)
done
wait_writes 50 30 || fail "no leader wrote within 30 s"

# --- phase A: the raft leader stops -----------------------------------------
read -r name pid <<<"$("$rig" leader "$fixture")" || fail "no etcd leader"
echo "phase A: SIGSTOP etcd leader $name (pid $pid) for 5 s"
# Outage times are read after the stop and before the resume, so they lie
# inside the real outage whatever this shell's delays (python3 takes a
# while to start on a loaded machine).
kill -STOP "$pid"
stopped+=("$pid")
a_start=$(boot_ns)
sleep 5
a_end=$(boot_ns)
kill -CONT "$pid"
stopped=()
wait_writes 50 30 || fail "writes did not resume within 30 s after phase A"
echo "phase A: writes resumed ($(accepted) accepted so far)"

# --- phase B: quorum lost ---------------------------------------------------
read -r name pid <<<"$("$rig" leader "$fixture")" || fail "no etcd leader"
other=""
for m in s1 s2 s3; do
  if [ "$m" != "$name" ]; then other=$m; break; fi
done
opid=$("$rig" pid "$fixture" "$other")
echo "phase B: SIGSTOP etcd leader $name (pid $pid) and follower $other (pid $opid) for 5 s"
kill -STOP "$pid" "$opid"
stopped+=("$pid" "$opid")
b_start=$(boot_ns)
sleep 5
b_end=$(boot_ns)
kill -CONT "$pid" "$opid"
stopped=()
wait_writes 50 40 || fail "writes did not resume within 40 s after phase B"
echo "phase B: writes resumed ($(accepted) accepted so far)"

# --- phase C: a member killed and restarted ---------------------------------
# last_accepted FIELD: that field of the last accepted write
last_accepted() {
  python3 -I -S - "$work/store/writes.jsonl" "$1" <<'EOF'
import json, sys
last = None
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["accepted"]:
        last = r
print(last[sys.argv[2]] if last else "")
EOF
}
member_healthy() { # NAME
  curl -s --max-time 2 --noproxy '*' "http://127.0.0.1:$(cat "$fixture/$1.port")/health" |
    grep -q '"health":"true"'
}
# becomes_healthy NAME: healthy within 30 s (one /health that times out on
# a loaded machine is not a sick member).
becomes_healthy() {
  local t0
  t0=$(uptime_s)
  until member_healthy "$1"; do
    [ $(($(uptime_s) - t0)) -le 30 ] || return 1
    sleep 0.2
  done
}
read -r lname _ <<<"$("$rig" leader "$fixture")" || fail "no etcd leader"
victim=""
for m in s1 s2 s3; do
  if [ "$m" != "$lname" ]; then victim=$m; break; fi
done
vpid=$("$rig" pid "$fixture" "$victim")
holder=$(last_accepted holder)
tok_before=$(last_accepted token)
echo "phase C: SIGKILL etcd follower $victim (pid $vpid) while $holder holds token $tok_before"
kill -KILL "$vpid"
killed_at=$(uptime_s)
while [ "$(cat "/proc/$vpid/comm" 2>/dev/null)" = etcd ] && [ $(($(uptime_s) - killed_at)) -le 10 ]; do
  sleep 0.1
done
if [ "$(cat "/proc/$vpid/comm" 2>/dev/null)" = etcd ]; then fail "$victim (pid $vpid) survived SIGKILL"; fi
wait_writes 20 30 || fail "writes stopped with one follower down"
sleep 1
"$rig" restart "$fixture" "$victim" || fail "etcd.sh restart $victim failed"
[ "$("$rig" pid "$fixture" "$victim")" != "$vpid" ] || fail "pid file of $victim not updated"
becomes_healthy "$victim" || fail "restarted member $victim is not healthy"
wait_writes 50 30 || fail "writes did not resume within 30 s after restarting $victim"
echo "phase C: $victim restarted (pid $("$rig" pid "$fixture" "$victim")); $(accepted) writes accepted so far, holder $(last_accepted holder)"
# a new acquire: stop the current holder, another candidate must take over
holder=$(last_accepted holder)
tok_mid=$(last_accepted token)
hidx=${holder#c}
[[ "$hidx" =~ ^[123]$ ]] || fail "unexpected holder '$holder'"
hpid=${pids[$((hidx - 1))]}
kill -TERM "$hpid"
wait "$hpid" || true
pids[$((hidx - 1))]=""
wait_writes 20 30 || fail "no new holder within 30 s after stopping $holder"
tok_after=$(last_accepted token)
new_holder=$(last_accepted holder)
echo "phase C: $holder stopped; $new_holder holds token $tok_after (before the kill: $tok_before, before the stop: $tok_mid)"
[ "$new_holder" != "$holder" ] || fail "stopped holder $holder still writes"
if [ "$tok_after" -le "$tok_before" ] || [ "$tok_after" -le "$tok_mid" ]; then
  fail "token did not increase across the restart: $tok_after after $tok_before/$tok_mid"
fi
becomes_healthy "$victim" || fail "restarted member $victim is not healthy at the end"

for p in "${pids[@]}"; do if [ -n "$p" ]; then kill -TERM "$p"; fi; done
for p in "${pids[@]}"; do if [ -n "$p" ]; then wait "$p" || true; fi; done
pids=()

# The holder stepped down during phase B (its log times are boot seconds
# since t0, like b_start and b_end).
python3 -I -S - "$work" "$t0" "$a_start" "$a_end" "$b_start" "$b_end" <<'EOF' || fail "phase B checks"
import glob, json, re, sys
work, t0 = sys.argv[1], float(sys.argv[2])
a_start, a_end, b_start, b_end = map(int, sys.argv[3:7])

def step_downs(start, end):
    lo, hi = start / 1e9 - t0, end / 1e9 - t0
    found = []
    for path in glob.glob(work + "/c*.log"):
        for line in open(path):
            m = re.match(r"\[\s*([0-9.]+)s\] (\S+)\s+stepped down \((\S+)\)", line)
            if m and lo <= float(m.group(1)) <= hi + 0.5:
                found.append("%s at +%.2fs (%s)" % (m.group(2), float(m.group(1)) - lo, m.group(3)))
    return found

# phase A: either outcome is correct; say which happened
print("phase A step-downs:", ", ".join(step_downs(a_start, a_end)) or "none (renewed through the new etcd leader in time)")
downs = step_downs(b_start, b_end)
print("phase B step-downs:", ", ".join(downs))
if not downs:
    sys.exit("the holder never stepped down while etcd had no quorum")
# nobody may write from TTL (2 s, plus slack) after the outage began
late = [r for r in map(json.loads, open(work + "/store/writes.jsonl"))
        if r["accepted"] and b_start + 2_200_000_000 <= r["boot_ns"] < b_end]
if late:
    sys.exit("%d writes accepted while no lease could be held, first %s" % (len(late), late[0]))
EOF

out=$("$check" "$work/store/writes.jsonl" "$work/store/counter")
echo "$out"
grep -q '^safety: 0 violations$' <<<"$out" || fail "safety violated"
echo "etcd cluster: ok"
