# Helpers shared by the pausestat integration tests. Sourced, not run.
#
# Each test gets a scratch directory (also its TENURE_RUN_DIR, so control
# sockets never touch the machine's) and a list of the processes it started;
# on exit each of them is continued and killed, never anything else.

set -euo pipefail

PAUSESTAT=${1:?usage: $0 PATH_TO_PAUSESTAT [...]}
[ -x "$PAUSESTAT" ] || { echo "FAIL: $PAUSESTAT is not executable" >&2; exit 1; }

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
it_scratch pausestat
export TENURE_RUN_DIR=$tmp/run

is_socket() { [ -S "$1" ]; }
is_gone() { ! kill -0 "$1" 2> /dev/null; }

# Run pausestat: stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run_pstat() {
  set +e
  "$PAUSESTAT" "$@" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  set -e
}

expect_rc() {
  [ "$rc" -eq "$1" ] ||
    fail "${2:-pausestat} exited $rc, want $1; stdout: $(cat "$tmp/out"); stderr: $(cat "$tmp/err")"
}

expect_out() {
  grep -qF -- "$1" "$tmp/out" || fail "stdout lacks \"$1\": $(cat "$tmp/out")"
}

expect_no_out() {
  ! grep -qF -- "$1" "$tmp/out" || fail "stdout has \"$1\": $(cat "$tmp/out")"
}

expect_err() {
  grep -qF -- "$1" "$tmp/err" || fail "stderr lacks \"$1\": $(cat "$tmp/err")"
}

expect_no_err() {
  ! grep -qF -- "$1" "$tmp/err" || fail "stderr has \"$1\": $(cat "$tmp/err")"
}

# Python runs isolated and without site (-I -S): its start-up is most of
# what these scripts cost, several times over on a loaded machine, so each
# call checks as much as it can.

# jq_py FILE EXPR: evaluate a Python expression over the JSON in FILE,
# bound to d, and print the result (json.dumps, so 1.0 stays 1.0).
jq_py() {
  python3 -I -S -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(eval(sys.argv[2])))' "$1" "$2"
}

# expect_json FILE EXPR...: each Python expression over d (the JSON in
# FILE) must be True; all of them are checked in one python3 run.
expect_json() {
  local f=$1 why
  shift
  why=$(python3 -I -S -c 'import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("cannot read the JSON: %s" % e)
    sys.exit(1)
for x in sys.argv[2:]:
    try:
        v = eval(x)
    except Exception as e:
        print("cannot evaluate %s: %r" % (x, e))
        sys.exit(1)
    if v is not True:
        print("%s is %s" % (x, json.dumps(v)))
        sys.exit(1)' "$f" "$@") || fail "${why:-python3 failed} in $f: $(cat "$f")"
}

# An event line and a stall line, in the documented formats.
event_line() { # SEQ CAUSE START_NS DURATION_NS
  printf '{"seq":%s,"cause":"%s","start_boot_ns":%s,"start_wall":"2026-11-26T09:30:31.123456789Z","duration_ns":%s,"planned":false,"runq_wait_ns":0,"steal_ns":0,"suspended_ns":0,"sigcont":true}\n' \
    "$1" "$2" "$3" "$4"
}
stall_line() { # SEQ START_NS DURATION_NS
  printf '{"seq":%s,"pid":4242,"mode":"stop","start_boot_ns":%s,"duration_ns":%s,"requested_ns":%s}\n' \
    "$1" "$2" "$3" "$3"
}

# Start the stand-in control socket: fake_target SOCKET STATUS EVENTS.
start_fake() {
  "$FAKE_TARGET" "$1" "$2" "$3" > "$tmp/fake.out" &
  fake=$!
  track "$fake"
  wait_until 30000 is_socket "$1" || fail "the stand-in target never listened on $1"
}
