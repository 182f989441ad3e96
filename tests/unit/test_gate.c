/*
 * Unit tests: the request gate (gate.c).
 *
 * Most tests run more threads than the machine has cores (8 workers on 2),
 * so that enters, exits and drains get preempted at every point. Each one
 * checks something a caller relies on: nothing admitted overlaps a drained
 * window, the counts add up, drain returns when the last request leaves and
 * gives up at its deadline, threads may come and go, and gates are
 * independent. Run it under ASan (no slot leaks) and TSan (the gate orders
 * a request's memory before the drain that waits for it).
 *
 * CUnit is not thread-safe: worker threads record what they saw in atomics
 * and the main thread asserts.
 */
#define _GNU_SOURCE
#include "cu_main.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tenure/error.h>
#include <tenure/gate.h>
#include <time.h>

/* Test hooks in gate.c (TN_TESTING builds). */
/* Slots the gate links, and how many of them a thread owns. */
void tn__gate_census(const tn_gate *g, size_t *slots, size_t *owned);
/* Called inside enter, between reading the state and counting. */
void tn__gate_set_enter_stall(void (*stall)(void));

#define WORKERS 8
/*
 * No test here asserts how fast anything is: a loaded 2-core machine
 * deschedules a thread for hundreds of milliseconds now and then. Bounds on
 * "at once" are PROMPT, far beyond any descheduling, and every drain that
 * is expected to succeed gets LONG, longer still: so such a bound says only
 * "it did not wait for a deadline or hang", which scheduling cannot break.
 * Lower bounds ("waited at least the hold") follow from the order of
 * events, not from timing, and are exact.
 */
#define PROMPT (5 * TN_SEC)
#define LONG (30 * TN_SEC)

static void sleep_for(tn_nanos d) {
  struct timespec ts;
  ts.tv_sec = (time_t)(d / TN_SEC);
  ts.tv_nsec = (long)(d % TN_SEC);
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static void spin_for(tn_nanos d) {
  tn_nanos until = tn_now() + d;
  while (tn_now() < until)
    ;
}

/* xorshift: each worker its own, no shared state */
static uint32_t next_rand(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/* --- single thread: the contract step by step ---------------------------- */

static void test_basic(void) {
  tn_gate *g = NULL;
  tn_nanos waited = -1;
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&g), 0);
  CU_ASSERT_FALSE(tn_gate_draining(g));
  CU_ASSERT_EQUAL(tn_gate_inflight(g), 0);
  CU_ASSERT_EQUAL(tn_gate_shed(g), 0);

  CU_ASSERT_TRUE(tn_gate_enter(g));
  CU_ASSERT_TRUE(tn_gate_enter(g));
  CU_ASSERT_EQUAL(tn_gate_inflight(g), 2);
  tn_gate_exit(g);
  CU_ASSERT_EQUAL(tn_gate_inflight(g), 1);
  tn_gate_exit(g);
  CU_ASSERT_EQUAL(tn_gate_inflight(g), 0);

  /* nothing in flight: drained at once (not at its deadline), and closed
   * afterwards */
  CU_ASSERT_EQUAL(tn_gate_drain(g, LONG, &waited), 0);
  CU_ASSERT(waited >= 0 && waited < PROMPT);
  CU_ASSERT_TRUE(tn_gate_draining(g));
  CU_ASSERT_FALSE(tn_gate_enter(g));
  CU_ASSERT_FALSE(tn_gate_enter(g));
  CU_ASSERT_EQUAL(tn_gate_shed(g), 2);
  CU_ASSERT_EQUAL(tn_gate_inflight(g), 0);
  /* waited may be NULL; a second drain of a closed gate is fine */
  CU_ASSERT_EQUAL(tn_gate_drain(g, 0, NULL), 0);

  tn_gate_open(g);
  CU_ASSERT_FALSE(tn_gate_draining(g));
  CU_ASSERT_TRUE(tn_gate_enter(g));
  CU_ASSERT_EQUAL(tn_gate_inflight(g), 1);
  tn_gate_exit(g);
  CU_ASSERT_EQUAL(tn_gate_shed(g), 2);
  tn_gate_free(g);
  tn_gate_free(NULL);
}

