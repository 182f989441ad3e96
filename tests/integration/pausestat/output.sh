#!/usr/bin/env bash
# What pausestat prints: the documented --json fields (exactly those), the
# per-cause table from the histogram, status sections it knows and those it
# does not know yet (collections, gate, leases: printed as key: value, never
# refused), and the socket's wrong answers.
#   output.sh PAUSESTAT FAKE_TARGET
source "$(dirname "$0")/lib.sh"
FAKE_TARGET=${2:?usage: output.sh PAUSESTAT FAKE_TARGET}

S=1000000000
MS=1000000

note "--json from a file: valid JSON with exactly the documented fields"
{
  event_line 1 stopped $((10 * S)) $((10 * MS))
  event_line 2 stopped $((11 * S)) $((20 * MS))
  event_line 3 stopped $((12 * S)) $((30 * MS))
  event_line 4 hypervisor $((13 * S)) $((7 * MS))
} > "$tmp/E.jsonl"
{
  stall_line 1 $((10 * S)) $((10 * MS))
  stall_line 2 $((11 * S)) $((20 * MS))
} > "$tmp/I.jsonl"
run_pstat --events "$tmp/E.jsonl" --compare "$tmp/I.jsonl" --json
expect_rc 0
# (expect_json fails on anything that is not JSON)
[ "$(wc -l < "$tmp/out")" -eq 1 ] || fail "--json is not one line"
cp "$tmp/out" "$tmp/file.json"
expect_json "$tmp/file.json" \
  "sorted(d) == ['compare', 'events_file', 'pauses', 'source']" \
  "d['source'] == {'kind': 'events', 'path': '$tmp/E.jsonl'}" \
  "sorted(d['events_file']) == ['events', 'first_start_boot_ns', 'last_end_boot_ns', 'lines', 'malformed', 'other_causes']" \
  "d['events_file']['first_start_boot_ns'] == $((10 * S)) and d['events_file']['last_end_boot_ns'] == $((13 * S + 7 * MS))" \
  "list(d['pauses']) == ['gc', 'suspend', 'stopped', 'cpu', 'unknown', 'hypervisor']" \
  "all(sorted(v) == ['count', 'max_ns', 'p50_ns', 'p999_ns', 'p99_ns', 'total_ns'] for v in d['pauses'].values())" \
  "sorted(d['compare']) == sorted(['injected_file', 'threshold_ns', 'tolerance_ns', 'span_start_boot_ns', 'span_end_boot_ns', 'injected', 'injected_above_threshold', 'not_compared', 'detected', 'matched', 'matched_above_threshold', 'recall', 'precision', 'errors', 'error_p50_ns', 'error_p99_ns', 'error_p99_abs_ns', 'error_max_abs_ns', 'over_tolerance', 'matches', 'unmatched_injected', 'unmatched_detected', 'pass'])" \
  "sorted(d['compare']['matches'][0]) == ['detected_cause', 'detected_ns', 'detected_seq', 'error_ns', 'injected_ns', 'injected_seq', 'injected_start_boot_ns']" \
  "sorted(d['compare']['unmatched_detected'][0]) == ['cause', 'duration_ns', 'seq', 'start_boot_ns']"
# Figures from the histogram: exact count, total and max; percentiles
# exact to the bucket (0.1 %).
expect_json "$tmp/file.json" \
  "d['pauses']['stopped']['count'] == 3 and d['pauses']['stopped']['total_ns'] == $((60 * MS))" \
  "d['pauses']['stopped']['max_ns'] == $((30 * MS))" \
  "abs(d['pauses']['stopped']['p50_ns'] - $((20 * MS))) <= $((20 * MS / 1000))" \
  "d['pauses']['stopped']['p99_ns'] == $((30 * MS)) and d['pauses']['stopped']['p999_ns'] == $((30 * MS))" \
  "d['pauses']['hypervisor']['count'] == 1 and d['pauses']['gc']['count'] == 0"

