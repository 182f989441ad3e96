/*
 * Unit tests: the log-linear duration histogram (histogram.c).
 *
 * Expectations never come from the histogram under test. Exact bucket tops
 * are worked out by hand from the layout the header promises (1 ns buckets
 * below 2048 ns, then 1024 buckets per doubling); everything else is checked
 * against a sorted copy of the data and the 0.1% bound.
 */
#include "cu_main.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <tenure/histogram.h>

#define LOWEST TN_HISTOGRAM_LOWEST
#define HIGHEST TN_HISTOGRAM_HIGHEST

static uint64_t xorshift(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

/* Spread over every doubling of the range, not just the top few. */
static tn_nanos random_in_range(uint64_t *state) {
  for (;;) {
    unsigned top_bit = 9 + (unsigned)(xorshift(state) % 33);
    tn_nanos v = (tn_nanos)(xorshift(state) >> (63 - top_bit));
    if (v >= LOWEST && v <= HIGHEST)
      return v;
  }
}

static tn_histogram *new_histogram(void) {
  tn_histogram *h = NULL;
  CU_ASSERT_EQUAL_FATAL(tn_histogram_new(&h), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  return h;
}

static int compare_nanos(const void *a, const void *b) {
  tn_nanos x = *(const tn_nanos *)a, y = *(const tn_nanos *)b;
  return (x > y) - (x < y);
}

/* p given in thousandths of a percent, so the rank is integer arithmetic. */
static uint64_t rank_milli(uint64_t p_milli, uint64_t count) {
  uint64_t rank = (p_milli * count + 99999) / 100000;
  return rank ? rank : 1;
}

/* got is the top of truth's bucket: not below it, at most 0.1% above. */
static int within_bucket(tn_nanos got, tn_nanos truth) {
  return got >= truth && (got - truth) * 1000 <= truth;
}

/* The value that ranks `rank` (1-based) in sorted data. */
static tn_nanos oracle_at(const tn_nanos *sorted, uint64_t rank) {
  return sorted[rank - 1];
}

/* How many of the sorted values are <= le. */
static uint64_t oracle_le(const tn_nanos *sorted, size_t n, tn_nanos le) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (sorted[mid] <= le)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Bucket top of v, read as percentile 50 of {v, HIGHEST}: rank 1. */
static tn_nanos bucket_top_via_percentile(tn_histogram *h, tn_nanos v) {
  tn_histogram_reset(h);
  tn_histogram_record(h, HIGHEST);
  tn_histogram_record(h, v);
  return tn_histogram_percentile(h, 50);
}

static void test_bucket_tops_by_hand(void) {
  static const struct {
    tn_nanos value, top;
  } cases[] = {
      {1000, 1000},       /* lowest value, exact bucket */
      {1001, 1001},       {2047, 2047}, /* last 1 ns bucket */
      {2048, 2049},       /* first doubling: width 2 */
      {2049, 2049},       {2050, 2051},
      {3000, 3001},       {4095, 4095},
      {4096, 4099},       /* width 4 */
      {1000000, 1000447}, /* 1 ms: 1953 * 512 + 511 */
      {2500000, 2500607}, /* 1220 * 2048 + 2047 */
      {5000000, 5001215}, /* 1220 * 4096 + 4095 */
      {1000000000, 1000341503}, /* 1 s: 1907 * 2^19 + 2^19 - 1 */
      {3599000000000, 3599182594047}, /* 1675 * 2^31 + 2^31 - 1 */
  };
  tn_histogram *h = new_histogram();
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tn_nanos got = bucket_top_via_percentile(h, cases[i].value);
    if (got != cases[i].top)
      fprintf(stderr, "\nbucket of %lld: top %lld, want %lld\n",
              (long long)cases[i].value, (long long)got,
              (long long)cases[i].top);
    CU_ASSERT_EQUAL(got, cases[i].top);
  }
  /* the top bucket reaches past 1 hour; capped at max, which is 1 hour */
  CU_ASSERT_EQUAL(bucket_top_via_percentile(h, HIGHEST - 1), HIGHEST);
  tn_histogram_free(h);
}

static void test_uniform_microseconds(void) {
  enum { N = 10000 };
  static const struct {
    uint64_t p_milli;
    tn_nanos want;
  } exact[] = {
      {10, 1000},         /* rank 1: 1 us, exact bucket */
      {20, 2000},         /* rank 2: 2 us, exact bucket */
      {30, 3001},         /* rank 3: 3 us in [3000, 3001] */
      {25000, 2500607},   {50000, 5001215}, {90000, 9003007},
      {99000, 9904127},   {99900, 9994239}, {100000, 10000000},
  };
  static tn_nanos sorted[N];
  tn_histogram *h = new_histogram();
  uint64_t seed = 42, p;
  size_t i;
  int k;

  for (k = 0; k < N; k++)
    sorted[k] = (tn_nanos)(k + 1) * TN_USEC;
  /* record in a scrambled order: k -> k * 7919 mod N is a permutation */
  for (k = 0; k < N; k++)
    tn_histogram_record(h, sorted[(k * 7919) % N]);

  CU_ASSERT_EQUAL(tn_histogram_count(h), N);
  CU_ASSERT_EQUAL(tn_histogram_min(h), TN_USEC);
  CU_ASSERT_EQUAL(tn_histogram_max(h), 10 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_histogram_sum(h), (tn_nanos)N * (N + 1) / 2 * TN_USEC);
  CU_ASSERT_EQUAL(tn_histogram_clamped(h), 0);

  for (i = 0; i < sizeof exact / sizeof exact[0]; i++) {
    tn_nanos got = tn_histogram_percentile(h, exact[i].p_milli / 1000.0);
    if (got != exact[i].want)
      fprintf(stderr, "\np%g: %lld, want %lld\n", exact[i].p_milli / 1000.0,
              (long long)got, (long long)exact[i].want);
    CU_ASSERT_EQUAL(got, exact[i].want);
  }
  CU_ASSERT_TRUE(within_bucket(tn_histogram_percentile(h, 50), 5000000));

  for (p = 1; p <= 100000; p += 1 + xorshift(&seed) % 97) {
    tn_nanos truth = oracle_at(sorted, rank_milli(p, N));
    tn_nanos got = tn_histogram_percentile(h, p / 1000.0);
    if (!within_bucket(got, truth))
      fprintf(stderr, "\np%g: %lld, true %lld\n", p / 1000.0, (long long)got,
              (long long)truth);
    CU_ASSERT_TRUE_FATAL(within_bucket(got, truth));
  }

  /* 4998..5001 us share the bucket [4997120, 5001215] */
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 5001215), 5001);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 5001214), 4997);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 1999), 1);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 2000), 2);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 3000), 2); /* [3000, 3001] */
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 3001), 3);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 999), 0);
  tn_histogram_free(h);
}

