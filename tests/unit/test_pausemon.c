/*
 * Unit tests: the pause monitor (pausemon.c).
 *
 * Most tests drive the sampler one step at a time under a swapped clock, so
 * a 100 ms SIGSTOP, a 30 s suspend or a starved CPU are simulated exactly.
 * The last suite runs the real sampler thread against the real collector.
 */
#define _GNU_SOURCE
#include "cu_main.h"

#include "clock_testing.h"
#include "pausemon_internal.h"

#include <gc/gc.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <tenure/error.h>
#include <tenure/pausemon.h>
#include <unistd.h>

/* --- attribution, the pure rule ------------------------------------------ */

static void test_attribution_order(void) {
  tn__gap g;
  memset(&g, 0, sizeof g);
  g.length = 100 * TN_MSEC;
  CU_ASSERT_EQUAL(tn__pause_attribute(&g), TN_CAUSE_UNKNOWN);
  g.runq_wait = 49 * TN_MSEC;
  CU_ASSERT_EQUAL(tn__pause_attribute(&g), TN_CAUSE_UNKNOWN);
  g.runq_wait = 50 * TN_MSEC; /* at least half the gap */
  CU_ASSERT_EQUAL(tn__pause_attribute(&g), TN_CAUSE_CPU);
  g.sigcont = 1;
  CU_ASSERT_EQUAL(tn__pause_attribute(&g), TN_CAUSE_STOPPED);
  g.suspended = 1;
  CU_ASSERT_EQUAL(tn__pause_attribute(&g), TN_CAUSE_SUSPEND);
  g.gc_overlap = 1;
  CU_ASSERT_EQUAL(tn__pause_attribute(&g), TN_CAUSE_GC);
}

static void test_cause_names(void) {
  tn_pause_cause c;
  int i;
  for (i = 0; i < TN_CAUSE_COUNT; i++) {
    CU_ASSERT_EQUAL(tn_pause_cause_parse(tn_pause_cause_name(i), &c), 0);
    CU_ASSERT_EQUAL(c, i);
  }
  CU_ASSERT_STRING_EQUAL(tn_pause_cause_name(TN_CAUSE_STOPPED), "stopped");
  CU_ASSERT_EQUAL(tn_pause_cause_parse("paused", &c), TN_EINVAL);
  CU_ASSERT_STRING_EQUAL(tn_pause_cause_name(TN_CAUSE_COUNT), "invalid");
}

/* --- stepping the sampler under a manual clock --------------------------- */

static tn__manual_clock mc;
static tn__clock_source src;
static tn_nanos fake_runq;

static tn_nanos read_fake_runq(void *arg) {
  (void)arg;
  return fake_runq;
}

static tn_pausemon *open_stepped(tn_pausemon_config *cfg) {
  tn_pausemon *m = NULL;
  tn_pausemon_config defaults;
  memset(&defaults, 0, sizeof defaults);
  if (cfg == NULL)
    cfg = &defaults;
  memset(&mc, 0, sizeof mc);
  mc.boot = 1000 * TN_SEC;
  mc.mono = 900 * TN_SEC;
  mc.wall = 1795685431LL * TN_SEC;
  mc.synced = 1;
  fake_runq = 0;
  tn__manual_clock_source(&src, &mc);
  tn__clock_swap(&src);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_open(cfg, &m), 0);
  tn__pausemon_set_runq_reader(m, read_fake_runq, NULL);
  tn__pausemon_sampler_init(m);
  return m;
}

static void close_stepped(tn_pausemon *m) {
  tn_pausemon_close(m);
  tn__clock_swap(NULL);
}

static void advance(tn_nanos d) {
  mc.boot += d;
  mc.mono += d;
  mc.wall += d;
}

/* Wake exactly on schedule, n times. */
static void on_time(tn_pausemon *m, int n) {
  while (n--) {
    mc.boot = tn__pausemon_next_wake(m);
    mc.mono = mc.boot - 100 * TN_SEC;
    tn__pausemon_step(m);
  }
}

static tn_pause_event last_event(tn_pausemon *m) {
  tn_pause_event evs[64];
  size_t n = tn_pausemon_events_since(m, 0, evs, 64);
  tn_pause_event none;
  memset(&none, 0, sizeof none);
  return n ? evs[n - 1] : none;
}