/* A zero or negative timeout checks once: in flight means timed out. */
static void test_zero_timeout(void) {
  tn_gate *g = NULL;
  tn_nanos waited = -1;
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&g), 0);
  CU_ASSERT_TRUE(tn_gate_enter(g));
  CU_ASSERT_EQUAL(tn_gate_drain(g, 0, &waited), TN_ETIMEDOUT);
  CU_ASSERT(waited >= 0 && waited < PROMPT); /* checked once, did not wait */
  CU_ASSERT_EQUAL(tn_gate_drain(g, -TN_SEC, NULL), TN_ETIMEDOUT);
  CU_ASSERT_EQUAL(tn_gate_inflight(g), 1);
  tn_gate_exit(g);
  CU_ASSERT_EQUAL(tn_gate_drain(g, 0, NULL), 0);
  tn_gate_open(g);
  tn_gate_free(g);
}

/* --- nothing admitted overlaps a drained window -------------------------- */

/* Stall some enters after they read "open" and before they count: without
 * the grace period, the drain would sum zero and return meanwhile. */
static __thread uint32_t stall_seed;

static void stall_some_enters(void) {
  uint32_t r;
  if (stall_seed == 0)
    stall_seed = (uint32_t)(uintptr_t)&stall_seed | 1u;
  r = next_rand(&stall_seed) % 64;
  if (r < 4)
    sched_yield();
  else if (r == 4)
    sleep_for(20 * TN_USEC);
}

struct overlap_run {
  tn_gate *g;
  _Atomic int stop;
  _Atomic int collecting; /* set by the controller between drain and open */
  _Atomic uint64_t violations;
  _Atomic uint64_t admitted;
  _Atomic uint64_t refused;
  _Atomic uint64_t admitted_now; /* running total, for the controller */
  /*
   * Plain memory, as a collector's heap would be: each worker writes its own
   * cell only inside the gate, the controller reads and rewrites all cells
   * only while collecting. The gate alone orders the two, so TSan reports a
   * race here if drain ever returns before an exit is ordered before it.
   */
  uint64_t heap[WORKERS];
  uint64_t heap_seen;
};

struct overlap_worker {
  struct overlap_run *run;
  int index;
};

static void *overlap_worker(void *arg) {
  struct overlap_worker *w = arg;
  struct overlap_run *r = w->run;
  uint32_t seed = 0x9e3779b9u * (uint32_t)(w->index + 1);
  uint64_t admitted = 0, refused = 0;
  while (!atomic_load(&r->stop)) {
    if (!tn_gate_enter(r->g)) {
      refused++;
      sched_yield();
      continue;
    }
    admitted++;
    atomic_fetch_add_explicit(&r->admitted_now, 1, memory_order_relaxed);
    if (atomic_load(&r->collecting))
      atomic_fetch_add(&r->violations, 1);
    r->heap[w->index]++;
    /* a request of 0-20 us; some yield inside to get preempted mid-request */
    if (next_rand(&seed) % 8 == 0)
      sched_yield();
    else
      spin_for((tn_nanos)(next_rand(&seed) % 20) * TN_USEC);
    if (atomic_load(&r->collecting))
      atomic_fetch_add(&r->violations, 1);
    tn_gate_exit(r->g);
  }
  atomic_fetch_add(&r->admitted, admitted);
  atomic_fetch_add(&r->refused, refused);
  return NULL;
}

