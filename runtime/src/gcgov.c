/*
 * Collector governor: decides when the garbage-collected heap is collected,
 * so that collections happen when nothing admitted is in flight.
 *
 * One thread, made with GC_pthread_create (this file defines GC_THREADS),
 * samples the collector every sample_interval, sleeping to absolute
 * CLOCK_BOOTTIME deadlines. Being registered, it is interrupted (EINTR) by
 * every collection's suspend signal; it sleeps again to the same deadline,
 * so the schedule holds. On each sample it:
 *   - reads the heap under the collector's lock (GC_get_heap_usage_safe:
 *     size, free, unmapped, bytes since the last collection, total) and
 *     the collection counter (GC_get_gc_no), and folds the growth of the
 *     total into an allocation-rate EWMA (time constant ten samples);
 *   - counts collections it did not run: the counter moved more than its
 *     own collections account for;
 *   - reads jemalloc: the per-thread counters of tracked threads (plain
 *     loads through thread.allocatedp) each sample, stats.allocated after
 *     an epoch refresh (about 20 us here) at most every 100 ms;
 *   - serves requests (tn_gcgov_collect), checks the backstop, and plans.
 *
 * A plan: announce -> (deferred? ask again later) -> drain the gate ->
 * GC_gcollect marked planned -> reopen -> done. Deferral, proceed calls and
 * requests are all looked at on samples, so every step starts within one
 * sample interval of its cause. The planned marker is the pause monitor's
 * nesting counter, so the monitor's stop-the-world windows carry
 * planned=true; the governor reads the same window back from the hook's
 * ring to report the exact pause.
 *
 * Invariants: every announced id gets exactly one done notice; the gate is
 * reopened on every path that drained it; automatic collection is restored
 * to what it was at start; counters only grow.
 *
 * The trick: everything the governor decides is driven from its one
 * thread's sample loop, so plan state needs no lock; other threads talk to
 * it through a few atomics and one request mutex, and it never waits on
 * them.
 */
#define _GNU_SOURCE
#define GC_THREADS /* the governor's thread must be the collector's */
#include <gc/gc.h>

#include "die.h"
#include "pausemon_internal.h"

#include <tenure/error.h>
#include <tenure/gcgov.h>

#include <errno.h>
#include <fcntl.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBSCRIBERS 16
#define MIB ((uint64_t)1 << 20)
#define MALLOC_REFRESH (100 * TN_MSEC)
#define MALLOC_SLOTS 256
#define RATE_TAU_SAMPLES 10
/* Measured here (bdwgc 8.2.2, 2 cores, one marker): 0.15-0.24 ms per MiB
 * of live linked nodes, about 0.3 ms with an empty heap. */
#define DEFAULT_PAUSE_PER_MIB (250 * TN_USEC)
#define EWMA_WEIGHT 0.3
#define DEFAULT_COLLECT_TIMEOUT (60 * TN_SEC)
#define MAX_DURATION TN_HOUR

/* --- malloc tracking: process-wide, as jemalloc's counters are --------- */

static _Atomic(uint64_t *) malloc_slots[MALLOC_SLOTS];
static _Atomic int malloc_reading = -1; /* slot being read, -1: none */
static _Atomic uint64_t malloc_retired;  /* final counts of exited threads */
static _Atomic uint64_t malloc_tracked;  /* threads tracked now */
static _Atomic int malloc_high;          /* slots ever used: read up to it */
static pthread_mutex_t malloc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t malloc_key;
static pthread_once_t malloc_key_once = PTHREAD_ONCE_INIT;
static int malloc_key_ok;
static __thread int malloc_slot_plus1; /* this thread's slot + 1, 0: none */

/* Thread exit. Dekker with malloc_sum: after the slot is cleared, wait
 * until the reader is not inside it, so the counter it may have loaded a
 * pointer to (this thread's TLS) outlives the read. */
static void malloc_untrack(void *arg) {
  int i = (int)(intptr_t)arg - 1;
  uint64_t *p = atomic_load(&malloc_slots[i]);
  uint64_t last = p ? *(volatile uint64_t *)p : 0;
  atomic_store(&malloc_slots[i], NULL);
  while (atomic_load(&malloc_reading) == i)
    sched_yield();
  atomic_fetch_add(&malloc_retired, last);
  atomic_fetch_sub(&malloc_tracked, 1);
  malloc_slot_plus1 = 0;
}

static void malloc_make_key(void) {
  malloc_key_ok = pthread_key_create(&malloc_key, malloc_untrack) == 0;
}

int tn_gcgov_track_malloc(void) {
  uint64_t *p = NULL;
  size_t sz = sizeof p;
  int i;
  if (malloc_slot_plus1)
    return 0;
  if (mallctl("thread.allocatedp", &p, &sz, NULL, 0) != 0 || p == NULL)
    return TN_ENOTSUP;
  pthread_once(&malloc_key_once, malloc_make_key);
  if (!malloc_key_ok)
    return TN_ENOMEM;
  pthread_mutex_lock(&malloc_lock);
  for (i = 0; i < MALLOC_SLOTS; i++) {
    uint64_t *none = NULL;
    if (atomic_compare_exchange_strong(&malloc_slots[i], &none, p))
      break;
  }
  if (i < MALLOC_SLOTS && i + 1 > atomic_load(&malloc_high))
    atomic_store(&malloc_high, i + 1);
  pthread_mutex_unlock(&malloc_lock);
  if (i == MALLOC_SLOTS)
    return TN_EBUSY;
  if (pthread_setspecific(malloc_key, (void *)(intptr_t)(i + 1)) != 0) {
    atomic_store(&malloc_slots[i], NULL);
    return TN_ENOMEM;
  }
  malloc_slot_plus1 = i + 1;
  atomic_fetch_add(&malloc_tracked, 1);
  return 0;
}