static void test_on_time_is_quiet(void) {
  tn_pausemon *m = open_stepped(NULL);
  on_time(m, 5000);
  /* jitter below the threshold is not a pause */
  mc.boot = tn__pausemon_next_wake(m) + 4 * TN_MSEC;
  tn__pausemon_step(m);
  on_time(m, 10);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 0);
  close_stepped(m);
}

static void test_stopped(void) {
  tn_pausemon *m = open_stepped(NULL);
  tn_nanos due;
  tn_pause_event ev;
  on_time(m, 10);
  due = tn__pausemon_next_wake(m);
  advance(due - mc.boot + 100 * TN_MSEC); /* 100 ms past the wake-up */
  tn__pausemon_note_sigcont();
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 1);
  ev = last_event(m);
  CU_ASSERT_EQUAL(ev.cause, TN_CAUSE_STOPPED);
  CU_ASSERT_EQUAL(ev.seq, 1);
  CU_ASSERT_TRUE(ev.sigcont);
  /* the stall began in the last interval; its middle is the estimate */
  CU_ASSERT_EQUAL(ev.start, due - TN_MSEC / 2);
  CU_ASSERT_EQUAL(ev.duration, 100 * TN_MSEC + TN_MSEC / 2);
  CU_ASSERT_FALSE(ev.planned);
  /* the next stall without SIGCONT is not "stopped" */
  on_time(m, 3);
  advance(tn__pausemon_next_wake(m) - mc.boot + 50 * TN_MSEC);
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_UNKNOWN);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 2);
  close_stepped(m);
}

static void test_suspend(void) {
  tn_pausemon *m = open_stepped(NULL);
  tn_pause_event ev;
  on_time(m, 10);
  /* 30 s asleep: boot and wall move, monotonic does not */
  mc.boot = tn__pausemon_next_wake(m) + 30 * TN_SEC;
  mc.wall += 30 * TN_SEC;
  tn__pausemon_note_sigcont(); /* resume also sends SIGCONT sometimes */
  tn__pausemon_step(m);
  ev = last_event(m);
  CU_ASSERT_EQUAL(ev.cause, TN_CAUSE_SUSPEND);
  CU_ASSERT(ev.suspended >= 30 * TN_SEC - 2 * TN_MSEC);
  CU_ASSERT(ev.suspended <= 30 * TN_SEC + 2 * TN_MSEC);
  close_stepped(m);
}

static void test_cpu_starvation(void) {
  tn_pausemon *m = open_stepped(NULL);
  on_time(m, 10);
  advance(tn__pausemon_next_wake(m) - mc.boot + 80 * TN_MSEC);
  fake_runq += 60 * TN_MSEC; /* the sampler waited on a run queue */
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_CPU);
  CU_ASSERT_EQUAL(last_event(m).runq_wait, 60 * TN_MSEC);
  on_time(m, 10);
  advance(tn__pausemon_next_wake(m) - mc.boot + 80 * TN_MSEC);
  fake_runq += 20 * TN_MSEC; /* not enough to explain the gap */
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_UNKNOWN);
  close_stepped(m);
}