static void test_exact_nanoseconds(void) {
  /* below 2048 ns every value is its own bucket, so percentiles are exact */
  tn_histogram *h = new_histogram();
  uint64_t p;
  tn_nanos v;
  for (v = 1000; v < 2048; v++)
    tn_histogram_record(h, v);
  CU_ASSERT_EQUAL(tn_histogram_count(h), 1048);
  for (p = 1; p <= 100000; p += 13) {
    tn_nanos want = 999 + (tn_nanos)rank_milli(p, 1048);
    CU_ASSERT_EQUAL_FATAL(tn_histogram_percentile(h, p / 1000.0), want);
  }
  for (v = 999; v < 2048; v++)
    CU_ASSERT_EQUAL_FATAL(tn_histogram_count_le(h, v), (uint64_t)(v - 999));
  tn_histogram_free(h);
}

static void test_bimodal(void) {
  tn_histogram *h = new_histogram();
  int i;
  for (i = 0; i < 990; i++)
    tn_histogram_record(h, TN_MSEC);
  tn_histogram_record_n(h, TN_SEC, 10);

  CU_ASSERT_EQUAL(tn_histogram_count(h), 1000);
  CU_ASSERT_EQUAL(tn_histogram_min(h), TN_MSEC);
  CU_ASSERT_EQUAL(tn_histogram_max(h), TN_SEC);
  CU_ASSERT_EQUAL(tn_histogram_sum(h), 990 * TN_MSEC + 10 * TN_SEC);

  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 50), 1000447);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 99), 1000447);
  CU_ASSERT_TRUE(within_bucket(tn_histogram_percentile(h, 99), TN_MSEC));
  /* rank 991 is the first 1 s value; its bucket top is capped at max */
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 99.1), TN_SEC);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 99.05), TN_SEC);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 99.9), TN_SEC);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 100), TN_SEC);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 0), TN_MSEC);

  /* 1 ms counts only once its whole bucket is under le */
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, TN_MSEC), 0);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 1000446), 0);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 1000447), 990);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, TN_SEC - 1), 990);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, TN_SEC), 1000);
  tn_histogram_free(h);
}

