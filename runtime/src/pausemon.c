/*
 * Pause monitor: a sampler thread that notices when it wakes up late, and
 * the evidence it uses to name the cause.
 *
 * The sampler sleeps to absolute CLOCK_BOOTTIME deadlines `interval` apart.
 * Waking more than `threshold` late means the whole process (or at least this
 * thread) was not running: that is a pause event. The evidence for the cause
 * is gathered cheaply on every wake-up, so the baseline before a gap is
 * always the previous wake-up:
 *   - BOOTTIME - MONOTONIC (clock watch): grows only while suspended;
 *   - a SIGCONT counter bumped by an async-signal-safe handler;
 *   - the sampler's own run-queue wait from /proc/thread-self/schedstat,
 *     read with pread on a descriptor kept open;
 *   - the collector's stop-the-world windows, written into a small ring by
 *     the collection-event hook.
 *
 * The trick: the sampler is a real pthread the collector does not know, so a
 * collection does not stop it. A collection therefore shows up not as
 * lateness but as a window in the hook's ring, with exact start and end, and
 * is reported from there. A lateness that overlaps a window (both at once,
 * e.g. on a starved CPU) is the same pause and is not reported twice.
 * Every window, however short, also goes to a per-kind histogram (planned
 * when the governor marked it with tn__pausemon_planned_begin), so that
 * planned and unplanned collections are counted and timed exactly.
 *
 * Invariants: the hook only reads the clock and does atomic stores (it runs
 * with the collector's lock held and the world stopped). The sampler never
 * touches GC memory and never blocks on a reader for longer than a copy.
 * Events have consecutive seq numbers; the epoch equals the last seq.
 */
#define _GNU_SOURCE
#include "pausemon_internal.h"

#include "die.h"

#include <tenure/error.h>

#include <errno.h>
#include <fcntl.h>
#include <gc/gc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBSCRIBERS 16
#define GC_RING 64
#define STEAL_EVERY (100 * TN_MSEC)
#define SIGCONT_GRACE_NAPS 100 /* of 100 us: about 10 ms */

/* --- process-wide hooks (there is one collector and one SIGCONT) -------- */

struct gc_window {
  _Atomic tn_nanos start;
  _Atomic tn_nanos end;
  _Atomic int planned;
  _Atomic uint64_t seq; /* written last: the slot holds window seq-1 */
};

static struct gc_window gc_ring[GC_RING];
static _Atomic uint64_t gc_ring_next;   /* windows completed so far */
static _Atomic tn_nanos gc_open_start;  /* start of a window in progress, 0 */
static _Atomic int gc_planned_depth;
static GC_on_collection_event_proc gc_prev_hook;

static _Atomic uint64_t sigcont_count;
static _Atomic tn_nanos sigcont_at; /* boot time of the latest SIGCONT */
static struct sigaction sigcont_prev;

static _Atomic(tn_pausemon *) hooks_owner;
static _Atomic int gc_hook_active;

void tn__pausemon_planned_begin(void) { atomic_fetch_add(&gc_planned_depth, 1); }
void tn__pausemon_planned_end(void) { atomic_fetch_sub(&gc_planned_depth, 1); }

void tn__pausemon_gc_event(int type) {
  if (type == GC_EVENT_PRE_STOP_WORLD) {
    atomic_store_explicit(&gc_open_start, tn_now(), memory_order_release);
  } else if (type == GC_EVENT_POST_START_WORLD) {
    tn_nanos start = atomic_load_explicit(&gc_open_start, memory_order_acquire);
    tn_nanos end = tn_now();
    uint64_t n;
    struct gc_window *w;
    if (start == 0)
      return;
    /* The collector's lock serialises this: one writer. */
    n = atomic_load_explicit(&gc_ring_next, memory_order_relaxed);
    w = &gc_ring[n % GC_RING];
    atomic_store_explicit(&w->seq, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&w->start, start, memory_order_relaxed);
    atomic_store_explicit(&w->end, end, memory_order_relaxed);
    atomic_store_explicit(&w->planned,
                          atomic_load(&gc_planned_depth) > 0,
                          memory_order_relaxed);
    atomic_store_explicit(&w->seq, n + 1, memory_order_release);
    atomic_store_explicit(&gc_ring_next, n + 1, memory_order_release);
    atomic_store_explicit(&gc_open_start, 0, memory_order_release);
  }
}

uint64_t tn__pausemon_gc_windows(void) {
  return atomic_load_explicit(&gc_ring_next, memory_order_acquire);
}