static void test_no_admission_after_drain(void) {
  static struct overlap_run r;
  struct overlap_worker w[WORKERS];
  pthread_t t[WORKERS];
  int i, cycles = 0, timeouts = 0;
  tn_nanos started = tn_now(), longest = 0;
  memset(&r, 0, sizeof r);
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&r.g), 0);
  tn__gate_set_enter_stall(stall_some_enters);
  for (i = 0; i < WORKERS; i++) {
    w[i].run = &r;
    w[i].index = i;
    pthread_create(&t[i], NULL, overlap_worker, &w[i]);
  }
  /* 2000 cycles, or as many as fit in 20 s on a slow (sanitized or loaded)
   * machine: the budget bounds the run time, and how many cycles fit is
   * not asserted. More cycles only search harder for an overlap; what is
   * asserted below holds for every cycle that ran. */
  while (cycles < 2000 && tn_now() - started < 20 * TN_SEC) {
    tn_nanos waited;
    /* requests last microseconds: only a broken gate keeps one 10 s */
    int rc = tn_gate_drain(r.g, 10 * TN_SEC, &waited);
    if (rc != 0) {
      timeouts++;
      tn_gate_open(r.g);
      continue;
    }
    if (waited > longest)
      longest = waited;
    atomic_store(&r.collecting, 1);
    CU_ASSERT_EQUAL(tn_gate_inflight(r.g), 0);
    for (i = 0; i < WORKERS; i++) {
      r.heap_seen += r.heap[i];
      r.heap[i] = 0;
    }
    sleep_for(TN_MSEC);
    CU_ASSERT_EQUAL(tn_gate_inflight(r.g), 0);
    atomic_store(&r.collecting, 0);
    tn_gate_open(r.g);
    cycles++;
    /* Let requests flow: 0-500 us, and until a few were admitted (or 5 ms
     * passed and at least one was), so that every drain starts with
     * traffic under way. PROMPT only stops a hang if no worker ever runs. */
    {
      uint64_t seen = atomic_load(&r.admitted_now);
      tn_nanos opened = tn_now();
      spin_for((tn_nanos)(cycles * 7919 % 500) * TN_USEC);
      for (;;) {
        uint64_t now_admitted = atomic_load(&r.admitted_now);
        tn_nanos open_for = tn_now() - opened;
        if (now_admitted >= seen + 4 ||
            (now_admitted > seen && open_for >= 5 * TN_MSEC) ||
            open_for >= PROMPT)
          break;
        sched_yield();
      }
    }
  }
  atomic_store(&r.stop, 1);
  for (i = 0; i < WORKERS; i++) {
    pthread_join(t[i], NULL);
    r.heap_seen += r.heap[i];
  }
  tn__gate_set_enter_stall(NULL);
  printf("\n    %d drain cycles, %d timed out, longest drain %.2f ms; "
         "%llu admitted, %llu refused, %llu violations ",
         cycles, timeouts, tn_nanos_to_millis(longest),
         (unsigned long long)r.admitted, (unsigned long long)r.refused,
         (unsigned long long)r.violations);
  CU_ASSERT_EQUAL(r.violations, 0);
  CU_ASSERT_EQUAL(timeouts, 0);
  /* the test means something only if both sides really happened: drains
   * completed, each after admitted traffic, and requests met a closed gate */
  CU_ASSERT(cycles > 0);
  CU_ASSERT(r.admitted >= (uint64_t)cycles);
  CU_ASSERT(r.refused > 0);
  CU_ASSERT_EQUAL(r.heap_seen, r.admitted);
  CU_ASSERT_EQUAL(tn_gate_inflight(r.g), 0);
  CU_ASSERT_EQUAL(tn_gate_shed(r.g), r.refused);
  tn_gate_free(r.g);
}

/* --- the counts add up --------------------------------------------------- */

struct count_run {
  tn_gate *g;
  _Atomic int stop;
  _Atomic uint64_t refused;
  _Atomic uint64_t admitted;
  int64_t lowest, highest; /* of tn_gate_inflight, seen by the watcher */
};

static void *count_worker(void *arg) {
  struct count_run *r = arg;
  uint32_t seed = (uint32_t)(uintptr_t)&seed | 1u;
  uint64_t refused = 0, admitted = 0;
  int depth = 0;
  while (!atomic_load(&r->stop)) {
    /* nest up to 3 requests deep, leave them in random order */
    if (depth < 3 && next_rand(&seed) % 2 == 0) {
      if (tn_gate_enter(r->g)) {
        admitted++;
        depth++;
      } else {
        refused++;
      }
    } else if (depth > 0) {
      tn_gate_exit(r->g);
      depth--;
    }
    if (next_rand(&seed) % 64 == 0)
      sched_yield();
  }
  while (depth-- > 0)
    tn_gate_exit(r->g);
  atomic_fetch_add(&r->refused, refused);
  atomic_fetch_add(&r->admitted, admitted);
  return NULL;
}

