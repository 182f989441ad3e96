#!/usr/bin/env bash
# The fenced_counter safety run (tests/integration/lease/safety.sh) against
# a real etcd: three candidates lead a fenced counter through the etcd
# authority while pausesim stalls each of them over and over, with
# durations drawn across the TTL and etcd's expiry (TTL 2 s, etcd's
# minimum; etcd expires a lease up to 0.5 s after it). The checker must
# find 0 violations.
#
#   safety.sh BUILD_DIR FIXTURE_DIR [STALLS_PER_CANDIDATE]   (default 17: 51 stalls)
set -euo pipefail
build=$1
fixture=$2
per=${3:-17}
here=$(cd "$(dirname "$0")" && pwd)
endpoints=$(cat "$fixture/endpoints") ||
  { echo "FAIL: no etcd endpoints in $fixture (is the fixture up?)"; exit 1; }
export AUTHORITY="etcd://$endpoints/it-safety-$$"
export LEASE_TTL=2s
export STALL_DURATION=uniform:200ms,4s
export STALL_INTERVAL=uniform:200ms,1s
exec bash "$here/../lease/safety.sh" "$build" plain "$per"
