/*
 * pausesim's schedule: SPEC strings and the seeded generator that turns them
 * into stall durations and gaps. Tool-internal (never installed); names take
 * the psim_ prefix.
 *
 * SPEC grammar (durations are tn_duration_parse() syntax, e.g. 250ms, 1.5s):
 *   DURATION                 fixed
 *   uniform:MIN,MAX          uniform over [MIN, MAX], MIN <= MAX
 *   exp:MEAN                 exponential with mean MEAN > 0
 *   pareto:SCALE,SHAPE       Pareto, values >= SCALE > 0; SHAPE a positive
 *                            decimal (digits with an optional fraction)
 * No spaces anywhere; names are lower case.
 *
 * Concurrency: everything here works on caller-owned structs, with no global
 * state, so distinct structs may be used from distinct threads freely.
 */
#ifndef PAUSESIM_SPEC_H
#define PAUSESIM_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <tenure/clock.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longer SPEC strings are refused (with the position of the limit). */
#define PSIM_SPEC_MAX 255

typedef enum psim_dist {
  PSIM_FIXED,
  PSIM_UNIFORM,
  PSIM_EXP,
  PSIM_PARETO
} psim_dist;

typedef struct psim_spec {
  psim_dist dist;
  tn_nanos a;   /* fixed: the value; uniform: MIN; exp: MEAN; pareto: SCALE */
  tn_nanos b;   /* uniform: MAX; otherwise 0 */
  double shape; /* pareto: SHAPE; otherwise 0 */
} psim_spec;

/*
 * Parse text into *out. Returns 0, or TN_EINVAL (syntax) / TN_ERANGE (a
 * duration too large, a shape too large) with err, if not NULL, filled with
 * the byte offset into text of the first bad byte and a static reason. *out
 * is untouched on failure. Never blocks.
 */
int psim_spec_parse(const char *text, psim_spec *out, tn_parse_error *err);

/*
 * Write a SPEC that psim_spec_parse() reads back as the same spec (the shape
 * with up to 17 significant digits). snprintf rules for the return value and
 * truncation.
 */
int psim_spec_format(const psim_spec *spec, char *buf, size_t len);

/* xoshiro256** seeded through splitmix64. Any seed, 0 included, is fine. */
typedef struct psim_rng {
  uint64_t s[4];
} psim_rng;

/* One splitmix64 step: advance *state and return the next output. */
uint64_t psim_splitmix64(uint64_t *state);
void psim_rng_seed(psim_rng *rng, uint64_t seed);
uint64_t psim_rng_next(psim_rng *rng);
/* Uniform on (0, 1]: never 0, so log() and pow(u, -k) stay finite. */
double psim_rng_unit(psim_rng *rng);
/* Uniform integer in [lo, hi] (lo <= hi), without modulo bias. */
uint64_t psim_rng_range(psim_rng *rng, uint64_t lo, uint64_t hi);

/*
 * One draw from spec, in [0, TN_NANOS_MAX]: heavy tails saturate instead of
 * overflowing. Uniform draws lie in [MIN, MAX], Pareto draws are >= SCALE.
 */
tn_nanos psim_spec_draw(const psim_spec *spec, psim_rng *rng);

/*
 * A stall schedule. Durations and gaps come from two streams derived from
 * one seed, so the sequence of durations depends only on the seed and the
 * duration spec (changing --interval does not change the durations), and
 * the same seed and specs always give the same sequences.
 */
typedef struct psim_schedule {
  psim_spec duration;
  psim_spec interval;
  uint64_t seed;
  psim_rng duration_rng;
  psim_rng interval_rng;
} psim_schedule;

void psim_schedule_init(psim_schedule *sched, const psim_spec *duration,
                        const psim_spec *interval, uint64_t seed);
tn_nanos psim_schedule_next_duration(psim_schedule *sched);
tn_nanos psim_schedule_next_gap(psim_schedule *sched);

#ifdef __cplusplus
}
#endif

#endif