static void *count_watcher(void *arg) {
  struct count_run *r = arg;
  int64_t lowest = 0, highest = 0;
  while (!atomic_load(&r->stop)) {
    int64_t n = tn_gate_inflight(r->g);
    if (n < lowest)
      lowest = n;
    if (n > highest)
      highest = n;
  }
  r->lowest = lowest;
  r->highest = highest;
  return NULL;
}

static void test_counts(void) {
  struct count_run r;
  pthread_t t[WORKERS], watcher;
  int i, drains = 0, timeouts = 0;
  tn_nanos started;
  memset(&r, 0, sizeof r);
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&r.g), 0);
  for (i = 0; i < WORKERS; i++)
    pthread_create(&t[i], NULL, count_worker, &r);
  pthread_create(&watcher, NULL, count_watcher, &r);
  started = tn_now();
  while (tn_now() - started < 2 * TN_SEC) {
    /* short deadlines: some drains succeed, some time out mid-flight */
    int rc = tn_gate_drain(r.g, (drains % 3) * 20 * TN_USEC, NULL);
    if (rc == 0) {
      CU_ASSERT_EQUAL(tn_gate_inflight(r.g), 0);
    } else {
      timeouts++;
    }
    CU_ASSERT_TRUE(rc == 0 || rc == TN_ETIMEDOUT);
    spin_for(50 * TN_USEC);
    tn_gate_open(r.g);
    spin_for(200 * TN_USEC);
    drains++;
  }
  atomic_store(&r.stop, 1);
  for (i = 0; i < WORKERS; i++)
    pthread_join(t[i], NULL);
  pthread_join(watcher, NULL);
  printf("\n    %d drains (%d timed out), %llu admitted, %llu refused, "
         "in-flight seen in [%lld, %lld] ",
         drains, timeouts, (unsigned long long)r.admitted,
         (unsigned long long)r.refused, (long long)r.lowest,
         (long long)r.highest);
  CU_ASSERT(r.lowest >= 0);
  CU_ASSERT(r.highest <= WORKERS * 3);
  CU_ASSERT_EQUAL(tn_gate_inflight(r.g), 0);
  CU_ASSERT_EQUAL(tn_gate_shed(r.g), r.refused);
  CU_ASSERT(r.refused > 0);
  CU_ASSERT(r.admitted > 0);
  CU_ASSERT_EQUAL(tn_gate_drain(r.g, 0, NULL), 0);
  tn_gate_free(r.g);
}

/* --- drain waits for the last request, and no longer --------------------- */

struct holder {
  tn_gate *g;
  tn_gate *used_before;       /* if set, a request there first, so the thread
                                 holds a cached slot of another gate */
  tn_nanos hold;              /* measured from the moment the drain is seen;
                                 0: until released */
  _Atomic int release;        /* set to let a hold-until-released go */
  _Atomic int inside;         /* 1: admitted; -1: refused */
  _Atomic tn_nanos hold_from; /* when it saw the drain begin */
  _Atomic tn_nanos exited_at;
};

static void *hold_request(void *arg) {
  struct holder *h = arg;
  if (h->used_before != NULL && tn_gate_enter(h->used_before))
    tn_gate_exit(h->used_before);
  if (!tn_gate_enter(h->g)) {
    atomic_store(&h->inside, -1);
    return NULL;
  }
  atomic_store(&h->inside, 1);
  /* The drain stores "draining" after it read its start time, so holding
   * from here makes the drain wait at least h->hold. */
  while (!tn_gate_draining(h->g))
    sched_yield();
  atomic_store(&h->hold_from, tn_now());
  if (h->hold > 0)
    sleep_for(h->hold);
  else
    while (!atomic_load(&h->release))
      sleep_for(TN_MSEC);
  atomic_store(&h->exited_at, tn_now());
  tn_gate_exit(h->g);
  return NULL;
}

