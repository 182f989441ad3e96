/*
 * Collector governor: collect the garbage-collected heap (bdwgc) at moments
 * it chooses, announced in advance, with no admitted request in flight.
 *
 * While it runs, the collector's own trigger is off
 * (GC_set_disable_automatic_collection). Every sample_interval the governor
 * reads the heap (bytes allocated since the last collection, heap size,
 * total allocated), keeps an allocation rate (EWMA) and predicts when
 * bytes-since-collection reaches collect_at_bytes. When that moment is
 * nearer than lead_time plus the expected drain time, it plans a
 * collection:
 *   1. announce it to subscribers (TN_GC_ANNOUNCE): collection id, heap,
 *      expected pause; a subscriber may answer TN_GC_DEFER, and the
 *      governor asks again when the deferral ends or tn_gcgov_proceed()
 *      is called; deferral is bounded by max_defer in total;
 *   2. drain the gate (tn_gate_drain, bounded by drain_timeout; a timeout
 *      is counted, and the collection goes ahead);
 *   3. GC_gcollect(), marked planned for the pause monitor;
 *   4. reopen the gate;
 *   5. tell subscribers it is done (TN_GC_DONE) with the measured pause.
 * Backstop: past hard_limit_bytes allocated since the last collection, it
 * collects at once without announcing or draining. That, a
 * tn_gcgov_collect(TN_GC_UNPLANNED), and any collection somebody else
 * triggers are unplanned: counted and reported, never hidden.
 *
 * The governor runs its own thread, created with GC_pthread_create and so
 * registered with the collector (GC_gcollect aborts on a thread the
 * collector does not know). One governor per process may run at a time.
 * The application must have initialized the collector (GC_INIT()) from its
 * main thread; tn_gcgov_start does it if called on the main thread.
 *
 * Lifecycle: open -> start -> stop -> close; start again after stop is
 * allowed. subscribe/unsubscribe in any state before close.
 *
 * Concurrency:
 *   call                              may run concurrently with
 *   tn_gcgov_stats_get, _snapshot_drain  anything but close, on any thread
 *   tn_gcgov_proceed                  anything but close, on any thread,
 *                                     subscriber callbacks included
 *   tn_gcgov_collect                  anything but close, on any thread
 *                                     except the governor's own (a
 *                                     subscriber callback): TN_EBUSY there
 *   tn_gcgov_subscribe/_unsubscribe   anything but close, except from a
 *                                     subscriber callback (deadlock);
 *                                     unsubscribe returns once the callback
 *                                     is not running and will not run again
 *   open/start/stop/close             one thread, not concurrently with each
 *                                     other
 *   tn_gcgov_track_malloc             anything, any thread, no governor
 *                                     needed
 *
 * Subscriber callbacks run on the governor's thread, one at a time, in
 * subscription order. They must not block (the plan, the backstop and the
 * sampling all wait for them), must not call subscribe/unsubscribe/
 * collect/stop, and may touch GC memory (the thread is registered). A
 * subscriber that needs time (a lease handing off) answers TN_GC_DEFER
 * and calls tn_gcgov_proceed(id) from its own thread when ready.
 */
#ifndef TENURE_GCGOV_H
#define TENURE_GCGOV_H

#include <stdint.h>
#include <tenure/clock.h>
#include <tenure/gate.h>
#include <tenure/histogram.h>
#include <tenure/pausemon.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An explicit zero for the duration fields of tn_gcgov_config whose 0
 * selects the default. */
#define TN_GCGOV_ZERO ((tn_nanos)-1)