static void test_single_value(void) {
  static const double ps[] = {0.001, 1, 50, 99, 99.999, 100};
  tn_histogram *h = new_histogram();
  size_t i;
  tn_histogram_record(h, 1234567);
  CU_ASSERT_EQUAL(tn_histogram_count(h), 1);
  CU_ASSERT_EQUAL(tn_histogram_min(h), 1234567);
  CU_ASSERT_EQUAL(tn_histogram_max(h), 1234567);
  CU_ASSERT_EQUAL(tn_histogram_sum(h), 1234567);
  for (i = 0; i < sizeof ps / sizeof ps[0]; i++)
    CU_ASSERT_EQUAL(tn_histogram_percentile(h, ps[i]), 1234567);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 1234566), 0);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 1234567), 1);
  tn_histogram_free(h);
}

static void expect_empty(const tn_histogram *h) {
  CU_ASSERT_EQUAL(tn_histogram_count(h), 0);
  CU_ASSERT_EQUAL(tn_histogram_sum(h), 0);
  CU_ASSERT_EQUAL(tn_histogram_min(h), 0);
  CU_ASSERT_EQUAL(tn_histogram_max(h), 0);
  CU_ASSERT_EQUAL(tn_histogram_clamped(h), 0);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 0.1), 0);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 50), 0);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 100), 0);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, 0), 0);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, HIGHEST), 0);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, TN_NANOS_MAX), 0);
}

static void test_empty_and_reset(void) {
  tn_histogram *h = new_histogram();
  expect_empty(h);
  tn_histogram_record(h, 5 * TN_MSEC);
  tn_histogram_record(h, TN_NANOS_MAX);
  tn_histogram_reset(h);
  expect_empty(h);
  tn_histogram_record(h, 7 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_histogram_min(h), 7 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_histogram_max(h), 7 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_histogram_count(h), 1);
  /* counting zero occurrences records nothing, not even min/max */
  tn_histogram_reset(h);
  tn_histogram_record_n(h, 3 * TN_MSEC, 0);
  expect_empty(h);
  tn_histogram_free(h);
  tn_histogram_free(NULL);
}

static void test_clamping(void) {
  tn_histogram *h = new_histogram();

  tn_histogram_record(h, LOWEST);
  tn_histogram_record(h, HIGHEST);
  CU_ASSERT_EQUAL(tn_histogram_clamped(h), 0);
  tn_histogram_reset(h);

  tn_histogram_record(h, 999);
  tn_histogram_record(h, 0);
  tn_histogram_record(h, -1);
  tn_histogram_record(h, INT64_MIN);
  tn_histogram_record_n(h, 1, 3);
  CU_ASSERT_EQUAL(tn_histogram_count(h), 7);
  CU_ASSERT_EQUAL(tn_histogram_clamped(h), 7);
  CU_ASSERT_EQUAL(tn_histogram_min(h), LOWEST);
  CU_ASSERT_EQUAL(tn_histogram_max(h), LOWEST);
  CU_ASSERT_EQUAL(tn_histogram_sum(h), 999 + 3); /* negatives add 0 */
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 50), LOWEST);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, LOWEST - 1), 0);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, LOWEST), 7);

  tn_histogram_reset(h);
  tn_histogram_record(h, 2 * TN_MSEC);
  tn_histogram_record(h, HIGHEST + 1);
  tn_histogram_record(h, TN_NANOS_MAX);
  CU_ASSERT_EQUAL(tn_histogram_count(h), 3);
  CU_ASSERT_EQUAL(tn_histogram_clamped(h), 2);
  CU_ASSERT_EQUAL(tn_histogram_max(h), HIGHEST);
  CU_ASSERT_EQUAL(tn_histogram_min(h), 2 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_histogram_sum(h), TN_NANOS_MAX); /* saturated */
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 50), HIGHEST);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 100), HIGHEST);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 33), 2000895); /* 1953*1024+1023 */
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, HIGHEST - 1), 1);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, HIGHEST), 3);

  tn_histogram_reset(h);
  tn_histogram_record_n(h, HIGHEST, UINT64_MAX / 2);
  CU_ASSERT_EQUAL(tn_histogram_sum(h), TN_NANOS_MAX);
  CU_ASSERT_EQUAL(tn_histogram_count(h), UINT64_MAX / 2);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 50), HIGHEST);
  tn_histogram_free(h);
}

