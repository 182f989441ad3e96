#!/usr/bin/env bash
# The lease file damaged under its holder: truncated, or one copy of the
# holder's record corrupted. The holder must step down at once saying what
# happened (authority-refused), not "expired" or "released". Then a torn
# tail (an append that never finished): every process refuses the file,
# tenurectl lease check names the torn tail, lease repair cuts it off, and
# the next token is above every old one.
#   authority_damage.sh FENCED_COUNTER CHECK_WRITES TENURECTL HELPER
set -euo pipefail
fc=$1 ctl=$3 helper=$4
work=$(mktemp -d /tmp/tenure-fault-damage-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# wait_for FILE PATTERN SECONDS
wait_for() {
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

damage_case() {
  local what=$1 dir=$work/$1
  mkdir -p "$dir"
  "$fc" --authority "file://$dir/leases.tn" --lease db --id c1 --store "$dir/store" \
    --ttl 1s --work 5ms --interval 5ms >"$dir/c1.log" 2>&1 &
  pid=$!
  wait_for "$dir/c1.log" "elected" 10 || fail "$what: never elected"
  sleep 1 # a few renewals: both copies of the record written
  case $what in
    truncate) truncate -s 0 "$dir/leases.tn" ;;
    corrupt) python3 - "$dir/leases.tn" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[256 + 256 + 150] ^= 0x5a   # the second copy of entry 0's record
with open(p, "r+b") as f:
    f.write(b)
PY
    ;;
  esac
  # The next renewal (every 333 ms) ends the term; 10 s is generous for a
  # loaded machine and far from anything a correct run needs.
  wait_for "$dir/c1.log" "stepped down" 10 || fail "$what: the holder never stepped down"
  reason=$(sed -n 's/.*stepped down (\([^)]*\)).*/\1/p' "$dir/c1.log" | head -1)
  echo "$what: stepped down ($reason)"
  [ "$reason" = authority-refused ] || fail "$what: step-down reason $reason, want authority-refused"
  kill -TERM "$pid"; wait "$pid" || true; pid=
}
damage_case truncate
damage_case corrupt

# the library's own words for the holder: the file and the fault
dir=$work/words; mkdir -p "$dir"
"$helper" hold "file://$dir/leases.tn" db h1 1s 8 >"$dir/hold.out" 2>&1 &
pid=$!
wait_for "$dir/hold.out" "^token" 10 || fail "helper never got the lease"
sleep 0.5
truncate -s 100 "$dir/leases.tn"
wait "$pid" || true; pid=
echo "truncated under a holder: $(tail -1 "$dir/hold.out")"
grep -q "renew failed: TN_ECORRUPT: $dir/leases.tn: truncated" "$dir/hold.out" ||
  fail "the renewal does not name the file and the fault: $(cat "$dir/hold.out")"

# torn tail: check reports it, repair cuts it, tokens go on above
dir=$work/torn; mkdir -p "$dir"; uri=file://$dir/leases.tn
old=$("$helper" acquire "$uri" a ha 60s | sed -n 's/^token //p')
"$helper" acquire "$uri" b hb 60s >/dev/null
head -c 300 /dev/urandom >>"$dir/leases.tn"
set +e
"$ctl" lease check "$dir/leases.tn" >"$dir/check.out" 2>&1; rc=$?
set -e
cat "$dir/check.out"
[ $rc -eq 1 ] || fail "lease check did not fail on a torn tail (rc $rc)"
grep -q "torn tail: 300 bytes" "$dir/check.out" || fail "lease check does not report the torn tail"
out=$("$helper" acquire "$uri" c hc 1s || true)
grep -q "TN_ECORRUPT" <<<"$out" && grep -q "torn tail" <<<"$out" || fail "a torn file was not refused: $out"
"$ctl" lease repair "$dir/leases.tn" | tee "$dir/repair.out"
grep -q "^repaired" "$dir/repair.out" || fail "lease repair did not repair"
"$ctl" lease check "$dir/leases.tn" | grep -q '^clean$' || fail "not clean after repair"
"$ctl" lease status "$uri" a | grep -q ha || fail "lease a lost by the repair"
new=$("$helper" acquire "$uri" c hc 1s | sed -n 's/^token //p')
[ -n "$new" ] && [ "$new" -gt "$old" ] || fail "after repair, token $new is not above $old"
echo "damage: ok"
