#!/usr/bin/env bash
# pausesim's command line: --help, --version, and a clear exit 2 for every
# bad argument (a bad SPEC names the option, the text and the offset), exit 1
# for a target it cannot use.
#   cli.sh PAUSESIM
source "$(dirname "$0")/lib.sh"

note "--help and --version"
"$PAUSESIM" --help > "$tmp/help" 2> "$tmp/err"
grep -q "^Usage: pausesim" "$tmp/help" || fail "--help has no usage line"
for word in --pid --cgroup --mode --duration --interval --count --for \
    --start-after --seed --log --quiet --verbose uniform:MIN,MAX exp:MEAN \
    pareto:SCALE,SHAPE; do
  grep -q -- "$word" "$tmp/help" || fail "--help does not mention $word"
done
[ ! -s "$tmp/err" ] || fail "--help wrote to stderr"
version=$("$PAUSESIM" --version)
[[ $version =~ ^pausesim\ \(tenure\)\ [0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "--version printed \"$version\""

sleep 60 &
target=$!
track "$target"

note "bad SPECs: exit 2, naming the option, the text and the offset"
bad_spec() { # OPTION TEXT OFFSET
  run_psim "$1" "$2" --pid "$target" -n 1
  expect_rc 2 "pausesim $1 $2"
  expect_err "$1 \"$2\""
  expect_err "at offset $3"
}
bad_spec --duration uniform:10ms,2x 14
bad_spec --duration 200 3
bad_spec --duration gauss:1s 0
bad_spec --duration exp:0s 4
bad_spec --interval pareto:10ms,0 12
bad_spec --interval uniform:2s,1s 11
bad_spec --for 10x 2
bad_spec --start-after -1s 0
run_psim -d uniform:10ms,2x --pid "$target"
expect_err "--duration \"uniform:10ms,2x\": unknown unit"
expect_err "at offset 14"
kill -0 "$target" && is_not_stopped "$target" || fail "a usage error touched the target"

note "other bad arguments: exit 2 with a message"
bad_args() { # EXPECTED_MESSAGE ARGS...
  local want=$1
  shift
  run_psim "$@"
  expect_rc 2 "pausesim $*"
  expect_err "$want"
}
bad_args "no target"
bad_args "one target only" --pid "$target" -- sleep 1
bad_args "one target only" --pid "$target" --cgroup /tmp
bad_args "not a process id" --pid abc
bad_args "not a process id" --pid 0
bad_args "not a process id" --pid -5
bad_args "at least 1" --pid "$target" -n 0
bad_args "at least 1" --pid "$target" -n x
bad_args "not a whole number" --pid "$target" -s -1
bad_args "not a whole number" --pid "$target" -s 18446744073709551616
bad_args "unknown mode" --pid "$target" -m pause
bad_args "use --mode freeze" --cgroup /tmp
bad_args "needs --cgroup" -m freeze --pid "$target"
bad_args "needs --pid PID or a COMMAND" -m gc --cgroup /tmp
bad_args "does not apply to --mode gc" -m gc -d 1s --pid "$target"
bad_args "longer than 0s" --pid "$target" --for 0s
bad_args "unknown option --bogus" --bogus --pid "$target"
bad_args "unknown option -x" -x --pid "$target"
bad_args "option --duration needs a value" --pid "$target" --duration
bad_args "option -n needs a value" --pid "$target" -n

note "a target pausesim cannot use: exit 1"
run_psim --pid "$target" -n 1 -l "$tmp/no/such/dir/log"
expect_rc 1 "pausesim with an unwritable log"
expect_err "cannot open the log"
run_psim -m freeze --cgroup "$tmp/not-a-cgroup" -n 1
expect_rc 1 "pausesim on a missing cgroup"
expect_err "--cgroup $tmp/not-a-cgroup"
mkdir "$tmp/plain-dir"
run_psim -m freeze --cgroup "$tmp/plain-dir" -n 1
expect_rc 1 "pausesim on a directory that is not a cgroup"
expect_err "no cgroup.freeze"

note "permission denied: exit 1 with a clear message"
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null &&
    setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$PAUSESIM" 2> /dev/null; then
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$PAUSESIM" --pid "$target" -n 1 2> "$tmp/err"
  rc=$?
  set -e
  expect_rc 1 "pausesim as nobody against root's process"
  expect_err "permission denied"
else
  note "skipped: needs root, setpriv, and a pausesim that nobody may run"
fi

echo "PASS"