/* Sum of the tracked threads' counters, exited ones included. One reader
 * at a time (the running governor's thread). */
static uint64_t malloc_sum(void) {
  uint64_t sum = atomic_load(&malloc_retired);
  int i, high = atomic_load(&malloc_high);
  for (i = 0; i < high; i++) {
    uint64_t *p;
    atomic_store(&malloc_reading, i);
    p = atomic_load(&malloc_slots[i]);
    if (p)
      sum += *(volatile uint64_t *)p;
    atomic_store(&malloc_reading, -1);
  }
  return sum;
}

/* --- the governor ------------------------------------------------------- */

struct subscriber {
  tn_gc_plan_cb cb;
  void *arg;
};

struct heap_sample {
  uint64_t heap, free, unmapped, since, total;
};

enum { REQ_PLANNED = TN_GC_PLANNED, REQ_UNPLANNED = TN_GC_UNPLANNED };

struct tn_gcgov {
  tn_gcgov_config cfg; /* defaults applied; events_path not kept */
  tn_nanos drain_timeout, max_defer, lead_time; /* TN_GCGOV_ZERO resolved */
  int sink_fd;
  tn_histogram *drain_hist; /* written by the governor's thread only */

  /* the governor thread's own state */
  tn_nanos next_sample, last_sample;
  uint64_t last_total;
  uint64_t last_gc_no;
  double rate;          /* bytes per second */
  double pause_per_mib; /* ns */
  double drain_ewma;    /* ns */
  uint64_t live;        /* in use after the last collection (or estimate) */
  uint64_t since;       /* bytes since the last collection, last sample */
  uint64_t malloc_seen; /* published tracked sum (kept monotone) */
  tn_nanos next_malloc_refresh;
  /* the pending plan, 0: none */
  uint64_t plan_id;
  tn_gc_trigger plan_trigger;
  tn_nanos plan_announced, plan_next_ask;
  int plan_was_deferred;
  uint64_t plan_ticket; /* highest planned request joined to it */

  /* shared with readers */
  _Atomic tn_nanos started;
  _Atomic uint64_t samples, sleep_interrupts;
  _Atomic uint64_t planned, backstop, requested, foreign;
  _Atomic uint64_t deferred, drains, drain_timeouts;
  _Atomic tn_nanos deferred_total;
  _Atomic uint64_t last_id, pending_id, proceed_id;
  _Atomic tn_nanos last_pause, last_collection;
  _Atomic int last_planned;
  _Atomic tn_nanos expected_pause_pub, expected_drain_pub;
  _Atomic int64_t pause_per_mib_pub;
  _Atomic uint64_t heap_bytes, free_bytes, unmapped_bytes, since_pub,
      total_bytes, live_pub;
  _Atomic int64_t rate_pub;
  _Atomic tn_nanos predicted_pub;
  _Atomic uint64_t malloc_allocated, malloc_sum_pub;
  _Atomic tn_nanos malloc_refreshed;

  pthread_mutex_t sub_lock;
  struct subscriber subs[MAX_SUBSCRIBERS];
  int nsubs;

  /* requests from tn_gcgov_collect, by kind */
  pthread_mutex_t req_lock;
  pthread_cond_t req_cond; /* CLOCK_MONOTONIC; deadlines checked in boot time */
  uint64_t req_seq[2], taken_seq[2], done_seq[2];
  tn_gc_plan req_result[2];
  int req_closed;

  pthread_t thread;
  _Atomic int running;
  _Atomic int stopping;
  int prev_disable; /* automatic collection was disabled before start */
};

static _Atomic(tn_gcgov *) running_governor;

static const char *const trigger_names[TN_GC_TRIGGER_COUNT] = {
    "predicted", "request", "backstop"};

const char *tn_gc_trigger_name(tn_gc_trigger trigger) {
  if ((unsigned)trigger >= TN_GC_TRIGGER_COUNT)
    return "invalid";
  return trigger_names[trigger];
}

static tn_nanos resolve_duration(tn_nanos v, tn_nanos dflt) {
  if (v == 0)
    return dflt;
  if (v == TN_GCGOV_ZERO)
    return 0;
  return v;
}

static int duration_ok(tn_nanos v) {
  return v == TN_GCGOV_ZERO || (v >= 0 && v <= MAX_DURATION);
}