int tn__pausemon_gc_window(uint64_t n, tn_nanos *start, tn_nanos *end,
                           int *planned) {
  struct gc_window *w;
  if (n == 0)
    return TN_ENOENT;
  w = &gc_ring[(n - 1) % GC_RING];
  /* the same seqlock-style read as the sampler's */
  if (atomic_load_explicit(&w->seq, memory_order_acquire) != n)
    return TN_ENOENT;
  *start = atomic_load_explicit(&w->start, memory_order_relaxed);
  *end = atomic_load_explicit(&w->end, memory_order_relaxed);
  *planned = atomic_load_explicit(&w->planned, memory_order_relaxed);
  atomic_thread_fence(memory_order_acquire);
  if (atomic_load_explicit(&w->seq, memory_order_relaxed) != n)
    return TN_ENOENT;
  return 0;
}

int tn__pausemon_gc_hook_active(void) {
  return atomic_load_explicit(&gc_hook_active, memory_order_acquire);
}

static void GC_CALLBACK gc_hook(GC_EventType type) {
  tn__pausemon_gc_event((int)type);
  if (gc_prev_hook)
    gc_prev_hook(type);
}

void tn__pausemon_note_sigcont(void) {
  /* clock_gettime is async-signal-safe; this runs in the handler */
  atomic_store_explicit(&sigcont_at, tn_now(), memory_order_relaxed);
  atomic_fetch_add_explicit(&sigcont_count, 1, memory_order_release);
}

static void on_sigcont(int sig, siginfo_t *info, void *uctx) {
  int saved = errno;
  tn__pausemon_note_sigcont();
  /* Chain to whatever the application had installed. */
  if (sigcont_prev.sa_flags & SA_SIGINFO) {
    if (sigcont_prev.sa_sigaction)
      sigcont_prev.sa_sigaction(sig, info, uctx);
  } else if (sigcont_prev.sa_handler != SIG_DFL &&
             sigcont_prev.sa_handler != SIG_IGN) {
    sigcont_prev.sa_handler(sig);
  }
  errno = saved;
}

/* --- the monitor -------------------------------------------------------- */

struct subscriber {
  tn_pause_cb cb;
  void *arg;
};

struct tn_pausemon {
  tn_pausemon_config cfg;
  int sink_fd;

  /* sampler state: owned by the sampler thread (or a test's step calls) */
  tn_nanos next_wake;
  tn_clockwatch watch;
  tn_nanos last_runq;
  uint64_t last_sigcont;
  uint64_t gc_seen;     /* gc windows consumed */
  int runq_fd;
  int status_fd; /* /proc/self/status: a SIGCONT still pending */
  tn_nanos (*runq_reader)(void *);
  void *runq_arg;
  int stat_fd;
  tn_nanos last_steal;
  tn_nanos next_steal_read;

  /* shared with readers */
  _Atomic uint64_t epoch;
  _Atomic uint64_t wakeups;
  _Atomic uint64_t wall_jumps;
  _Atomic uint64_t gc_windows;
  _Atomic tn_nanos maxerror;
  _Atomic int clock_synced;
  _Atomic uint64_t count[TN_CAUSE_COUNT];
  _Atomic tn_nanos total[TN_CAUSE_COUNT];
  tn_histogram *hist[TN_CAUSE_COUNT];
  /* every stop-the-world window, by kind (not only the pause events) */
  _Atomic uint64_t gc_count[TN_GC_KIND_COUNT];
  _Atomic tn_nanos gc_total[TN_GC_KIND_COUNT];
  tn_histogram *gc_hist[TN_GC_KIND_COUNT];
  _Atomic tn_nanos started;

  pthread_mutex_t ring_lock;
  tn_pause_event *ring;
  uint64_t ring_count; /* events ever stored */

  pthread_mutex_t sub_lock;
  struct subscriber subs[MAX_SUBSCRIBERS];
  int nsubs;

  long clk_tck;
  pthread_t thread;
  _Atomic int running;
  _Atomic int stopping;
  _Atomic int sampling; /* the sampler thread has its baseline */
  int own_gc_hook, own_sigcont;
};

static const char *const cause_names[TN_CAUSE_COUNT] = {
    "gc", "suspend", "stopped", "cpu", "unknown"};

static const char *const gc_kind_names[TN_GC_KIND_COUNT] = {"planned",
                                                           "unplanned"};

const char *tn_gc_kind_name(tn_gc_kind kind) {
  if ((unsigned)kind >= TN_GC_KIND_COUNT)
    return "invalid";
  return gc_kind_names[kind];
}