typedef struct tn_gcgov_config {
  tn_nanos sample_interval;  /* 0: 5 ms; 100 us .. 1 s */
  uint64_t collect_at_bytes; /* plan so that the collection comes before
                                this many bytes were allocated since the
                                last one; 0: 64 MiB */
  uint64_t hard_limit_bytes; /* backstop: at this many bytes since the last
                                collection, collect at once without
                                draining; 0: 2 x collect_at_bytes; must be
                                > collect_at_bytes */
  tn_nanos lead_time;        /* announce this long (plus the expected drain
                                and one sample interval) before the
                                predicted moment; 0: 20 ms; TN_GCGOV_ZERO:
                                none */
  tn_nanos drain_timeout;    /* longest wait for the gate to drain;
                                0: 100 ms; TN_GCGOV_ZERO: check once */
  tn_nanos max_defer;        /* total deferral one collection may get;
                                0: 500 ms; TN_GCGOV_ZERO: none */
  tn_gate *gate;             /* drained before each planned collection;
                                NULL: nothing to drain. Not owned. */
  const char *events_path;   /* JSON-lines sink, appended (may be the pause
                                monitor's file); NULL for none. Copied. */
} tn_gcgov_config;

typedef struct tn_gcgov tn_gcgov;

/* What a notice is about. */
typedef enum tn_gc_notice {
  TN_GC_ANNOUNCE = 0, /* a planned collection is coming: answer it */
  TN_GC_DONE          /* a collection the governor ran has finished */
} tn_gc_notice;

/* Why the governor collected. */
typedef enum tn_gc_trigger {
  TN_GC_TRIGGER_PREDICTED = 0, /* the allocation rate said it was time */
  TN_GC_TRIGGER_REQUEST,       /* tn_gcgov_collect (control socket) */
  TN_GC_TRIGGER_BACKSTOP,      /* hard_limit_bytes reached */
  TN_GC_TRIGGER_COUNT
} tn_gc_trigger;

/* "predicted", "request", "backstop"; "invalid" otherwise. */
const char *tn_gc_trigger_name(tn_gc_trigger trigger);

/* A subscriber's answer to TN_GC_ANNOUNCE. */
typedef enum tn_gc_answer {
  TN_GC_NOW = 0, /* no objection */
  TN_GC_DEFER    /* not yet: ask again after *defer (see tn_gc_plan_cb) */
} tn_gc_answer;

/*
 * One notice. Every TN_GC_ANNOUNCE of an id (several when deferred) is
 * followed by exactly one TN_GC_DONE of that id; unplanned collections the
 * governor runs itself get a TN_GC_DONE only, under a fresh id, unless a
 * plan was pending: then the backstop takes over that plan's id, and its
 * TN_GC_DONE says planned = 0.
 */
typedef struct tn_gc_plan {
  tn_gc_notice kind;
  uint64_t id;              /* 1, 2, ... per governor */
  int planned;              /* ANNOUNCE: 1. DONE: 1 for a drained, planned
                               collection, 0 for an unplanned one */
  tn_gc_trigger trigger;
  tn_nanos at;              /* boot time of this notice */
  tn_nanos announced;       /* boot time of the first announcement; 0 for
                               an unplanned collection never announced */
  uint64_t heap_bytes;      /* collector heap size (without unmapped) */
  uint64_t bytes_since_gc;  /* allocated since the last collection: now
                               (ANNOUNCE), just before collecting (DONE) */
  uint64_t live_bytes;      /* heap in use after the last collection
                               (ANNOUNCE), after this one (DONE): an upper
                               bound on live data */
  tn_nanos expected_pause;  /* from an EWMA of past pauses per live MiB */
  tn_nanos deferred;        /* deferral so far (ANNOUNCE), in all (DONE) */
  tn_nanos defer_left;      /* ANNOUNCE: the most more deferral that can be
                               granted; 0: the answer is not asked for */
  /* TN_GC_DONE only */
  int cancelled;            /* nothing was collected: the governor stopped
                               first, or GC_disable() is in force */
  tn_nanos start;           /* boot time GC_gcollect was called */
  tn_walltime start_wall;   /* the same, for printing only */
  tn_nanos pause;           /* the stop-the-world window, exact from the
                               pause monitor's hook when one runs; else the
                               whole GC_gcollect call */
  tn_nanos duration;        /* the whole GC_gcollect call (includes the
                               finishing work and finalizers) */
  tn_nanos drain;           /* time spent draining the gate; 0: no drain */
  int drain_timed_out;      /* the drain gave up: requests were in flight */
  int64_t inflight;         /* requests in the gate when collecting */
} tn_gc_plan;