static void test_drain_returns_promptly(void) {
  struct holder h;
  pthread_t t;
  tn_nanos waited = 0, back;
  memset(&h, 0, sizeof h);
  h.hold = 50 * TN_MSEC;
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&h.g), 0);
  pthread_create(&t, NULL, hold_request, &h);
  while (!atomic_load(&h.inside))
    sched_yield();
  CU_ASSERT_EQUAL_FATAL(atomic_load(&h.inside), 1);
  CU_ASSERT_EQUAL(tn_gate_drain(h.g, LONG, &waited), 0);
  back = tn_now();
  pthread_join(t, NULL);
  printf("\n    drain waited %.3f ms for a 50 ms request; returned %.1f us "
         "after the exit ",
         tn_nanos_to_millis(waited),
         (double)(back - atomic_load(&h.exited_at)) / 1e3);
  /* It waited for the request: the drain started before the holder saw it
   * (hold_from), and returned after the exit. Orders, so exact. */
  CU_ASSERT(waited >= atomic_load(&h.exited_at) - atomic_load(&h.hold_from));
  CU_ASSERT(waited >= 50 * TN_MSEC);
  CU_ASSERT(back >= atomic_load(&h.exited_at));
  /* And it returned on the exit, not at its 30 s deadline. How soon after
   * the exit (typically tens of microseconds) is the scheduler's business,
   * not something to assert here. */
  CU_ASSERT(back - atomic_load(&h.exited_at) < PROMPT);
  CU_ASSERT_EQUAL(tn_gate_inflight(h.g), 0);
  tn_gate_free(h.g);
}

static void test_drain_timeout(void) {
  struct holder h;
  pthread_t t;
  tn_nanos waited = 0;
  memset(&h, 0, sizeof h);
  h.hold = 0; /* until released: still inside whenever the drain looks */
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&h.g), 0);
  pthread_create(&t, NULL, hold_request, &h);
  while (!atomic_load(&h.inside))
    sched_yield();
  CU_ASSERT_EQUAL_FATAL(atomic_load(&h.inside), 1);
  CU_ASSERT_EQUAL(tn_gate_drain(h.g, 100 * TN_MSEC, &waited), TN_ETIMEDOUT);
  printf("\n    drain(100 ms) gave up after %.3f ms ",
         tn_nanos_to_millis(waited));
  /* not before its deadline (exact: it compares against it) ... */
  CU_ASSERT(waited >= 100 * TN_MSEC);
  /* ... and at it, not when the request leaves (it never does on its own):
   * PROMPT leaves room for any descheduling */
  CU_ASSERT(waited < 100 * TN_MSEC + PROMPT);
  CU_ASSERT_EQUAL(atomic_load(&h.exited_at), 0);
  /* still closed after the timeout, and the request still counted */
  CU_ASSERT_TRUE(tn_gate_draining(h.g));
  CU_ASSERT_FALSE(tn_gate_enter(h.g));
  CU_ASSERT_EQUAL(tn_gate_shed(h.g), 1);
  CU_ASSERT_EQUAL(tn_gate_inflight(h.g), 1);
  atomic_store(&h.release, 1);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(tn_gate_inflight(h.g), 0);
  tn_gate_open(h.g);
  CU_ASSERT_TRUE(tn_gate_enter(h.g));
  CU_ASSERT_TRUE(tn_gate_enter(h.g));
  tn_gate_exit(h.g);
  tn_gate_exit(h.g);
  CU_ASSERT_EQUAL(tn_gate_drain(h.g, TN_SEC, NULL), 0);
  tn_gate_free(h.g);
}

/* --- threads come and go ------------------------------------------------- */

struct transient {
  tn_gate *g;
  int requests;
};

static void *transient_thread(void *arg) {
  struct transient *tr = arg;
  int i;
  for (i = 0; i < tr->requests; i++)
    if (tn_gate_enter(tr->g))
      tn_gate_exit(tr->g);
  pthread_exit(NULL); /* the explicit way, as the destructors must run */
}

