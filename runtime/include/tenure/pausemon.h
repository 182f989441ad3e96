/*
 * Pause monitor: measures every stall the process suffers and names its
 * cause.
 *
 * A sampler thread sleeps until absolute boot-time deadlines `interval` apart
 * and measures how late it wakes. Lateness above `threshold` is a pause
 * event. The sampler is made with the real pthread_create and is not
 * registered with the garbage collector, so a stop-the-world collection does
 * not stop it; collections are instead measured exactly from the collector's
 * own events (GC_set_on_collection_event), which this monitor installs.
 *
 * Cause of an event, first match wins:
 *   gc       it is a stop-the-world window reported by the collector, or a
 *            sampler gap overlapping one (reported once, with the window's
 *            exact duration);
 *   suspend  BOOTTIME - MONOTONIC grew during the gap (the machine slept);
 *   stopped  a SIGCONT arrived during the gap (SIGSTOP, a debugger, pausesim);
 *   cpu      the sampler's run-queue wait (/proc/thread-self/schedstat) grew
 *            by at least half the gap: starvation or hypervisor steal;
 *   unknown  anything else.
 *
 * Accuracy: a gap's start is only known to within one interval (the stall
 * began some time after the last on-time wake-up), so start and duration are
 * estimated from the middle of that interval: error at most interval/2, plus
 * scheduling noise. gc events are exact.
 *
 * Lifecycle: open -> start -> stop -> close. subscribe and unsubscribe may be
 * called in any state except after close.
 *
 * Concurrency:
 *   tn_pausemon_epoch, _stats, _snapshot_cause, _snapshot_gc, _events_since:
 *     any thread, any time between open and close, concurrently with the
 *     sampler.
 *   tn_pausemon_subscribe/_unsubscribe: any thread except from inside a
 *     subscriber callback; unsubscribe returns only once the callback is not
 *     running and will not run again.
 *   open/start/stop/close: one thread, not concurrently with each other.
 * Subscriber callbacks run on the sampler thread, one at a time. They must
 * not block, must not touch garbage-collected memory (the sampler is not
 * registered with the collector) and must not call into this monitor except
 * the read-only functions above.
 */
#ifndef TENURE_PAUSEMON_H
#define TENURE_PAUSEMON_H

#include <stddef.h>
#include <stdint.h>
#include <tenure/clock.h>
#include <tenure/histogram.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tn_pause_cause {
  TN_CAUSE_GC = 0,
  TN_CAUSE_SUSPEND,
  TN_CAUSE_STOPPED,
  TN_CAUSE_CPU,
  TN_CAUSE_UNKNOWN,
  TN_CAUSE_COUNT
} tn_pause_cause;

/* "gc", "suspend", "stopped", "cpu", "unknown"; "invalid" otherwise. */
const char *tn_pause_cause_name(tn_pause_cause cause);
/* The inverse; returns TN_EINVAL for an unknown name. */
int tn_pause_cause_parse(const char *name, tn_pause_cause *out);

/* Kinds of collection: planned (a collector governor announced it and
 * drained the gate first) or unplanned (anything else: a backstop, another
 * library's GC_gcollect, the collector's own trigger). */
typedef enum tn_gc_kind {
  TN_GC_PLANNED = 0,
  TN_GC_UNPLANNED,
  TN_GC_KIND_COUNT
} tn_gc_kind;

/* "planned", "unplanned"; "invalid" otherwise. */
const char *tn_gc_kind_name(tn_gc_kind kind);

typedef struct tn_pause_event {
  uint64_t seq;          /* 1, 2, ... per monitor */
  tn_nanos start;        /* boot time */
  tn_nanos duration;
  tn_pause_cause cause;
  int planned;           /* a collection the application planned */
  tn_walltime start_wall; /* for printing only */
  /* details: what the attribution saw during the gap */
  tn_nanos runq_wait;    /* growth of the sampler's run-queue wait */
  tn_nanos steal;        /* growth of /proc/stat steal (all CPUs), ns */
  tn_nanos suspended;    /* growth of BOOTTIME - MONOTONIC */
  int sigcont;           /* a SIGCONT arrived during the gap */
} tn_pause_event;

