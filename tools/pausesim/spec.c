/*
 * pausesim SPEC strings and the seeded schedule generator.
 *
 * A SPEC is a fixed duration or "name:args" (uniform, exp, pareto). Every
 * duration inside it goes through tn_duration_parse(), so the units and the
 * exact decimal conversion are the library's; this file only splits the
 * string and shifts the library's error offset by where the field starts, so
 * an error always points at the byte in the text the user typed.
 *
 * Invariants: a parsed spec is always drawable (uniform MIN <= MAX, exp
 * MEAN > 0, pareto SCALE > 0 and SHAPE in [0.001, 1e6]); a draw is never
 * negative and never overflows (heavy tails saturate at TN_NANOS_MAX);
 * uniform draws stay in [MIN, MAX] and Pareto draws never fall below SCALE.
 *
 * The generator is xoshiro256** with its state filled by splitmix64, the
 * usual pairing: splitmix64 turns any 64-bit seed, 0 included, into a
 * well-mixed non-zero state. A schedule splits one seed into two
 * independent streams so that durations do not depend on the gap spec.
 */
#include "spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/error.h>

#define SHAPE_MIN 0.001
#define SHAPE_MAX 1000000.0

static int spec_fail(tn_parse_error *err, size_t pos, const char *reason,
                     int code) {
  if (err) {
    err->pos = pos;
    err->reason = reason;
  }
  return code;
}

/*
 * Parse buf[start, end) as a duration. buf is our own copy, so the field can
 * be cut out in place by writing a NUL at end and putting the byte back.
 */
static int parse_field(char *buf, size_t start, size_t end, tn_nanos *out,
                       tn_parse_error *err) {
  char saved = buf[end];
  tn_parse_error field_err = {0, NULL};
  int rc;

  buf[end] = '\0';
  rc = tn_duration_parse(buf + start, out, &field_err);
  buf[end] = saved;
  if (rc != 0)
    return spec_fail(err, start + field_err.pos, field_err.reason, rc);
  return 0;
}

/* Offset of the first ',' at or after from, or len if there is none. */
static size_t find_comma(const char *buf, size_t from, size_t len) {
  const char *c = memchr(buf + from, ',', len - from);
  return c ? (size_t)(c - buf) : len;
}

/* SHAPE: digits with an optional fraction, nothing else, in range. */
static int parse_shape(char *buf, size_t start, size_t len, double *out,
                       tn_parse_error *err) {
  size_t p = start;
  int digits = 0;
  double value;

  if (buf[p] == '-')
    return spec_fail(err, p, "shape must be positive", TN_EINVAL);
  for (; p < len && buf[p] >= '0' && buf[p] <= '9'; p++)
    digits++;
  if (p < len && buf[p] == '.')
    for (p++; p < len && buf[p] >= '0' && buf[p] <= '9'; p++)
      digits++;
  if (digits == 0)
    return spec_fail(err, start, "expected a decimal shape such as 1.5",
                     TN_EINVAL);
  if (p < len)
    return spec_fail(err, p,
                     buf[p] == ',' ? "unexpected ',' (pareto takes SCALE,SHAPE)"
                                   : "unexpected character in shape (use a "
                                     "decimal such as 1.5)",
                     TN_EINVAL);
  /* The syntax is checked, and pausesim never calls setlocale(), so strtod
   * sees only [0-9]*.[0-9]* with '.' as the decimal point. */
  value = strtod(buf + start, NULL);
  if (value == 0.0)
    return spec_fail(err, start, "shape must be positive", TN_EINVAL);
  if (!(value >= SHAPE_MIN && value <= SHAPE_MAX))
    return spec_fail(err, start, "shape out of range (0.001 to 1000000)",
                     TN_ERANGE);
  *out = value;
  return 0;
}