int tn_gcgov_open(const tn_gcgov_config *cfg, tn_gcgov **out) {
  tn_gcgov *g;
  pthread_condattr_t ca;
  if (cfg && (!duration_ok(cfg->lead_time) ||
              !duration_ok(cfg->drain_timeout) ||
              !duration_ok(cfg->max_defer)))
    return TN_EINVAL;
  g = calloc(1, sizeof *g);
  if (g == NULL)
    return TN_ENOMEM;
  if (cfg)
    g->cfg = *cfg;
  g->cfg.events_path = NULL; /* the caller owns the string */
  g->sink_fd = -1;
  if (g->cfg.sample_interval == 0)
    g->cfg.sample_interval = 5 * TN_MSEC;
  if (g->cfg.collect_at_bytes == 0)
    g->cfg.collect_at_bytes = 64 * MIB;
  if (g->cfg.hard_limit_bytes == 0)
    g->cfg.hard_limit_bytes = g->cfg.collect_at_bytes <= UINT64_MAX / 2
                                  ? 2 * g->cfg.collect_at_bytes
                                  : UINT64_MAX;
  g->lead_time = resolve_duration(g->cfg.lead_time, 20 * TN_MSEC);
  g->drain_timeout = resolve_duration(g->cfg.drain_timeout, 100 * TN_MSEC);
  g->max_defer = resolve_duration(g->cfg.max_defer, 500 * TN_MSEC);
  g->cfg.lead_time = g->lead_time;
  g->cfg.drain_timeout = g->drain_timeout;
  g->cfg.max_defer = g->max_defer;
  if (g->cfg.sample_interval < 100 * TN_USEC ||
      g->cfg.sample_interval > TN_SEC ||
      g->cfg.hard_limit_bytes <= g->cfg.collect_at_bytes) {
    free(g);
    return TN_EINVAL;
  }
  if (tn_histogram_new(&g->drain_hist) != 0) {
    free(g);
    return TN_ENOMEM;
  }
  pthread_mutex_init(&g->sub_lock, NULL);
  pthread_mutex_init(&g->req_lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&g->req_cond, &ca);
  pthread_condattr_destroy(&ca);
  g->req_closed = 1;
  g->pause_per_mib = (double)DEFAULT_PAUSE_PER_MIB;
  atomic_store(&g->pause_per_mib_pub, DEFAULT_PAUSE_PER_MIB);
  atomic_store(&g->predicted_pub, -1);
  if (cfg && cfg->events_path) {
    g->sink_fd = open(cfg->events_path,
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (g->sink_fd < 0) {
      int rc = tn__from_errno(errno);
      tn_gcgov_close(g);
      return rc;
    }
  }
  *out = g;
  return 0;
}

/* --- events sink -------------------------------------------------------- */

static void sink_line(tn_gcgov *g, char *line, int n, size_t cap) {
  const char *p = line;
  if (g->sink_fd < 0 || n <= 0 || (size_t)n >= cap - 1)
    return;
  line[n++] = '\n';
  /* O_APPEND and one write per line: the pause monitor's lines and ours
   * interleave whole. */
  while (n > 0) {
    ssize_t w = write(g->sink_fd, p, (size_t)n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* telemetry must never stop the governor */
    p += w;
    n -= (int)w;
  }
}

int tn_gc_plan_to_json(const tn_gc_plan *p, char *buf, size_t len) {
  char wall[40];
  tn_walltime_format(p->start_wall, wall, sizeof wall);
  return snprintf(
      buf, len,
      "{\"kind\":\"collection\",\"id\":%llu,\"planned\":%s,"
      "\"trigger\":\"%s\",\"start_boot_ns\":%lld,\"start_wall\":\"%s\","
      "\"pause_ns\":%lld,\"duration_ns\":%lld,\"announced_boot_ns\":%lld,"
      "\"deferred_ns\":%lld,\"drain_ns\":%lld,\"drain_timed_out\":%s,"
      "\"inflight\":%lld,\"expected_pause_ns\":%lld,\"heap_bytes\":%llu,"
      "\"bytes_since_gc\":%llu,\"live_bytes\":%llu,\"cancelled\":%s}",
      (unsigned long long)p->id, p->planned ? "true" : "false",
      tn_gc_trigger_name(p->trigger), (long long)p->start, wall,
      (long long)p->pause, (long long)p->duration, (long long)p->announced,
      (long long)p->deferred, (long long)p->drain,
      p->drain_timed_out ? "true" : "false", (long long)p->inflight,
      (long long)p->expected_pause, (unsigned long long)p->heap_bytes,
      (unsigned long long)p->bytes_since_gc,
      (unsigned long long)p->live_bytes, p->cancelled ? "true" : "false");
}

static tn_walltime wall_at(tn_nanos boot) {
  tn_walltime w = tn_wall_now();
  w.ns -= tn_now() - boot;
  return w;
}

static void sink_drain(tn_gcgov *g, uint64_t id, tn_nanos start,
                       tn_nanos waited, int timed_out, int64_t inflight) {
  char line[512], wall[40];
  int n;
  if (g->sink_fd < 0)
    return;
  tn_walltime_format(wall_at(start), wall, sizeof wall);
  n = snprintf(line, sizeof line - 1,
               "{\"kind\":\"drain\",\"collection_id\":%llu,"
               "\"start_boot_ns\":%lld,\"start_wall\":\"%s\","
               "\"duration_ns\":%lld,\"timeout_ns\":%lld,\"timed_out\":%s,"
               "\"inflight\":%lld,\"shed\":%llu}",
               (unsigned long long)id, (long long)start, wall,
               (long long)waited, (long long)g->drain_timeout,
               timed_out ? "true" : "false", (long long)inflight,
               (unsigned long long)tn_gate_shed(g->cfg.gate));
  sink_line(g, line, n, sizeof line);
}

static void sink_collection(tn_gcgov *g, const tn_gc_plan *p) {
  char line[1024];
  int n;
  if (g->sink_fd < 0)
    return;
  n = tn_gc_plan_to_json(p, line, sizeof line - 1);
  sink_line(g, line, n, sizeof line);
}

/* --- sampling ----------------------------------------------------------- */

static void read_heap(struct heap_sample *h) {
  GC_word heap, freeb, unmapped, since, total;
  GC_get_heap_usage_safe(&heap, &freeb, &unmapped, &since, &total);
  h->heap = heap;
  h->free = freeb;
  h->unmapped = unmapped;
  h->since = since;
  h->total = total;
}

/* Fold the collection counter in: whatever moved it beyond `own` of our
 * collections was somebody else's. */
static void account_gc_no(tn_gcgov *g, uint64_t gc_no, uint64_t own) {
  uint64_t moved = gc_no - g->last_gc_no;
  if (moved > own)
    atomic_fetch_add(&g->foreign, moved - own);
  g->last_gc_no = gc_no;
}

static tn_nanos expected_pause(const tn_gcgov *g) {
  double mib = (double)g->live / (double)MIB;
  if (mib < 1.0)
    mib = 1.0;
  return (tn_nanos)(g->pause_per_mib * mib);
}

static tn_nanos predict(const tn_gcgov *g) {
  if (g->since >= g->cfg.collect_at_bytes)
    return 0;
  if (g->rate <= 0.0)
    return -1;
  return (tn_nanos)((double)(g->cfg.collect_at_bytes - g->since) / g->rate *
                    1e9);
}

static void publish_heap(tn_gcgov *g, const struct heap_sample *h) {
  atomic_store_explicit(&g->heap_bytes, h->heap, memory_order_relaxed);
  atomic_store_explicit(&g->free_bytes, h->free, memory_order_relaxed);
  atomic_store_explicit(&g->unmapped_bytes, h->unmapped, memory_order_relaxed);
  atomic_store_explicit(&g->since_pub, h->since, memory_order_relaxed);
  atomic_store_explicit(&g->total_bytes, h->total, memory_order_relaxed);
  atomic_store_explicit(&g->predicted_pub, predict(g), memory_order_relaxed);
  atomic_store_explicit(&g->expected_pause_pub, expected_pause(g),
                        memory_order_relaxed);
}

static void malloc_sample(tn_gcgov *g, tn_nanos now) {
  uint64_t sum = malloc_sum();
  if (sum > g->malloc_seen) /* an exiting thread may dip it for a moment */
    g->malloc_seen = sum;
  atomic_store_explicit(&g->malloc_sum_pub, g->malloc_seen,
                        memory_order_relaxed);
  if (now >= g->next_malloc_refresh) {
    uint64_t epoch = 1;
    size_t allocated = 0, sz = sizeof epoch;
    g->next_malloc_refresh = now + MALLOC_REFRESH;
    if (mallctl("epoch", &epoch, &sz, &epoch, sizeof epoch) == 0) {
      sz = sizeof allocated;
      if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0) {
        atomic_store(&g->malloc_allocated, (uint64_t)allocated);
        atomic_store(&g->malloc_refreshed, now);
      }
    }
  }
}

static void sample(tn_gcgov *g, tn_nanos now) {
  struct heap_sample h;
  tn_nanos dt = now - g->last_sample;
  read_heap(&h);
  account_gc_no(g, GC_get_gc_no(), 0);
  if (dt > 0 && h.total >= g->last_total) {
    double tau = (double)(RATE_TAU_SAMPLES * g->cfg.sample_interval);
    double inst = (double)(h.total - g->last_total) * 1e9 / (double)dt;
    g->rate += (double)dt / (tau + (double)dt) * (inst - g->rate);
  }
  g->last_sample = now;
  g->last_total = h.total;
  g->since = h.since;
  atomic_store_explicit(&g->rate_pub, (int64_t)g->rate, memory_order_relaxed);
  publish_heap(g, &h);
  malloc_sample(g, now);
  atomic_fetch_add_explicit(&g->samples, 1, memory_order_relaxed);
}

/* --- notices ------------------------------------------------------------ */

/* Announce; returns the longest deferral asked for (0: none). */
static tn_nanos notify(tn_gcgov *g, const tn_gc_plan *p) {
  tn_nanos longest = 0;
  int i;
  pthread_mutex_lock(&g->sub_lock);
  for (i = 0; i < g->nsubs; i++) {
    tn_nanos d = 0;
    tn_gc_answer a = g->subs[i].cb(p, &d, g->subs[i].arg);
    if (p->kind == TN_GC_ANNOUNCE && a == TN_GC_DEFER) {
      if (d <= 0)
        d = g->cfg.sample_interval;
      if (d > longest)
        longest = d;
    }
  }
  pthread_mutex_unlock(&g->sub_lock);
  return longest;
}

/* --- requests ----------------------------------------------------------- */

static uint64_t take_request(tn_gcgov *g, int kind) {
  uint64_t ticket = 0;
  pthread_mutex_lock(&g->req_lock);
  if (g->req_seq[kind] > g->taken_seq[kind]) {
    ticket = g->req_seq[kind];
    g->taken_seq[kind] = ticket;
  }
  pthread_mutex_unlock(&g->req_lock);
  return ticket;
}

static void complete_request(tn_gcgov *g, int kind, uint64_t ticket,
                             const tn_gc_plan *p) {
  if (ticket == 0)
    return;
  pthread_mutex_lock(&g->req_lock);
  g->req_result[kind] = *p;
  if (ticket > g->done_seq[kind])
    g->done_seq[kind] = ticket;
  pthread_cond_broadcast(&g->req_cond);
  pthread_mutex_unlock(&g->req_lock);
}

/* --- collecting --------------------------------------------------------- */

/* GC_gcollect, measured. Fills start, pause, duration, heap figures and
 * cancelled; updates the pause model and the counters' baseline. */
static void collect(tn_gcgov *g, tn_gc_plan *p, int planned) {
  struct heap_sample h;
  uint64_t before, after, w0, w1, n;
  tn_nanos end;
  int collected;

  read_heap(&h);
  p->heap_bytes = h.heap;
  p->bytes_since_gc = h.since;
  before = GC_get_gc_no();
  account_gc_no(g, before, 0);
  w0 = tn__pausemon_gc_windows();
  if (planned)
    tn__pausemon_planned_begin();
  p->start = tn_now();
  GC_gcollect();
  end = tn_now();
  if (planned)
    tn__pausemon_planned_end();
  w1 = tn__pausemon_gc_windows();
  after = GC_get_gc_no();
  collected = after != before;
  account_gc_no(g, after, collected ? 1 : 0);
  p->start_wall = wall_at(p->start);
  p->duration = end - p->start;
  p->pause = p->duration;
  p->cancelled = !collected;
  /* The hook's window for this call, if a monitor's hook is in: exact. */
  for (n = w1; tn__pausemon_gc_hook_active() && n > w0; n--) {
    tn_nanos ws, we;
    int pl;
    if (tn__pausemon_gc_window(n, &ws, &we, &pl) == 0 && ws >= p->start &&
        we <= end) {
      p->pause = we - ws;
      break;
    }
  }
  read_heap(&h);
  g->since = h.since;
  if (collected) {
    double mib;
    g->live = h.heap - h.free;
    mib = (double)g->live / (double)MIB;
    if (mib < 1.0)
      mib = 1.0;
    g->pause_per_mib += EWMA_WEIGHT * ((double)p->pause / mib -
                                       g->pause_per_mib);
    atomic_store(&g->pause_per_mib_pub, (int64_t)g->pause_per_mib);
    atomic_store(&g->live_pub, g->live);
    atomic_store(&g->last_pause, p->pause);
    atomic_store(&g->last_collection, p->start);
    atomic_store(&g->last_planned, planned);
  }
  p->live_bytes = g->live;
  publish_heap(g, &h);
}

static void plan_clear(tn_gcgov *g) {
  g->plan_id = 0;
  g->plan_ticket = 0;
  g->plan_was_deferred = 0;
  atomic_store(&g->pending_id, 0);
}

/* Finish a collection the governor ran: record, tell, release waiters. */
static void finish(tn_gcgov *g, tn_gc_plan *p, uint64_t unplanned_ticket) {
  uint64_t plan_ticket = g->plan_id == p->id ? g->plan_ticket : 0;
  p->kind = TN_GC_DONE;
  p->at = tn_now();
  if (g->plan_id == p->id)
    plan_clear(g);
  sink_collection(g, p);
  notify(g, p);
  complete_request(g, REQ_PLANNED, plan_ticket, p);
  complete_request(g, REQ_UNPLANNED, unplanned_ticket, p);
}

static void run_unplanned(tn_gcgov *g, tn_gc_trigger trigger,
                          uint64_t ticket) {
  tn_gc_plan p;
  memset(&p, 0, sizeof p);
  p.trigger = trigger;
  if (g->plan_id) { /* the backstop takes over the pending plan */
    p.id = g->plan_id;
    p.announced = g->plan_announced;
    p.deferred = tn_now() - g->plan_announced;
  } else {
    p.id = atomic_fetch_add(&g->last_id, 1) + 1;
  }
  p.expected_pause = expected_pause(g);
  collect(g, &p, 0);
  if (!p.cancelled)
    atomic_fetch_add(trigger == TN_GC_TRIGGER_BACKSTOP ? &g->backstop
                                                       : &g->requested,
                     1);
  finish(g, &p, ticket);
}

static void run_planned(tn_gcgov *g, tn_nanos go) {
  tn_gc_plan p;
  tn_gate *gate = g->cfg.gate;
  memset(&p, 0, sizeof p);
  p.planned = 1;
  p.id = g->plan_id;
  p.trigger = g->plan_trigger;
  p.announced = g->plan_announced;
  p.deferred = go - g->plan_announced;
  p.expected_pause = expected_pause(g);
  if (g->plan_was_deferred) {
    atomic_fetch_add(&g->deferred, 1);
    atomic_fetch_add(&g->deferred_total, p.deferred);
  }
  if (gate) {
    tn_nanos start = tn_now(), waited = 0;
    int rc = tn_gate_drain(gate, g->drain_timeout, &waited);
    p.drain = waited;
    p.drain_timed_out = rc != 0;
    p.inflight = tn_gate_inflight(gate);
    tn_histogram_record(g->drain_hist, waited);
    atomic_fetch_add(&g->drains, 1);
    if (rc != 0)
      atomic_fetch_add(&g->drain_timeouts, 1);
    g->drain_ewma += EWMA_WEIGHT * ((double)waited - g->drain_ewma);
    atomic_store(&g->expected_drain_pub, (tn_nanos)g->drain_ewma);
    sink_drain(g, p.id, start, waited, p.drain_timed_out, p.inflight);
  }
  collect(g, &p, 1);
  if (gate)
    tn_gate_open(gate);
  if (!p.cancelled)
    atomic_fetch_add(&g->planned, 1);
  finish(g, &p, 0);
}

static void plan_begin(tn_gcgov *g, tn_gc_trigger trigger, tn_nanos now) {
  g->plan_id = atomic_fetch_add(&g->last_id, 1) + 1;
  g->plan_trigger = trigger;
  g->plan_announced = now;
  g->plan_next_ask = now;
  g->plan_was_deferred = 0;
  atomic_store(&g->pending_id, g->plan_id);
}

/* Ask the subscribers if it is time; collect if so. */
static void plan_advance(tn_gcgov *g, tn_nanos now) {
  tn_gc_plan p;
  tn_nanos defer_left, want;
  uint64_t id = g->plan_id;
  int proceed = atomic_load(&g->proceed_id) == id;
  if (now < g->plan_next_ask && !proceed)
    return;
  if (proceed)
    atomic_compare_exchange_strong(&g->proceed_id, &id, 0);
  defer_left = g->plan_announced + g->max_defer - now;
  if (defer_left < 0)
    defer_left = 0;
  memset(&p, 0, sizeof p);
  p.kind = TN_GC_ANNOUNCE;
  p.id = g->plan_id;
  p.planned = 1;
  p.trigger = g->plan_trigger;
  p.at = now;
  p.announced = g->plan_announced;
  p.heap_bytes = atomic_load(&g->heap_bytes);
  p.bytes_since_gc = g->since;
  p.live_bytes = g->live;
  p.expected_pause = expected_pause(g);
  p.deferred = now - g->plan_announced;
  p.defer_left = defer_left;
  want = notify(g, &p);
  if (want > 0 && defer_left > 0) {
    g->plan_was_deferred = 1;
    g->plan_next_ask = now + (want < defer_left ? want : defer_left);
    return;
  }
  run_planned(g, tn_now());
}

/* One sample's decisions. */
static void decide(tn_gcgov *g, tn_nanos now) {
  uint64_t unplanned = take_request(g, REQ_UNPLANNED);
  uint64_t planned = take_request(g, REQ_PLANNED);
  tn_nanos predicted;
  if (unplanned)
    run_unplanned(g, TN_GC_TRIGGER_REQUEST, unplanned);
  else if (g->since >= g->cfg.hard_limit_bytes)
    run_unplanned(g, TN_GC_TRIGGER_BACKSTOP, 0);
  if (planned) {
    if (!g->plan_id)
      plan_begin(g, TN_GC_TRIGGER_REQUEST, now);
    else
      g->plan_next_ask = now; /* ask again at once */
    g->plan_ticket = planned;
  }
  predicted = predict(g);
  if (!g->plan_id && predicted >= 0 &&
      predicted <= g->lead_time + (tn_nanos)g->drain_ewma +
                       g->cfg.sample_interval)
    plan_begin(g, TN_GC_TRIGGER_PREDICTED, now);
  if (g->plan_id)
    plan_advance(g, now);
}

/* --- the thread --------------------------------------------------------- */

#if defined(__SANITIZE_THREAD__)
/*
 * ThreadSanitizer (gcc 12) does not intercept clock_nanosleep. A signal that
 * arrives outside an intercepted blocking call is deferred to the thread's
 * next intercepted call, and a loop retrying clock_nanosleep on EINTR makes
 * none: the collector's suspend signal is never handled and a collection
 * started elsewhere aborts ("Signals delivery fails constantly"). nanosleep
 * is intercepted, so the TSan build sleeps with it, relative to the same
 * absolute deadline re-read after each interruption.
 */
static int sleep_to(tn_nanos when) {
  tn_nanos left = when - tn_now();
  struct timespec rel;
  if (left <= 0)
    return 0;
  rel.tv_sec = (time_t)(left / TN_SEC);
  rel.tv_nsec = (long)(left % TN_SEC);
  return nanosleep(&rel, NULL) == 0 ? 0 : errno;
}
#else
static int sleep_to(tn_nanos when) {
  struct timespec ts;
  ts.tv_sec = (time_t)(when / TN_SEC);
  ts.tv_nsec = (long)(when % TN_SEC);
  return clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL);
}
#endif

