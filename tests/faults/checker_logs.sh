#!/usr/bin/env bash
# check_writes on hand-made stores, one CASE per ctest test:
#   shared_token  two holders (or two terms of one holder id) accepted, or
#                 refused, under one token: a violation (exit 1, message)
#   torn_write    a write saved but not logged (logged torn by the next
#                 writer, or the counter one write ahead at the end, or a
#                 half-written last line): counted as torn, 0 violations
#   violations    what torn writes must not excuse: a lost or doubled
#                 increment, a counter two writes ahead, a torn write
#                 with an older token, a refusal the fence did not owe
#   cli           --help, --version, bad arguments, unreadable input
#
#   checker_logs.sh BUILD_DIR CASE
# Tokens are wall-clock sized (~1.8e15), as fresh lease files give.
set -euo pipefail
build=$1
case=$2
check=$build/examples/check_writes
# shellcheck source=../integration/common.sh
. "$(dirname "$0")/../integration/common.sh"
it_scratch "checker-$case"
[ -x "$check" ] || fail "no $check"

T=1796694466412402 # a token
A=aaaaaaaaaaaaaaaa # term nonces
B=bbbbbbbbbbbbbbbb
C=cccccccccccccccc

# rec TOKEN HOLDER VALUE ACCEPTED TERM PID BASE_TOKEN BASE_TERM FENCE [EXTRA]
rec() {
  printf '{"token":%s,"holder":"%s","value":%s,"accepted":%s,"boot_ns":%s,"term":"%s","pid":%s,"base_token":%s,"base_term":"%s","fence":%s%s}\n' \
    "$1" "$2" "$3" "$4" "$((1000 + $3))" "$5" "$6" "$7" "$8" "$9" "${10:-}"
}
# counter VALUE TOKEN TERM PID HOLDER
counter() { printf 'value=%s token=%s term=%s pid=%s holder=%s\n' "$@" > "$tmp/counter"; }

# expect RC PATTERN: run the checker on $tmp/log and $tmp/counter
expect() {
  local want=$1 pattern=$2 rc=0
  out=$("$check" "$tmp/log" "$tmp/counter" 2>&1) || rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -Eq -- "$pattern" <<< "$out"; then
    echo "$out"
    fail "$label: expected exit $want and /$pattern/, got exit $rc"
  fi
  note "$label: exit $rc, $(grep -E -m1 -- "$pattern" <<< "$out")"
}

case $case in
shared_token)
  label="two holders accepted under one token"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$T" a 2 true "$A" 101 "$T" "$A" "$T"
    rec "$T" b 3 true "$B" 202 "$T" "$A" "$T"
    rec "$T" b 4 true "$B" 202 "$T" "$B" "$T"
  } > "$tmp/log"
  counter 4 "$T" "$B" 202 b
  expect 1 "^VIOLATION line 3: token $T used by two holders: \"a\" \(term $A, line 1\) and \"b\" \(term $B\)"
  grep -q '^safety: 1 violations$' <<< "$out" || fail "$label: reported more than once: $out"

  label="one holder id, two terms, one token"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$T" a 2 true "$C" 303 "$T" "$A" "$T"
  } > "$tmp/log"
  counter 2 "$T" "$C" 303 a
  expect 1 "token $T used by two holders: \"a\" \(term $A, line 1\) and \"a\" \(term $C\)"

  label="a refused write under another term's token"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$((T + 1))" c 2 true "$C" 303 "$T" "$A" "$((T + 1))"
    rec "$T" b 3 false "$B" 202 "$((T + 1))" "$C" "$((T + 1))"
  } > "$tmp/log"
  counter 2 "$((T + 1))" "$C" 303 c
  expect 1 "^VIOLATION line 3: token $T used by two holders: \"a\" .* and \"b\""

  label="a torn write under another term's token"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
  } > "$tmp/log"
  counter 2 "$T" "$B" 202 b
  expect 1 "token $T used by two holders"

  label="control: one term per token"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$((T + 1))" b 2 true "$B" 202 "$T" "$A" "$((T + 1))"
  } > "$tmp/log"
  counter 2 "$((T + 1))" "$B" 202 b
  expect 0 '^safety: 0 violations$'
  ;;

torn_write)
  label="saved but not logged, logged torn by the next writer"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$T" a 2 true "$A" 101 "$T" "$A" "$T" ',"torn":true,"found_by":202'
    rec "$((T + 1))" b 3 true "$B" 202 "$T" "$A" "$((T + 1))"
  } > "$tmp/log"
  counter 3 "$((T + 1))" "$B" 202 b
  expect 0 '^torn writes: 1 \(.* 1 logged by the next writer, 0 at the end\)'
  grep -q '^safety: 0 violations$' <<< "$out" || fail "$label: $out"
  grep -q '^writes: 2 attempts, 2 accepted' <<< "$out" || fail "$label: $out"

  label="saved but not logged, the last write (the counter one ahead)"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
  } > "$tmp/log"
  counter 2 "$T" "$A" 101 a
  expect 0 '^torn writes: 1 \(.* 0 logged by the next writer, 1 at the end\)'
  grep -q '^safety: 0 violations$' <<< "$out" || fail "$label: $out"

  label="killed inside the append: a torn last line, and its write saved"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$T" a 2 true "$A" 101 "$T" "$A" "$T" | head -c 57
  } > "$tmp/log"
  counter 2 "$T" "$A" 101 a
  expect 0 '^torn log lines: 1 '
  grep -q '^torn writes: 1 ' <<< "$out" || fail "$label: $out"
  grep -q '^safety: 0 violations$' <<< "$out" || fail "$label: $out"

  label="admitted, died before saving; a stale write refused below it"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$((T + 1))" b 2 false "$B" 202 "$T" "$A" "$((T + 2))"
    rec "$((T + 3))" c 2 true "$C" 303 "$T" "$A" "$((T + 3))"
  } > "$tmp/log"
  counter 2 "$((T + 3))" "$C" 303 c
  expect 0 '^admissions without a write: 1 '
  grep -q '^safety: 0 violations$' <<< "$out" || fail "$label: $out"
  ;;

