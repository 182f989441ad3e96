#!/usr/bin/env bash
# The control socket of a live tool (pausemeter, a whole tn_runtime):
#  - 16 clients (every slot) trickling one byte at a time, never a newline,
#    used to hold every slot for as long as they kept at it, and a real
#    status got "too many clients". Now status is answered and each
#    trickler is dropped, told why, once its request deadline (2 s) passes.
#  - bytes >= 0x80 used to get "unknown command"; now "malformed request".
#  - "status extra" used to be answered, its argument ignored; now refused
#    naming the command and the argument. Same for every command.
#   tools_ctl.sh PAUSEMETER CLIENT
set -euo pipefail
pm=$1 client=$2
source "$(dirname "$0")/tools_lib.sh"
it_scratch tools-ctl
export TENURE_RUN_DIR=$tmp/run

"$pm" --for 100s -q > "$tmp/pm.out" 2> "$tmp/pm.err" &
pm_pid=$!
track "$pm_pid"
sock=$TENURE_RUN_DIR/$pm_pid.sock
wait_until 20000 test -S "$sock" || fail "no control socket $sock"

# reply TEXT WANT: the reply header line to TEXT is exactly WANT
reply() {
  local got
  got=$("$client" line "$sock" "$1") || fail "no reply to \"$1\""
  [ "$got" = "$2" ] || fail "\"$1\": got \"$got\", want \"$2\""
}

note "bytes outside printable ASCII are malformed"
reply $'status \xff' 'error malformed request'
reply $'\x80' 'error malformed request'
reply $'st\xc3\xa1tus' 'error malformed request'
reply $'status\t' 'error malformed request'

note "arguments a command does not take are refused, naming both"
for cmd in status metrics collect collect-unplanned; do
  reply "$cmd extra" "error bad argument to $cmd: \"extra\" (it takes no argument)"
done
reply 'events abc' 'error bad argument to events: "abc" (want SINCE_SEQ, a decimal number below 2^64)'
reply 'events 1 2' 'error bad argument to events: "1 2" (want SINCE_SEQ, a decimal number below 2^64)'
# accepted forms (the payload depends on what the host did meanwhile)
for line in 'events 0' 'events 18446744073709551615' events status metrics; do
  got=$("$client" line "$sock" "$line")
  case $got in "ok "[0-9]*) ;; *) fail "\"$line\": got \"$got\"" ;; esac
done

note "16 trickling clients cannot starve status"
"$client" starve "$sock" 16 > "$tmp/starve" 2>&1 || {
  cat "$tmp/starve" >&2
  fail "the control socket was starved"
}
cat "$tmp/starve"
# and the process still answers, with its slots free again
got=$("$client" line "$sock" status)
case $got in "ok "[1-9]*) ;; *) fail "status after the tricklers: got \"$got\"" ;; esac
kill -TERM "$pm_pid"
wait "$pm_pid" || fail "pausemeter exited $? after SIGTERM"
echo "tools ctl: ok"
