#!/usr/bin/env bash
# --mode freeze on a real cgroup v2: the processes inside get no CPU while
# frozen, the cgroup is thawed after each stall, after SIGTERM and after
# pausesim's SIGKILL, and pausesim refuses to freeze a cgroup it is in.
# Skips (exit 77) with the reason when there is no writable cgroup v2.
#   freeze.sh PAUSESIM
source "$(dirname "$0")/lib.sh"

skip() {
  echo "SKIP: $*"
  exit 77
}

# The cgroup2 mount (mountinfo: the fs type follows " - ") and our cgroup.
mnt=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
  /proc/self/mountinfo | head -n1)
[ -n "$mnt" ] || skip "no cgroup v2 mount"
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
[ -n "$own" ] || skip "this process is in no cgroup v2 cgroup"
parent=${mnt%/}${own%/}
cg=$parent/pausesim-it-$$
mkdir "$cg" 2> /dev/null || skip "cannot create a cgroup under $parent (not writable)"
cleanup_hooks+=("thaw_and_remove")
thaw_and_remove() {
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
[ -f "$cg/cgroup.freeze" ] || skip "no cgroup.freeze in $cg (kernel older than 5.2)"

sh -c 'while :; do :; done' &
busy=$!
track "$busy"
echo "$busy" > "$cg/cgroup.procs" 2> /dev/null ||
  skip "cannot move a process into $cg (the no-internal-process rule, or permissions)"

frozen() { grep -qx "frozen 1" "$cg/cgroup.events"; }
thawed() { grep -qx "frozen 0" "$cg/cgroup.events"; }

note "a frozen busy loop gets no CPU, and runs again after"
# As in pid.sh: the CPU time is compared only across a window that the
# cgroup was frozen for from start to end (one freeze of 3 s, its state
# read before the first and after the second reading).
"$PAUSESIM" -q -m freeze --cgroup "$cg" -d 3s -n 1 -l "$tmp/freeze" &
p=$!
track "$p"
wait_until 10000 frozen || fail "$cg never froze"
t1=$(cpu_ticks "$busy")
sleep 0.3
t2=$(cpu_ticks "$busy")
frozen || fail "the freeze ended while this test read the CPU time (3 s freeze): cannot tell"
[ "$t1" -eq "$t2" ] || fail "the frozen busy loop used $((t2 - t1)) ticks of CPU"
wait "$p" || fail "pausesim -m freeze exited $?"
thawed || fail "$cg still frozen after pausesim ended"
t1=$(cpu_ticks "$busy")
cpu_grew() { [ "$(cpu_ticks "$busy")" -gt "$t1" ]; }
wait_until 10000 cpu_grew || fail "the busy loop did not run again within 10 s of the thaw"
check_log "$tmp/freeze" 1 freeze 0
check_durations "$tmp/freeze"

note "3 freezes on schedule"
run_psim -m freeze --cgroup "$cg" -d 50ms -i 50ms -n 3 -l "$tmp/three"
expect_rc 0
check_log "$tmp/three" 3 freeze 0
check_durations "$tmp/three"
thawed || fail "$cg left frozen"
expect_err "3 stalls injected into cgroup $cg"

note "SIGTERM mid-freeze thaws"
# "At once": within 10 s, in a 20 s freeze (see signals.sh).
"$PAUSESIM" -q -m freeze --cgroup "$cg" -d 20s -n 1 &
p=$!
track "$p"
wait_until 10000 frozen || fail "$cg never froze"
sleep 0.2
kill -TERM "$p"
wait_until 10000 thawed || fail "$cg still frozen 10 s after SIGTERM to pausesim (in a 20 s freeze)"
set +e; wait "$p"; rc=$?; set -e
[ "$rc" -eq 143 ] || fail "pausesim killed by SIGTERM exited $rc"

note "SIGKILL mid-freeze: the guardian thaws"
"$PAUSESIM" -q -m freeze --cgroup "$cg" -d 20s -n 1 2> /dev/null &
p=$!
track "$p"
wait_until 10000 frozen || fail "$cg never froze"
kill -KILL "$p"
wait "$p" 2> /dev/null || true
wait_until 10000 thawed || fail "$cg still frozen 10 s after pausesim's SIGKILL (in a 20 s freeze)"

note "a cgroup frozen by someone else is refused and stays frozen"
echo 1 > "$cg/cgroup.freeze"
wait_until 10000 frozen || fail "$cg did not freeze"
run_psim -m freeze --cgroup "$cg" -d 10ms -n 1
expect_rc 1 "pausesim on a frozen cgroup"
expect_err "already frozen"
frozen || fail "pausesim thawed a cgroup it had not frozen"
echo 0 > "$cg/cgroup.freeze"
wait_until 10000 thawed || fail "$cg did not thaw"

note "pausesim refuses to freeze its own cgroup"
set +e
timeout 10 sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" -m freeze --cgroup "$1" -d 1s -n 1' \
  sh "$cg" "$PAUSESIM" 2> "$tmp/err"
rc=$?
set -e
expect_rc 2 "pausesim inside the cgroup it was asked to freeze"
expect_err "contains pausesim itself"
thawed || fail "$cg frozen by a pausesim inside it"

echo "PASS"
