#!/usr/bin/env bash
# The main story (design.md section 7):
#   1. three candidates share a lease on the embedded file authority and
#      increment a counter in a fenced store;
#   2. pausesim stalls whoever leads, mostly for longer than the TTL;
#   3. the stalled leader wakes up: its guard refuses, or its late write is
#      refused by the fence;
#   4. a new leader has taken over meanwhile;
#   5. the timeline, the pause telemetry, and the safety verdict computed
#      from the store's write log.
# Exits non-zero if the checker finds a violation.
#
#   AUTHORITY=file:///path/leases.tn scripts/demo.sh   (default: a temp file)
#   AUTHORITY=etcd://127.0.0.1:2379 scripts/demo.sh     an etcd you run
#   AUTHORITY=etcd scripts/demo.sh                      start a local etcd
set -euo pipefail
build=${BUILD:-build}
bin() { echo "$build/$1"; }
fc=$(bin examples/fenced_counter)
check=$(bin examples/check_writes)
psim=$(bin tools/pausesim/pausesim)
pstat=$(bin tools/pausestat/pausestat)
ctl=$(bin tools/tenurectl/tenurectl)

work=$(mktemp -d /tmp/tenure-demo-XXXXXX)
authority=${AUTHORITY:-file://$work/leases.tn}
etcd_dir=
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$etcd_dir" ]; then
    "$(dirname "$0")/../tests/integration/engines/etcd.sh" stop "$etcd_dir" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The stalls are scaled to the TTL: etcd grants at least 2 s.
ttl=1s
stalls="1500ms 1800ms 300ms 1300ms 2s 1500ms 1200ms"
gap=1.2
case "$authority" in
  file://*) ;;
  etcd)
    # start a local single-member etcd on free ports for the demo
    etcd_dir=$work/etcd
    mkdir -p "$etcd_dir"
    echo "demo: starting a local etcd (tests/integration/engines/etcd.sh)"
    "$(dirname "$0")/../tests/integration/engines/etcd.sh" start single "$etcd_dir" >/dev/null
    authority="etcd://$(cat "$etcd_dir/endpoints")/tenure-demo"
    ttl=2s; stalls="3s 3500ms 500ms 2500ms 4s 3s"; gap=2.5 ;;
  etcd://*|etcds://*)
    ttl=2s; stalls="3s 3500ms 500ms 2500ms 4s 3s"; gap=2.5 ;;
  *) echo "demo: AUTHORITY must be file:///path, etcd://host:port[,...], or 'etcd' to start a local one (got $authority)" >&2; exit 2 ;;
esac

t0=$(awk '{print $1}' /proc/uptime)
stamp() { awk -v t0="$t0" '{printf "[%7.3fs]", $1 - t0}' /proc/uptime; }
note() { echo "$(stamp) demo $*"; }

cat <<EOF
== tenure demo ==================================================================
Three candidates (c1, c2, c3) share the lease "counter" on $authority
(TTL $ttl) and, while leading, increment a counter in a fenced store. Each
write is guarded (refused if the term cannot outlast it) and carries the
lease's fencing token; the store refuses tokens older than one it accepted.
pausesim will now stall whoever leads, with SIGSTOP, mostly for longer than
the TTL. Timeline (boot-time seconds since the start):
EOF

for i in 1 2 3; do
  "$fc" --authority "$authority" --lease counter --id "c$i" \
    --store "$work/store" --ttl "$ttl" --work 12ms --interval 4ms \
    --t0 "$t0" --events "$work/pauses-c$i.jsonl" &
  pids+=($!)
done

leader() {
  "$ctl" --json lease status "$authority" counter 2>/dev/null |
    grep -o '"holder":"[^"]*"' | head -n 1 | cut -d'"' -f4
}
pid_of() { echo "${pids[$((${1#c} - 1))]}"; }

sleep 1
# Stall durations: most beyond the TTL (the leader loses its term while
# stopped), one short one it rides out.
for d in $stalls; do
  who=$(leader)
  if [ -z "$who" ]; then
    note "no leader right now; waiting"
    sleep 0.5
    continue
  fi
  note "pausesim: stopping leader $who for $d (TTL $ttl)"
  "$psim" --pid "$(pid_of "$who")" -d "$d" -n 1 -q --log "$work/stall.jsonl.tmp"
  cat "$work/stall.jsonl.tmp" >> "$work/stalls.jsonl"
  note "pausesim: $who resumed"
  sleep "$gap"
done

note "stopping the candidates"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || true; done
pids=()

echo
echo "== pause telemetry: what the candidates' pause monitors saw ===================="
cat "$work"/pauses-c*.jsonl > "$work/pauses-all.jsonl" 2>/dev/null || true
if [ -s "$work/pauses-all.jsonl" ]; then
  if [ -s "$work/stalls.jsonl" ]; then
    "$pstat" --events "$work/pauses-all.jsonl" --compare "$work/stalls.jsonl" || true
  else
    "$pstat" --events "$work/pauses-all.jsonl" || true
  fi
else
  echo "(no pauses above the threshold)"
fi

echo
echo "== the store's verdict ========================================================="
"$check" "$work/store/writes.jsonl" "$work/store/counter"
