/*
 * Unit tests: a SIGSTOP stall is "stopped" however late the SIGCONT handler
 * runs (pausemon.c, sigcont_pending and the owed count).
 *
 * On a loaded machine the thread that runs the SIGCONT handler can wait
 * behind other work for longer than the sampler's grace wait. These tests
 * make that delay certain instead of likely: every thread keeps SIGCONT
 * blocked, so the handler cannot run until the test unblocks it, and the
 * only evidence of the continue is the kernel's pending set. Before the
 * monitor read that set, both tests saw "unknown".
 */
#define _GNU_SOURCE
#include "cu_main.h"

#include "clock_testing.h"
#include "pausemon_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <tenure/error.h>
#include <tenure/pausemon.h>
#include <time.h>
#include <unistd.h>

static void count_sigcont(int sig) {
  (void)sig;
  tn__pausemon_note_sigcont();
}

static void block_sigcont(int block) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGCONT);
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

static tn_pause_event last_event(tn_pausemon *m) {
  tn_pause_event evs[64];
  size_t n = tn_pausemon_events_since(m, 0, evs, 64);
  tn_pause_event none;
  memset(&none, 0, sizeof none);
  return n ? evs[n - 1] : none;
}

/* --- stepped: the pending SIGCONT explains the gap, exactly once -------- */

static tn__manual_clock mc;
static tn__clock_source src;

static tn_nanos no_runq(void *arg) {
  (void)arg;
  return 0;
}

static void gap_of(tn_pausemon *m, tn_nanos late) {
  mc.boot = tn__pausemon_next_wake(m) + late;
  mc.mono = mc.boot - 100 * TN_SEC;
  tn__pausemon_step(m);
}

static void test_pending_sigcont_stepped(void) {
  struct sigaction sa, old;
  tn_pausemon *m = NULL;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = count_sigcont;
  sigemptyset(&sa.sa_mask);
  CU_ASSERT_EQUAL_FATAL(sigaction(SIGCONT, &sa, &old), 0);
  memset(&mc, 0, sizeof mc);
  mc.boot = 1000 * TN_SEC;
  mc.mono = 900 * TN_SEC;
  mc.wall = 1795685431LL * TN_SEC;
  mc.synced = 1;
  tn__manual_clock_source(&src, &mc);
  tn__clock_swap(&src);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_open(NULL, &m), 0);
  tn__pausemon_set_runq_reader(m, no_runq, NULL);
  tn__pausemon_sampler_init(m);
  gap_of(m, 0);

  /* A continue the handler has not run for: queued, and only queued. */
  block_sigcont(1);
  CU_ASSERT_EQUAL(kill(getpid(), SIGCONT), 0);
  gap_of(m, 100 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 1);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_STOPPED);
  CU_ASSERT_TRUE(last_event(m).sigcont);

  /* Still pending (the handler cannot run yet): that continue explained
   * the gap above and explains no other. */
  gap_of(m, 40 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 2);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_UNKNOWN);

  /* The handler runs now, and no on-time step comes between. Its count
   * belongs to the gap already reported: the next gap, with no continue of
   * its own, must not be "stopped". */
  block_sigcont(0);
  gap_of(m, 50 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 3);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_UNKNOWN);

  /* And a real continue after that still counts. */
  tn__pausemon_note_sigcont();
  gap_of(m, 70 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 4);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_STOPPED);

  tn_pausemon_close(m);
  tn__clock_swap(NULL);
  sigaction(SIGCONT, &old, NULL);
}

/* --- real: SIGSTOP from another process, the handler held back ---------- */

/* The child stops its parent, waits until the kernel says it is stopped,
 * holds it STALL_MS, continues it, and exits. It notes when it saw the
 * stop confirmed and when it sent the continue (boot time), in memory the
 * parent shares. */
#define STALL_MS 100

struct stall_times {
  _Atomic tn_nanos stopped, continued;
};