const char *tn_pause_cause_name(tn_pause_cause cause) {
  if ((unsigned)cause >= TN_CAUSE_COUNT)
    return "invalid";
  return cause_names[cause];
}

int tn_pause_cause_parse(const char *name, tn_pause_cause *out) {
  int i;
  for (i = 0; i < TN_CAUSE_COUNT; i++) {
    if (name && strcmp(name, cause_names[i]) == 0) {
      *out = (tn_pause_cause)i;
      return 0;
    }
  }
  return TN_EINVAL;
}

tn_pause_cause tn__pause_attribute(const tn__gap *gap) {
  if (gap->gc_overlap)
    return TN_CAUSE_GC;
  if (gap->suspended > 0)
    return TN_CAUSE_SUSPEND;
  if (gap->sigcont)
    return TN_CAUSE_STOPPED;
  if (gap->runq_wait > 0 && 2 * gap->runq_wait >= gap->length)
    return TN_CAUSE_CPU;
  return TN_CAUSE_UNKNOWN;
}

/* Parse an unsigned decimal at *p, advancing it; 0 if none. */
static uint64_t scan_u64(const char **p) {
  uint64_t v = 0;
  while (**p == ' ')
    (*p)++;
  while (**p >= '0' && **p <= '9') {
    v = v * 10 + (uint64_t)(**p - '0');
    (*p)++;
  }
  return v;
}