note "the text table: pausemeter's layout, a row per cause"
run_pstat --events "$tmp/E.jsonl"
expect_rc 0
grep -Eq '^cause +count +total +p50 +p99 +p99\.9 +max$' "$tmp/out" || fail "no table header: $(cat "$tmp/out")"
grep -Eq '^stopped +3 +60\.000ms +20\.[0-9]{3}ms +30\.000ms +30\.000ms +30\.000ms$' "$tmp/out" ||
  fail "the stopped row is wrong: $(cat "$tmp/out")"
grep -Eq '^hypervisor +1 +7\.000ms ' "$tmp/out" || fail "no row for a new cause: $(cat "$tmp/out")"
for c in gc suspend cpu unknown; do
  grep -Eq "^$c +0 +0\.000ms" "$tmp/out" || fail "no empty $c row: $(cat "$tmp/out")"
done

note "a status with sections pausestat does not know yet"
cat > "$tmp/status.json" << 'EOF'
{"pid":777,"version":"0.2.0\u001b[2J","boot_ns":20000000000,"sampler":{"interval_ns":1000000,"threshold_ns":20000000,"started_boot_ns":10000000000,"wakeups":10000,"cpu_ns":50000000},"pause_epoch":3,"clock":{"wall_jumps":2,"maxerror_ns":16000000,"synced":true},"gc":{"stw_windows":"many"},"pauses":{"gc":{"count":0,"total_ns":0,"p50_ns":0,"p99_ns":0,"p999_ns":0,"max_ns":0},"stopped":{"count":3,"total_ns":60000000,"p50_ns":20000000,"p99_ns":30000000,"p999_ns":30000000,"max_ns":30000000},"hypervisor":{"count":1,"total_ns":7000000,"p50_ns":7000000,"p99_ns":7000000,"p999_ns":7000000,"max_ns":7000000},"weird":[1,2]},"collections":{"planned":3,"unplanned":1,"last":{"pause_ns":1200000,"drained":true}},"gate":{"state":"open","in_flight":0},"leases":[{"name":"leader","state":"LEADER","token":42},{"name":"shard-7","state":"FOLLOWER"}],"uptime_hint":"x"}
EOF
{
  event_line 1 stopped $((10 * S)) $((10 * MS))
  event_line 2 stopped $((11 * S)) $((20 * MS))
  event_line 3 stopped $((12 * S)) $((30 * MS))
} > "$tmp/events.jsonl"
sock=$tmp/fake.sock
start_fake "$sock" "$tmp/status.json" "$tmp/events.jsonl"
run_pstat --socket "$sock"
expect_rc 0 "pausestat on a status with unknown sections"
expect_out "pausestat: pid 777, tenure 0.2.0\\x1b[2J, socket $sock: 3 pause events"
grep -q $'\x1b' "$tmp/out" && fail "an escape byte from the status reached stdout"
grep -Eq '^stopped +3 +60\.000ms +20\.000ms +30\.000ms +30\.000ms +30\.000ms$' "$tmp/out" ||
  fail "the stopped row is wrong: $(cat "$tmp/out")"
grep -Eq '^hypervisor +1 +7\.000ms' "$tmp/out" || fail "no row for a new cause"
expect_out "pauses.weird:"
expect_out "  [0]: 1"
expect_out "sampler: interval 1.000ms, threshold 20.000ms, 10000 wake-ups, CPU 0.500% over 10.0s"
expect_out "clock: 2 wall-clock jumps, maxerror 16.000ms, synced"
expect_out "gc:"
expect_out "  stw_windows: many"
expect_out "collections:"
expect_out "  planned: 3"
expect_out "  last.pause_ns: 1200000"
expect_out "  last.drained: true"
expect_out "gate:"
expect_out "  state: open"
expect_out "leases:"
expect_out "  [0].name: leader"
expect_out "  [1].state: FOLLOWER"
expect_out "uptime_hint: x"
[ ! -s "$tmp/err" ] || fail "stderr: $(cat "$tmp/err")"