/*
 * A subscriber. For TN_GC_ANNOUNCE, return TN_GC_NOW, or TN_GC_DEFER and
 * set *defer (which starts at 0) to how long to wait before being asked
 * again; <= 0 means one sample interval. With several subscribers the
 * longest deferral wins; the total is capped by max_defer, after which the
 * announcement is made once more with defer_left = 0 and the collection
 * goes ahead. For TN_GC_DONE the return value and *defer are ignored.
 * Runs on the governor's thread; see the rules at the top.
 */
typedef tn_gc_answer (*tn_gc_plan_cb)(const tn_gc_plan *plan,
                                      tn_nanos *defer, void *arg);

/* Validate cfg (NULL for defaults), allocate, open the events sink.
 * Returns 0, TN_EINVAL (a field out of range), TN_ENOMEM, or the sink's
 * open error (TN_ENOENT, TN_EPERM, TN_EIO). Starts nothing. */
int tn_gcgov_open(const tn_gcgov_config *cfg, tn_gcgov **out);
/*
 * Turn the collector's automatic collection off, start its parallel
 * markers (GC_start_mark_threads) and the governor's thread. Initializes
 * the collector if needed and called on the main thread; TN_EINVAL if it
 * is not initialized and this is another thread. TN_EBUSY if this or
 * another governor runs. On failure nothing is left running and automatic
 * collection is as it was. Does not block beyond creating the thread.
 */
int tn_gcgov_start(tn_gcgov *g);
/* Stop and join the thread (within one sample interval plus any plan step
 * in progress: a drain, a collection, callbacks). A plan still pending
 * gets its TN_GC_DONE with cancelled = 1; waiting tn_gcgov_collect calls
 * return TN_ECLOSED. Restores automatic collection as it was at start.
 * Idempotent. */
void tn_gcgov_stop(tn_gcgov *g);
/* Stop if needed and free everything. NULL is ignored. */
void tn_gcgov_close(tn_gcgov *g);

/* Returns 0, TN_EINVAL (cb NULL), or TN_EBUSY when the table (16) is full. */
int tn_gcgov_subscribe(tn_gcgov *g, tn_gc_plan_cb cb, void *arg);
/* Returns 0 or TN_ENOENT. */
int tn_gcgov_unsubscribe(tn_gcgov *g, tn_gc_plan_cb cb, void *arg);

/*
 * End the deferral of collection id early: the governor asks the
 * subscribers again at its next sample (a subscriber that deferred and is
 * now ready answers TN_GC_NOW). Idempotent: 0 for the pending plan and for
 * any id already done; TN_ENOENT for an id never announced. Never blocks.
 */
int tn_gcgov_proceed(tn_gcgov *g, uint64_t id);

/*
 * Ask for a collection now and wait for it. TN_GC_PLANNED: a planned one
 * (announced, deferrable within max_defer, drained, then collected); if a
 * plan is already pending the request joins it. TN_GC_UNPLANNED: collect
 * at once, without announcing or draining (this is how pausesim --mode gc
 * makes a real stop-the-world stall). Concurrent requests of one kind are
 * served by one collection. The governor takes requests at its next sample.
 * Blocks until the collection is done or timeout (<= 0: 60 s) passes.
 * Returns 0 and fills *done (may be NULL) with the TN_GC_DONE notice;
 * TN_ETIMEDOUT (the collection may still happen); TN_ECLOSED when the
 * governor is not running or stops meanwhile; TN_EINVAL for another kind;
 * TN_EBUSY on the governor's own thread (from a subscriber callback).
 */