static void test_exited_threads(void) {
  struct transient tr;
  pthread_t t[WORKERS];
  size_t slots, owned;
  tn_nanos waited;
  int round, i;
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&tr.g), 0);
  tr.requests = 1000;

  /* One at a time: each new thread takes the slot the last one left. */
  for (round = 0; round < 50; round++) {
    pthread_create(&t[0], NULL, transient_thread, &tr);
    pthread_join(t[0], NULL);
  }
  tn__gate_census(tr.g, &slots, &owned);
  CU_ASSERT_EQUAL(slots, 1);
  CU_ASSERT_EQUAL(owned, 0);

  /* Eight at a time, many rounds: never more slots than threads at once. */
  for (round = 0; round < 50; round++) {
    for (i = 0; i < WORKERS; i++)
      pthread_create(&t[i], NULL, transient_thread, &tr);
    for (i = 0; i < WORKERS; i++)
      pthread_join(t[i], NULL);
  }
  tn__gate_census(tr.g, &slots, &owned);
  printf("\n    %zu slots for %d threads, 8 at a time ", slots,
         50 + 50 * WORKERS);
  CU_ASSERT(slots <= WORKERS);
  CU_ASSERT_EQUAL(owned, 0);
  CU_ASSERT_EQUAL(tn_gate_inflight(tr.g), 0);

  /* 450 dead readers: if any were still registered with RCU, the grace
   * period would wait on freed thread state. */
  CU_ASSERT_EQUAL(tn_gate_drain(tr.g, LONG, &waited), 0);
  printf("drain after they exited: %.3f ms ", tn_nanos_to_millis(waited));
  /* the grace period is not bounded by the timeout: a registered dead
   * reader would hang it (or crash it), not slow it by milliseconds */
  CU_ASSERT(waited < PROMPT);
  tn_gate_free(tr.g);
}

/* A thread outlives a gate it used; a new gate may reuse the address. */

struct outliver {
  tn_gate *_Atomic g;
  _Atomic int step;
  _Atomic int refused; /* enters refused; there should be none */
};

static void wait_step(struct outliver *o, int step) {
  while (atomic_load(&o->step) != step)
    sched_yield();
}

static void *outliver_thread(void *arg) {
  struct outliver *o = arg;
  if (tn_gate_enter(atomic_load(&o->g)))
    tn_gate_exit(atomic_load(&o->g));
  else
    atomic_fetch_add(&o->refused, 1);
  atomic_store(&o->step, 1);
  wait_step(o, 2); /* the gate has been freed and a new one made */
  if (!tn_gate_enter(atomic_load(&o->g)))
    atomic_fetch_add(&o->refused, 1);
  atomic_store(&o->step, 3);
  wait_step(o, 4);
  tn_gate_exit(atomic_load(&o->g));
  atomic_store(&o->step, 5);
  wait_step(o, 6); /* the second gate has been freed too */
  return NULL;     /* the exit destructor frees this thread's slots */
}

static void test_thread_outlives_gate(void) {
  struct outliver o;
  pthread_t t;
  tn_gate *first, *second;
  atomic_init(&o.step, 0);
  atomic_init(&o.refused, 0);
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&first), 0);
  atomic_init(&o.g, first);
  pthread_create(&t, NULL, outliver_thread, &o);
  wait_step(&o, 1);
  tn_gate_free(first);
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&second), 0);
  printf("\n    new gate %s the freed one's address ",
         second == first ? "reuses" : "does not reuse");
  atomic_store(&o.g, second);
  atomic_store(&o.step, 2);
  wait_step(&o, 3);
  CU_ASSERT_EQUAL(atomic_load(&o.refused), 0);
  /* the thread's entry for the freed gate must not stand in for this one */
  CU_ASSERT_EQUAL(tn_gate_inflight(second), 1);
  CU_ASSERT_EQUAL(tn_gate_drain(second, 0, NULL), TN_ETIMEDOUT);
  tn_gate_open(second);
  atomic_store(&o.step, 4);
  wait_step(&o, 5);
  CU_ASSERT_EQUAL(tn_gate_inflight(second), 0);
  CU_ASSERT_EQUAL(tn_gate_drain(second, TN_SEC, NULL), 0);
  tn_gate_free(second);
  atomic_store(&o.step, 6);
  pthread_join(t, NULL);
}