note "--json passes the status through, unknown sections included"
run_pstat --socket "$sock" --json
expect_rc 0
expect_json "$tmp/out" \
  "d['source'] == {'kind': 'socket', 'path': '$sock'}" \
  "d['pid'] == 777 and d['pause_epoch'] == 3" \
  "d['collections']['last']['drained'] is True and d['leases'][1]['name'] == 'shard-7'" \
  "d['gate'] == {'state': 'open', 'in_flight': 0} and d['uptime_hint'] == 'x'" \
  "d['pauses']['stopped']['count'] == 3 and 'compare' not in d"

note "--compare through the socket takes the threshold from the status"
{
  stall_line 1 $((10 * S)) $((10 * MS))
  stall_line 2 $((11 * S)) $((20 * MS))
  stall_line 3 $((12 * S)) $((30 * MS))
  stall_line 4 $((14 * S)) $((15 * MS)) # missed, but under 20 ms
} > "$tmp/I4.jsonl"
run_pstat --socket "$sock" --compare "$tmp/I4.jsonl" --json
expect_rc 0 "a missed 15 ms stall under the target's 20 ms threshold"
expect_json "$tmp/out" "d['compare']['threshold_ns'] == 20000000 and d['compare']['matched'] == 3"
# 20 ms is not longer than a 20 ms threshold: only the 30 ms stall counts
expect_json "$tmp/out" "d['compare']['injected_above_threshold'] == 1 and d['compare']['recall'] == 1.0"
run_pstat --socket "$sock" --compare "$tmp/I4.jsonl" --threshold 5ms --json
expect_rc 1 "a missed 15 ms stall with --threshold 5ms"
expect_json "$tmp/out" "d['compare']['threshold_ns'] == 5000000 and d['compare']['recall'] == 0.75"

note "events the process no longer holds are not compared"
{
  event_line 5 stopped $((12 * S)) $((30 * MS))
  event_line 6 stopped $((14 * S)) $((15 * MS))
} > "$tmp/events.jsonl"
run_pstat --socket "$sock" --compare "$tmp/I4.jsonl" --threshold 5ms --json
expect_rc 0 "stalls before the oldest held event"
expect_json "$tmp/out" "d['compare']['not_compared'] == 2 and d['compare']['injected'] == 2 and d['compare']['matched'] == 2"
expect_err "events 1 to 4 are no longer held"

note "a bad line in the events reply is named and skipped"
{
  event_line 1 stopped $((10 * S)) $((10 * MS))
  echo '{"cause":"stopped"}'
  event_line 2 stopped $((11 * S)) $((20 * MS))
} > "$tmp/events.jsonl"
run_pstat --socket "$sock" --compare "$tmp/I.jsonl" --json
expect_rc 0
expect_err "pausestat: $sock events reply:2: field \"seq\" is missing (skipped)"
expect_json "$tmp/out" "d['compare']['matched'] == 2"

note "a status without a pause monitor"
echo '{"pid":778,"version":"0.1.0","boot_ns":1}' > "$tmp/status.json"
run_pstat --socket "$sock"
expect_rc 0
expect_out "pauses: none reported"

note "a status that is not a JSON object: exit 1"
echo '[1,2,3]' > "$tmp/status.json"
run_pstat --socket "$sock"
expect_rc 1 "pausestat on a status that is an array"
expect_err "the status reply is not a JSON object"
echo 'garbage' > "$tmp/status.json"
run_pstat --socket "$sock"
expect_rc 1 "pausestat on a status that is not JSON"
expect_err "the status reply is not a JSON object"

note "no socket, or nobody listening: exit 1, naming it"
run_pstat --socket "$tmp/none.sock"
expect_rc 1 "pausestat on a missing socket"
expect_err "pausestat: $tmp/none.sock: no such socket"
python3 -I -S -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/stale.sock"
run_pstat --socket "$tmp/stale.sock"
expect_rc 1 "pausestat on a stale socket"
expect_err "pausestat: $tmp/stale.sock: nobody is listening"
sleep 300 &
track $!
run_pstat --pid $!
expect_rc 1 "pausestat --pid of a process without a runtime"
expect_err "pausestat: $TENURE_RUN_DIR/$!.sock: no such socket"
echo "PASS"