static void sleep_until(tn_gcgov *g, tn_nanos when) {
  /* Every collection interrupts a registered thread's sleep: sleep again
   * to the same absolute deadline, so the schedule does not drift. */
  while (sleep_to(when) == EINTR) {
    atomic_fetch_add_explicit(&g->sleep_interrupts, 1, memory_order_relaxed);
    if (atomic_load_explicit(&g->stopping, memory_order_acquire))
      return;
  }
}

static void *governor_main(void *arg) {
  tn_gcgov *g = arg;
  struct heap_sample h;
  sigset_t set;
  /* Keep the application's signals off this thread, but never the
   * collector's (GC_pthread_sigmask would refuse anyway) nor faults. */
  sigfillset(&set);
  sigdelset(&set, GC_get_suspend_signal());
  sigdelset(&set, GC_get_thr_restart_signal());
  sigdelset(&set, SIGSEGV);
  sigdelset(&set, SIGBUS);
  sigdelset(&set, SIGFPE);
  sigdelset(&set, SIGILL);
  sigdelset(&set, SIGABRT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  pthread_setname_np(pthread_self(), "tn-gcgov");

  read_heap(&h);
  g->last_gc_no = GC_get_gc_no();
  g->last_total = h.total;
  g->since = h.since;
  g->live = h.heap - h.free > h.since ? h.heap - h.free - h.since : 0;
  g->last_sample = tn_now();
  g->next_malloc_refresh = g->last_sample;
  atomic_store(&g->live_pub, g->live);
  publish_heap(g, &h);
  malloc_sample(g, g->last_sample);
  g->next_sample = g->last_sample + g->cfg.sample_interval;
  atomic_store(&g->started, g->last_sample);

  while (!atomic_load_explicit(&g->stopping, memory_order_acquire)) {
    tn_nanos now;
    sleep_until(g, g->next_sample);
    if (atomic_load_explicit(&g->stopping, memory_order_acquire))
      break;
    now = tn_now();
    sample(g, now);
    decide(g, now);
    g->next_sample += g->cfg.sample_interval;
    now = tn_now(); /* a plan step may have taken a while */
    if (g->next_sample <= now)
      g->next_sample = now + g->cfg.sample_interval; /* no catching up */
  }

  if (g->plan_id) { /* announced, never collected: still owed a done */
    tn_gc_plan p;
    memset(&p, 0, sizeof p);
    p.id = g->plan_id;
    p.planned = 1;
    p.trigger = g->plan_trigger;
    p.announced = g->plan_announced;
    p.deferred = tn_now() - g->plan_announced;
    p.live_bytes = g->live;
    p.cancelled = 1;
    p.kind = TN_GC_DONE;
    p.at = tn_now();
    plan_clear(g);
    sink_collection(g, &p);
    notify(g, &p);
  }
  return NULL;
}

int tn_gcgov_start(tn_gcgov *g) {
  tn_gcgov *expected = NULL;
  pthread_attr_t attr;
  int rc;
  if (atomic_load(&g->running))
    return TN_EBUSY;
  if (!GC_is_init_called()) {
    /* GC_INIT on another thread would take that thread's stack for the
     * main one. */
    if (syscall(SYS_gettid) != getpid())
      return TN_EINVAL;
    GC_INIT();
  }
  if (!atomic_compare_exchange_strong(&running_governor, &expected, g))
    return TN_EBUSY;
  g->prev_disable = GC_get_disable_automatic_collection();
  GC_set_disable_automatic_collection(1);
  /* Parallel markers start only with the first GC thread or this call;
   * planned pauses should have them from the first collection. */
  GC_start_mark_threads();
  atomic_store(&g->stopping, 0);
  pthread_mutex_lock(&g->req_lock);
  g->req_closed = 0;
  pthread_mutex_unlock(&g->req_lock);
  if (pthread_attr_init(&attr) != 0) {
    rc = TN_ENOMEM;
    goto fail;
  }
  /* subscriber callbacks and the collector's finalizers run here too */
  pthread_attr_setstacksize(&attr, 1024 * 1024);
  rc = pthread_create(&g->thread, &attr, governor_main, g); /* GC's */
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    rc = tn__from_errno(rc);
    goto fail;
  }
  atomic_store(&g->running, 1);
  return 0;
fail:
  pthread_mutex_lock(&g->req_lock);
  g->req_closed = 1;
  pthread_mutex_unlock(&g->req_lock);
  GC_set_disable_automatic_collection(g->prev_disable);
  atomic_store(&running_governor, NULL);
  return rc;
}