/* --- gates are independent ----------------------------------------------- */

struct pair_run {
  tn_gate *a, *b;
  _Atomic int stop;
  _Atomic uint64_t refused_a, refused_b;
};

static void *pair_worker(void *arg) {
  struct pair_run *r = arg;
  uint64_t refused_a = 0, refused_b = 0;
  while (!atomic_load(&r->stop)) {
    bool in_a = tn_gate_enter(r->a);
    bool in_b = tn_gate_enter(r->b);
    if (!in_a)
      refused_a++;
    if (!in_b)
      refused_b++;
    if (in_a)
      tn_gate_exit(r->a); /* not in reverse order: it must not matter */
    if (in_b)
      tn_gate_exit(r->b);
  }
  atomic_fetch_add(&r->refused_a, refused_a);
  atomic_fetch_add(&r->refused_b, refused_b);
  return NULL;
}

static void test_two_gates(void) {
  struct pair_run r;
  struct holder h;
  pthread_t t[WORKERS], holder;
  int i, cycle;
  tn_nanos waited;
  memset(&r, 0, sizeof r);
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&r.a), 0);
  CU_ASSERT_EQUAL_FATAL(tn_gate_new(&r.b), 0);
  for (i = 0; i < WORKERS; i++)
    pthread_create(&t[i], NULL, pair_worker, &r);

  /* A request held in b does not delay draining a; a stays shut, b open. */
  memset(&h, 0, sizeof h);
  h.g = r.b;
  h.used_before = r.a;
  h.hold = 200 * TN_MSEC;
  for (cycle = 0; cycle < 200; cycle++) {
    CU_ASSERT_EQUAL(tn_gate_drain(r.a, LONG, NULL), 0);
    CU_ASSERT_FALSE(tn_gate_draining(r.b));
    /* stay shut a moment, so that workers really meet a closed gate even
     * when this machine schedules them late */
    usleep(1000);
    tn_gate_open(r.a);
  }
  atomic_store(&r.stop, 1);
  for (i = 0; i < WORKERS; i++)
    pthread_join(t[i], NULL);
  CU_ASSERT(r.refused_a > 0);
  CU_ASSERT_EQUAL(r.refused_b, 0);
  CU_ASSERT_EQUAL(tn_gate_shed(r.a), r.refused_a);
  CU_ASSERT_EQUAL(tn_gate_shed(r.b), 0);
  CU_ASSERT_EQUAL(tn_gate_inflight(r.a), 0);
  CU_ASSERT_EQUAL(tn_gate_inflight(r.b), 0);

  /* b's holder stays inside until b drains, so a drain of a that counted
   * it would time out */
  pthread_create(&holder, NULL, hold_request, &h);
  while (!atomic_load(&h.inside))
    sched_yield();
  CU_ASSERT_EQUAL_FATAL(atomic_load(&h.inside), 1);
  /* the holder stays in b until b drains: a drain of a that counted it
   * could only time out, so returning 0 is the proof */
  CU_ASSERT_EQUAL(tn_gate_drain(r.a, LONG, &waited), 0);
  CU_ASSERT(waited < PROMPT);
  CU_ASSERT_EQUAL(tn_gate_inflight(r.b), 1);
  CU_ASSERT_EQUAL(tn_gate_drain(r.b, LONG, &waited), 0);
  /* b waited for its holder's 200 ms, counted from after b began to drain:
   * exact */
  CU_ASSERT(waited >= 200 * TN_MSEC);
  pthread_join(holder, NULL);
  tn_gate_free(r.a);
  tn_gate_free(r.b);
}

/* More gates than a thread caches: its slots get evicted and reclaimed,
 * even while it is inside, and every gate still counts right. */
#define MANY_GATES 20
#define MANY_THREADS 4

struct many_run {
  tn_gate *gates[MANY_GATES];
  pthread_barrier_t all_inside, checked;
  _Atomic int refused;
};

