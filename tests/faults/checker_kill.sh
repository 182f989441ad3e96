#!/usr/bin/env bash
# Writers killed with SIGKILL at random instants must leave a store that
# check_writes reads with 0 violations: every trace a kill can leave (a
# counter saved but not logged, a fence token admitted but not saved, a
# half-appended log line, a counter.PID.tmp) is recognised and counted,
# never reported as a violation.
#
#   checker_kill.sh BUILD_DIR [KILLS]
#
# Two lanes start fenced_counter against one file:// authority and one
# store, each killing its writer after a random 0-50 ms, so writers overlap
# and leadership moves. Every writer must have died by our SIGKILL (none
# exited by itself, none wrote to stderr). Then stale temporaries are
# planted, one last writer runs to its end, and the store must hold no
# temporaries and check clean over the whole log. Nothing here depends on
# timing: how many kills land inside a write is reported, not asserted.
set -euo pipefail
build=$1
kills=${2:-200}
lanes=2
fc=$build/examples/fenced_counter
check=$build/examples/check_writes
# shellcheck source=../integration/common.sh
. "$(dirname "$0")/../integration/common.sh"
it_scratch checker-kill
store=$tmp/store
authority=file://$tmp/leases.tn
[ -x "$fc" ] && [ -x "$check" ] || fail "build $build has no fenced_counter/check_writes"

# lane N COUNT: COUNT writers, one after another, each SIGKILLed after a
# random 0-50 ms. --for is only a safety net should this script die.
lane() {
  local n=$1 count=$2 i pid ms st
  for ((i = 0; i < count; i++)); do
    "$fc" --authority "$authority" --lease counter --id "w$n" --store "$store" \
      --ttl 60ms --work 0ms --interval 0ms --for 20s --quiet \
      > /dev/null 2>> "$tmp/stderr-$n" &
    pid=$!
    ms=$((RANDOM % 51))
    sleep "$(printf '0.%03d' "$ms")"
    kill -KILL "$pid" 2> /dev/null || true
    st=0
    wait "$pid" || st=$?
    echo "$pid $st" >> "$tmp/lives-$n"
  done
}

mkdir "$store"
per=$((kills / lanes))
lane_pids=()
for ((l = 1; l <= lanes; l++)); do
  n=$per
  [ "$l" -eq "$lanes" ] && n=$((kills - per * (lanes - 1)))
  lane "$l" "$n" 2> /dev/null &
  lane_pids+=($!)
  track $!
done
for p in "${lane_pids[@]}"; do wait "$p" || fail "lane $p failed"; done

cat "$tmp"/lives-* > "$tmp/lives"
lives=$(wc -l < "$tmp/lives")
[ "$lives" -eq "$kills" ] || fail "$lives writer lifetimes recorded, expected $kills"
not_killed=$(awk '$2 != 137' "$tmp/lives")
[ -z "$not_killed" ] || fail "writers that did not die by our SIGKILL (pid status):
$not_killed"
if [ -s "$tmp/stderr-1" ] || [ -s "$tmp/stderr-2" ]; then
  cat "$tmp"/stderr-*
  fail "killed writers reported errors"
fi
note "$kills writers killed at random instants"
left=$(find "$store" -name '*.tmp' | wc -l)
note "temporaries left by the kills: $left"

# Stale temporaries of dead writers (pid 1 is alive and is not a writer: a
# pid check alone would keep its file) and of a dead fence admit.
echo 'value=1 token=1 term=0000000000000000 pid=1 holder=x' > "$store/counter.1.tmp"
echo partial > "$store/counter.4194304.tmp"
echo partial > "$store/fence.tn.tmp"
echo 'not mine' > "$store/counter.tmp.keep"
"$fc" --authority "$authority" --lease counter --id final --store "$store" \
  --ttl 60ms --work 0ms --interval 1ms --for 1s > "$tmp/final.out" 2> "$tmp/final.err" &
final_pid=$!
track "$final_pid"
wait "$final_pid" || { cat "$tmp/final.out" "$tmp/final.err"; fail "the last writer failed"; }
[ ! -s "$tmp/final.err" ] || { cat "$tmp/final.err"; fail "the last writer reported errors"; }
leftovers=$(find "$store" -name '*.tmp')
[ -z "$leftovers" ] || fail "temporaries survived a new writer's start: $leftovers"
[ -e "$store/counter.tmp.keep" ] || fail "a file that is not a writer's temporary was removed"
grep -q 'removed counter.1.tmp' "$tmp/final.out" || fail "the sweep was not reported"
grep -q '"holder":"final"' "$store/writes.jsonl" || fail "the last writer never wrote"

lines=$(wc -l < "$store/writes.jsonl")
set +e
out=$("$check" "$store/writes.jsonl" "$store/counter" 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" -eq 0 ] || fail "check_writes exited $rc"
grep -q '^safety: 0 violations$' <<< "$out" || fail "violations reported"
grep -Eq '^torn writes: [0-9]+ ' <<< "$out" || fail "no torn-write count reported"
attempts=$(sed -n 's/^writes: \([0-9]*\) attempts.*/\1/p' <<< "$out")
torn=$(sed -n 's/^torn writes: \([0-9]*\) .*/\1/p' <<< "$out")
torn_logged=$(sed -n 's/^torn writes: .* \([0-9]*\) logged by the next writer.*/\1/p' <<< "$out")
[ -n "$attempts" ] && [ -n "$torn_logged" ] || fail "checker output not understood"
[ $((attempts + torn_logged)) -eq "$lines" ] ||
  fail "checker read $attempts attempts and $torn_logged torn writes of $lines log lines"
[ "$torn" -le "$kills" ] || fail "$torn torn writes from $kills kills"
# a torn write is one a killed writer saved: its pid is one we killed
torn_pids=$(grep '"torn":true' "$store/writes.jsonl" | grep -o '"pid":[0-9]*' | cut -d: -f2 | sort -u)
if [ -n "$torn_pids" ]; then
  alive=$(comm -23 <(echo "$torn_pids") <(awk '{print $1}' "$tmp/lives" | sort -u))
  [ -z "$alive" ] || fail "torn writes by writers that were not killed: $alive"
fi
# every process that logged is one we started: the log is this run's
writers=$(sed -n 's/^writers: \([0-9]*\) processes$/\1/p' <<< "$out")
logged=$(grep -o '"pid":[0-9]*' "$store/writes.jsonl" | cut -d: -f2 | sort -u)
ours=$({ awk '{print $1}' "$tmp/lives"; echo "$final_pid"; } | sort -u)
strays=$(comm -23 <(echo "$logged") <(echo "$ours"))
[ -z "$strays" ] || fail "log has writers we never started: $strays"
[ "$writers" = "$(echo "$logged" | grep -c .)" ] || fail "checker counted $writers writers"
note "writers that logged before their kill: $(($(echo "$logged" | grep -c .) - 1)) of $kills"
echo "checker kill -9: ok"