static void test_gc_window_exact(void) {
  tn_pausemon *m = open_stepped(NULL);
  tn_pausemon_stats st;
  tn_pause_event ev;
  tn_nanos t0;
  uint64_t windows_before;
  on_time(m, 10);
  tn_pausemon_stats_get(m, &st);
  windows_before = st.gc_windows;
  /* A collection of 20.000123 ms while the sampler runs on time. */
  t0 = mc.boot + 10;
  mc.boot = t0;
  tn__pausemon_gc_event(GC_EVENT_PRE_STOP_WORLD);
  mc.boot = t0 + 20 * TN_MSEC + 123;
  tn__pausemon_gc_event(GC_EVENT_POST_START_WORLD);
  on_time(m, 1);
  ev = last_event(m);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 1);
  CU_ASSERT_EQUAL(ev.cause, TN_CAUSE_GC);
  CU_ASSERT_EQUAL(ev.start, t0);
  CU_ASSERT_EQUAL(ev.duration, 20 * TN_MSEC + 123);
  CU_ASSERT_FALSE(ev.planned);
  /* a short collection counts as a window but is not a pause event */
  mc.boot += 10;
  tn__pausemon_gc_event(GC_EVENT_PRE_STOP_WORLD);
  mc.boot += 2 * TN_MSEC;
  tn__pausemon_gc_event(GC_EVENT_POST_START_WORLD);
  on_time(m, 1);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 1);
  tn_pausemon_stats_get(m, &st);
  CU_ASSERT_EQUAL(st.gc_windows, windows_before + 2);
  /* a planned one is marked so */
  tn__pausemon_planned_begin();
  mc.boot += 10;
  tn__pausemon_gc_event(GC_EVENT_PRE_STOP_WORLD);
  mc.boot += 9 * TN_MSEC;
  tn__pausemon_gc_event(GC_EVENT_POST_START_WORLD);
  tn__pausemon_planned_end();
  on_time(m, 1);
  CU_ASSERT_TRUE(last_event(m).planned);
  CU_ASSERT_EQUAL(last_event(m).duration, 9 * TN_MSEC);
  /* every window, short ones included, is counted and timed by kind */
  tn_pausemon_stats_get(m, &st);
  CU_ASSERT_EQUAL(st.gc[TN_GC_UNPLANNED].count, 2);
  CU_ASSERT_EQUAL(st.gc[TN_GC_UNPLANNED].total, 22 * TN_MSEC + 123);
  CU_ASSERT(st.gc[TN_GC_UNPLANNED].max >= 20 * TN_MSEC);
  CU_ASSERT(st.gc[TN_GC_UNPLANNED].max <= 20 * TN_MSEC + 123);
  CU_ASSERT_EQUAL(st.gc[TN_GC_PLANNED].count, 1);
  CU_ASSERT_EQUAL(st.gc[TN_GC_PLANNED].total, 9 * TN_MSEC);
  {
    tn_histogram *h;
    CU_ASSERT_EQUAL_FATAL(tn_histogram_new(&h), 0);
    tn_pausemon_snapshot_gc(m, TN_GC_UNPLANNED, h);
    CU_ASSERT_EQUAL(tn_histogram_count(h), 2);
    CU_ASSERT_EQUAL(tn_histogram_count_le(h, 5 * TN_MSEC), 1);
    tn_pausemon_snapshot_gc(m, TN_GC_PLANNED, h);
    CU_ASSERT_EQUAL(tn_histogram_count(h), 1);
    tn_histogram_free(h);
  }
  CU_ASSERT_STRING_EQUAL(tn_gc_kind_name(TN_GC_PLANNED), "planned");
  CU_ASSERT_STRING_EQUAL(tn_gc_kind_name(TN_GC_KIND_COUNT), "invalid");
  close_stepped(m);
}

/* The hook's ring, read back by window number (the governor's exact
 * pause). */
static void test_gc_window_readback(void) {
  tn_pausemon *m = open_stepped(NULL);
  tn_nanos ws, we;
  int planned;
  uint64_t n;
  tn__pausemon_planned_begin();
  tn__pausemon_gc_event(GC_EVENT_PRE_STOP_WORLD);
  mc.boot += 3 * TN_MSEC + 7;
  tn__pausemon_gc_event(GC_EVENT_POST_START_WORLD);
  tn__pausemon_planned_end();
  n = tn__pausemon_gc_windows();
  CU_ASSERT(n > 0);
  CU_ASSERT_EQUAL(tn__pausemon_gc_window(n, &ws, &we, &planned), 0);
  CU_ASSERT_EQUAL(we - ws, 3 * TN_MSEC + 7);
  CU_ASSERT_TRUE(planned);
  CU_ASSERT_EQUAL(tn__pausemon_gc_window(n + 1, &ws, &we, &planned),
                  TN_ENOENT); /* not yet written */
  CU_ASSERT_EQUAL(tn__pausemon_gc_window(0, &ws, &we, &planned), TN_ENOENT);
  if (n > 64) /* overwritten: the ring keeps 64 */
    CU_ASSERT_EQUAL(tn__pausemon_gc_window(n - 64, &ws, &we, &planned),
                    TN_ENOENT);
  close_stepped(m);
}

