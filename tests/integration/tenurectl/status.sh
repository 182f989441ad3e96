#!/usr/bin/env bash
# lease status / lease list of held leases (table and JSON), then of a lease
# whose holder was SIGKILLed: still held until the TTL runs out (the
# authority, not the process table, decides), then free with the last
# token. Inspection never changes the authority file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
uri="file://$tmp/leases.tn"
export URI="$uri"

# TTL 4 s, renewed every 1 s: right after the holder's SIGKILL below, the
# lease has 3 s or more left, seconds more than tenurectl needs to look.
start_holder "$uri" db node-a 4s
pid_a=$holder_pid
export TOK=$holder_token
[ "$TOK" -ge 1 ] || fail "token $TOK"

# status, table
run "$ctl" lease status "$uri" db
expect_rc 0 "status of a held lease"
head -1 "$tmp/out" | grep -Eq '^NAME +STATE +HOLDER +TOKEN +REMAINING$' ||
  fail "status header: $(head -1 "$tmp/out")"
[ "$(wc -l <"$tmp/out")" = 2 ] || fail "status prints more than one row"
read -r name state holder token left <<<"$(row db)"
[ "$state" = held ] || fail "status state $state, want held"
[ "$holder" = node-a ] || fail "status holder $holder, want node-a"
[ "$token" = "$TOK" ] || fail "status token $token, want $TOK"
[[ $left =~ ^[0-9]+\.[0-9]{3}s$ ]] || fail "remaining \"$left\" is not like 1.234s"
awk -v r="${left%s}" 'BEGIN { exit !(r > 0 && r <= 4.0) }' ||
  fail "remaining $left outside (0, 4s]"

# status, JSON
run "$ctl" --json lease status "$uri" db
expect_rc 0 "status --json of a held lease"
jcheck "status --json" 'd == {"uri": env["URI"], "name": "db", "state": "held",
  "holder": "node-a", "token": int(env["TOK"]),
  "remaining_ns": d["remaining_ns"]} and 0 < d["remaining_ns"] <= 4 * 10**9'

# a second lease, created after db but sorted before it
start_holder "$uri" api worker-1 2s
pid_w=$holder_pid
export TOKW=$holder_token
run "$ctl" lease list "$uri"
expect_rc 0 "list"
[ "$(wc -l <"$tmp/out")" = 3 ] || fail "list: want a header and 2 rows: $(cat "$tmp/out")"
[ "$(awk 'NR > 1 { print $1 }' "$tmp/out" | tr '\n' ' ')" = "api db " ] ||
  fail "list is not sorted by name: $(cat "$tmp/out")"
read -r name state holder token left <<<"$(row api)"
[ "$state $holder $token" = "held worker-1 $TOKW" ] || fail "list row api: $(row api)"
read -r name state holder token left <<<"$(row db)"
[ "$state $holder $token" = "held node-a $TOK" ] || fail "list row db: $(row db)"

# --json may also come after the command
run "$ctl" lease list --json "$uri"
expect_rc 0 "list --json"
jcheck "list --json" 'd["uri"] == env["URI"] and d["count"] == 2 and
  [l["name"] for l in d["leases"]] == ["api", "db"] and
  d["leases"][1]["holder"] == "node-a" and
  d["leases"][1]["token"] == int(env["TOK"]) and
  d["leases"][0]["holder"] == "worker-1" and
  d["leases"][0]["token"] == int(env["TOKW"]) and
  all(l["state"] == "held" and l["remaining_ns"] > 0 for l in d["leases"])'

# unknown name
run "$ctl" lease status "$uri" nosuch
expect_rc 1 "status of an unknown name"
err_has 'no lease named nosuch' "status of an unknown name"

# SIGKILL the holder of db: it stays held until its expiry...
kill -9 "$pid_a"
reap "$pid_a"
run "$ctl" lease status "$uri" db
expect_rc 0 "status right after SIGKILL"
read -r name state holder token left <<<"$(row db)"
[ "$state $holder $token" = "held node-a $TOK" ] ||
  fail "right after SIGKILL (TTL not over): $(row db)"

# ...and free, with the last token, once the TTL has passed (4 s; 30 s of
# real time bounds a lease that never expires).
free=0
t0=$(uptime_s)
while [ $(($(uptime_s) - t0)) -le 30 ]; do
  run "$ctl" lease status "$uri" db
  expect_rc 0 "status while waiting for expiry"
  read -r name state holder token left <<<"$(row db)"
  if [ "$state" = free ]; then free=1; break; fi
  sleep 0.05
done
[ $free = 1 ] || fail "db still held 30 s after its holder died (TTL 4 s): $(cat "$tmp/out")"
[ "$holder $token $left" = "- $TOK -" ] || fail "free row: $(row db)"
run "$ctl" --json lease status "$uri" db
expect_rc 0 "status --json of a free lease"
jcheck "status --json, free" 'd == {"uri": env["URI"], "name": "db",
  "state": "free", "holder": None, "token": int(env["TOK"]),
  "remaining_ns": 0}'

# Inspection changes nothing (the other holder is stopped so that the file
# is still).
kill -9 "$pid_w"
reap "$pid_w"
cp "$tmp/leases.tn" "$tmp/before"
for args in "lease status $uri db" "lease status $uri api" "lease list $uri" \
            "--json lease list $uri" "--json lease status $uri db" \
            "lease status $uri nosuch"; do
  run "$ctl" $args
  cmp -s "$tmp/leases.tn" "$tmp/before" || fail "\"$args\" changed the file"
done
echo "tenurectl status: ok"
