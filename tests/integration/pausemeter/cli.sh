#!/usr/bin/env bash
# pausemeter's command line: help, version, bad arguments, --for, summary.
set -euo pipefail
pm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$pm" --help | grep -q -- '--threshold' || fail "--help lacks --threshold"
"$pm" --version | grep -Eq '^pausemeter \(tenure\) [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"

set +e
"$pm" --threshold 5xs 2>"$tmp/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "bad duration exit $rc, want 2"
grep -q 'offset 1' "$tmp/err" || fail "bad duration message lacks the offset: $(cat "$tmp/err")"

set +e
"$pm" --threshold 500us 2>"$tmp/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "threshold below 1ms exit $rc, want 2"

set +e
"$pm" --for 1s --events /nonexistent-dir/e.jsonl --no-socket 2>"$tmp/err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "unwritable events file exit $rc, want 1"
grep -q '/nonexistent-dir/e.jsonl' "$tmp/err" || fail "events error does not name the file"

# --for ends the run by itself with a summary table and exit 0
TENURE_RUN_DIR="$tmp/run" "$pm" --for 300ms > "$tmp/out"
grep -q '^cause ' "$tmp/out" || fail "no summary table"
for c in gc suspend stopped cpu unknown; do
  grep -q "^$c " "$tmp/out" || fail "summary lacks the $c row"
done
[ ! -e "$tmp/run/"*.sock ] || fail "control socket left behind after exit"
echo "pausemeter cli: ok"