/* Every query two histograms answer, compared at many points. */
static void expect_same(const tn_histogram *a, const tn_histogram *b,
                        uint64_t seed) {
  uint64_t p;
  int i;
  CU_ASSERT_EQUAL_FATAL(tn_histogram_count(a), tn_histogram_count(b));
  CU_ASSERT_EQUAL(tn_histogram_sum(a), tn_histogram_sum(b));
  CU_ASSERT_EQUAL(tn_histogram_min(a), tn_histogram_min(b));
  CU_ASSERT_EQUAL(tn_histogram_max(a), tn_histogram_max(b));
  CU_ASSERT_EQUAL(tn_histogram_clamped(a), tn_histogram_clamped(b));
  for (p = 1; p <= 100000; p += 1 + xorshift(&seed) % 199)
    CU_ASSERT_EQUAL_FATAL(tn_histogram_percentile(a, p / 1000.0),
                          tn_histogram_percentile(b, p / 1000.0));
  for (i = 0; i < 600; i++) {
    tn_nanos le = random_in_range(&seed) + (tn_nanos)(i % 3) - 1;
    CU_ASSERT_EQUAL_FATAL(tn_histogram_count_le(a, le),
                          tn_histogram_count_le(b, le));
  }
}

static void test_merge_equals_both_streams(void) {
  enum { NA = 20000, NB = 30000 };
  static tn_nanos sorted[NA + NB];
  tn_histogram *a = new_histogram(), *b = new_histogram();
  tn_histogram *both = new_histogram(), *merged = new_histogram();
  uint64_t seed_a = 1, seed_b = 0xdeadbeefcafef00dull, p;
  int i;

  for (i = 0; i < NA; i++) {
    tn_nanos v = random_in_range(&seed_a);
    if (i % 1000 == 0)
      v = i % 2000 ? -v : 10 * HIGHEST;
    tn_histogram_record(a, v);
    tn_histogram_record(both, v);
    sorted[i] = v < LOWEST ? LOWEST : v > HIGHEST ? HIGHEST : v;
  }
  for (i = 0; i < NB; i++) {
    tn_nanos v = TN_MSEC + (tn_nanos)(xorshift(&seed_b) % (50 * TN_MSEC));
    tn_histogram_record(b, v);
    tn_histogram_record(both, v);
    sorted[NA + i] = v;
  }
  tn_histogram_merge(merged, a);
  tn_histogram_merge(merged, b);
  expect_same(merged, both, 7);
  CU_ASSERT_EQUAL(tn_histogram_count(merged), NA + NB);
  CU_ASSERT_EQUAL(tn_histogram_clamped(merged), NA / 1000);

  /* and the merged one is right, not just equal */
  qsort(sorted, NA + NB, sizeof sorted[0], compare_nanos);
  CU_ASSERT_EQUAL(tn_histogram_min(merged), sorted[0]);
  CU_ASSERT_EQUAL(tn_histogram_max(merged), sorted[NA + NB - 1]);
  for (p = 1; p <= 100000; p += 101)
    CU_ASSERT_TRUE_FATAL(
        within_bucket(tn_histogram_percentile(merged, p / 1000.0),
                      oracle_at(sorted, rank_milli(p, NA + NB))));

  /* merging an empty histogram changes nothing; into an empty one copies */
  tn_histogram_reset(a);
  tn_histogram_merge(merged, a);
  expect_same(merged, both, 8);
  tn_histogram_merge(a, both);
  expect_same(a, both, 9);

  tn_histogram_free(a);
  tn_histogram_free(b);
  tn_histogram_free(both);
  tn_histogram_free(merged);
}

static void test_snapshot_copies(void) {
  tn_histogram *h = new_histogram(), *snap = new_histogram();
  uint64_t seed = 99;
  int i;
  tn_histogram_record(snap, 17 * TN_SEC); /* overwritten, not merged */
  for (i = 0; i < 5000; i++)
    tn_histogram_record(h, random_in_range(&seed));
  tn_histogram_record(h, -3);
  tn_histogram_snapshot(h, snap);
  expect_same(snap, h, 3);
  CU_ASSERT_EQUAL(tn_histogram_count(snap), 5001);
  CU_ASSERT_EQUAL(tn_histogram_clamped(snap), 1);
  tn_histogram_free(h);
  tn_histogram_free(snap);
}