static int parse_uniform(char *buf, size_t args, size_t len, psim_spec *spec,
                         tn_parse_error *err) {
  size_t comma = find_comma(buf, args, len), max_end;
  int rc = parse_field(buf, args, comma, &spec->a, err);
  if (rc != 0)
    return rc;
  if (comma == len)
    return spec_fail(err, len, "expected ',' and a maximum (uniform:MIN,MAX)",
                     TN_EINVAL);
  max_end = find_comma(buf, comma + 1, len);
  rc = parse_field(buf, comma + 1, max_end, &spec->b, err);
  if (rc != 0)
    return rc;
  if (max_end != len)
    return spec_fail(err, max_end, "unexpected ',' (uniform takes MIN,MAX)",
                     TN_EINVAL);
  if (spec->b < spec->a)
    return spec_fail(err, comma + 1, "maximum is less than the minimum",
                     TN_EINVAL);
  return 0;
}

static int parse_exp(char *buf, size_t args, size_t len, psim_spec *spec,
                     tn_parse_error *err) {
  size_t comma = find_comma(buf, args, len);
  int rc = parse_field(buf, args, comma, &spec->a, err);
  if (rc != 0)
    return rc;
  if (comma != len)
    return spec_fail(err, comma, "unexpected ',' (exp takes one MEAN)",
                     TN_EINVAL);
  if (spec->a == 0)
    return spec_fail(err, args, "mean must be positive", TN_EINVAL);
  return 0;
}

static int parse_pareto(char *buf, size_t args, size_t len, psim_spec *spec,
                        tn_parse_error *err) {
  size_t comma = find_comma(buf, args, len);
  int rc = parse_field(buf, args, comma, &spec->a, err);
  if (rc != 0)
    return rc;
  if (comma == len)
    return spec_fail(err, len,
                     "expected ',' and a shape (pareto:SCALE,SHAPE)",
                     TN_EINVAL);
  if (spec->a == 0)
    return spec_fail(err, args, "scale must be positive", TN_EINVAL);
  return parse_shape(buf, comma + 1, len, &spec->shape, err);
}

static const struct {
  const char *name;
  psim_dist dist;
  int (*parse)(char *buf, size_t args, size_t len, psim_spec *spec,
               tn_parse_error *err);
} dists[] = {
    {"uniform", PSIM_UNIFORM, parse_uniform},
    {"exp", PSIM_EXP, parse_exp},
    {"pareto", PSIM_PARETO, parse_pareto},
};

static int is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int psim_spec_parse(const char *text, psim_spec *out, tn_parse_error *err) {
  char buf[PSIM_SPEC_MAX + 1];
  size_t len, word = 0, i;
  psim_spec spec;
  int rc;

  if (text == NULL || out == NULL)
    return TN_EINVAL;
  len = strnlen(text, PSIM_SPEC_MAX + 1);
  if (len == 0)
    return spec_fail(err, 0, "empty SPEC", TN_EINVAL);
  if (len > PSIM_SPEC_MAX)
    return spec_fail(err, PSIM_SPEC_MAX, "SPEC too long", TN_EINVAL);
  memcpy(buf, text, len + 1);
  memset(&spec, 0, sizeof spec);

  while (word < len && is_letter(buf[word]))
    word++;
  if (word > 0 && (word == len || buf[word] == ':')) {
    /* A bare word, or a word before ':', names a distribution ("ms" alone
     * falls through to the duration parser, which explains it better). */
    for (i = 0; i < sizeof dists / sizeof dists[0]; i++) {
      if (strlen(dists[i].name) != word ||
          memcmp(buf, dists[i].name, word) != 0)
        continue;
      if (word == len)
        return spec_fail(err, word,
                         "expected ':' and arguments after the distribution",
                         TN_EINVAL);
      spec.dist = dists[i].dist;
      rc = dists[i].parse(buf, word + 1, len, &spec, err);
      if (rc != 0)
        return rc;
      *out = spec;
      return 0;
    }
    if (buf[word] == ':')
      return spec_fail(err, 0,
                       "unknown distribution (use uniform, exp or pareto)",
                       TN_EINVAL);
  } else if (word == 0 && buf[0] == ':') {
    return spec_fail(err, 0, "missing distribution name before ':'",
                     TN_EINVAL);
  }
  spec.dist = PSIM_FIXED;
  rc = parse_field(buf, 0, len, &spec.a, err);
  if (rc != 0)
    return rc;
  *out = spec;
  return 0;
}

/* The shortest fixed-point text that strtod() turns back into exactly v.
 * v is in [0.001, 1e6], so 17 significant digits fit in 24 decimals. */
