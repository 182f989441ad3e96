#!/usr/bin/env bash
# lease release: a forced handoff. The lease is free at once (long before
# its TTL), the holder's next renewal answers TN_ELOST, and the next holder
# gets token + 1. Releasing a free lease or an unknown name exits 1 and
# changes nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
uri="file://$tmp/leases.tn"
export URI="$uri"

start_holder "$uri" db node-a 3s
pid_a=$holder_pid
log_a=$holder_log
export TOK=$holder_token

run "$ctl" lease release "$uri" db
expect_rc 0 "release of a held lease"
grep -q "^db released" "$tmp/out" || fail "release says: $(cat "$tmp/out")"
grep -q "node-a" "$tmp/out" || fail "release does not name the holder"
grep -q "token $TOK" "$tmp/out" || fail "release does not give the token"

# Free now, although node-a renewed less than a second ago with a 3 s TTL.
run "$ctl" --json lease status "$uri" db
expect_rc 0 "status after release"
jcheck "status after release" 'd["state"] == "free" and
  d["holder"] is None and d["token"] == int(env["TOK"])'

# The holder finds out at its next renewal.
wait_for "$log_a" '^lost$' 20 || fail "holder did not see TN_ELOST: $(cat "$log_a")"
reap "$pid_a"
[ "$reaped_status" = 3 ] || fail "holder exit $reaped_status, want 3 (lost)"

# The next holder gets the next token.
start_holder "$uri" db node-b 3s
log_b=$holder_log
export TOKB=$holder_token
[ "$TOKB" = $((TOK + 1)) ] || fail "next holder got token $TOKB, want $((TOK + 1))"

run "$ctl" --json lease release "$uri" db
expect_rc 0 "release --json"
jcheck "release --json" 'd == {"uri": env["URI"], "name": "db",
  "released": True, "holder": "node-b", "token": int(env["TOKB"])}'
wait_for "$log_b" '^lost$' 20 || fail "node-b did not see TN_ELOST: $(cat "$log_b")"

# Releasing a free lease: exit 1, nothing changes.
cp "$tmp/leases.tn" "$tmp/before"
run "$ctl" lease release "$uri" db
expect_rc 1 "release of a free lease"
err_has "db is not held" "release of a free lease"
[ ! -s "$tmp/out" ] || fail "release of a free lease printed $(cat "$tmp/out")"
run "$ctl" --json lease release "$uri" db
expect_rc 1 "release --json of a free lease"
[ ! -s "$tmp/out" ] || fail "release --json of a free lease printed $(cat "$tmp/out")"
run "$ctl" lease release "$uri" nosuch
expect_rc 1 "release of an unknown name"
err_has "no lease named nosuch" "release of an unknown name"
cmp -s "$tmp/leases.tn" "$tmp/before" || fail "a refused release changed the file"

# The released term's token is not reused.
run "$ctl" --json lease status "$uri" db
jcheck "status after the second release" 'd["state"] == "free" and
  d["token"] == int(env["TOKB"])'
echo "tenurectl release: ok"
