/*
 * Test-only: swap the clock source so that tests can simulate a ten-second
 * stall, a suspend or a wall-clock jump deterministically. Never installed.
 *
 * Only a library compiled with TN_TESTING defined has a swappable source; in
 * the release build the pointer is const and tn__clock_swap() does not exist,
 * so production code cannot be pointed at a fake clock by mistake.
 */
#ifndef TENURE_CLOCK_TESTING_H
#define TENURE_CLOCK_TESTING_H

#include <tenure/clock.h>

struct timex;

typedef struct tn__clock_source {
  tn_nanos (*boottime)(void *arg);
  tn_nanos (*monotonic)(void *arg);
  int64_t (*realtime)(void *arg);
  /* Fill maxerror (ns) and return 1 when synchronized, 0 when not, <0 on error. */
  int (*ntp)(void *arg, tn_nanos *maxerror);
  void *arg;
} tn__clock_source;

#ifdef TN_TESTING
/* Install src (NULL restores the real clocks). Not thread-safe against
 * concurrent clock reads: swap before starting threads. */
void tn__clock_swap(const tn__clock_source *src);

/* A ready-made manual clock: every read returns the fields below. */
typedef struct tn__manual_clock {
  tn_nanos boot;
  tn_nanos mono;
  int64_t wall;
  tn_nanos maxerror;
  int synced;
} tn__manual_clock;

/* Make src read from *m. */
void tn__manual_clock_source(tn__clock_source *src, tn__manual_clock *m);
#endif

#endif
