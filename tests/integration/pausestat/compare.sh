#!/usr/bin/env bash
# --compare on hand-made logs, where every figure is known exactly: the
# matching (by overlap, one event per stall, best overlap first), recall,
# precision over the compared span, the duration errors, the tolerance,
# the threshold, and the exit status.
#   compare.sh PAUSESTAT
source "$(dirname "$0")/lib.sh"

S=1000000000
MS=1000000

# Three stalls the detector saw with errors of +0.5 ms, -1 ms and +3 ms.
{
  stall_line 1 $((10 * S)) $((100 * MS))
  stall_line 2 $((11 * S)) $((50 * MS))
  stall_line 3 $((12 * S)) $((20 * MS))
} > "$tmp/I3.jsonl"
{
  event_line 1 stopped $((10 * S + 200000)) $((100 * MS + 500000))
  event_line 2 stopped $((11 * S + 500000)) $((49 * MS))
  event_line 3 stopped $((12 * S + 100000)) $((23 * MS))
} > "$tmp/E3.jsonl"

note "exact figures: errors +0.5, -1, +3 ms"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/I3.jsonl" --json
expect_rc 0
cp "$tmp/out" "$tmp/c.json"
expect_json "$tmp/c.json" \
  "d['compare']['injected'] == 3 and d['compare']['detected'] == 3" \
  "d['compare']['matched'] == 3 and d['compare']['errors'] == 3" \
  "d['compare']['recall'] == 1.0 and d['compare']['precision'] == 1.0"
# nearest rank over -1, +0.5, +3 ms: p50 is the 2nd, p99 the 3rd
expect_json "$tmp/c.json" \
  "d['compare']['error_p50_ns'] == 500000" \
  "d['compare']['error_p99_ns'] == 3000000" \
  "d['compare']['error_p99_abs_ns'] == 3000000" \
  "d['compare']['error_max_abs_ns'] == 3000000" \
  "d['compare']['over_tolerance'] == 1" \
  "d['compare']['tolerance_ns'] == 2000000 and d['compare']['threshold_ns'] == 5000000" \
  "d['compare']['span_start_boot_ns'] == $((9 * S))" \
  "d['compare']['span_end_boot_ns'] == $((13 * S + 20 * MS))" \
  "[(m['injected_seq'], m['detected_seq'], m['error_ns']) for m in d['compare']['matches']] == [(1, 1, 500000), (2, 2, -1000000), (3, 3, 3000000)]" \
  "d['compare']['pass'] is True"

note "the same as text"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/I3.jsonl"
expect_rc 0
expect_out "recall     1.000 (3 of 3 stalls longer than the threshold)"
expect_out "precision  1.000 (3 of 3 events matched)"
expect_out "error      p50 +0.500ms, p99 +3.000ms, p99 |error| 3.000ms, max |error| 3.000ms"
expect_out "over tolerance: 1 of 3 matches off by more than 2.000ms"
expect_out "result: PASS"

note "--tolerance moves the count, not the verdict"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/I3.jsonl" --tolerance 3ms --json
expect_rc 0
expect_json "$tmp/out" "d['compare']['over_tolerance'] == 0"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/I3.jsonl" --tolerance 400us --json
expect_rc 0
expect_json "$tmp/out" "d['compare']['over_tolerance'] == 3"

note "a missed stall: exit 1, and it is listed"
cp "$tmp/I3.jsonl" "$tmp/I4.jsonl"
stall_line 4 $((13 * S)) $((30 * MS)) >> "$tmp/I4.jsonl"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/I4.jsonl" --json
expect_rc 1 "pausestat --compare with a missed stall"
expect_json "$tmp/out" \
  "d['compare']['recall'] == 0.75 and d['compare']['pass'] is False" \
  "d['compare']['unmatched_injected'] == [{'seq': 4, 'start_boot_ns': $((13 * S)), 'duration_ns': $((30 * MS)), 'above_threshold': True}]"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/I4.jsonl"
expect_rc 1 "pausestat --compare with a missed stall (text)"
expect_out "unmatched injected stall #4: start 13.000000000s, 30.000ms"
expect_out "result: FAIL, 1 of 4 injected stalls longer than 5.000ms not detected"