typedef struct tn_pausemon_config {
  tn_nanos interval;       /* 0: 1 ms */
  tn_nanos threshold;      /* 0: 5 ms; must be >= 1 ms and > interval */
  unsigned ring_size;      /* events kept for events_since; 0: 1024 */
  const char *events_path; /* JSON-lines sink (appended), NULL for none */
  int no_gc_hook;          /* do not install the collection-event hook */
  int no_sigcont_handler;  /* do not install the SIGCONT handler */
} tn_pausemon_config;

typedef struct tn_pausemon tn_pausemon;

/* Validate cfg (NULL for defaults), allocate, open the events sink.
 * Returns 0, TN_EINVAL (naming nothing: see tn_pausemon_config docs),
 * TN_ENOMEM, or TN_EIO/TN_EPERM for the sink. */
int tn_pausemon_open(const tn_pausemon_config *cfg, tn_pausemon **out);
/* Install the hooks and start the sampler thread. On failure (e.g. thread
 * creation) returns a negative code and leaves nothing installed; never
 * aborts. TN_EBUSY if another monitor in this process already owns the
 * hooks. */
int tn_pausemon_start(tn_pausemon *m);
/* Stop and join the sampler, remove the hooks. Idempotent. */
void tn_pausemon_stop(tn_pausemon *m);
/* Stop if needed and free everything. */
void tn_pausemon_close(tn_pausemon *m);

/* The pause epoch: incremented by every event. One atomic load. */
uint64_t tn_pausemon_epoch(const tn_pausemon *m);

/* Callback for each event, on the sampler thread. See the rules above. */
typedef void (*tn_pause_cb)(const tn_pause_event *ev, void *arg);
/* Returns 0, TN_ENOMEM, or TN_EBUSY when the table (16) is full. */
int tn_pausemon_subscribe(tn_pausemon *m, tn_pause_cb cb, void *arg);
/* Returns 0 or TN_ENOENT. */
int tn_pausemon_unsubscribe(tn_pausemon *m, tn_pause_cb cb, void *arg);

typedef struct tn_pause_summary {
  uint64_t count;
  tn_nanos total;
  tn_nanos p50, p99, p999, max;
} tn_pause_summary;

typedef struct tn_pausemon_stats {
  tn_nanos interval, threshold;
  tn_nanos started;        /* boot time the sampler started */
  uint64_t wakeups;        /* sampler wake-ups so far */
  tn_nanos sampler_cpu;    /* CPU time used by the sampler thread */
  uint64_t epoch;
  uint64_t wall_jumps;     /* clock watch: wall-clock steps seen */
  tn_nanos maxerror;       /* kernel NTP maxerror at the last check; -1 unknown */
  int clock_synced;        /* kernel says the wall clock is synchronized */
  uint64_t gc_windows;     /* stop-the-world windows seen (all sizes) */
  tn_pause_summary cause[TN_CAUSE_COUNT];
  /* Every stop-the-world window, however short (not only pause events), by
   * kind: planned when a governor marked it (tn_gcgov). */
  tn_pause_summary gc[TN_GC_KIND_COUNT];
} tn_pausemon_stats;

/* Fill *out. Thread-safe; a consistent-enough snapshot (per field). */
void tn_pausemon_stats_get(const tn_pausemon *m, tn_pausemon_stats *out);

/* Copy the histogram of one cause into dst (from tn_histogram_new). */
void tn_pausemon_snapshot_cause(const tn_pausemon *m, tn_pause_cause cause,
                                tn_histogram *dst);

/* Copy the histogram of every stop-the-world window of one kind into dst. */
void tn_pausemon_snapshot_gc(const tn_pausemon *m, tn_gc_kind kind,
                             tn_histogram *dst);

/* Copy up to n of the retained events with seq > since, oldest first.
 * Returns how many were copied. */
size_t tn_pausemon_events_since(const tn_pausemon *m, uint64_t since,
                                tn_pause_event *out, size_t n);

/* One JSON object, no newline: the events-sink and `events` format
 * (docs/telemetry.md). Same return as snprintf. */
int tn_pause_event_to_json(const tn_pause_event *ev, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
