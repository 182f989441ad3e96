/*
 * Internal to the pause monitor, exposed for its unit tests: the sampler's
 * one-step function (so a test drives it with a swapped clock instead of a
 * sleeping thread), and the hook entry points.
 */
#ifndef TENURE_PAUSEMON_INTERNAL_H
#define TENURE_PAUSEMON_INTERNAL_H

#include <tenure/pausemon.h>

/* What the sampler saw over one gap, and the rule that names its cause. */
typedef struct tn__gap {
  tn_nanos length;     /* estimated stall length */
  tn_nanos suspended;  /* growth of BOOTTIME - MONOTONIC */
  tn_nanos runq_wait;  /* growth of the sampler's run-queue wait */
  int sigcont;         /* SIGCONT seen */
  int gc_overlap;      /* overlaps a stop-the-world window */
} tn__gap;

tn_pause_cause tn__pause_attribute(const tn__gap *gap);

/* Reset the sampler's baselines to "now" (as start does). */
void tn__pausemon_sampler_init(tn_pausemon *m);
/* One wake-up's work: measure lateness against the scheduled wake-up,
 * attribute, emit. Returns the next scheduled wake-up (boot time). */
tn_nanos tn__pausemon_step(tn_pausemon *m);
/* The scheduled wake-up that the next step measures against. */
tn_nanos tn__pausemon_next_wake(const tn_pausemon *m);

/* Replace the run-queue reader (tests). NULL restores /proc. */
void tn__pausemon_set_runq_reader(tn_pausemon *m, tn_nanos (*fn)(void *),
                                  void *arg);

/* The collection-event hook and the SIGCONT note, callable from tests. */
void tn__pausemon_gc_event(int event_type);
void tn__pausemon_note_sigcont(void);

/* The governor marks the collections it plans (nesting counter). */
void tn__pausemon_planned_begin(void);
void tn__pausemon_planned_end(void);

/* The hook's record of stop-the-world windows, process-wide, for the
 * governor to measure its own collections exactly. Windows are numbered
 * 1, 2, ...: tn__pausemon_gc_windows() is the number of the latest one
 * completed (0: none). tn__pausemon_gc_window() copies window n: 0, or
 * TN_ENOENT when it was never written or has been overwritten (the ring
 * keeps the last 64). Neither blocks; any thread. */
uint64_t tn__pausemon_gc_windows(void);
int tn__pausemon_gc_window(uint64_t n, tn_nanos *start, tn_nanos *end,
                           int *planned);
/* Non-zero while some monitor's collection-event hook is installed. */
int tn__pausemon_gc_hook_active(void);

#endif
