# Helpers shared by the pausesim integration tests. Sourced, not run.
#
# Each test gets a scratch directory and a list of the processes it started;
# on exit every one of them is continued and killed (never anything else),
# so a failing test cannot leave a stopped process behind.

set -euo pipefail

PAUSESIM=${1:?usage: $0 PATH_TO_PAUSESIM [...]}
[ -x "$PAUSESIM" ] || { echo "FAIL: $PAUSESIM is not executable" >&2; exit 1; }
# How far a measured stall (or gap) may exceed the requested one. This is
# a behaviour check, not an accuracy figure (make bench measures those):
# the excess is pausesim's wake-up latency after its sleep, which is well
# under 1 ms on an idle machine but tens of ms when both CPUs are busy. A
# stall that ran on into the next one, or a --duration ignored, is off by
# far more than 100 ms.
TOL_NS=$(( ${PAUSESIM_TOL_MS:-100} * 1000000 ))

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
# The stall lines of a --log FILE: a line with "begin_boot_ns" is the begin
# record pausesim may write before a stall (for --recover), not a stall.
stall_lines() { grep -v '"begin_boot_ns"' "$1" || true; }
stall_count() { stall_lines "$1" | wc -l; }
file_has_lines() { [ -f "$1" ] && [ "$(stall_count "$1")" -ge "$2" ]; }

# A number field of one JSON log line.
log_field() {
  local v=${1#*\"$2\":}
  echo "${v%%[,\}]*}"
}

# check_log FILE COUNT MODE PID: exactly COUNT stall lines of the documented
# shape, numbered from 1, for PID (0 for a cgroup), in MODE.
check_log() {
  local file=$1 count=$2 mode=$3 pid=$4 n=0 line
  local re='^\{"seq":[0-9]+,"pid":[0-9]+,"mode":"(stop|freeze|gc)","start_boot_ns":[0-9]+,"duration_ns":[0-9]+,"requested_ns":[0-9]+\}$'
  [ -f "$file" ] || fail "no log $file"
  [ "$(stall_count "$file")" -eq "$count" ] ||
    fail "log $file has $(stall_count "$file") stall lines, want $count: $(cat "$file")"
  while IFS= read -r line; do
    n=$((n + 1))
    [[ $line =~ $re ]] || fail "malformed log line: $line"
    [ "$(log_field "$line" seq)" -eq "$n" ] || fail "line $n has seq $(log_field "$line" seq)"
    [ "$(log_field "$line" pid)" -eq "$pid" ] || fail "line $n: pid $(log_field "$line" pid), want $pid"
    [[ $line == *"\"mode\":\"$mode\""* ]] || fail "line $n: mode is not $mode: $line"
  done < <(stall_lines "$file")
}

# check_durations FILE: each stall lasted at least what was requested (exact:
# pausesim stamps the start once the stop is confirmed, sleeps until start +
# requested on the same clock, and only then stamps the end) and at most
# TOL_NS more.
check_durations() {
  local line d r
  while IFS= read -r line; do
    d=$(log_field "$line" duration_ns)
    r=$(log_field "$line" requested_ns)
    [ "$d" -ge "$r" ] || fail "stall shorter than requested: $line"
    [ $((d - r)) -le "$TOL_NS" ] ||
      fail "stall $((d - r)) ns longer than requested (tolerance $TOL_NS): $line"
  done < <(stall_lines "$1")
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