violations)
  label="a doubled increment (two writes built on one value)"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$T" a 2 true "$A" 101 "$T" "$A" "$T"
    rec "$T" a 2 true "$A" 101 "$T" "$A" "$T"
  } > "$tmp/log"
  counter 2 "$T" "$A" 101 a
  expect 1 '^VIOLATION line 3: value 2 built on counter value 1 .* lost or applied twice'

  label="a lost increment hidden behind an unlogged write: not excused as torn"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$((T + 1))" b 3 true "$B" 202 "$T" "$A" "$((T + 1))"
  } > "$tmp/log"
  counter 3 "$((T + 1))" "$B" 202 b
  expect 1 '^VIOLATION line 2: value 3 built on counter value 2'

  label="the counter two writes ahead of the log"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
  } > "$tmp/log"
  counter 3 "$T" "$A" 101 a
  expect 1 '^VIOLATION counter: holds value 3 .* the log ends at value 1'

  label="a torn write with an older token than one accepted"
  {
    rec "$((T + 5))" a 1 true "$A" 101 0 "" "$((T + 5))"
  } > "$tmp/log"
  counter 2 "$T" "$B" 202 b
  expect 1 "torn write \(saved, not logged\) with token $T accepted after token $((T + 5))"

  label="an accepted token lower than the highest"
  {
    rec "$((T + 5))" a 1 true "$A" 101 0 "" "$((T + 5))"
    rec "$T" b 2 true "$B" 202 "$((T + 5))" "$A" "$T"
  } > "$tmp/log"
  counter 2 "$T" "$B" 202 b
  expect 1 "^VIOLATION line 2: a write with token $T accepted after token $((T + 5))"

  label="a refusal the fence did not owe"
  {
    rec "$T" a 1 true "$A" 101 0 "" "$T"
    rec "$T" a 2 false "$A" 101 "$T" "$A" "$T"
  } > "$tmp/log"
  counter 1 "$T" "$A" 101 a
  expect 1 "^VIOLATION line 2: token $T refused although the fence held only $T"

  label="the fence going backwards"
  {
    rec "$((T + 5))" a 1 true "$A" 101 0 "" "$((T + 5))"
    rec "$T" b 2 false "$B" 202 "$((T + 5))" "$A" "$((T + 1))"
  } > "$tmp/log"
  counter 1 "$((T + 5))" "$A" 101 a
  expect 1 "the fence held $((T + 1)) after token $((T + 5)) was accepted"

  label="the counter file missing although writes were accepted"
  rec "$T" a 1 true "$A" 101 0 "" "$T" > "$tmp/log"
  rm -f "$tmp/counter"
  expect 1 'is missing, but the log says the counter reached 1'
  ;;

cli)
  label="--help"
  "$check" --help > "$tmp/out" || fail "--help exited $?"
  grep -q '^usage: check_writes' "$tmp/out" || fail "--help printed no usage"
  label="--version"
  "$check" --version | grep -Eq '^check_writes \(tenure\) [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
  for args in "--bogus" "" "a b c" "-x"; do
    rc=0
    # shellcheck disable=SC2086
    "$check" $args > "$tmp/out" 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || fail "check_writes $args: exit $rc, expected 2"
    grep -q '^usage: check_writes' "$tmp/out" || fail "check_writes $args: no usage"
  done
  rc=0
  "$check" "$tmp/missing.jsonl" > "$tmp/out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] && grep -q "missing.jsonl: cannot open: No such file" "$tmp/out" ||
    fail "a missing log: exit $rc, $(cat "$tmp/out")"
  label="a record without its term (an old log)"
  echo '{"token":1,"holder":"a","value":1,"accepted":true,"boot_ns":5}' > "$tmp/log"
  counter 1 1 "$A" 101 a
  expect 2 'log:1: not a write record: "pid"'
  label="a garbled line in the middle"
  { rec "$T" a 1 true "$A" 101 0 "" "$T"; echo '{"token":'; rec "$T" a 2 true "$A" 101 "$T" "$A" "$T"; } > "$tmp/log"
  expect 2 'log:2: not a write record'
  label="a corrupt counter file"
  rec "$T" a 1 true "$A" 101 0 "" "$T" > "$tmp/log"
  echo 1 > "$tmp/counter"
  expect 2 'counter: not a counter file'
  label="a token beyond 64 bits"
  rec 18446744073709551616 a 1 true "$A" 101 0 "" 1 > "$tmp/log"
  counter 1 1 "$A" 101 a
  expect 2 'log:1: not a write record'
  ;;
*)
  fail "unknown case $case"
  ;;
esac
echo "checker $case: ok"
