/*
 * Log-linear duration histogram: one counter per bucket over 1 us .. 1 hour,
 * every bucket at most 1/1024 as wide as the values in it, so a percentile
 * read off the buckets is within 0.1% of the true one and two histograms
 * merge by adding counters.
 *
 * The one trick is the bucket index, taken from the value's top bit. Below
 * 2048 ns every nanosecond is its own bucket. Above, the doubling
 * [2^m, 2^(m+1)) is cut into 1024 buckets of width 2^(m-10): shifting the
 * value right by m-10 leaves a number in [1024, 2048) that names the bucket
 * inside its doubling, and (m-10)*1024 plus that number is an index that runs
 * on without a gap from the exact nanoseconds into the first doubling and
 * from each doubling into the next. Values under 1 us are clamped, so the
 * array starts at index 1000 and ends at the bucket of 1 hour.
 *
 * There is one writer, so it updates every field with an atomic load and a
 * store, never a locked read-modify-write. It stores min, max, sum and
 * clamped before the bucket count, and the count with release; a copy loads
 * every count with acquire before it reads the rest. So a copy's min and max
 * cover every value its counts include, and pulling them into the lowest and
 * highest non-empty copied buckets keeps the copy consistent.
 *
 * Invariants while nobody writes: total is the sum of the counts; min and
 * max are exact recorded values lying in the lowest and highest non-empty
 * buckets; an empty histogram has min INT64_MAX and max 0.
 */
#include <tenure/error.h>
#include <tenure/histogram.h>

#include <float.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SUB_BITS 10
#define SUB_COUNT ((uint64_t)1 << SUB_BITS)
#define EXACT_LIMIT (2 * SUB_COUNT)
#define HIGHEST_TOP_BIT 41
#define FIRST_INDEX ((uint64_t)TN_HISTOGRAM_LOWEST)
#define LAST_INDEX                                                             \
  ((HIGHEST_TOP_BIT - SUB_BITS) * SUB_COUNT +                                  \
   ((uint64_t)TN_HISTOGRAM_HIGHEST >> (HIGHEST_TOP_BIT - SUB_BITS)))
#define BUCKETS ((unsigned)(LAST_INDEX - FIRST_INDEX + 1))

_Static_assert(TN_HISTOGRAM_HIGHEST >> HIGHEST_TOP_BIT == 1,
               "HIGHEST_TOP_BIT must be the top bit of TN_HISTOGRAM_HIGHEST");
_Static_assert(TN_HISTOGRAM_LOWEST < EXACT_LIMIT,
               "the lowest value must have an exact bucket");

#define GET(field) atomic_load_explicit(&(field), memory_order_relaxed)
#define PUT(field, v) atomic_store_explicit(&(field), (v), memory_order_relaxed)

struct tn_histogram {
  _Atomic uint64_t total;
  _Atomic uint64_t clamped;
  _Atomic tn_nanos min;
  _Atomic tn_nanos max;
  _Atomic tn_nanos sum;
  _Atomic uint64_t counts[BUCKETS];
};

static unsigned bucket_of(tn_nanos value) {
  uint64_t v = (uint64_t)value;
  unsigned shift = 0;
  if (v >= EXACT_LIMIT)
    shift = (unsigned)(63 - __builtin_clzll(v)) - SUB_BITS;
  return (unsigned)(shift * SUB_COUNT + (v >> shift) - FIRST_INDEX);
}

static unsigned bucket_shift(unsigned bucket) {
  uint64_t index = bucket + FIRST_INDEX;
  return index < EXACT_LIMIT ? 0 : (unsigned)(index >> SUB_BITS) - 1;
}

static tn_nanos bucket_lowest(unsigned bucket) {
  unsigned shift = bucket_shift(bucket);
  return (tn_nanos)((bucket + FIRST_INDEX - shift * SUB_COUNT) << shift);
}

static tn_nanos bucket_highest(unsigned bucket) {
  return bucket_lowest(bucket) + ((tn_nanos)1 << bucket_shift(bucket)) - 1;
}

static tn_nanos sum_add(tn_nanos sum, tn_nanos value, uint64_t count) {
  uint64_t add, result;
  if (__builtin_mul_overflow((uint64_t)value, count, &add) ||
      __builtin_add_overflow((uint64_t)sum, add, &result) ||
      result > (uint64_t)TN_NANOS_MAX)
    return TN_NANOS_MAX;
  return (tn_nanos)result;
}

int tn_histogram_new(tn_histogram **out) {
  tn_histogram *h = malloc(sizeof *h);
  if (h == NULL)
    return TN_ENOMEM;
  tn_histogram_reset(h);
  *out = h;
  return 0;
}

void tn_histogram_free(tn_histogram *h) { free(h); }

void tn_histogram_reset(tn_histogram *h) {
  unsigned b;
  for (b = 0; b < BUCKETS; b++)
    PUT(h->counts[b], 0);
  PUT(h->total, 0);
  PUT(h->clamped, 0);
  PUT(h->min, TN_NANOS_MAX);
  PUT(h->max, 0);
  PUT(h->sum, 0);
}