int tn_gcgov_collect(tn_gcgov *g, tn_gc_kind kind, tn_nanos timeout,
                     tn_gc_plan *done);

typedef struct tn_gcgov_stats {
  /* configuration in force (defaults applied) */
  tn_nanos sample_interval, lead_time, drain_timeout, max_defer;
  uint64_t collect_at_bytes, hard_limit_bytes;
  int has_gate;
  int running;
  tn_nanos started;          /* boot time the thread started; 0: never */
  uint64_t samples;          /* samples taken */
  uint64_t sleep_interrupts; /* EINTR from the sampling sleep (one per
                                collection: the thread is registered) */
  /* collections, since open */
  uint64_t planned;          /* drained, planned collections */
  uint64_t unplanned;        /* = backstop + requested + foreign */
  uint64_t backstop;         /* hard_limit_bytes reached */
  uint64_t requested;        /* tn_gcgov_collect(TN_GC_UNPLANNED) */
  uint64_t foreign;          /* collections someone else triggered */
  uint64_t deferred;         /* planned collections deferred at least once */
  tn_nanos deferred_total;   /* deferral granted, in all */
  uint64_t drains;           /* gate drains */
  uint64_t drain_timeouts;   /* drains that gave up */
  uint64_t last_id;          /* last collection id used; 0: none */
  uint64_t pending_id;       /* plan announced and not done; 0: none */
  tn_nanos last_pause;       /* pause of the last collection it ran */
  tn_nanos last_collection;  /* boot time of the last collection it ran */
  int last_planned;          /* that collection was planned */
  tn_nanos expected_pause;   /* for a collection now */
  tn_nanos expected_drain;   /* EWMA of past drains */
  int64_t pause_per_mib;     /* EWMA, ns of pause per MiB live */
  /* the heap at the last sample */
  uint64_t heap_bytes;       /* GC_get_heap_size: without unmapped */
  uint64_t free_bytes;
  uint64_t unmapped_bytes;
  uint64_t bytes_since_gc;
  uint64_t total_bytes;      /* allocated since the process started */
  uint64_t live_bytes;       /* in use after the last collection */
  int64_t alloc_rate;        /* bytes per second, EWMA */
  tn_nanos predicted;        /* until bytes_since_gc reaches
                                collect_at_bytes; -1: never (no
                                allocation) */
  /* malloc (jemalloc) */
  uint64_t malloc_allocated; /* stats.allocated at the last refresh */
  tn_nanos malloc_refreshed; /* boot time of that refresh; 0: never */
  uint64_t malloc_tracked_threads;   /* threads in tn_gcgov_track_malloc */
  uint64_t malloc_tracked_allocated; /* their thread.allocated, summed,
                                        exited threads included; monotone */
} tn_gcgov_stats;

/* Fill *out. Any thread; consistent per field. Never blocks on the
 * governor. */
void tn_gcgov_stats_get(const tn_gcgov *g, tn_gcgov_stats *out);

/* Copy the histogram of gate drain durations into dst. Any thread. */
void tn_gcgov_snapshot_drain(const tn_gcgov *g, tn_histogram *dst);

/* One JSON object, no newline: the events-sink format of a TN_GC_DONE
 * notice, {"kind":"collection",...} (docs/telemetry.md). Same return as
 * snprintf. */
int tn_gc_plan_to_json(const tn_gc_plan *plan, char *buf, size_t len);

/*
 * Count the calling thread's malloc traffic in the governor's malloc
 * figures, read straight from jemalloc's per-thread counter
 * (thread.allocatedp) without a lock or a system call. Once per thread;
 * repeat calls return 0. Undone at thread exit (the counts stay in the
 * total). Returns 0, TN_ENOTSUP (jemalloc's mallctl refused), TN_EBUSY
 * (256 threads tracked), TN_ENOMEM.
 */
int tn_gcgov_track_malloc(void);

#ifdef __cplusplus
}
#endif

#endif
