/*
 * Time in tenure.
 *
 * tn_nanos holds CLOCK_BOOTTIME instants and durations in nanoseconds. Boot
 * time keeps counting across suspend, which CLOCK_MONOTONIC does not, so a
 * deadline checked against it cannot look valid after the machine slept.
 *
 * Wall-clock time has its own type, tn_walltime, so that it cannot be compared
 * with a deadline by accident. It is only ever printed.
 *
 * Concurrency: every function here is thread-safe and never blocks, except
 * that a tn_clockwatch belongs to one thread at a time.
 */
#ifndef TENURE_CLOCK_H
#define TENURE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t tn_nanos;

#define TN_NSEC ((tn_nanos)1)
#define TN_USEC ((tn_nanos)1000)
#define TN_MSEC ((tn_nanos)1000000)
#define TN_SEC ((tn_nanos)1000000000)
#define TN_MIN (60 * TN_SEC)
#define TN_HOUR (60 * TN_MIN)
#define TN_NANOS_MAX INT64_MAX

/* Nanoseconds since the Unix epoch, from CLOCK_REALTIME. For printing only. */
typedef struct tn_walltime {
  int64_t ns;
} tn_walltime;

/* CLOCK_BOOTTIME now, in ns. About 30 ns through the vDSO. */
tn_nanos tn_now(void);
/* CLOCK_MONOTONIC now, in ns (stops during suspend). */
tn_nanos tn_now_monotonic(void);
/* CLOCK_REALTIME now. Never use it to decide anything. */
tn_walltime tn_wall_now(void);

static inline double tn_nanos_to_seconds(tn_nanos d) { return (double)d / 1e9; }
static inline double tn_nanos_to_millis(tn_nanos d) { return (double)d / 1e6; }

/* a + b saturating at TN_NANOS_MAX / INT64_MIN instead of overflowing. */
tn_nanos tn_nanos_add_sat(tn_nanos a, tn_nanos b);

/* Where a parse failed: byte offset into the input and a static reason. */
typedef struct tn_parse_error {
  size_t pos;
  const char *reason;
} tn_parse_error;

/*
 * Parse a duration: one or more <number><unit> terms, e.g. "250ms", "1.5s",
 * "100us", "2m", "1h30m". Units: ns, us (or µs), ms, s, m, h. The number is
 * decimal with an optional fraction, converted exactly (no floating point).
 * Returns 0 and sets *out, or TN_EINVAL (bad syntax, missing unit, negative)
 * or TN_ERANGE (does not fit in tn_nanos) and, when err is not NULL, fills it
 * with the offset of the first bad byte and a reason. *out is untouched on
 * failure.
 */
int tn_duration_parse(const char *text, tn_nanos *out, tn_parse_error *err);

/*
 * Format a duration so that tn_duration_parse() gives back exactly d: the
 * largest unit in which it is exact with at most nine decimals ("250ms",
 * "1.5s", "2m", "1.000001s"). Negative durations get a leading '-', which
 * tn_duration_parse() refuses. Returns the length that the full text needs
 * (snprintf rules); buf is always NUL-terminated when len > 0.
 */
int tn_duration_format(tn_nanos d, char *buf, size_t len);

/*
 * Format a wall time as RFC 3339 UTC with nanoseconds,
 * "2026-11-26T09:20:31.123456789Z". Needs 31 bytes. Same return as snprintf.
 */
int tn_walltime_format(tn_walltime t, char *buf, size_t len);

/* A TrueTime-style interval: true wall time lies in [earliest, latest]. */
typedef struct tn_wall_interval {
  tn_walltime earliest;
  tn_walltime latest;
  tn_nanos maxerror; /* half-width, from the kernel's NTP maxerror */
} tn_wall_interval;

/*
 * Read CLOCK_REALTIME and the kernel's NTP estimate of its maximum error
 * (ntp_adjtime). Returns 0, or TN_EUNSYNCED when the kernel reports the clock
 * unsynchronized (the interval is still filled, with the kernel's maxerror,
 * but must not be trusted), or TN_EIO if the kernel call failed.
 */
int tn_wall_interval_now(tn_wall_interval *out);

/*
 * Clock watch: noticing that the wall clock jumped or that the machine was
 * suspended, by comparing clock offsets between two polls.
 *   wall jump: (REALTIME - BOOTTIME) changed by more than jump_threshold;
 *   suspend:   (BOOTTIME - MONOTONIC) grew; it only grows while suspended.
 * Owned by one thread (the pause monitor's sampler); not thread-safe.
 */
typedef struct tn_clockwatch {
  tn_nanos jump_threshold;
  tn_nanos wall_offset;    /* REALTIME - BOOTTIME at the last poll */
  tn_nanos suspend_offset; /* BOOTTIME - MONOTONIC at the last poll */
} tn_clockwatch;

typedef struct tn_clockwatch_report {
  tn_nanos wall_jump;  /* signed change of the wall offset; 0 if under threshold */
  tn_nanos suspended;  /* time spent suspended since the last poll; 0 if none */
  tn_nanos boot_now;   /* BOOTTIME at this poll */
} tn_clockwatch_report;

/* Start watching. jump_threshold <= 0 selects the default, 50 ms. */
void tn_clockwatch_init(tn_clockwatch *w, tn_nanos jump_threshold);
/* Compare with the last poll and fill *r. Returns 1 if anything was seen
 * (a jump or a suspend), 0 otherwise. Never blocks. */
int tn_clockwatch_poll(tn_clockwatch *w, tn_clockwatch_report *r);

/* The kernel's boot id (/proc/sys/kernel/random/boot_id), 36 chars + NUL.
 * Returns 0, or TN_EIO. */
int tn_boot_id(char out[37]);

#ifdef __cplusplus
}
#endif

#endif