static void test_gc_overlapping_lateness_reported_once(void) {
  tn_pausemon *m = open_stepped(NULL);
  tn_nanos due;
  on_time(m, 10);
  due = tn__pausemon_next_wake(m);
  /* the sampler is also late (starved by the markers) across the window */
  mc.boot = due + 2 * TN_MSEC;
  tn__pausemon_gc_event(GC_EVENT_PRE_STOP_WORLD);
  mc.boot = due + 40 * TN_MSEC;
  tn__pausemon_gc_event(GC_EVENT_POST_START_WORLD);
  mc.boot = due + 45 * TN_MSEC;
  fake_runq += 45 * TN_MSEC;
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 1);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_GC);
  CU_ASSERT_EQUAL(last_event(m).duration, 38 * TN_MSEC);
  /* a window still open when the sampler wakes late: the gap is the
   * collection's, reported once the window closes */
  on_time(m, 5);
  due = tn__pausemon_next_wake(m);
  mc.boot = due - TN_MSEC / 2;
  tn__pausemon_gc_event(GC_EVENT_PRE_STOP_WORLD);
  mc.boot = due + 30 * TN_MSEC;
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 1);
  mc.boot += 5 * TN_MSEC;
  tn__pausemon_gc_event(GC_EVENT_POST_START_WORLD);
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 2);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_GC);
  CU_ASSERT_EQUAL(last_event(m).duration, 35 * TN_MSEC + TN_MSEC / 2);
  close_stepped(m);
}

static void test_stats_and_ring(void) {
  tn_pausemon_config cfg;
  tn_pausemon *m;
  tn_pausemon_stats st;
  tn_pause_event evs[16];
  size_t n;
  int i;
  memset(&cfg, 0, sizeof cfg);
  cfg.ring_size = 4;
  m = open_stepped(&cfg);
  for (i = 1; i <= 10; i++) {
    on_time(m, 2);
    advance(tn__pausemon_next_wake(m) - mc.boot + i * 10 * TN_MSEC);
    tn__pausemon_note_sigcont();
    tn__pausemon_step(m);
  }
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 10);
  n = tn_pausemon_events_since(m, 0, evs, 16);
  CU_ASSERT_EQUAL_FATAL(n, 4); /* the ring keeps the newest four */
  for (i = 0; i < 4; i++)
    CU_ASSERT_EQUAL(evs[i].seq, (uint64_t)(7 + i));
  CU_ASSERT_EQUAL(tn_pausemon_events_since(m, 9, evs, 16), 1);
  CU_ASSERT_EQUAL(evs[0].seq, 10);
  CU_ASSERT_EQUAL(tn_pausemon_events_since(m, 10, evs, 16), 0);
  CU_ASSERT_EQUAL(tn_pausemon_events_since(m, 0, evs, 2), 2);
  CU_ASSERT_EQUAL(evs[0].seq, 7);

  tn_pausemon_stats_get(m, &st);
  CU_ASSERT_EQUAL(st.cause[TN_CAUSE_STOPPED].count, 10);
  /* 10..100 ms, each + half an interval */
  CU_ASSERT_EQUAL(st.cause[TN_CAUSE_STOPPED].total,
                  550 * TN_MSEC + 10 * (TN_MSEC / 2));
  CU_ASSERT(st.cause[TN_CAUSE_STOPPED].max >= 100 * TN_MSEC);
  CU_ASSERT(st.cause[TN_CAUSE_STOPPED].max <= 101 * TN_MSEC);
  CU_ASSERT(st.cause[TN_CAUSE_STOPPED].p50 >= 50 * TN_MSEC);
  CU_ASSERT(st.cause[TN_CAUSE_STOPPED].p50 <= 51 * TN_MSEC);
  CU_ASSERT_EQUAL(st.cause[TN_CAUSE_GC].count, 0);
  close_stepped(m);
}

static int calls;
static uint64_t last_seen_seq;
static void count_cb(const tn_pause_event *ev, void *arg) {
  calls += *(int *)arg;
  last_seen_seq = ev->seq;
}

static void test_subscribers(void) {
  tn_pausemon *m = open_stepped(NULL);
  int one = 1, ten = 10;
  calls = 0;
  CU_ASSERT_EQUAL(tn_pausemon_subscribe(m, count_cb, &one), 0);
  CU_ASSERT_EQUAL(tn_pausemon_subscribe(m, count_cb, &ten), 0);
  on_time(m, 2);
  advance(tn__pausemon_next_wake(m) - mc.boot + 20 * TN_MSEC);
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(calls, 11);
  CU_ASSERT_EQUAL(last_seen_seq, 1);
  CU_ASSERT_EQUAL(tn_pausemon_unsubscribe(m, count_cb, &ten), 0);
  CU_ASSERT_EQUAL(tn_pausemon_unsubscribe(m, count_cb, &ten), TN_ENOENT);
  on_time(m, 2);
  advance(tn__pausemon_next_wake(m) - mc.boot + 20 * TN_MSEC);
  tn__pausemon_step(m);
  CU_ASSERT_EQUAL(calls, 12);
  close_stepped(m);
}

