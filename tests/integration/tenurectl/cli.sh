#!/usr/bin/env bash
# tenurectl's command line: help, version, usage errors (exit 2), missing
# files (exit 1, and never created), a failed write of the answer (exit 1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run "$ctl" --help
expect_rc 0 "--help"
for w in 'lease status URI NAME' 'lease list URI' 'lease release URI NAME' \
         'fence show PATH' '--json'; do
  grep -qF -- "$w" "$tmp/out" || fail "--help lacks \"$w\""
done
run "$ctl" -h
expect_rc 0 "-h"
run "$ctl" --version
expect_rc 0 "--version"
grep -Eq '^tenurectl \(tenure\) [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" ||
  fail "--version prints $(cat "$tmp/out")"
run "$ctl" -V
expect_rc 0 "-V"

# Usage errors: exit 2, a reason and the hint.
uri="file://$tmp/leases.tn"
while IFS='|' read -r what args; do
  eval "set -- $args"
  run "$ctl" "$@"
  expect_rc 2 "$what"
  err_has "tenurectl" "$what"
  err_has "--help" "$what"
  [ ! -s "$tmp/out" ] || fail "$what: printed to stdout: $(cat "$tmp/out")"
done <<LIST
no arguments|
unknown option|--bogus lease list "$uri"
unknown command|frob
lease without a verb|lease
unknown lease verb|lease frob "$uri"
unknown fence verb|fence frob "$tmp/f"
status without NAME|lease status "$uri"
status with extra operand|lease status "$uri" db extra
release without NAME|lease release "$uri"
list without URI|lease list
list with extra operand|lease list "$uri" extra
show without PATH|fence show
show with extra operand|fence show "$tmp/f" extra
bad lease name|lease status "$uri" "bad name"
lease name too long|lease status "$uri" $(printf 'n%.0s' {1..64})
not a URI|lease status not-a-uri db
relative file URI|lease list file://relative/leases.tn
LIST
[ ! -e "$tmp/leases.tn" ] || fail "a usage error created the authority file"

run "$ctl" lease status not-a-uri db
err_has 'not-a-uri' "the bad URI message does not quote the URI"

# A missing authority file: exit 1, named, and not created by tenurectl.
for cmd in "lease status $uri db" "lease list $uri" "lease release $uri db" \
           "--json lease list $uri"; do
  run "$ctl" $cmd
  expect_rc 1 "$cmd on a missing file"
  err_has "$tmp/leases.tn" "$cmd on a missing file"
  [ ! -s "$tmp/out" ] || fail "$cmd on a missing file printed $(cat "$tmp/out")"
  [ ! -e "$tmp/leases.tn" ] || fail "$cmd created the authority file"
done

# A missing fence file: exit 1, named, nothing created.
run "$ctl" fence show "$tmp/fence.state"
expect_rc 1 "fence show of a missing file"
err_has "$tmp/fence.state" "fence show of a missing file"
[ -z "$(ls -A "$tmp" | grep '^fence')" ] || fail "fence show created $(ls "$tmp")"

# The answer could not be written: exit 1, not 0.
set +e
"$ctl" --version >/dev/full 2>"$tmp/err"
rc=$?
set -e
expect_rc 1 "--version to /dev/full"
err_has "cannot write" "--version to /dev/full"
echo "tenurectl cli: ok"