static tn_nanos proc_runq_reader(void *arg) {
  tn_pausemon *m = arg;
  char buf[128];
  const char *p = buf;
  ssize_t n;
  if (m->runq_fd < 0)
    return 0;
  n = pread(m->runq_fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  scan_u64(&p);                 /* time on CPU */
  return (tn_nanos)scan_u64(&p); /* time waiting on a run queue */
}

/* Total steal over all CPUs, in ns (the "cpu" line of /proc/stat). */
static tn_nanos read_steal(tn_pausemon *m) {
  char buf[512];
  const char *p = buf;
  ssize_t n;
  int i;
  uint64_t steal = 0;
  if (m->stat_fd < 0 || m->clk_tck <= 0)
    return 0;
  n = pread(m->stat_fd, buf, sizeof buf - 1, 0);
  if (n <= 4 || strncmp(buf, "cpu ", 4) != 0)
    return 0;
  buf[n] = '\0';
  p = buf + 4;
  /* user nice system idle iowait irq softirq steal */
  for (i = 0; i < 8; i++)
    steal = scan_u64(&p);
  return (tn_nanos)(steal * (uint64_t)(TN_SEC / m->clk_tck));
}

void tn__pausemon_set_runq_reader(tn_pausemon *m, tn_nanos (*fn)(void *),
                                  void *arg) {
  m->runq_reader = fn ? fn : proc_runq_reader;
  m->runq_arg = fn ? arg : m;
}

int tn_pause_event_to_json(const tn_pause_event *ev, char *buf, size_t len) {
  char wall[40];
  tn_walltime_format(ev->start_wall, wall, sizeof wall);
  return snprintf(buf, len,
                  "{\"seq\":%llu,\"cause\":\"%s\",\"start_boot_ns\":%lld,"
                  "\"start_wall\":\"%s\",\"duration_ns\":%lld,"
                  "\"planned\":%s,\"runq_wait_ns\":%lld,\"steal_ns\":%lld,"
                  "\"suspended_ns\":%lld,\"sigcont\":%s}",
                  (unsigned long long)ev->seq, tn_pause_cause_name(ev->cause),
                  (long long)ev->start, wall, (long long)ev->duration,
                  ev->planned ? "true" : "false", (long long)ev->runq_wait,
                  (long long)ev->steal, (long long)ev->suspended,
                  ev->sigcont ? "true" : "false");
}

static void sink_write(tn_pausemon *m, const tn_pause_event *ev) {
  char line[512];
  int n = tn_pause_event_to_json(ev, line, sizeof line - 1);
  const char *p = line;
  if (m->sink_fd < 0 || n <= 0 || (size_t)n >= sizeof line - 1)
    return;
  line[n++] = '\n';
  /* O_APPEND and one write per line: concurrent readers see whole lines. */
  while (n > 0) {
    ssize_t w = write(m->sink_fd, p, (size_t)n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* telemetry must never stop the sampler */
    p += w;
    n -= (int)w;
  }
}

static void emit(tn_pausemon *m, tn_pause_event *ev, tn_nanos now) {
  int i;
  tn_walltime wall = tn_wall_now();
  ev->seq = atomic_load_explicit(&m->epoch, memory_order_relaxed) + 1;
  ev->start_wall.ns = wall.ns - (now - ev->start);

  tn_histogram_record(m->hist[ev->cause], ev->duration);
  atomic_fetch_add_explicit(&m->count[ev->cause], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->total[ev->cause], ev->duration,
                            memory_order_relaxed);

  pthread_mutex_lock(&m->ring_lock);
  m->ring[m->ring_count % m->cfg.ring_size] = *ev;
  m->ring_count++;
  pthread_mutex_unlock(&m->ring_lock);

  sink_write(m, ev);
  atomic_store_explicit(&m->epoch, ev->seq, memory_order_release);

  pthread_mutex_lock(&m->sub_lock);
  for (i = 0; i < m->nsubs; i++)
    m->subs[i].cb(ev, m->subs[i].arg);
  pthread_mutex_unlock(&m->sub_lock);
}

/*
 * Is a SIGCONT queued for this process that no thread has taken yet? The
 * kernel keeps a caught SIGCONT in the shared pending set (ShdPnd, or the
 * leader's SigPnd for a thread-directed one) from the moment it resumes the
 * process until some thread runs the handler. So this is the kernel's own
 * record of the continue, and it does not depend on which thread the
 * scheduler runs first. The masks are hexadecimal; bit SIGCONT-1 is ours.
 */
static int sigcont_pending(const tn_pausemon *m) {
  char buf[4096];
  const char *keys[] = {"\nShdPnd:", "\nSigPnd:"};
  ssize_t n;
  size_t k;
  if (m->status_fd < 0)
    return 0;
  n = pread(m->status_fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  for (k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    const char *p = strstr(buf, keys[k]);
    const char *end;
    int bit = SIGCONT - 1;
    if (p == NULL)
      continue;
    p += strlen(keys[k]);
    while (*p == ' ' || *p == '\t')
      p++;
    end = p;
    while ((*end >= '0' && *end <= '9') || (*end >= 'a' && *end <= 'f'))
      end++;
    /* the last hex digit holds bits 0-3, the one before bits 4-7, ... */
    if (end - p > bit / 4) {
      char c = *(end - 1 - bit / 4);
      int v = c <= '9' ? c - '0' : c - 'a' + 10;
      if (v & (1 << (bit % 4)))
        return 1;
    }
  }
  return 0;
}

/*
 * After SIGSTOP/SIGCONT every thread resumes at once, and the sampler (whose
 * deadline is long past) may run before the thread that takes the SIGCONT
 * handler; on a loaded machine that thread may wait behind others for many
 * milliseconds. So before calling a gap "unknown" or "cpu", look for the
 * SIGCONT the kernel still holds for that handler (*owed is then set: the
 * handler's increment, when it comes, belongs to this gap), and failing
 * that give a handler that has already taken the signal a moment to be
 * counted. Only paid on a pause with no other explanation.
 */
static uint64_t await_sigcont(const tn_pausemon *m, uint64_t seen,
                              tn_nanos *last_running, int *owed) {
  tn_nanos t = tn_now();
  uint64_t cont = atomic_load_explicit(&sigcont_count, memory_order_acquire);
  int i;
  *owed = 0;
  /* Only while nothing is owed (cont == seen): a SIGCONT taken from the
   * pending set stays there until its handler runs, and must not explain
   * every gap until then. */
  if (cont == seen && sigcont_pending(m)) {
    *owed = 1;
    *last_running = t;
    return cont;
  }
  for (i = 0; i < SIGCONT_GRACE_NAPS && cont <= seen; i++) {
    struct timespec nap = {0, 100 * 1000};
    uint64_t before = cont;
    tn_nanos after;
    nanosleep(&nap, NULL);
    after = tn_now();
    cont = atomic_load_explicit(&sigcont_count, memory_order_acquire);
    if (after - t > m->cfg.threshold) {
      /* The nap itself overran: a stall of its own (another SIGSTOP, or
       * just a loaded CPU). The next step measures it from t, and a
       * SIGCONT that came during it belongs to it, not to the gap being
       * attributed: a late handler of this gap's own SIGCONT was looked
       * for in the pending set above. (Taking it here made a CPU gap
       * "stopped" and the real stall after it "unknown".) */
      *last_running = t;
      return before;
    }
    t = after;
  }
  *last_running = t;
  return cont;
}

void tn__pausemon_sampler_init(tn_pausemon *m) {
  tn_wall_interval iv;
  tn_clockwatch_init(&m->watch, 0);
  m->last_runq = m->runq_reader(m->runq_arg);
  m->last_sigcont = atomic_load(&sigcont_count);
  if (m->status_fd < 0)
    m->status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  m->gc_seen = atomic_load(&gc_ring_next);
  m->last_steal = read_steal(m);
  m->next_wake = tn_now() + m->cfg.interval;
  m->next_steal_read = m->next_wake + STEAL_EVERY;
  atomic_store(&m->started, m->next_wake - m->cfg.interval);
  atomic_store(&m->clock_synced, tn_wall_interval_now(&iv) == 0);
  atomic_store(&m->maxerror, iv.maxerror);
}

tn_nanos tn__pausemon_next_wake(const tn_pausemon *m) { return m->next_wake; }

tn_nanos tn__pausemon_step(tn_pausemon *m) {
  /* The evidence is read before the clock. A stop that lands between the
   * two would otherwise let this (on-time) step swallow the SIGCONT that
   * ends it, and the next step would find the gap with no SIGCONT left.
   * Read first, a stop after it makes this step late and the count moves
   * after our read, where the grace wait below finds it.
   * sigcont_at is stored before the count is bumped: acquire on the count
   * makes the matching timestamp visible. */
  uint64_t cont = atomic_load_explicit(&sigcont_count, memory_order_acquire);
  tn_nanos runq = m->runq_reader(m->runq_arg);
  tn_nanos now = tn_now();
  tn_nanos interval = m->cfg.interval;
  tn_nanos late = now - m->next_wake;
  tn_nanos prev_wake = m->next_wake - interval;
  tn_clockwatch_report clk;
  uint64_t gc_next = atomic_load_explicit(&gc_ring_next, memory_order_acquire);
  tn_nanos gc_open = atomic_load_explicit(&gc_open_start, memory_order_acquire);
  tn__gap gap;
  int is_pause = late > m->cfg.threshold;
  tn_nanos steal_delta = 0, resumed = now;
  int owed = 0; /* a SIGCONT seen pending, its handler not yet run */

  atomic_fetch_add_explicit(&m->wakeups, 1, memory_order_relaxed);
  memset(&gap, 0, sizeof gap);
  tn_clockwatch_poll(&m->watch, &clk);
  if (clk.wall_jump)
    atomic_fetch_add_explicit(&m->wall_jumps, 1, memory_order_relaxed);
  if (is_pause || now >= m->next_steal_read) {
    tn_nanos steal = read_steal(m);
    tn_wall_interval iv;
    steal_delta = steal - m->last_steal;
    m->last_steal = steal;
    m->next_steal_read = now + STEAL_EVERY;
    atomic_store_explicit(&m->clock_synced, tn_wall_interval_now(&iv) == 0,
                          memory_order_relaxed);
    atomic_store_explicit(&m->maxerror, iv.maxerror, memory_order_relaxed);
  }

  /* Stop-the-world windows completed since the last wake-up: each one is a
   * gc event of its own exact length, if long enough. */
  if (gc_next - m->gc_seen > GC_RING)
    m->gc_seen = gc_next - GC_RING; /* lost some: keep the newest */
  for (; m->gc_seen < gc_next; m->gc_seen++) {
    struct gc_window *w = &gc_ring[m->gc_seen % GC_RING];
    tn_nanos ws, we;
    int planned;
    if (atomic_load_explicit(&w->seq, memory_order_acquire) != m->gc_seen + 1)
      continue; /* being overwritten: the writer lapped us */
    ws = atomic_load_explicit(&w->start, memory_order_relaxed);
    we = atomic_load_explicit(&w->end, memory_order_relaxed);
    planned = atomic_load_explicit(&w->planned, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&w->seq, memory_order_relaxed) != m->gc_seen + 1)
      continue;
    atomic_fetch_add_explicit(&m->gc_windows, 1, memory_order_relaxed);
    {
      int kind = planned ? TN_GC_PLANNED : TN_GC_UNPLANNED;
      tn_histogram_record(m->gc_hist[kind], we - ws);
      atomic_fetch_add_explicit(&m->gc_count[kind], 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&m->gc_total[kind], we - ws,
                                memory_order_relaxed);
    }
    if (is_pause && ws < now && we > prev_wake)
      gap.gc_overlap = 1;
    if (we - ws > m->cfg.threshold) {
      tn_pause_event ev;
      memset(&ev, 0, sizeof ev);
      ev.cause = TN_CAUSE_GC;
      ev.start = ws;
      ev.duration = we - ws;
      ev.planned = planned;
      emit(m, &ev, now);
    }
  }
  if (is_pause && gc_open != 0 && gc_open < now)
    gap.gc_overlap = 1; /* reported when the window closes */

  if (is_pause && !gap.gc_overlap && cont <= m->last_sigcont &&
      clk.suspended == 0) {
    /* we slept: schedule from the last moment we know we ran */
    cont = await_sigcont(m, m->last_sigcont, &resumed, &owed);
  }

  if (is_pause && !gap.gc_overlap) {
    tn_pause_event ev;
    memset(&ev, 0, sizeof ev);
    /* The stall began somewhere in the last interval: take the middle. */
    tn_nanos end = now;
    ev.start = m->next_wake - interval / 2;
    gap.sigcont = owed || cont > m->last_sigcont;
    if (gap.sigcont && !owed) {
      /* The SIGCONT handler may run before the sampler is scheduled again
       * (or after: then it is no help). The earlier of the two is the
       * better end of the stall. (Not when the continue came from the
       * pending set: its handler has not run, the time is an older one.) */
      tn_nanos at = atomic_load_explicit(&sigcont_at, memory_order_relaxed);
      if (at > ev.start && at < end)
        end = at;
    }
    ev.duration = end - ev.start;
    gap.length = ev.duration;
    gap.suspended = clk.suspended;
    gap.runq_wait = runq - m->last_runq;
    ev.cause = tn__pause_attribute(&gap);
    ev.runq_wait = gap.runq_wait;
    ev.suspended = gap.suspended;
    ev.sigcont = gap.sigcont;
    ev.steal = steal_delta;
    emit(m, &ev, now);
  }
  m->last_runq = runq;
  /* A SIGCONT taken from the pending set is consumed now: the handler's
   * increment, whenever it runs, must not explain a later gap. The count
   * only grows, so last_sigcont may run one ahead until the handler runs;
   * every comparison above is ordered for that reason. */
  if (cont + (uint64_t)owed > m->last_sigcont)
    m->last_sigcont = cont + (uint64_t)owed;

  m->next_wake += interval;
  if (m->next_wake <= resumed)
    m->next_wake = resumed + interval; /* do not try to catch up */
  return m->next_wake;
}

static void *sampler_main(void *arg) {
  tn_pausemon *m = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  m->runq_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  tn__pausemon_sampler_init(m);
  atomic_store_explicit(&m->sampling, 1, memory_order_release);
  while (!atomic_load_explicit(&m->stopping, memory_order_acquire)) {
    struct timespec ts;
    int rc;
    ts.tv_sec = (time_t)(m->next_wake / TN_SEC);
    ts.tv_nsec = (long)(m->next_wake % TN_SEC);
    rc = clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL);
    if (rc == EINTR)
      continue; /* the same absolute deadline: no drift from retries */
    tn__pausemon_step(m);
  }
  if (m->runq_fd >= 0)
    close(m->runq_fd);
  m->runq_fd = -1;
  return NULL;
}

int tn_pausemon_open(const tn_pausemon_config *cfg, tn_pausemon **out) {
  tn_pausemon *m;
  int i;
  m = calloc(1, sizeof *m);
  if (m == NULL)
    return TN_ENOMEM;
  pthread_mutex_init(&m->ring_lock, NULL);
  pthread_mutex_init(&m->sub_lock, NULL);
  m->clk_tck = sysconf(_SC_CLK_TCK);
  if (cfg)
    m->cfg = *cfg;
  if (m->cfg.interval == 0)
    m->cfg.interval = TN_MSEC;
  if (m->cfg.threshold == 0)
    m->cfg.threshold = 5 * TN_MSEC;
  if (m->cfg.ring_size == 0)
    m->cfg.ring_size = 1024;
  m->cfg.events_path = NULL; /* not kept: the caller owns the string */
  m->sink_fd = m->runq_fd = m->stat_fd = m->status_fd = -1;
  if (m->cfg.interval < 100 * TN_USEC || m->cfg.interval > TN_SEC ||
      m->cfg.threshold < TN_MSEC || m->cfg.threshold <= m->cfg.interval) {
    tn_pausemon_close(m);
    return TN_EINVAL;
  }
  m->ring = calloc(m->cfg.ring_size, sizeof *m->ring);
  if (m->ring == NULL) {
    tn_pausemon_close(m);
    return TN_ENOMEM;
  }
  for (i = 0; i < TN_CAUSE_COUNT; i++) {
    if (tn_histogram_new(&m->hist[i]) != 0) {
      tn_pausemon_close(m);
      return TN_ENOMEM;
    }
  }
  for (i = 0; i < TN_GC_KIND_COUNT; i++) {
    if (tn_histogram_new(&m->gc_hist[i]) != 0) {
      tn_pausemon_close(m);
      return TN_ENOMEM;
    }
  }
  m->runq_reader = proc_runq_reader;
  m->runq_arg = m;
  m->stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (cfg && cfg->events_path) {
    m->sink_fd = open(cfg->events_path,
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (m->sink_fd < 0) {
      int rc = tn__from_errno(errno);
      tn_pausemon_close(m);
      return rc;
    }
  }
  *out = m;
  return 0;
}

static int install_hooks(tn_pausemon *m) {
  tn_pausemon *expected = NULL;
  if (m->cfg.no_gc_hook && m->cfg.no_sigcont_handler)
    return 0;
  if (!atomic_compare_exchange_strong(&hooks_owner, &expected, m))
    return TN_EBUSY;
  if (!m->cfg.no_sigcont_handler) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigcont;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCONT, &sa, &sigcont_prev) != 0) {
      atomic_store(&hooks_owner, NULL);
      return tn__from_errno(errno);
    }
    m->own_sigcont = 1;
  }
  if (!m->cfg.no_gc_hook) {
    gc_prev_hook = GC_get_on_collection_event();
    GC_set_on_collection_event(gc_hook);
    m->own_gc_hook = 1;
    atomic_store(&gc_hook_active, 1);
  }
  return 0;
}