static void test_events_sink(void) {
  char path[] = "/tmp/tenure-pausemon-XXXXXX";
  char text[4096];
  int fd = mkstemp(path);
  tn_pausemon_config cfg;
  tn_pausemon *m;
  ssize_t n;
  CU_ASSERT_FATAL(fd >= 0);
  close(fd);
  memset(&cfg, 0, sizeof cfg);
  cfg.events_path = path;
  m = open_stepped(&cfg);
  on_time(m, 2);
  advance(tn__pausemon_next_wake(m) - mc.boot + 20 * TN_MSEC);
  tn__pausemon_note_sigcont();
  tn__pausemon_step(m);
  on_time(m, 2);
  advance(tn__pausemon_next_wake(m) - mc.boot + 7 * TN_MSEC);
  tn__pausemon_step(m);
  close_stepped(m);
  fd = open(path, O_RDONLY);
  n = read(fd, text, sizeof text - 1);
  close(fd);
  unlink(path);
  CU_ASSERT_FATAL(n > 0);
  text[n] = '\0';
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "{\"seq\":1,\"cause\":\"stopped\","));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"duration_ns\":20500000,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"start_wall\":\"2026-11-26T"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n{\"seq\":2,\"cause\":\"unknown\","));
  CU_ASSERT_EQUAL(text[n - 1], '\n');
}

static void test_bad_config(void) {
  tn_pausemon_config cfg;
  tn_pausemon *m = NULL;
  memset(&cfg, 0, sizeof cfg);
  cfg.threshold = 500 * TN_USEC; /* below 1 ms */
  CU_ASSERT_EQUAL(tn_pausemon_open(&cfg, &m), TN_EINVAL);
  cfg.threshold = 2 * TN_MSEC;
  cfg.interval = 2 * TN_MSEC; /* threshold must exceed the interval */
  CU_ASSERT_EQUAL(tn_pausemon_open(&cfg, &m), TN_EINVAL);
  cfg.interval = 0;
  cfg.threshold = TN_MSEC; /* equal to the default interval */
  CU_ASSERT_EQUAL(tn_pausemon_open(&cfg, &m), TN_EINVAL);
  cfg.interval = 500 * TN_USEC; /* 1 ms threshold needs a finer interval */
  cfg.events_path = "/nonexistent-dir/events.jsonl";
  CU_ASSERT_EQUAL(tn_pausemon_open(&cfg, &m), TN_ENOENT);
  cfg.events_path = NULL;
  CU_ASSERT_EQUAL(tn_pausemon_open(&cfg, &m), 0);
  tn_pausemon_close(m);
}

/* --- the real thread ------------------------------------------------------ */

/*
 * These run the real sampler, which a loaded machine may schedule late by
 * tens or hundreds of milliseconds. So nothing here waits a fixed time and
 * then asserts: each waits for the behaviour with a deadline far beyond any
 * descheduling (REAL_DEADLINE), and asserts that it happened. The deadline
 * only turns a sampler that never does it into a failure instead of a hang.
 */
#define REAL_DEADLINE (20 * TN_SEC)

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static _Atomic int app_sigcont;
static void app_handler(int sig) {
  (void)sig;
  atomic_fetch_add(&app_sigcont, 1);
}

static void test_real_start_stop_and_chaining(void) {
  tn_pausemon *m, *other;
  struct sigaction sa, cur;
  tn_pausemon_stats st;
  tn_nanos deadline;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = app_handler;
  sigaction(SIGCONT, &sa, NULL);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_open(NULL, &m), 0);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_start(m), 0);
  /* only one monitor may own the process-wide hooks */
  CU_ASSERT_EQUAL(tn_pausemon_open(NULL, &other), 0);
  CU_ASSERT_EQUAL(tn_pausemon_start(other), TN_EBUSY);
  tn_pausemon_close(other);
  raise(SIGCONT);
  CU_ASSERT_EQUAL(atomic_load(&app_sigcont), 1); /* chained */
  /* The sampler thread runs and counts its wake-ups. Ten of them take 10 ms
   * on time; however late a loaded machine runs it, it gets there. */
  deadline = tn_now() + REAL_DEADLINE;
  do {
    nap_ms(1);
    tn_pausemon_stats_get(m, &st);
  } while (st.wakeups < 10 && tn_now() < deadline);
  CU_ASSERT(st.wakeups >= 10);
  /* the sampler's own thread CPU clock (ns, not ticks): it has run */
  CU_ASSERT(st.sampler_cpu > 0);
  tn_pausemon_close(m);
  /* the application's handler is back */
  sigaction(SIGCONT, NULL, &cur);
  CU_ASSERT(cur.sa_handler == app_handler);
  raise(SIGCONT);
  CU_ASSERT_EQUAL(atomic_load(&app_sigcont), 2);
}