static void test_count_le_monotone(void) {
  enum { N = 50000, POINTS = 3000 };
  static tn_nanos sorted[N], les[POINTS];
  tn_histogram *h = new_histogram();
  uint64_t seed = 12345, previous = 0;
  tn_nanos max;
  int i;

  for (i = 0; i < N; i++) {
    sorted[i] = random_in_range(&seed);
    tn_histogram_record(h, sorted[i]);
  }
  qsort(sorted, N, sizeof sorted[0], compare_nanos);
  max = sorted[N - 1];
  CU_ASSERT_EQUAL_FATAL(tn_histogram_max(h), max);

  for (i = 0; i < POINTS; i++) {
    tn_nanos v = sorted[xorshift(&seed) % N];
    les[i] = i % 4 == 0 ? random_in_range(&seed) : v + (tn_nanos)(i % 4) - 2;
  }
  les[0] = 0;
  les[1] = LOWEST;
  les[2] = max;
  les[3] = max - 1;
  les[4] = HIGHEST;
  qsort(les, POINTS, sizeof les[0], compare_nanos);

  for (i = 0; i < POINTS; i++) {
    uint64_t got = tn_histogram_count_le(h, les[i]);
    /* a value is counted once its bucket top (< value * 1.001) is <= le */
    uint64_t at_most = oracle_le(sorted, N, les[i]);
    uint64_t at_least = oracle_le(sorted, N, les[i] - les[i] / 1001);
    if (got < previous || got > at_most || got < at_least)
      fprintf(stderr, "\ncount_le(%lld) = %llu: previous %llu, true %llu\n",
              (long long)les[i], (unsigned long long)got,
              (unsigned long long)previous, (unsigned long long)at_most);
    CU_ASSERT_TRUE_FATAL(got >= previous);
    CU_ASSERT_TRUE_FATAL(got <= at_most);
    CU_ASSERT_TRUE_FATAL(got >= at_least);
    if (les[i] >= max)
      CU_ASSERT_EQUAL_FATAL(got, N);
    previous = got;
  }
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, max), N);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, TN_NANOS_MAX), N);
  CU_ASSERT_EQUAL(tn_histogram_count_le(h, LOWEST - 1), 0);
  tn_histogram_free(h);
}

static void test_relative_error(void) {
  enum { N = 100000, PROBES = 20000 };
  static tn_nanos sorted[N], probes[PROBES + 4096];
  tn_histogram *h = new_histogram();
  uint64_t seed = 0x9E3779B97F4A7C15ull, p;
  size_t i, nprobes = 0;

  for (i = 0; i < N; i++) {
    sorted[i] = random_in_range(&seed);
    tn_histogram_record(h, sorted[i]);
  }
  qsort(sorted, N, sizeof sorted[0], compare_nanos);
  CU_ASSERT_EQUAL(tn_histogram_min(h), sorted[0]);
  CU_ASSERT_EQUAL(tn_histogram_max(h), sorted[N - 1]);
  CU_ASSERT_EQUAL(tn_histogram_percentile(h, 100), sorted[N - 1]);
  for (p = 1; p <= 100000; p += 37) {
    tn_nanos truth = oracle_at(sorted, rank_milli(p, N));
    tn_nanos got = tn_histogram_percentile(h, p / 1000.0);
    if (!within_bucket(got, truth))
      fprintf(stderr, "\np%g: %lld, true %lld\n", p / 1000.0, (long long)got,
              (long long)truth);
    CU_ASSERT_TRUE_FATAL(within_bucket(got, truth));
  }

  /*
   * Every probe's own bucket: record the probes largest first under a max of
   * 1 hour, so the newest one is always the minimum and percentile of rank 1
   * reads its bucket top. count_le must agree that this is where the bucket
   * ends.
   */
  for (i = 0; i < PROBES; i++)
    probes[nprobes++] = random_in_range(&seed);
  for (i = 0; i < 4096; i++)
    probes[nprobes++] = LOWEST + (tn_nanos)i;
  qsort(probes, nprobes, sizeof probes[0], compare_nanos);
  tn_histogram_reset(h);
  tn_histogram_record(h, HIGHEST);
  for (i = nprobes; i-- > 0;) {
    tn_nanos v = probes[i], got;
    tn_histogram_record(h, v);
    got = tn_histogram_percentile(h, 1e-12);
    if (!within_bucket(got, v) || (v < 2048 && got != v))
      fprintf(stderr, "\nbucket of %lld ends at %lld\n", (long long)v,
              (long long)got);
    CU_ASSERT_TRUE_FATAL(within_bucket(got, v));
    if (v < 2048)
      CU_ASSERT_EQUAL_FATAL(got, v);
    CU_ASSERT_EQUAL_FATAL(tn_histogram_count_le(h, got - 1), 0);
    CU_ASSERT_TRUE_FATAL(tn_histogram_count_le(h, got) >= 1);
  }
  tn_histogram_free(h);
}