static void remove_hooks(tn_pausemon *m) {
  if (m->own_gc_hook) {
    /* Restore only if nobody chained on top of us since. */
    if (GC_get_on_collection_event() == gc_hook)
      GC_set_on_collection_event(gc_prev_hook);
    m->own_gc_hook = 0;
    atomic_store(&gc_hook_active, 0);
  }
  if (m->own_sigcont) {
    struct sigaction cur;
    if (sigaction(SIGCONT, NULL, &cur) == 0 &&
        (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigcont)
      sigaction(SIGCONT, &sigcont_prev, NULL);
    m->own_sigcont = 0;
  }
  if (atomic_load(&hooks_owner) == m)
    atomic_store(&hooks_owner, NULL);
}

int tn_pausemon_start(tn_pausemon *m) {
  pthread_attr_t attr;
  int rc;
  if (m->running)
    return TN_EBUSY;
  rc = install_hooks(m);
  if (rc != 0)
    return rc;
  atomic_store(&m->stopping, 0);
  if (pthread_attr_init(&attr) != 0) {
    remove_hooks(m);
    return TN_ENOMEM;
  }
  pthread_attr_setstacksize(&attr, 256 * 1024);
  rc = pthread_create(&m->thread, &attr, sampler_main, m);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    remove_hooks(m);
    return tn__from_errno(rc);
  }
  m->running = 1;
  /* Return only once the sampler has taken its baseline: a stall that
   * lands before that would be no gap of its, and be missed (a tool that
   * waits for this start, pausesim -- COMMAND, would stall too early). */
  while (!atomic_load_explicit(&m->sampling, memory_order_acquire)) {
    struct timespec nap = {0, 100 * 1000};
    nanosleep(&nap, NULL);
  }
  return 0;
}