/* The application's own collection hook, to check that the monitor chains
 * to it and measures the same windows. It keeps the last APP_RING windows
 * it saw, by number. */
#define APP_RING 64
static _Atomic tn_nanos app_win_start[APP_RING], app_win_end[APP_RING];
static _Atomic uint64_t app_windows; /* windows completed so far */
static void GC_CALLBACK app_gc_hook(GC_EventType t) {
  struct timespec ts;
  tn_nanos now;
  uint64_t n = atomic_load(&app_windows);
  clock_gettime(CLOCK_BOOTTIME, &ts);
  now = (tn_nanos)ts.tv_sec * TN_SEC + ts.tv_nsec;
  if (t == GC_EVENT_PRE_STOP_WORLD) {
    atomic_store(&app_win_start[n % APP_RING], now);
  } else if (t == GC_EVENT_POST_START_WORLD) {
    atomic_store(&app_win_end[n % APP_RING], now);
    atomic_store(&app_windows, n + 1);
  }
}

struct node {
  struct node *next;
  char payload[56];
};

/* The list's root, in the data segment the collector scans: a local alone
 * may be dead to the compiler once the list is built, and then the
 * collections below would find nothing live. */
static struct node *volatile live_list;

#define COLLECTIONS 5

/* How many of the windows ws/we the monitor reported as gc events since
 * `since`, exactly (same start, same duration, unplanned). *again counts
 * a window reported twice; *other counts events of other causes (a loaded
 * machine makes the sampler itself late). */
static int matching_gc_events(tn_pausemon *m, uint64_t since,
                              const tn_nanos *ws, const tn_nanos *we, int n,
                              int *again, int *other) {
  tn_pause_event evs[64];
  size_t got, i;
  int k, found = 0, seen[COLLECTIONS] = {0};
  *again = 0;
  *other = 0;
  while ((got = tn_pausemon_events_since(m, since, evs, 64)) > 0) {
    for (i = 0; i < got; i++) {
      if (evs[i].cause != TN_CAUSE_GC) {
        (*other)++;
        continue;
      }
      for (k = 0; k < n; k++) {
        if (evs[i].start == ws[k] && evs[i].duration == we[k] - ws[k] &&
            !evs[i].planned) {
          if (seen[k]++)
            (*again)++;
          else
            found++;
        }
      }
    }
    since = evs[got - 1].seq;
  }
  return found;
}

