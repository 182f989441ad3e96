#!/usr/bin/env bash
# fence show on state files written by the fence API: every resource with
# its highest admitted token (a lower, fenced token does not show), table
# and JSON; an empty state; damaged files refused by name and left alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
fp="$tmp/fence.state"
export FP="$fp"

"$fenceh" "$fp" orders/1 5 orders/2 3 accounts 9 orders/1 7 orders/1 4 >"$tmp/admit"
grep -qx 'fenced orders/1 4' "$tmp/admit" || fail "setup: $(cat "$tmp/admit")"
cp "$fp" "$tmp/before"

run "$ctl" fence show "$fp"
expect_rc 0 "fence show"
head -1 "$tmp/out" | grep -Eq '^RESOURCE +TOKEN$' || fail "header: $(head -1 "$tmp/out")"
[ "$(awk 'NR > 1 { print $1 "=" $2 }' "$tmp/out" | tr '\n' ' ')" = \
  "accounts=9 orders/1=7 orders/2=3 " ] || fail "fence show: $(cat "$tmp/out")"

run "$ctl" --json fence show "$fp"
expect_rc 0 "fence show --json"
jcheck "fence show --json" 'd == {"path": env["FP"], "count": 3,
  "resources": [{"resource": "accounts", "token": 9},
                {"resource": "orders/1", "token": 7},
                {"resource": "orders/2", "token": 3}]}'
cmp -s "$fp" "$tmp/before" || fail "fence show changed the file"

# an empty state
"$fenceh" "$tmp/empty.state"
run "$ctl" fence show "$tmp/empty.state"
expect_rc 0 "fence show, empty"
[ "$(wc -l <"$tmp/out")" = 1 ] || fail "empty state: $(cat "$tmp/out")"
run "$ctl" --json fence show "$tmp/empty.state"
jcheck "fence show --json, empty" 'd["count"] == 0 and d["resources"] == []'

# damaged: refused, named, untouched
for off in 30 0; do
  cp "$tmp/before" "$fp"
  flip "$fp" $off
  cp "$fp" "$tmp/damaged"
  for json in "" --json; do
    run "$ctl" $json fence show "$fp"
    expect_rc 1 "fence show $json, byte $off flipped"
    err_has "$fp" "fence show $json, byte $off flipped (the file is not named)"
    err_has 'corrupt' "fence show $json, byte $off flipped"
    [ ! -s "$tmp/out" ] || fail "damaged fence printed $(cat "$tmp/out")"
    cmp -s "$fp" "$tmp/damaged" || fail "fence show changed a damaged file"
  done
done

# an authority file is not a fence state
start_holder "file://$tmp/leases.tn" x y 1s
run "$ctl" fence show "$tmp/leases.tn"
expect_rc 1 "fence show of a lease file"
err_has "$tmp/leases.tn" "fence show of a lease file"
echo "tenurectl fence: ok"