void tn_pausemon_stop(tn_pausemon *m) {
  if (!m->running)
    return;
  atomic_store_explicit(&m->stopping, 1, memory_order_release);
  pthread_join(m->thread, NULL); /* the sampler wakes within one interval */
  m->running = 0;
  atomic_store(&m->sampling, 0);
  remove_hooks(m);
}

void tn_pausemon_close(tn_pausemon *m) {
  int i;
  if (m == NULL)
    return;
  tn_pausemon_stop(m);
  if (m->sink_fd >= 0) {
    fsync(m->sink_fd);
    close(m->sink_fd);
  }
  if (m->stat_fd >= 0)
    close(m->stat_fd);
  if (m->status_fd >= 0)
    close(m->status_fd);
  for (i = 0; i < TN_CAUSE_COUNT; i++)
    tn_histogram_free(m->hist[i]);
  for (i = 0; i < TN_GC_KIND_COUNT; i++)
    tn_histogram_free(m->gc_hist[i]);
  pthread_mutex_destroy(&m->ring_lock);
  pthread_mutex_destroy(&m->sub_lock);
  free(m->ring);
  free(m);
}

uint64_t tn_pausemon_epoch(const tn_pausemon *m) {
  return atomic_load_explicit(&m->epoch, memory_order_acquire);
}