static void test_real_collections_are_gc_events(void) {
  tn_pausemon *m;
  tn_pausemon_stats st;
  struct node *head = NULL;
  tn_nanos ws[COLLECTIONS], we[COLLECTIONS], deadline;
  uint64_t since, ring0, app0;
  size_t i;
  int k, long_enough = 0, found, again, other;
  GC_INIT();
  GC_set_on_collection_event(app_gc_hook);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_open(NULL, &m), 0);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_start(m), 0);
  /* The sampler reports only the windows completed after its thread began,
   * which a loaded machine may delay: wait for its first wake-up. */
  deadline = tn_now() + REAL_DEADLINE;
  do {
    nap_ms(1);
    tn_pausemon_stats_get(m, &st);
  } while (st.wakeups == 0 && tn_now() < deadline);
  CU_ASSERT_FATAL(st.wakeups > 0);
  /* ~100 MB live: each full collection marks it all, well over 5 ms */
  for (i = 0; i < 1200000; i++) {
    struct node *nd = GC_MALLOC(sizeof *nd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nd);
    nd->next = head;
    head = nd;
  }
  live_list = head;
  /* Collections from here on are the test's own. Events the sampler still
   * owes for the ones during allocation may come after `since`; they are
   * told apart by their start, which is before ours. */
  since = tn_pausemon_epoch(m);
  ring0 = tn__pausemon_gc_windows();
  app0 = atomic_load(&app_windows);
  for (k = 0; k < COLLECTIONS; k++)
    GC_gcollect();
  /* One stop-the-world window each, seen by both hooks (chained). */
  CU_ASSERT_EQUAL_FATAL(tn__pausemon_gc_windows() - ring0, COLLECTIONS);
  CU_ASSERT_EQUAL_FATAL(atomic_load(&app_windows) - app0, COLLECTIONS);
  tn_pausemon_stats_get(m, &st);
  for (k = 0; k < COLLECTIONS; k++) {
    int planned = 1;
    tn_nanos as = atomic_load(&app_win_start[(app0 + (uint64_t)k) % APP_RING]);
    tn_nanos ae = atomic_load(&app_win_end[(app0 + (uint64_t)k) % APP_RING]);
    CU_ASSERT_EQUAL_FATAL(
        tn__pausemon_gc_window(ring0 + 1 + (uint64_t)k, &ws[k], &we[k],
                               &planned),
        0);
    CU_ASSERT_FALSE(planned);
    /* The same window as the application's: the monitor's hook reads the
     * clock first at both ends, then chains, so its window opens no later
     * than the application's and closes inside it. An order, not a
     * tolerance: descheduling between the two reads cannot break it. */
    CU_ASSERT(ws[k] <= as);
    CU_ASSERT(as <= we[k]);
    CU_ASSERT(we[k] <= ae);
    if (we[k] - ws[k] > st.threshold)
      long_enough++;
  }
  /* Marking 100 MB of linked nodes takes tens of ms; load only makes it
   * longer. So every one of them is a pause by the monitor's own rule. */
  CU_ASSERT_EQUAL(long_enough, COLLECTIONS);
  /* The sampler reports each as a gc event of exactly the window's length
   * (not its own lateness). Waited for: it may be scheduled late. */
  deadline = tn_now() + REAL_DEADLINE;
  for (;;) {
    found = matching_gc_events(m, since, ws, we, COLLECTIONS, &again,
                               &other);
    if (found >= long_enough || tn_now() >= deadline)
      break;
    nap_ms(1);
  }
  fprintf(stderr, "\ngc events: %d of %d windows (%.1f .. %.1f ms), "
                  "%d events of other causes\n",
          found, COLLECTIONS, tn_nanos_to_millis(we[0] - ws[0]),
          tn_nanos_to_millis(we[COLLECTIONS - 1] - ws[COLLECTIONS - 1]),
          other);
  CU_ASSERT_EQUAL(found, long_enough);
  CU_ASSERT_EQUAL(again, 0); /* each reported once */
  tn_pausemon_stats_get(m, &st);
  CU_ASSERT(st.cause[TN_CAUSE_GC].count >= (uint64_t)found);
  CU_ASSERT_EQUAL(st.gc[TN_GC_PLANNED].count, 0);
  tn_pausemon_close(m);
  CU_ASSERT(GC_get_on_collection_event() == app_gc_hook);
  live_list = NULL;
}

static const tn_cu_test rule_tests[] = {
    {"first match wins", test_attribution_order},
    {"cause names", test_cause_names},
    {NULL, NULL}};

static const tn_cu_test step_tests[] = {
    {"on time and jitter are quiet", test_on_time_is_quiet},
    {"SIGSTOP stall is stopped", test_stopped},
    {"suspend", test_suspend},
    {"cpu starvation", test_cpu_starvation},
    {"gc window exact, planned flag", test_gc_window_exact},
    {"gc window read back by number", test_gc_window_readback},
    {"gc and lateness reported once", test_gc_overlapping_lateness_reported_once},
    {"stats, epoch and ring", test_stats_and_ring},
    {"subscribers", test_subscribers},
    {"JSON-lines sink", test_events_sink},
    {"bad config", test_bad_config},
    {NULL, NULL}};

static const tn_cu_test real_tests[] = {
    {"start, stop, SIGCONT chaining", test_real_start_stop_and_chaining},
    {"real collections are gc events", test_real_collections_are_gc_events},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {
    {"attribution", rule_tests, NULL, NULL},
    {"sampler (swapped clock)", step_tests, NULL, NULL},
    {"sampler (real)", real_tests, NULL, NULL},
    {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
