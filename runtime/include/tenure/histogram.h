/*
 * Log-linear (HDR-style) histogram of durations.
 *
 * Range 1 us .. 1 hour, 3 significant decimal digits: every recorded value
 * lands in a bucket whose width is at most 1/1000 of the value, so every
 * percentile is exact to the bucket. Values below 1 us count in the lowest
 * bucket, above 1 hour in the highest (and are counted in `clamped`).
 * Histograms are mergeable: two recorded separately and merged equal one that
 * recorded both streams.
 *
 * Concurrency:
 *   record       one writer at a time per histogram; lock-free, never blocks,
 *                async-signal-safe is NOT promised (it is not needed).
 *   snapshot     any number of readers, concurrently with the writer; the
 *                copy is consistent per bucket (a value recorded during the
 *                copy may or may not be in it).
 *   all queries  (percentile, count, ...) on a histogram nobody is writing,
 *                i.e. on a snapshot, or from the writer thread itself.
 *   merge/reset  only when nobody writes the destination.
 *
 * Memory: tn_histogram_new() mallocs about 253 KiB (32421 8-byte counters,
 * 1024 per doubling of the value); tn_histogram_free().
 */
#ifndef TENURE_HISTOGRAM_H
#define TENURE_HISTOGRAM_H

#include <stdint.h>
#include <tenure/clock.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_histogram tn_histogram;

#define TN_HISTOGRAM_LOWEST TN_USEC
#define TN_HISTOGRAM_HIGHEST TN_HOUR

/* Allocate an empty histogram. Returns 0 or TN_ENOMEM. */
int tn_histogram_new(tn_histogram **out);
void tn_histogram_free(tn_histogram *h);

/* Record one value (ns). One writer; lock-free. */
void tn_histogram_record(tn_histogram *h, tn_nanos value);
/* Record `count` occurrences of value. */
void tn_histogram_record_n(tn_histogram *h, tn_nanos value, uint64_t count);

/* Copy src into dst (same shape; dst is overwritten). Safe while src's
 * writer runs. */
void tn_histogram_snapshot(const tn_histogram *src, tn_histogram *dst);
/* dst += src. Neither may be written concurrently... src may (as snapshot). */
void tn_histogram_merge(tn_histogram *dst, const tn_histogram *src);
void tn_histogram_reset(tn_histogram *h);

uint64_t tn_histogram_count(const tn_histogram *h);
/* Sum of recorded values (as recorded, before clamping; negative values add
 * 0), saturating. */
tn_nanos tn_histogram_sum(const tn_histogram *h);
/* Exact smallest / largest recorded value (as recorded, clamped to the
 * range); 0 when empty. */
tn_nanos tn_histogram_min(const tn_histogram *h);
tn_nanos tn_histogram_max(const tn_histogram *h);
/* Values recorded outside [LOWEST, HIGHEST]. */
uint64_t tn_histogram_clamped(const tn_histogram *h);

/*
 * The value at percentile p (0 < p <= 100): the highest value equivalent to
 * the bucket that holds the ceil(p/100 * count)-th smallest value, but never
 * more than max. 0 when empty. p=100 gives max, p<=0 gives min.
 */
tn_nanos tn_histogram_percentile(const tn_histogram *h, double p);

/*
 * How many recorded values are <= le, to the bucket: a bucket counts when its
 * highest equivalent value, capped at max as in percentile(), is <= le; so a
 * value exactly at le counts only if its whole bucket fits under le, and
 * le >= max gives count. Cumulative and monotone in le, as a Prometheus `le`
 * bucket must be.
 */
uint64_t tn_histogram_count_le(const tn_histogram *h, tn_nanos le);

#ifdef __cplusplus
}
#endif

#endif
