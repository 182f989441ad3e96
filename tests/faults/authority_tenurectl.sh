#!/usr/bin/env bash
# tenurectl on lease files it may only read, on a FIFO, and behind another
# process's lock:
#   - lease status and list need read permission only: another user reads a
#     0644 file (run as nobody; exit 77 when no unprivileged user can run);
#     release needs write permission and says so;
#   - a FIFO is "not a regular file", at once (no blocking open);
#   - while another process holds the file's lock, after 1 s tenurectl says
#     on stderr what it waits for, and answers once the lock is free.
#   authority_tenurectl.sh FENCED_COUNTER CHECK_WRITES TENURECTL HELPER
set -euo pipefail
ctl=$3 helper=$4
work=$(mktemp -d /tmp/tenure-fault-ctl-XXXXXX)
lockpid=
cleanup() {
  [ -n "$lockpid" ] && kill "$lockpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
file=$work/leases.tn uri=file://$work/leases.tn
"$helper" acquire "$uri" db h1 60s >/dev/null
chmod 0644 "$file"

# FIFO: refused at once, in words
mkfifo "$work/fifo"
set +e
out=$(timeout 10 "$ctl" lease status "file://$work/fifo" db 2>&1); rc=$?
set -e
echo "fifo: rc $rc: $out"
[ $rc -eq 1 ] || fail "FIFO: rc $rc"
grep -q "not a regular file" <<<"$out" || fail "FIFO: $out"
set +e
out=$(timeout 10 "$helper" acquire "file://$work/fifo" db h1 1s 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q "not a regular file" <<<"$out" || fail "library on a FIFO: rc $rc: $out"

# another process holds the lock for 3 s
"$helper" lock "$file" 3 >"$work/lock.out" &
lockpid=$!
for i in $(seq 1 50); do grep -q locked "$work/lock.out" && break; sleep 0.1; done
set +e
"$ctl" lease status "$uri" db >"$work/st.out" 2>"$work/st.err"; rc=$?
set -e
wait "$lockpid" || true; lockpid=
echo "behind a lock: rc $rc: $(cat "$work/st.err")"
[ $rc -eq 0 ] || fail "status behind a lock failed: $(cat "$work/st.err")"
grep -q "waiting for the lock on $file: another process holds it" "$work/st.err" ||
  fail "no word of the wait"
grep -q h1 "$work/st.out" || fail "status after the wait: $(cat "$work/st.out")"

# another user, read permission only
if ! command -v setpriv >/dev/null; then echo "SKIP: no setpriv"; exit 77; fi
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
chmod 0755 "$work"
if ! "${as_nobody[@]}" "$ctl" --version >/dev/null 2>"$work/priv.err"; then
  echo "SKIP: cannot run tenurectl as nobody: $(cat "$work/priv.err")"
  exit 77
fi
set +e
out=$("${as_nobody[@]}" "$ctl" lease status "$uri" db 2>&1); rc=$?
set -e
echo "status as nobody: rc $rc: $out"
[ $rc -eq 0 ] && grep -q h1 <<<"$out" || fail "read-only status as another user"
"${as_nobody[@]}" "$ctl" lease list "$uri" | grep -q db || fail "read-only list as another user"
"${as_nobody[@]}" "$ctl" lease check "$file" | grep -q '^clean$' || fail "read-only check as another user"
set +e
out=$("${as_nobody[@]}" "$ctl" lease release "$uri" db 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -qi "permission denied" <<<"$out" || fail "release as nobody: rc $rc: $out"
"$ctl" lease status "$uri" db | grep -q h1 || fail "the lease changed"
echo "tenurectl: ok"