static int parent_is_stopped(pid_t pid) {
  char path[64], buf[512], *p;
  FILE *f;
  size_t n;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  p = strrchr(buf, ')');
  return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

static void stall_parent(pid_t parent, struct stall_times *t) {
  struct timespec hold = {0, STALL_MS * 1000000L}, poll = {0, 1000000L};
  kill(parent, SIGSTOP);
  while (!parent_is_stopped(parent))
    nanosleep(&poll, NULL);
  atomic_store(&t->stopped, tn_now());
  nanosleep(&hold, NULL);
  atomic_store(&t->continued, tn_now());
  kill(parent, SIGCONT);
  _exit(0);
}

/* The event after `since` that spans the stall, or a zeroed one (seq 0);
 * *n_other counts the others. The stall began before the child saw it
 * confirmed, and the sampler dates a gap from the middle of the interval in
 * which it began: the event starts no later than one interval after
 * `stopped`. It ends when the process resumed (or the handler ran), after
 * `continued`. An event of the sampler's own lateness (a CPU hog on the
 * machine) lies wholly before the stop or begins after it, so it is never
 * taken for the stall. */
static tn_pause_event stall_event(tn_pausemon *m, uint64_t since,
                                  const struct stall_times *t,
                                  tn_nanos interval, int *n_other) {
  tn_pause_event evs[64], none;
  size_t got, i;
  memset(&none, 0, sizeof none);
  *n_other = 0;
  while ((got = tn_pausemon_events_since(m, since, evs, 64)) > 0) {
    for (i = 0; i < got; i++) {
      if (evs[i].start <= atomic_load(&t->stopped) + interval &&
          evs[i].start + evs[i].duration >= atomic_load(&t->continued))
        return evs[i];
      (*n_other)++;
    }
    since = evs[got - 1].seq;
  }
  return none;
}

static void test_handler_held_back(void) {
  tn_pausemon *m = NULL;
  tn_pausemon_config cfg;
  tn_pausemon_stats stats;
  tn_pause_event ev;
  tn_nanos give_up;
  uint64_t since;
  pid_t child;
  int st, i, n_other = 0;
  struct stall_times *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CU_ASSERT_FATAL(t != MAP_FAILED);
  memset(&cfg, 0, sizeof cfg);
  block_sigcont(1); /* the sampler thread inherits it (and blocks all) */
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_open(&cfg, &m), 0);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_start(m), 0);
  /* The sampler must be in its loop before the first stall: a loaded
   * machine may start its thread after a stop and continue are over, and
   * then there is no gap to see. */
  give_up = tn_now() + 20 * TN_SEC;
  do {
    usleep(1000);
    tn_pausemon_stats_get(m, &stats);
  } while (stats.wakeups < 2 && tn_now() < give_up);
  CU_ASSERT_FATAL(stats.wakeups >= 2);
  for (i = 0; i < 2; i++) {
    since = tn_pausemon_epoch(m);
    atomic_store(&t->stopped, 0);
    atomic_store(&t->continued, 0);
    child = fork();
    CU_ASSERT_FATAL(child >= 0);
    if (child == 0)
      stall_parent(getppid(), t);
    CU_ASSERT_EQUAL(waitpid(child, &st, 0), child);
    CU_ASSERT_FATAL(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Not a speed bound: a generous wait for the event to appear at all.
     * A CPU hog makes the sampler itself late now and then: those are
     * events too, so the stall's event is picked out by when it was, not
     * taken to be the last one. */
    give_up = tn_now() + 20 * TN_SEC;
    for (;;) {
      ev = stall_event(m, since, t, stats.interval, &n_other);
      if (ev.seq != 0 || tn_now() >= give_up)
        break;
      usleep(1000);
    }
    if (n_other > 0)
      fprintf(stderr, "\n(round %d: %d other events around the stall)\n", i,
              n_other);
    if (ev.seq == 0) {
      tn_pause_event evs[64];
      size_t n = tn_pausemon_events_since(m, 0, evs, 64), k;
      fprintf(stderr, "\nround %d: no event spans the stall [%lld, %lld] "
                      "(since %llu); events:\n",
              i, (long long)atomic_load(&t->stopped),
              (long long)atomic_load(&t->continued),
              (unsigned long long)since);
      for (k = 0; k < n; k++)
        fprintf(stderr, "  seq %llu %s start %lld duration %lld\n",
                (unsigned long long)evs[k].seq,
                tn_pause_cause_name(evs[k].cause), (long long)evs[k].start,
                (long long)evs[k].duration);
    }
    CU_ASSERT_FATAL(ev.seq != 0);
    CU_ASSERT_EQUAL(ev.cause, TN_CAUSE_STOPPED);
    CU_ASSERT_TRUE(ev.sigcont);
    /* The kernel confirmed the stop before the child's hold began, so the
     * stall is at least STALL_MS; the 1 ms is the sampler's own interval. */
    CU_ASSERT(ev.duration >= (STALL_MS - 1) * TN_MSEC);
    if (i == 0) {
      uint64_t woke;
      block_sigcont(0); /* second round: the ordinary handler path */
      /* Unblocking runs the first continue's handler now. Let the sampler
       * wake twice after it, so that the next stall begins a full interval
       * later: within one interval the monitor cannot tell two continues
       * apart by time (an earlier continue's time would be taken for this one's end). */
      tn_pausemon_stats_get(m, &stats);
      woke = stats.wakeups;
      give_up = tn_now() + 20 * TN_SEC;
      do {
        usleep(1000);
        tn_pausemon_stats_get(m, &stats);
      } while (stats.wakeups < woke + 2 && tn_now() < give_up);
      CU_ASSERT_FATAL(stats.wakeups >= woke + 2);
    }
  }
  tn_pausemon_close(m);
  munmap(t, sizeof *t);
}

int main(void) {
  static const tn_cu_test stepped[] = {
      {"pending SIGCONT is stopped, counted once",
       test_pending_sigcont_stepped},
      {NULL, NULL}};
  static const tn_cu_test real[] = {
      {"SIGSTOP with the handler held back is stopped", test_handler_held_back},
      {NULL, NULL}};
  static const tn_cu_suite suites[] = {{"pausemon_sigcont_stepped", stepped,
                                        NULL, NULL},
                                       {"pausemon_sigcont_real", real, NULL,
                                        NULL},
                                       {NULL, NULL, NULL, NULL}};
  return tn_cu_run(suites);
}