static void *many_gates_worker(void *arg) {
  struct many_run *r = arg;
  int round, i;
  for (round = 0; round < 200; round++) {
    /* enter in one order and exit in another (7 and 3 are prime to 20) */
    for (i = 0; i < MANY_GATES; i++)
      if (!tn_gate_enter(r->gates[(i * 7 + round) % MANY_GATES]))
        atomic_fetch_add(&r->refused, 1);
    for (i = 0; i < MANY_GATES; i++)
      tn_gate_exit(r->gates[(i * 3 + round) % MANY_GATES]);
  }
  for (i = 0; i < MANY_GATES; i++)
    if (!tn_gate_enter(r->gates[i]))
      atomic_fetch_add(&r->refused, 1);
  pthread_barrier_wait(&r->all_inside);
  pthread_barrier_wait(&r->checked);
  for (i = MANY_GATES - 1; i >= 0; i--)
    tn_gate_exit(r->gates[i]);
  return NULL;
}

static void test_many_gates(void) {
  struct many_run r;
  pthread_t t[MANY_THREADS];
  size_t slots, owned;
  int i;
  for (i = 0; i < MANY_GATES; i++)
    CU_ASSERT_EQUAL_FATAL(tn_gate_new(&r.gates[i]), 0);
  atomic_init(&r.refused, 0);
  pthread_barrier_init(&r.all_inside, NULL, MANY_THREADS + 1);
  pthread_barrier_init(&r.checked, NULL, MANY_THREADS + 1);
  for (i = 0; i < MANY_THREADS; i++)
    pthread_create(&t[i], NULL, many_gates_worker, &r);
  pthread_barrier_wait(&r.all_inside);
  CU_ASSERT_EQUAL(atomic_load(&r.refused), 0);
  for (i = 0; i < MANY_GATES; i++) {
    CU_ASSERT_EQUAL(tn_gate_inflight(r.gates[i]), MANY_THREADS);
    CU_ASSERT_EQUAL(tn_gate_drain(r.gates[i], 0, NULL), TN_ETIMEDOUT);
    tn_gate_open(r.gates[i]);
    /* at most one slot per thread owning one at a time */
    tn__gate_census(r.gates[i], &slots, &owned);
    CU_ASSERT(slots <= MANY_THREADS);
  }
  pthread_barrier_wait(&r.checked);
  for (i = 0; i < MANY_THREADS; i++)
    pthread_join(t[i], NULL);
  for (i = 0; i < MANY_GATES; i++) {
    CU_ASSERT_EQUAL(tn_gate_inflight(r.gates[i]), 0);
    CU_ASSERT_EQUAL(tn_gate_drain(r.gates[i], 0, NULL), 0);
    tn__gate_census(r.gates[i], &slots, &owned);
    CU_ASSERT_EQUAL(owned, 0);
    tn_gate_free(r.gates[i]);
  }
  pthread_barrier_destroy(&r.all_inside);
  pthread_barrier_destroy(&r.checked);
}

static const tn_cu_test single_tests[] = {
    {"enter, exit, drain, open step by step", test_basic},
    {"a zero timeout checks once", test_zero_timeout},
    {NULL, NULL},
};

static const tn_cu_test concurrent_tests[] = {
    {"nothing admitted while drained (8 workers)",
     test_no_admission_after_drain},
    {"in-flight never negative, shed counts every refusal", test_counts},
    {"drain returns right after the last exit", test_drain_returns_promptly},
    {"drain gives up at its deadline; open admits again", test_drain_timeout},
    {NULL, NULL},
};

static const tn_cu_test lifecycle_tests[] = {
    {"exited threads: slots reused, RCU not blocked", test_exited_threads},
    {"a thread outlives its gate; addresses reused", test_thread_outlives_gate},
    {"two gates, same threads, independent", test_two_gates},
    {"more gates than a thread caches", test_many_gates},
    {NULL, NULL},
};

static const tn_cu_suite suites[] = {
    {"gate", single_tests, NULL, NULL},
    {"gate under contention", concurrent_tests, NULL, NULL},
    {"gate lifecycle", lifecycle_tests, NULL, NULL},
    {NULL, NULL, NULL, NULL},
};

int main(void) { return tn_cu_run(suites); }
