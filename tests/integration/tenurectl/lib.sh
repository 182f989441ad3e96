# Shared by tenurectl's test scripts (sourced). Arguments of every script:
#   $1 tenurectl   $2 it_tenurectl_hold   $3 it_tenurectl_fence
ctl=$1
hold=$2
fenceh=$3
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# sanitizer reports must fail the test, not hide behind an expected exit 1
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}exitcode=86:print_stacktrace=1"
fail() { echo "FAIL: $*" >&2; exit 1; }

# run CMD...: rc, $tmp/out and $tmp/err, without tripping set -e.
run() {
  set +e
  "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  set -e
}
expect_rc() { # WANT WHAT
  [ "$rc" = "$1" ] || fail "$2: exit $rc, want $1; stdout: $(cat "$tmp/out"); stderr: $(cat "$tmp/err")"
}
err_has() { # REGEX WHAT
  grep -Eq -- "$1" "$tmp/err" || fail "$2: stderr lacks /$1/: $(cat "$tmp/err")"
}

# uptime_s: whole seconds of boot time (/proc/uptime). Waits are bounded
# in real time, not by a count of polls, which a loaded machine stretches.
uptime_s() { local up; read -r up _ </proc/uptime; echo "${up%.*}"; }

# wait_for FILE REGEX SECONDS: until a line of FILE matches, for at most
# SECONDS (plus up to one) of real time.
wait_for() {
  local t0
  t0=$(uptime_s)
  until grep -Eq -- "$2" "$1" 2>/dev/null; do
    [ $(($(uptime_s) - t0)) -le "$3" ] || return 1
    sleep 0.05
  done
}

# start_holder URI NAME HOLDER TTL: a background holder of NAME; sets
# holder_pid, holder_token and holder_log.
start_holder() {
  holder_log="$tmp/holder.$3"
  "$hold" "$1" "$2" "$3" "$4" >"$holder_log" 2>&1 &
  holder_pid=$!
  pids+=("$holder_pid")
  wait_for "$holder_log" '^token [0-9]+$' 30 ||
    fail "holder $3 never got $2: $(cat "$holder_log")"
  holder_token=$(sed -n 's/^token //p' "$holder_log")
}

# reap PID: wait for it and set reaped_status, without tripping set -e.
reap() {
  set +e
  wait "$1" 2>/dev/null
  reaped_status=$?
  set -e
}

# jcheck WHAT PYEXPR: $tmp/out is valid JSON and PYEXPR, over the document
# d and the environment env, is true. One python3 run (isolated, no site:
# its start-up is the cost, and a loaded machine multiplies it).
jcheck() {
  local why
  why=$(python3 -I -S - "$tmp/out" "$2" <<'PY'
import json, os, sys
try:
    with open(sys.argv[1]) as f:
        d = json.load(f)
except ValueError as e:
    print("not valid JSON (%s)" % e)
    sys.exit(1)
env = os.environ
if not eval("(" + sys.argv[2] + ")"):
    print(sys.argv[2] + " is false")
    sys.exit(1)
PY
  ) || fail "$1: ${why:-python3 failed}: $(cat "$tmp/out")"
}

# row NAME: the fields of the table row whose first column is NAME.
row() { awk -v n="$1" '$1 == n { $1 = $1; print }' "$tmp/out"; }

# flip FILE OFFSET: invert one byte in place.
flip() {
  python3 -I -S - "$1" "$2" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
PY
}