void tn_gcgov_stop(tn_gcgov *g) {
  if (!atomic_load(&g->running))
    return;
  atomic_store_explicit(&g->stopping, 1, memory_order_release);
  pthread_join(g->thread, NULL); /* GC_pthread_join: a thread it made */
  atomic_store(&g->running, 0);
  pthread_mutex_lock(&g->req_lock);
  g->req_closed = 1;
  pthread_cond_broadcast(&g->req_cond);
  pthread_mutex_unlock(&g->req_lock);
  GC_set_disable_automatic_collection(g->prev_disable);
  atomic_store(&running_governor, NULL);
}

void tn_gcgov_close(tn_gcgov *g) {
  if (g == NULL)
    return;
  tn_gcgov_stop(g);
  if (g->sink_fd >= 0) {
    fsync(g->sink_fd);
    close(g->sink_fd);
  }
  tn_histogram_free(g->drain_hist);
  pthread_mutex_destroy(&g->sub_lock);
  pthread_mutex_destroy(&g->req_lock);
  pthread_cond_destroy(&g->req_cond);
  free(g);
}

/* --- calls from other threads ------------------------------------------- */

int tn_gcgov_subscribe(tn_gcgov *g, tn_gc_plan_cb cb, void *arg) {
  int rc = 0;
  if (cb == NULL)
    return TN_EINVAL;
  pthread_mutex_lock(&g->sub_lock);
  if (g->nsubs == MAX_SUBSCRIBERS) {
    rc = TN_EBUSY;
  } else {
    g->subs[g->nsubs].cb = cb;
    g->subs[g->nsubs].arg = arg;
    g->nsubs++;
  }
  pthread_mutex_unlock(&g->sub_lock);
  return rc;
}

