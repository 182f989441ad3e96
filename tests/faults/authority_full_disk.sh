#!/usr/bin/env bash
# A full disk while a new lease is added to a lease file of seven. The
# adding process must hear TN_ENOSPC naming the file (and not hang), the
# file must keep its old size and still open, every other lease in it must
# go on renewing, and tenurectl lease check must find it clean. Once there
# is space again, the eighth lease is added. Runs on a small tmpfs of its
# own (needs root: exit 77 when mounting is not allowed).
#   authority_full_disk.sh FENCED_COUNTER CHECK_WRITES TENURECTL HELPER
set -euo pipefail
fc=$1 ctl=$3 helper=$4
work=$(mktemp -d /tmp/tenure-fault-disk-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
holder_pid=
cleanup() {
  [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  umount "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=256k tmpfs "$mnt" 2>"$work/mount.err"; then
  echo "SKIP: cannot mount a tmpfs here: $(cat "$work/mount.err")"
  exit 77
fi
file=$mnt/leases.tn
uri=file://$file
fail() { echo "FAIL: $*"; exit 1; }

for i in 1 2 3 4 5 6; do
  "$helper" acquire "$uri" "l$i" "h$i" 60s >/dev/null || fail "cannot add l$i"
done
# the seventh: a live holder, renewing every 250 ms. Seven entries are
# 3840 bytes: the eighth needs a second 4 KiB page, which there will not be.
"$helper" hold "$uri" l9 h9 1s 12 >"$work/hold.out" 2>&1 &
holder_pid=$!
for i in $(seq 1 50); do grep -q '^token' "$work/hold.out" && break; sleep 0.1; done
grep -q '^token' "$work/hold.out" || fail "the holder of l9 never got its lease: $(cat "$work/hold.out")"
size=$(stat -c %s "$file")
[ "$size" -eq $((256 + 7 * 512)) ] || fail "7 leases take $size bytes"
# fill the filesystem to the last byte
dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null || true
dd if=/dev/zero of="$mnt/filler2" bs=1 2>/dev/null || true

# 1. the eighth lease: refused with ENOSPC naming the file, promptly
start=$(date +%s)
set +e
out=$(timeout 60 "$helper" acquire "$uri" l8 h8 1s 2>&1); rc=$?
set -e
echo "acquire on a full disk: rc $rc: $out"
[ $rc -ne 124 ] || fail "the acquire hung on a full disk"
[ $rc -eq 1 ] || fail "the acquire did not fail on a full disk (rc $rc)"
grep -q "TN_ENOSPC" <<<"$out" || fail "not TN_ENOSPC: $out"
grep -qF "$file" <<<"$out" || fail "the error does not name the file: $out"
grep -qi "no space" <<<"$out" || fail "the error does not say no space: $out"
# the same through the leader loop: it must end and say so, not hang
set +e
timeout 60 "$fc" --authority "$uri" --lease l8 --id c8 --store "$work/store" --ttl 1s \
  >"$work/fc.out" 2>&1; rc=$?
set -e
echo "fenced_counter on a full disk: rc $rc"
[ $rc -ne 124 ] || fail "fenced_counter hung on a full disk: $(cat "$work/fc.out")"
[ $rc -ne 0 ] || fail "fenced_counter did not report the failure"

# 2. the file is as it was, and opens
[ "$(stat -c %s "$file")" -eq "$size" ] || fail "the file changed size: $(stat -c %s "$file") (was $size)"
"$ctl" lease check "$file" >"$work/check.out" 2>&1 || fail "lease check: $(cat "$work/check.out")"
grep -q '^clean$' "$work/check.out" || fail "lease check is not clean: $(cat "$work/check.out")"
"$ctl" lease status "$uri" l1 >/dev/null || fail "the file no longer opens"
"$ctl" lease status "$uri" l9 | grep -q h9 || fail "l9 is not held by h9"

# 3. the other lease kept renewing throughout
wait "$holder_pid"; hrc=$?; holder_pid=
grep -q '^held' "$work/hold.out" && [ $hrc -eq 0 ] || fail "the holder of l9 lost it: $(cat "$work/hold.out")"
echo "other lease: $(tail -1 "$work/hold.out")"

# 4. with space again, the eighth lease goes in
rm -f "$mnt/filler" "$mnt/filler2"
"$helper" acquire "$uri" l8 h8 1s >/dev/null || fail "l8 cannot be added with space free"
"$ctl" lease check "$file" | grep -q '^clean$' || fail "not clean after adding l8"
echo "full disk: ok"
