#!/usr/bin/env bash
# fenced_counter refuses bad arguments with exit 2 and a message naming the
# argument, before touching the store or the authority; and never prints
# one setting while running with another.
#
#   checker_args.sh BUILD_DIR
set -euo pipefail
build=$1
fc=$build/examples/fenced_counter
# shellcheck source=../integration/common.sh
. "$(dirname "$0")/../integration/common.sh"
it_scratch checker-args
[ -x "$fc" ] || fail "no $fc"
auth=file://$tmp/leases.tn
base=(--authority "$auth" --lease counter --id c1 --store "$tmp/store" --for 1s)

# refused PATTERN ARGS...: fenced_counter ARGS exits 2 saying PATTERN
refused() {
  local pattern=$1 rc=0
  shift
  "$fc" "$@" > "$tmp/out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$tmp/out"; fail "fenced_counter $*: exit $rc, expected 2"; }
  grep -Eq -- "$pattern" "$tmp/out" || { cat "$tmp/out"; fail "fenced_counter $*: no /$pattern/"; }
  note "$(head -1 "$tmp/out")"
}

for t0 in nan NaN inf -inf -1 garbage "" 1e300 12x; do
  refused "^fenced_counter: --t0 \"$t0\": expected seconds of boot time" "${base[@]}" --t0 "$t0"
done
for ttl in 0s 0 5ms 25h -1s; do
  refused "^fenced_counter: --ttl \"$ttl\"" "${base[@]}" --ttl "$ttl"
done
refused '^fenced_counter: --work: a write must fit in a term' "${base[@]}" --ttl 1s --work 1s
refused '^fenced_counter: --work: a write must fit in a term' "${base[@]}" --ttl 30ms
refused '^fenced_counter: --work "10": ' "${base[@]}" --work 10
refused '^fenced_counter: --interval "-5ms"' "${base[@]}" --interval -5ms
for f in 0s 0ms; do
  refused "^fenced_counter: --for \"$f\": must be positive" "${base[@]}" --for "$f"
done
refused '^fenced_counter: --for "1e3"' "${base[@]}" --for 1e3
refused "the parent directory /nonexistent-$$/a does not exist" \
  --authority "$auth" --lease counter --id c1 --store "/nonexistent-$$/a/b" --for 1s
[ ! -e "/nonexistent-$$" ] || fail "--store created /nonexistent-$$"
touch "$tmp/plain"
refused "^fenced_counter: --store $tmp/plain: not a directory" \
  --authority "$auth" --lease counter --id c1 --store "$tmp/plain" --for 1s
refused '^fenced_counter: --store: empty' --authority "$auth" --lease counter --id c1 --store "" --for 1s
refused '^fenced_counter: --lease "a b": use 1-63' "${base[@]}" --lease "a b"
refused '^fenced_counter: --id "a"b": use 1-63' "${base[@]}" --id 'a"b'
refused '^fenced_counter: --id "": use 1-63' "${base[@]}" --id ""
refused "^fenced_counter: --events $tmp/no/such/e.jsonl: No such file" "${base[@]}" --events "$tmp/no/such/e.jsonl"
refused '^fenced_counter: --authority: .*unknown scheme' "${base[@]}" --authority bogus://x
refused '^fenced_counter: unexpected argument "extra"' "${base[@]}" extra
refused '^fenced_counter: --authority, --lease, --id and --store are required' --lease counter
refused '^usage: fenced_counter' "${base[@]}" --bogus
[ ! -e "$tmp/store" ] || fail "a refused run created the store"
[ ! -e "$tmp/leases.tn" ] || fail "a refused run created the authority file"

"$fc" --help | grep -q '^usage: fenced_counter' || fail "--help"
"$fc" --version | grep -Eq '^fenced_counter \(tenure\) [0-9.]+' || fail "--version"

# What it prints is what it runs with: the ttl as given, the store made
# inside an existing directory, t0 taken.
t0=$(awk '{print $1}' /proc/uptime)
"$fc" --authority "$auth" --lease counter --id c1 --store "$tmp/store" \
  --ttl 250ms --work 1ms --interval 1ms --for 300ms --t0 "$t0" > "$tmp/run" 2>&1 ||
  { cat "$tmp/run"; fail "a good run failed"; }
grep -q 'candidate for "counter" (ttl 250ms)' "$tmp/run" || { cat "$tmp/run"; fail "ttl not printed as given"; }
grep -q "created the store directory $tmp/store" "$tmp/run" || { cat "$tmp/run"; fail "store creation not said"; }
grep -Eq '^\[ *[0-9]+\.[0-9]{3}s\] c1 ' "$tmp/run" || { cat "$tmp/run"; fail "timeline not relative to --t0"; }
grep -q '"accepted":true' "$tmp/store/writes.jsonl" || fail "the good run never wrote"
echo "fenced_counter arguments: ok"