static void format_shape(double v, char *buf, size_t len) {
  int decimals;
  for (decimals = 1; decimals <= 24; decimals++) {
    snprintf(buf, len, "%.*f", decimals, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  /* "%.1f" of a whole number leaves "2.0": drop the needless ".0". */
  {
    size_t n = strlen(buf);
    if (n >= 2 && buf[n - 2] == '.' && buf[n - 1] == '0')
      buf[n - 2] = '\0';
  }
}

int psim_spec_format(const psim_spec *spec, char *buf, size_t len) {
  char a[64], b[64];
  tn_duration_format(spec->a, a, sizeof a);
  switch (spec->dist) {
  case PSIM_UNIFORM:
    tn_duration_format(spec->b, b, sizeof b);
    return snprintf(buf, len, "uniform:%s,%s", a, b);
  case PSIM_EXP:
    return snprintf(buf, len, "exp:%s", a);
  case PSIM_PARETO:
    format_shape(spec->shape, b, sizeof b);
    return snprintf(buf, len, "pareto:%s,%s", a, b);
  case PSIM_FIXED:
  default:
    return snprintf(buf, len, "%s", a);
  }
}

/* --- generator ----------------------------------------------------------- */

uint64_t psim_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void psim_rng_seed(psim_rng *rng, uint64_t seed) {
  int i;
  /* Four distinct splitmix64 outputs are never all zero, the one state
   * xoshiro cannot leave. */
  for (i = 0; i < 4; i++)
    rng->s[i] = psim_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t psim_rng_next(psim_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double psim_rng_unit(psim_rng *rng) {
  /* 53 random bits, shifted up by one step: k/2^53 for k in 1..2^53. */
  return (double)((psim_rng_next(rng) >> 11) + 1) * 0x1p-53;
}

uint64_t psim_rng_range(psim_rng *rng, uint64_t lo, uint64_t hi) {
  uint64_t span = hi - lo, n, floor, r;
  if (span == UINT64_MAX)
    return psim_rng_next(rng);
  n = span + 1;
  /* Reject the low 2^64 mod n values so every residue is equally likely. */
  floor = (0 - n) % n;
  do
    r = psim_rng_next(rng);
  while (r < floor);
  return lo + r % n;
}

static tn_nanos nanos_from_double(double x) {
  if (!(x >= 0.0)) /* also NaN */
    return 0;
  x += 0.5;
  if (!(x < 9223372036854775808.0)) /* 2^63, and infinity */
    return TN_NANOS_MAX;
  return (tn_nanos)x;
}

tn_nanos psim_spec_draw(const psim_spec *spec, psim_rng *rng) {
  tn_nanos v;
  switch (spec->dist) {
  case PSIM_UNIFORM:
    return (tn_nanos)psim_rng_range(rng, (uint64_t)spec->a,
                                    (uint64_t)spec->b);
  case PSIM_EXP:
    /* Inversion: -mean * ln(U) with U in (0, 1]. */
    return nanos_from_double(-(double)spec->a * log(psim_rng_unit(rng)));
  case PSIM_PARETO:
    /* Inversion: scale * U^(-1/shape) >= scale. A scale above 2^53 is not
     * exact as a double, so clamp to keep the promise. */
    v = nanos_from_double((double)spec->a *
                          pow(psim_rng_unit(rng), -1.0 / spec->shape));
    return v < spec->a ? spec->a : v;
  case PSIM_FIXED:
  default:
    return spec->a;
  }
}

void psim_schedule_init(psim_schedule *sched, const psim_spec *duration,
                        const psim_spec *interval, uint64_t seed) {
  uint64_t split = seed;
  sched->duration = *duration;
  sched->interval = *interval;
  sched->seed = seed;
  psim_rng_seed(&sched->duration_rng, psim_splitmix64(&split));
  psim_rng_seed(&sched->interval_rng, psim_splitmix64(&split));
}

tn_nanos psim_schedule_next_duration(psim_schedule *sched) {
  return psim_spec_draw(&sched->duration, &sched->duration_rng);
}

tn_nanos psim_schedule_next_gap(psim_schedule *sched) {
  return psim_spec_draw(&sched->interval, &sched->interval_rng);
}