int tn_pausemon_subscribe(tn_pausemon *m, tn_pause_cb cb, void *arg) {
  int rc = 0;
  if (cb == NULL)
    return TN_EINVAL;
  pthread_mutex_lock(&m->sub_lock);
  if (m->nsubs == MAX_SUBSCRIBERS) {
    rc = TN_EBUSY;
  } else {
    m->subs[m->nsubs].cb = cb;
    m->subs[m->nsubs].arg = arg;
    m->nsubs++;
  }
  pthread_mutex_unlock(&m->sub_lock);
  return rc;
}

int tn_pausemon_unsubscribe(tn_pausemon *m, tn_pause_cb cb, void *arg) {
  int i, rc = TN_ENOENT;
  pthread_mutex_lock(&m->sub_lock);
  for (i = 0; i < m->nsubs; i++) {
    if (m->subs[i].cb == cb && m->subs[i].arg == arg) {
      memmove(&m->subs[i], &m->subs[i + 1],
              (size_t)(m->nsubs - i - 1) * sizeof m->subs[0]);
      m->nsubs--;
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&m->sub_lock);
  return rc;
}

void tn_pausemon_snapshot_cause(const tn_pausemon *m, tn_pause_cause cause,
                                tn_histogram *dst) {
  if ((unsigned)cause < TN_CAUSE_COUNT)
    tn_histogram_snapshot(m->hist[cause], dst);
}

void tn_pausemon_snapshot_gc(const tn_pausemon *m, tn_gc_kind kind,
                             tn_histogram *dst) {
  if ((unsigned)kind < TN_GC_KIND_COUNT)
    tn_histogram_snapshot(m->gc_hist[kind], dst);
}

static void summarize(const tn_histogram *h, tn_histogram *snap,
                      tn_pause_summary *s) {
  if (snap && s->count) {
    tn_histogram_snapshot(h, snap);
    s->p50 = tn_histogram_percentile(snap, 50);
    s->p99 = tn_histogram_percentile(snap, 99);
    s->p999 = tn_histogram_percentile(snap, 99.9);
    s->max = tn_histogram_max(snap);
  }
}

void tn_pausemon_stats_get(const tn_pausemon *m, tn_pausemon_stats *out) {
  tn_histogram *snap = NULL;
  int i;
  memset(out, 0, sizeof *out);
  out->interval = m->cfg.interval;
  out->threshold = m->cfg.threshold;
  out->started = atomic_load(&m->started);
  out->wakeups = atomic_load(&m->wakeups);
  out->epoch = atomic_load(&m->epoch);
  out->wall_jumps = atomic_load(&m->wall_jumps);
  out->gc_windows = atomic_load(&m->gc_windows);
  out->maxerror = atomic_load(&m->maxerror);
  out->clock_synced = atomic_load(&m->clock_synced);
  if (m->running) {
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(m->thread, &cid) == 0 &&
        clock_gettime(cid, &ts) == 0)
      out->sampler_cpu = (tn_nanos)ts.tv_sec * TN_SEC + ts.tv_nsec;
  }
  if (tn_histogram_new(&snap) != 0)
    snap = NULL;
  for (i = 0; i < TN_CAUSE_COUNT; i++) {
    tn_pause_summary *s = &out->cause[i];
    s->count = atomic_load(&m->count[i]);
    s->total = atomic_load(&m->total[i]);
    summarize(m->hist[i], snap, s);
  }
  for (i = 0; i < TN_GC_KIND_COUNT; i++) {
    tn_pause_summary *s = &out->gc[i];
    s->count = atomic_load(&m->gc_count[i]);
    s->total = atomic_load(&m->gc_total[i]);
    summarize(m->gc_hist[i], snap, s);
  }
  tn_histogram_free(snap);
}

size_t tn_pausemon_events_since(const tn_pausemon *m, uint64_t since,
                                tn_pause_event *out, size_t n) {
  tn_pausemon *mm = (tn_pausemon *)m; /* the lock is not logical state */
  uint64_t first, i;
  size_t copied = 0;
  pthread_mutex_lock(&mm->ring_lock);
  first = mm->ring_count > m->cfg.ring_size ? mm->ring_count - m->cfg.ring_size
                                            : 0;
  /* ring slot k holds the event with seq k+1 */
  if (since > first)
    first = since;
  for (i = first; i < mm->ring_count && copied < n; i++)
    out[copied++] = mm->ring[i % m->cfg.ring_size];
  pthread_mutex_unlock(&mm->ring_lock);
  return copied;
}
