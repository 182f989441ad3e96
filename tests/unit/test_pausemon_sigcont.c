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
#include <stdio.h>
#include <string.h>
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

  /* The handler runs now, and no on-time step comes between. Its count
   * belongs to the gap already reported: the next gap, with no continue of
   * its own, must not be "stopped". */
  block_sigcont(0);
  gap_of(m, 50 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 2);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_UNKNOWN);

  /* And a real continue after that still counts. */
  tn__pausemon_note_sigcont();
  gap_of(m, 70 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_pausemon_epoch(m), 3);
  CU_ASSERT_EQUAL(last_event(m).cause, TN_CAUSE_STOPPED);

  tn_pausemon_close(m);
  tn__clock_swap(NULL);
  sigaction(SIGCONT, &old, NULL);
}

/* --- real: SIGSTOP from another process, the handler held back ---------- */

/* The child stops its parent, waits until the kernel says it is stopped,
 * holds it STALL_MS, continues it, and exits. */
#define STALL_MS 100

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

static void stall_parent(pid_t parent) {
  struct timespec hold = {0, STALL_MS * 1000000L}, poll = {0, 1000000L};
  kill(parent, SIGSTOP);
  while (!parent_is_stopped(parent))
    nanosleep(&poll, NULL);
  nanosleep(&hold, NULL);
  kill(parent, SIGCONT);
  _exit(0);
}

static void test_handler_held_back(void) {
  tn_pausemon *m = NULL;
  tn_pausemon_config cfg;
  tn_pause_event ev;
  tn_nanos give_up;
  pid_t child;
  int st, i;
  memset(&cfg, 0, sizeof cfg);
  block_sigcont(1); /* the sampler thread inherits it (and blocks all) */
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_open(&cfg, &m), 0);
  CU_ASSERT_EQUAL_FATAL(tn_pausemon_start(m), 0);
  for (i = 0; i < 2; i++) {
    child = fork();
    CU_ASSERT_FATAL(child >= 0);
    if (child == 0)
      stall_parent(getppid());
    CU_ASSERT_EQUAL(waitpid(child, &st, 0), child);
    /* Not a speed bound: a generous wait for the event to appear at all. */
    give_up = tn_now() + 20 * TN_SEC;
    while (tn_pausemon_epoch(m) < (uint64_t)i + 1 && tn_now() < give_up)
      usleep(1000);
    ev = last_event(m);
    CU_ASSERT_EQUAL(ev.cause, TN_CAUSE_STOPPED);
    /* The kernel confirmed the stop before the child's hold began, so the
     * stall is at least STALL_MS; the 1 ms is the sampler's own interval. */
    CU_ASSERT(ev.duration >= (STALL_MS - 1) * TN_MSEC);
    if (i == 0)
      block_sigcont(0); /* second round: the ordinary handler path */
  }
  tn_pausemon_close(m);
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