int tn_gcgov_unsubscribe(tn_gcgov *g, tn_gc_plan_cb cb, void *arg) {
  int i, rc = TN_ENOENT;
  pthread_mutex_lock(&g->sub_lock);
  for (i = 0; i < g->nsubs; i++) {
    if (g->subs[i].cb == cb && g->subs[i].arg == arg) {
      memmove(&g->subs[i], &g->subs[i + 1],
              (size_t)(g->nsubs - i - 1) * sizeof g->subs[0]);
      g->nsubs--;
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&g->sub_lock);
  return rc;
}

int tn_gcgov_proceed(tn_gcgov *g, uint64_t id) {
  if (id == 0 || id > atomic_load(&g->last_id))
    return TN_ENOENT;
  if (atomic_load(&g->pending_id) == id)
    atomic_store(&g->proceed_id, id);
  return 0;
}

int tn_gcgov_collect(tn_gcgov *g, tn_gc_kind kind, tn_nanos timeout,
                     tn_gc_plan *done) {
  uint64_t ticket;
  tn_nanos deadline;
  int rc = 0;
  if (kind != TN_GC_PLANNED && kind != TN_GC_UNPLANNED)
    return TN_EINVAL;
  if (atomic_load(&g->running) && pthread_equal(pthread_self(), g->thread))
    return TN_EBUSY;
  if (timeout <= 0)
    timeout = DEFAULT_COLLECT_TIMEOUT;
  deadline = tn_nanos_add_sat(tn_now(), timeout);
  pthread_mutex_lock(&g->req_lock);
  if (g->req_closed) {
    pthread_mutex_unlock(&g->req_lock);
    return TN_ECLOSED;
  }
  ticket = ++g->req_seq[kind];
  while (g->done_seq[kind] < ticket && !g->req_closed) {
    struct timespec ts;
    tn_nanos left = deadline - tn_now(), nap = left < 100 * TN_MSEC
                                                   ? left
                                                   : 100 * TN_MSEC;
    if (left <= 0) {
      rc = TN_ETIMEDOUT;
      break;
    }
    /* The condvar's clock is monotonic; the deadline is boot time, so
     * wait in short steps and re-check against it. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(nap / TN_SEC);
    ts.tv_nsec += (long)(nap % TN_SEC);
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->req_cond, &g->req_lock, &ts);
  }
  if (rc == 0 && g->done_seq[kind] >= ticket) {
    if (done)
      *done = g->req_result[kind];
  } else if (rc == 0) {
    rc = TN_ECLOSED;
  }
  pthread_mutex_unlock(&g->req_lock);
  return rc;
}

void tn_gcgov_snapshot_drain(const tn_gcgov *g, tn_histogram *dst) {
  tn_histogram_snapshot(g->drain_hist, dst);
}

void tn_gcgov_stats_get(const tn_gcgov *g, tn_gcgov_stats *out) {
  memset(out, 0, sizeof *out);
  out->sample_interval = g->cfg.sample_interval;
  out->lead_time = g->lead_time;
  out->drain_timeout = g->drain_timeout;
  out->max_defer = g->max_defer;
  out->collect_at_bytes = g->cfg.collect_at_bytes;
  out->hard_limit_bytes = g->cfg.hard_limit_bytes;
  out->has_gate = g->cfg.gate != NULL;
  out->running = atomic_load(&g->running);
  out->started = atomic_load(&g->started);
  out->samples = atomic_load(&g->samples);
  out->sleep_interrupts = atomic_load(&g->sleep_interrupts);
  out->planned = atomic_load(&g->planned);
  out->backstop = atomic_load(&g->backstop);
  out->requested = atomic_load(&g->requested);
  out->foreign = atomic_load(&g->foreign);
  out->unplanned = out->backstop + out->requested + out->foreign;
  out->deferred = atomic_load(&g->deferred);
  out->deferred_total = atomic_load(&g->deferred_total);
  out->drains = atomic_load(&g->drains);
  out->drain_timeouts = atomic_load(&g->drain_timeouts);
  out->last_id = atomic_load(&g->last_id);
  out->pending_id = atomic_load(&g->pending_id);
  out->last_pause = atomic_load(&g->last_pause);
  out->last_collection = atomic_load(&g->last_collection);
  out->last_planned = atomic_load(&g->last_planned);
  out->expected_pause = atomic_load(&g->expected_pause_pub);
  out->expected_drain = atomic_load(&g->expected_drain_pub);
  out->pause_per_mib = atomic_load(&g->pause_per_mib_pub);
  out->heap_bytes = atomic_load(&g->heap_bytes);
  out->free_bytes = atomic_load(&g->free_bytes);
  out->unmapped_bytes = atomic_load(&g->unmapped_bytes);
  out->bytes_since_gc = atomic_load(&g->since_pub);
  out->total_bytes = atomic_load(&g->total_bytes);
  out->live_bytes = atomic_load(&g->live_pub);
  out->alloc_rate = atomic_load(&g->rate_pub);
  out->predicted = atomic_load(&g->predicted_pub);
  out->malloc_allocated = atomic_load(&g->malloc_allocated);
  out->malloc_refreshed = atomic_load(&g->malloc_refreshed);
  out->malloc_tracked_threads = atomic_load(&malloc_tracked);
  out->malloc_tracked_allocated = atomic_load(&g->malloc_sum_pub);
}