void tn_histogram_record_n(tn_histogram *h, tn_nanos value, uint64_t count) {
  tn_nanos in_range = value;
  unsigned b;

  if (count == 0)
    return;
  if (value < TN_HISTOGRAM_LOWEST || value > TN_HISTOGRAM_HIGHEST) {
    in_range =
        value < TN_HISTOGRAM_LOWEST ? TN_HISTOGRAM_LOWEST : TN_HISTOGRAM_HIGHEST;
    PUT(h->clamped, GET(h->clamped) + count);
  }
  if (in_range < GET(h->min))
    PUT(h->min, in_range);
  if (in_range > GET(h->max))
    PUT(h->max, in_range);
  if (value > 0)
    PUT(h->sum, sum_add(GET(h->sum), value, count));
  b = bucket_of(in_range);
  atomic_store_explicit(&h->counts[b], GET(h->counts[b]) + count,
                        memory_order_release);
  PUT(h->total, GET(h->total) + count);
}

void tn_histogram_record(tn_histogram *h, tn_nanos value) {
  tn_histogram_record_n(h, value, 1);
}

void tn_histogram_merge(tn_histogram *dst, const tn_histogram *src) {
  uint64_t added = 0;
  unsigned b, low = 0, high = 0;
  tn_nanos min, max;

  for (b = 0; b < BUCKETS; b++) {
    uint64_t c = atomic_load_explicit(&src->counts[b], memory_order_acquire);
    if (c == 0)
      continue;
    PUT(dst->counts[b], GET(dst->counts[b]) + c);
    if (added == 0)
      low = b;
    high = b;
    added += c;
  }
  if (added == 0)
    return;

  /* Only differs from the stored value when the writer moved on during the
   * copy: min or max then belongs to a value the copy does not count. */
  min = GET(src->min);
  if (min < bucket_lowest(low))
    min = bucket_lowest(low);
  max = GET(src->max);
  if (max > bucket_highest(high))
    max = bucket_highest(high);

  if (min < GET(dst->min))
    PUT(dst->min, min);
  if (max > GET(dst->max))
    PUT(dst->max, max);
  PUT(dst->sum, sum_add(GET(dst->sum), GET(src->sum), 1));
  PUT(dst->clamped, GET(dst->clamped) + GET(src->clamped));
  PUT(dst->total, GET(dst->total) + added);
}

void tn_histogram_snapshot(const tn_histogram *src, tn_histogram *dst) {
  tn_histogram_reset(dst);
  tn_histogram_merge(dst, src);
}

uint64_t tn_histogram_count(const tn_histogram *h) { return GET(h->total); }

tn_nanos tn_histogram_sum(const tn_histogram *h) { return GET(h->sum); }

tn_nanos tn_histogram_min(const tn_histogram *h) {
  return GET(h->total) ? GET(h->min) : 0;
}

tn_nanos tn_histogram_max(const tn_histogram *h) {
  return GET(h->total) ? GET(h->max) : 0;
}

uint64_t tn_histogram_clamped(const tn_histogram *h) {
  return GET(h->clamped);
}

/* ceil(p/100 * total), in [1, total]. A p such as 99.1 has no exact binary
 * form, and 99.1% of 1000 must be rank 991, not 992: shave a few ulps off
 * before rounding up. */
static uint64_t rank_of(double p, uint64_t total) {
  double x = p / 100.0 * (double)total;
  uint64_t rank;
  x -= x * (8 * DBL_EPSILON);
  rank = (uint64_t)x;
  if ((double)rank < x)
    rank++;
  if (rank < 1)
    rank = 1;
  return rank < total ? rank : total;
}

tn_nanos tn_histogram_percentile(const tn_histogram *h, double p) {
  uint64_t total = GET(h->total), rank, seen = 0;
  tn_nanos min, max;
  unsigned b, last;

  if (total == 0)
    return 0;
  min = GET(h->min);
  max = GET(h->max);
  if (p >= 100)
    return max;
  if (!(p > 0))
    return min;
  rank = rank_of(p, total);
  last = bucket_of(max);
  for (b = bucket_of(min); b < last; b++) {
    seen += GET(h->counts[b]);
    if (seen >= rank)
      return bucket_highest(b);
  }
  return max;
}

uint64_t tn_histogram_count_le(const tn_histogram *h, tn_nanos le) {
  uint64_t total = GET(h->total), seen = 0;
  tn_nanos min, max;
  unsigned b, last;

  if (total == 0)
    return 0;
  min = GET(h->min);
  max = GET(h->max);
  if (le >= max)
    return total;
  last = bucket_of(max);
  for (b = bucket_of(min); b < last && bucket_highest(b) <= le; b++)
    seen += GET(h->counts[b]);
  return seen;
}