/* --- one writer, one reader ---------------------------------------------- */

enum { CONCURRENT_VALUES = 1000000 };

struct writer_arg {
  tn_histogram *h;
  atomic_int done;
};

static tn_nanos concurrent_value(uint64_t *state) {
  return LOWEST + (tn_nanos)(xorshift(state) % TN_SEC);
}

static void *writer_main(void *arg) {
  struct writer_arg *w = arg;
  uint64_t seed = 2024;
  int i;
  for (i = 0; i < CONCURRENT_VALUES; i++)
    tn_histogram_record(w->h, concurrent_value(&seed));
  atomic_store(&w->done, 1);
  return NULL;
}

static void test_snapshot_while_writing(void) {
  struct writer_arg w;
  tn_histogram *snap = new_histogram(), *expected = new_histogram();
  pthread_t writer;
  uint64_t last = 0, snapshots = 0, seed = 2024;
  int bad_order = 0, bad_shape = 0, i;

  w.h = new_histogram();
  atomic_init(&w.done, 0);
  CU_ASSERT_EQUAL_FATAL(pthread_create(&writer, NULL, writer_main, &w), 0);
  /* at least one snapshot even if the writer finishes first (a loaded
   * machine may not schedule this thread until then) */
  do {
    uint64_t count;
    tn_histogram_snapshot(w.h, snap);
    count = tn_histogram_count(snap);
    snapshots++;
    if (count < last || count > CONCURRENT_VALUES)
      bad_order++;
    if (count > 0 &&
        (tn_histogram_count_le(snap, tn_histogram_max(snap)) != count ||
         tn_histogram_percentile(snap, 100) != tn_histogram_max(snap) ||
         tn_histogram_min(snap) > tn_histogram_max(snap) ||
         tn_histogram_min(snap) < LOWEST ||
         tn_histogram_max(snap) > LOWEST + TN_SEC ||
         tn_histogram_count_le(snap, tn_histogram_min(snap) - 1) != 0))
      bad_shape++;
    last = count;
  } while (!atomic_load(&w.done));
  CU_ASSERT_EQUAL_FATAL(pthread_join(writer, NULL), 0);
  CU_ASSERT_EQUAL(bad_order, 0);
  CU_ASSERT_EQUAL(bad_shape, 0);
  CU_ASSERT_TRUE(snapshots >= 1);

  tn_histogram_snapshot(w.h, snap);
  CU_ASSERT_EQUAL(tn_histogram_count(snap), CONCURRENT_VALUES);
  CU_ASSERT_EQUAL(tn_histogram_count(w.h), CONCURRENT_VALUES);
  for (i = 0; i < CONCURRENT_VALUES; i++)
    tn_histogram_record(expected, concurrent_value(&seed));
  expect_same(snap, expected, 5);
  /* uniform over 1 s: the median is about 0.5 s (loose: it is random) */
  CU_ASSERT_TRUE(tn_histogram_percentile(snap, 50) > 495 * TN_MSEC &&
                 tn_histogram_percentile(snap, 50) < 505 * TN_MSEC);

  tn_histogram_free(w.h);
  tn_histogram_free(snap);
  tn_histogram_free(expected);
}

static const tn_cu_test histogram_tests[] = {
    {"bucket tops worked out by hand", test_bucket_tops_by_hand},
    {"1..10000 us uniform: exact percentiles", test_uniform_microseconds},
    {"1000..2047 ns: every bucket exact", test_exact_nanoseconds},
    {"bimodal 1 ms / 1 s", test_bimodal},
    {"single value", test_single_value},
    {"empty and reset", test_empty_and_reset},
    {"clamping below and above the range", test_clamping},
    {"merge equals recording both streams", test_merge_equals_both_streams},
    {"snapshot copies everything", test_snapshot_copies},
    {"count_le is monotone and bounded by the truth", test_count_le_monotone},
    {"relative error <= 0.1% over the range", test_relative_error},
    {"snapshot while one writer records", test_snapshot_while_writing},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {{"histogram", histogram_tests, NULL, NULL},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