note "an extra event in the span lowers precision; one outside does not count"
cp "$tmp/E3.jsonl" "$tmp/E5.jsonl"
event_line 4 cpu $((12 * S + 500 * MS)) $((8 * MS)) >> "$tmp/E5.jsonl"
event_line 5 cpu $((100 * S)) $((8 * MS)) >> "$tmp/E5.jsonl"
run_pstat --events "$tmp/E5.jsonl" --compare "$tmp/I3.jsonl" --json
expect_rc 0 "an extra event does not fail the comparison"
expect_json "$tmp/out" \
  "d['compare']['detected'] == 4 and d['compare']['matched'] == 3" \
  "d['compare']['precision'] == 0.75 and d['compare']['recall'] == 1.0" \
  "[e['seq'] for e in d['compare']['unmatched_detected']] == [4]"
run_pstat --events "$tmp/E5.jsonl" --compare "$tmp/I3.jsonl"
expect_out "unmatched detected event #4 (cpu): start 12.500000000s, 8.000ms"
expect_no_out "event #5"

note "a stall at or under the threshold is not required, unless --threshold says so"
cp "$tmp/I3.jsonl" "$tmp/Ishort.jsonl"
stall_line 4 $((13 * S)) $((3 * MS)) >> "$tmp/Ishort.jsonl"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/Ishort.jsonl" --json
expect_rc 0 "a missed 3 ms stall with the 5 ms default threshold"
expect_json "$tmp/out" \
  "d['compare']['injected'] == 4 and d['compare']['injected_above_threshold'] == 3" \
  "d['compare']['unmatched_injected'][0]['above_threshold'] is False"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/Ishort.jsonl" --threshold 2ms --json
expect_rc 1 "a missed 3 ms stall with --threshold 2ms"
expect_json "$tmp/out" "d['compare']['threshold_ns'] == 2000000 and d['compare']['recall'] == 0.75"

note "one event never explains two stalls; the best overlap wins"
{
  stall_line 1 $((20 * S)) $((50 * MS))
  stall_line 2 $((20 * S + 60 * MS)) $((40 * MS))
} > "$tmp/Itwo.jsonl"
event_line 1 stopped $((20 * S)) $((100 * MS)) > "$tmp/Eone.jsonl"
run_pstat --events "$tmp/Eone.jsonl" --compare "$tmp/Itwo.jsonl" --json
expect_rc 1 "two stalls, one event"
expect_json "$tmp/out" \
  "[(m['injected_seq'], m['detected_seq']) for m in d['compare']['matches']] == [(1, 1)]" \
  "[s['seq'] for s in d['compare']['unmatched_injected']] == [2]"
# One stall, two overlapping events: the one that overlaps more is taken.
stall_line 1 $((30 * S)) $((100 * MS)) > "$tmp/Ione.jsonl"
{
  event_line 1 cpu $((30 * S - 20 * MS)) $((30 * MS))
  event_line 2 stopped $((30 * S + 15 * MS)) $((85 * MS))
} > "$tmp/Etwo.jsonl"
run_pstat --events "$tmp/Etwo.jsonl" --compare "$tmp/Ione.jsonl" --json
expect_rc 0
expect_json "$tmp/out" \
  "[(m['injected_seq'], m['detected_seq']) for m in d['compare']['matches']] == [(1, 2)]" \
  "d['compare']['precision'] == 0.5"
# Touching is not overlapping: an event that ends where the stall starts.
event_line 1 stopped $((30 * S - 10 * MS)) $((10 * MS)) > "$tmp/Etouch.jsonl"
run_pstat --events "$tmp/Etouch.jsonl" --compare "$tmp/Ione.jsonl" --json
expect_rc 1 "an event that only touches the stall"
expect_json "$tmp/out" "d['compare']['matched'] == 0"

note "order in the files does not matter"
tac "$tmp/I3.jsonl" > "$tmp/I3r.jsonl"
tac "$tmp/E3.jsonl" > "$tmp/E3r.jsonl"
run_pstat --events "$tmp/E3r.jsonl" --compare "$tmp/I3r.jsonl" --json
expect_rc 0
expect_json "$tmp/out" "d['compare']['error_p50_ns'] == 500000 and d['compare']['matched'] == 3"

note "no stalls at all: nothing to miss"
: > "$tmp/Inone.jsonl"
run_pstat --events "$tmp/E3.jsonl" --compare "$tmp/Inone.jsonl" --json
expect_rc 0
expect_json "$tmp/out" "d['compare']['injected'] == 0 and d['compare']['recall'] is None and d['compare']['precision'] is None"
echo "PASS"
