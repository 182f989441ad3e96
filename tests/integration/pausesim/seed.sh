#!/usr/bin/env bash
# --seed makes a schedule reproducible: the same seed and SPECs give the same
# requested durations; another seed gives others; a run without --seed
# prints (with -v) the seed that replays it.
#   seed.sh PAUSESIM
source "$(dirname "$0")/lib.sh"

sleep 120 &
target=$!
track "$target"

requested() {
  local line
  while IFS= read -r line; do log_field "$line" requested_ns; done < <(stall_lines "$1")
}

sched=(-d uniform:5ms,30ms -i exp:10ms -n 8)

note "same seed, same schedule"
run_psim -q --pid "$target" -s 42 "${sched[@]}" -l "$tmp/a"
expect_rc 0
run_psim -q --pid "$target" -s 42 "${sched[@]}" -l "$tmp/b"
expect_rc 0
check_log "$tmp/a" 8 stop "$target"
check_log "$tmp/b" 8 stop "$target"
requested "$tmp/a" > "$tmp/a.req"
requested "$tmp/b" > "$tmp/b.req"
cmp -s "$tmp/a.req" "$tmp/b.req" ||
  fail "seed 42 gave two schedules: $(paste "$tmp/a.req" "$tmp/b.req")"
while read -r r; do
  [ "$r" -ge 5000000 ] && [ "$r" -le 30000000 ] || fail "requested $r outside uniform:5ms,30ms"
done < "$tmp/a.req"
[ "$(sort -u "$tmp/a.req" | wc -l)" -ge 6 ] || fail "uniform draws repeat: $(cat "$tmp/a.req")"

note "another seed, another schedule"
run_psim -q --pid "$target" -s 43 "${sched[@]}" -l "$tmp/c"
expect_rc 0
requested "$tmp/c" > "$tmp/c.req"
! cmp -s "$tmp/a.req" "$tmp/c.req" || fail "seeds 42 and 43 gave the same schedule"

note "the seed printed by -v replays the run"
run_psim -v --pid "$target" "${sched[@]}" -l "$tmp/d"
expect_rc 0
seed=$(sed -n 's/^pausesim: seed \([0-9]*\) .*/\1/p' "$tmp/err")
[ -n "$seed" ] || fail "-v did not print the seed: $(cat "$tmp/err")"
run_psim -q --pid "$target" -s "$seed" "${sched[@]}" -l "$tmp/e"
expect_rc 0
requested "$tmp/d" > "$tmp/d.req"
requested "$tmp/e" > "$tmp/e.req"
cmp -s "$tmp/d.req" "$tmp/e.req" || fail "--seed $seed did not replay the -v run"

echo "PASS"
