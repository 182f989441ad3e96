# Helpers shared by the pausesim integration tests. Sourced, not run.
#
# Each test gets a scratch directory and a list of the processes it started;
# on exit every one of them is continued and killed (never anything else),
# so a failing test cannot leave a stopped process behind.

set -euo pipefail

PAUSESIM=${1:?usage: $0 PATH_TO_PAUSESIM [...]}
[ -x "$PAUSESIM" ] || { echo "FAIL: $PAUSESIM is not executable" >&2; exit 1; }
# How far a measured stall may exceed the requested one. Real figures are
# well under 1 ms; the margin is for a loaded CI machine.
TOL_NS=$(( ${PAUSESIM_TOL_MS:-10} * 1000000 ))

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
it_scratch pausesim

# The state letter of a process from /proc/PID/stat ('X' if it is gone).
proc_state() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo X; return; }
  s=${s##*) }
  echo "${s%% *}"
}

# CLOCK_BOOTTIME in ns, from /proc/uptime (10 ms resolution).
boot_ns() {
  local up
  read -r up _ < /proc/uptime
  echo $(( 10#${up%.*} * 1000000000 + 10#${up#*.} * 10000000 ))
}

# utime + stime of a process, in clock ticks.
cpu_ticks() {
  local s
  s=$(cat "/proc/$1/stat") || return 1
  s=${s##*) }
  set -- $s
  echo $(( ${12} + ${13} ))
}

# Every thread of PID is stopped.
all_threads_stopped() {
  local t st
  for t in /proc/"$1"/task/*; do
    st=$(cat "$t/stat" 2>/dev/null) || continue
    st=${st##*) }
    [ "${st%% *}" = T ] || return 1
  done
}

is_stopped() { [ "$(proc_state "$1")" = T ]; }
is_not_stopped() { [ "$(proc_state "$1")" != T ]; }
is_gone() { [ ! -e "/proc/$1" ] || [ "$(proc_state "$1")" = Z ]; }
file_has_lines() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }

# A number field of one JSON log line.
log_field() {
  local v=${1#*\"$2\":}
  echo "${v%%[,\}]*}"
}

# check_log FILE COUNT MODE PID: exactly COUNT lines of the documented shape,
# numbered from 1, for PID (0 for a cgroup), in MODE.
check_log() {
  local file=$1 count=$2 mode=$3 pid=$4 n=0 line
  local re='^\{"seq":[0-9]+,"pid":[0-9]+,"mode":"(stop|freeze|gc)","start_boot_ns":[0-9]+,"duration_ns":[0-9]+,"requested_ns":[0-9]+\}$'
  [ -f "$file" ] || fail "no log $file"
  [ "$(wc -l < "$file")" -eq "$count" ] ||
    fail "log $file has $(wc -l < "$file") lines, want $count: $(cat "$file")"
  while IFS= read -r line; do
    n=$((n + 1))
    [[ $line =~ $re ]] || fail "malformed log line: $line"
    [ "$(log_field "$line" seq)" -eq "$n" ] || fail "line $n has seq $(log_field "$line" seq)"
    [ "$(log_field "$line" pid)" -eq "$pid" ] || fail "line $n: pid $(log_field "$line" pid), want $pid"
    [[ $line == *"\"mode\":\"$mode\""* ]] || fail "line $n: mode is not $mode: $line"
  done < "$file"
}

# check_durations FILE: each stall lasted at least what was requested and at
# most TOL_NS more.
check_durations() {
  local line d r
  while IFS= read -r line; do
    d=$(log_field "$line" duration_ns)
    r=$(log_field "$line" requested_ns)
    [ "$d" -ge "$r" ] || fail "stall shorter than requested: $line"
    [ $((d - r)) -le "$TOL_NS" ] ||
      fail "stall $((d - r)) ns longer than requested (tolerance $TOL_NS): $line"
  done < "$1"
}

# Run pausesim, keeping its exit status in $rc and its stderr in $tmp/err.
run_psim() {
  set +e
  "$PAUSESIM" "$@" 2> "$tmp/err"
  rc=$?
  set -e
}

expect_rc() {
  [ "$rc" -eq "$1" ] || fail "${2:-pausesim} exited $rc, want $1; stderr: $(cat "$tmp/err")"
}

expect_err() {
  grep -qF -- "$1" "$tmp/err" || fail "stderr lacks \"$1\": $(cat "$tmp/err")"
}
