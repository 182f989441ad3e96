#!/usr/bin/env bash
# A damaged authority file is refused: exit 1, a message that names the
# file and says what is wrong, nothing on stdout, and the file unchanged
# (byte for byte) by every command, release included.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lf="$tmp/leases.tn"
uri="file://$lf"

start_holder "$uri" db node-a 1s
kill -9 "$holder_pid"
reap "$holder_pid"
cp "$lf" "$tmp/good"

# refused DAMAGE REGEX: every command refuses the file as it is now.
refused() {
  cp "$lf" "$tmp/damaged"
  for args in "lease status $uri db" "lease list $uri" \
              "lease release $uri db" "--json lease list $uri"; do
    run "$ctl" $args
    expect_rc 1 "$1: $args"
    err_has "$lf" "$1: $args (the file is not named)"
    err_has "$2" "$1: $args"
    [ ! -s "$tmp/out" ] || fail "$1: $args printed $(cat "$tmp/out")"
    cmp -s "$lf" "$tmp/damaged" || fail "$1: $args changed the file"
  done
}

# The good file is accepted (so the failures below come from the damage).
run "$ctl" lease status "$uri" db
expect_rc 0 "the undamaged file"

flip "$lf" 9 # the version field: caught by the header checksum
refused "header byte 9" 'checksum mismatch.*corrupt'

cp "$tmp/good" "$lf"
flip "$lf" 0
refused "magic" 'bad magic'

cp "$tmp/good" "$lf"
flip "$lf" $((256 + 8)) # both copies of entry 0's record
flip "$lf" $((256 + 256 + 8))
refused "record" 'entry 0.*checksum'

cp "$tmp/good" "$lf"
truncate -s 300 "$lf"
refused "truncated" 'truncated'
echo "tenurectl corrupt: ok"
