/*
 * Benchmark: the request gate.
 *
 *  1. enter+exit, ns per pair of each thread's CPU time, on 1 and 2
 *     threads at once ("overlap" says how much they really ran together).
 *     Baseline, same run: the same loop on one shared atomic counter
 *     (fetch_add / fetch_sub), which is what a gate without per-thread
 *     counters costs. Target (design §9): <= 10 ns and flat from 1 to 2
 *     threads (meets_target: <= 10 ns and within 25 % of 1 thread).
 *  2. RCU flavour (design §4.4: "the urcu-bp flavour, which registers
 *     threads itself, is the alternative. Measure both"): the gate's fast
 *     path copied here twice, identical but for the read lock, memb (the
 *     baseline, what tenure uses) and bp; plus each flavour's
 *     synchronize_rcu, which every drain pays, with a reader running the
 *     fast path and with a reader whose sections last 50 us (as one
 *     preempted inside its read section looks).
 *  3. drain latency: from the last exit to tn_gate_drain returning (the
 *     request holds 0.3 ms, so the drain is asleep when it ends), and the
 *     whole cost of a drain with nothing in flight. Baseline: a thread
 *     that naps on a futex on the drain's schedule (20 us doubling to
 *     1 ms) and is woken: the floor for any drain that sleeps while it
 *     waits.
 *
 * Each figure is the median of ROUNDS rounds, figure and baseline
 * alternating, since this machine is shared.
 *
 *   bench_gate [MILLIONS]   enter+exit pairs per thread per round (default 20)
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE 1
#include <tenure/gate.h>

#include <urcu/urcu-bp.h>
#include <urcu/urcu-memb.h>

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 7
#define MAX_THREADS 2
#define LATENCY_SAMPLES 1001

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof v[0], cmp_double);
  return v[n / 2];
}

/* --- the loops ----------------------------------------------------------- */

enum loop_kind { LOOP_GATE, LOOP_SHARED, LOOP_MEMB, LOOP_BP };

static tn_gate *gate;
static _Atomic long shared_counter;

/* The gate's fast path with the read lock as the only variable. */
struct mini_slot {
  _Atomic int64_t inflight;
} __attribute__((aligned(64)));
static _Atomic unsigned mini_state; /* 0: open */
static __thread struct mini_slot *mini_slot;

static __attribute__((noinline)) bool mini_enter_memb(void) {
  bool open;
  urcu_memb_read_lock();
  open = atomic_load_explicit(&mini_state, memory_order_acquire) == 0;
  if (open)
    atomic_store_explicit(
        &mini_slot->inflight,
        atomic_load_explicit(&mini_slot->inflight, memory_order_relaxed) + 1,
        memory_order_relaxed);
  urcu_memb_read_unlock();
  return open;
}

static __attribute__((noinline)) bool mini_enter_bp(void) {
  bool open;
  urcu_bp_read_lock();
  open = atomic_load_explicit(&mini_state, memory_order_acquire) == 0;
  if (open)
    atomic_store_explicit(
        &mini_slot->inflight,
        atomic_load_explicit(&mini_slot->inflight, memory_order_relaxed) + 1,
        memory_order_relaxed);
  urcu_bp_read_unlock();
  return open;
}

static __attribute__((noinline)) void mini_exit(void) {
  atomic_store_explicit(
      &mini_slot->inflight,
      atomic_load_explicit(&mini_slot->inflight, memory_order_relaxed) - 1,
      memory_order_release);
}

struct loop_run {
  enum loop_kind kind;
  long iters;
  pthread_barrier_t *start;
  tn_nanos cpu[MAX_THREADS]; /* each thread's CPU time for its loop */
};

struct loop_thread_arg {
  struct loop_run *run;
  int index;
};

static tn_nanos thread_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (tn_nanos)ts.tv_sec * TN_SEC + ts.tv_nsec;
}

static void *loop_thread(void *arg) {
  struct loop_thread_arg *a = arg;
  struct loop_run *r = a->run;
  struct mini_slot slot;
  tn_nanos cpu0;
  long i;
  atomic_init(&slot.inflight, 0);
  mini_slot = &slot;
  if (r->kind == LOOP_MEMB)
    urcu_memb_register_thread();
  pthread_barrier_wait(r->start);
  cpu0 = thread_cpu_now();
  switch (r->kind) {
  case LOOP_GATE:
    for (i = 0; i < r->iters; i++)
      if (tn_gate_enter(gate))
        tn_gate_exit(gate);
    break;
  case LOOP_SHARED:
    for (i = 0; i < r->iters; i++) {
      atomic_fetch_add(&shared_counter, 1);
      atomic_fetch_sub(&shared_counter, 1);
    }
    break;
  case LOOP_MEMB:
    for (i = 0; i < r->iters; i++)
      if (mini_enter_memb())
        mini_exit();
    break;
  case LOOP_BP:
    for (i = 0; i < r->iters; i++)
      if (mini_enter_bp())
        mini_exit();
    break;
  }
  r->cpu[a->index] = thread_cpu_now() - cpu0;
  if (r->kind == LOOP_MEMB)
    urcu_memb_unregister_thread();
  mini_slot = NULL;
  return NULL;
}

/*
 * ns per enter+exit pair: each thread's CPU time over its pairs, averaged
 * over the threads. CPU time rather than wall time, so that time a thread
 * spends descheduled on this shared machine does not count; cache-line
 * stalls do. *overlap (may be NULL) is CPU / (wall * threads): near 1 when
 * the threads really ran at the same time.
 */
static double run_loop(enum loop_kind kind, int threads, long iters,
                       double *overlap) {
  pthread_t t[MAX_THREADS];
  struct loop_thread_arg args[MAX_THREADS];
  pthread_barrier_t start;
  struct loop_run r;
  tn_nanos wall, cpu = 0;
  int i;
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  r.kind = kind;
  r.iters = iters;
  r.start = &start;
  for (i = 0; i < threads; i++) {
    args[i].run = &r;
    args[i].index = i;
    pthread_create(&t[i], NULL, loop_thread, &args[i]);
  }
  pthread_barrier_wait(&start);
  wall = tn_now();
  for (i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  wall = tn_now() - wall;
  pthread_barrier_destroy(&start);
  for (i = 0; i < threads; i++)
    cpu += r.cpu[i];
  if (overlap != NULL)
    *overlap = (double)cpu / ((double)wall * threads);
  return (double)cpu / threads / (double)iters;
}

/* --- synchronize_rcu with readers running -------------------------------- */

struct sync_readers {
  enum loop_kind kind;
  tn_nanos hold; /* 0: the fast path; else each read section lasts this */
  _Atomic int stop;
  _Atomic long loops; /* the reader is really running, not just created */
  pthread_barrier_t ready;
};

static void spin_until(tn_nanos t) {
  while (tn_now() < t)
    ;
}

static void *sync_reader(void *arg) {
  struct sync_readers *sr = arg;
  struct mini_slot slot;
  atomic_init(&slot.inflight, 0);
  mini_slot = &slot;
  if (sr->kind == LOOP_MEMB)
    urcu_memb_register_thread();
  pthread_barrier_wait(&sr->ready);
  while (!atomic_load_explicit(&sr->stop, memory_order_relaxed)) {
    atomic_fetch_add_explicit(&sr->loops, 1, memory_order_relaxed);
    if (sr->hold == 0) {
      if (sr->kind == LOOP_MEMB ? mini_enter_memb() : mini_enter_bp())
        mini_exit();
    } else if (sr->kind == LOOP_MEMB) {
      urcu_memb_read_lock();
      spin_until(tn_now() + sr->hold);
      urcu_memb_read_unlock();
      spin_until(tn_now() + sr->hold / 4);
    } else {
      urcu_bp_read_lock();
      spin_until(tn_now() + sr->hold);
      urcu_bp_read_unlock();
      spin_until(tn_now() + sr->hold / 4);
    }
  }
  if (sr->kind == LOOP_MEMB)
    urcu_memb_unregister_thread();
  return NULL;
}

/* Median synchronize_rcu, in us, while one reader thread loops: through the
 * fast path (hold 0), or through read sections lasting hold, the way a
 * reader preempted inside one looks to the grace period. */
static double sync_us(enum loop_kind kind, tn_nanos hold, int calls) {
  struct sync_readers sr;
  pthread_t t;
  double v[64];
  int i;
  if (calls > 64)
    calls = 64;
  sr.kind = kind;
  sr.hold = hold;
  atomic_init(&sr.stop, 0);
  atomic_init(&sr.loops, 0);
  pthread_barrier_init(&sr.ready, NULL, 2);
  pthread_create(&t, NULL, sync_reader, &sr);
  pthread_barrier_wait(&sr.ready);
  for (i = 0; i < calls; i++) {
    tn_nanos t0;
    long seen = atomic_load(&sr.loops);
    while (atomic_load(&sr.loops) < seen + 2) /* on a CPU, mid-loop */
      ;
    t0 = tn_now();
    if (kind == LOOP_MEMB)
      urcu_memb_synchronize_rcu();
    else
      urcu_bp_synchronize_rcu();
    v[i] = (double)(tn_now() - t0) / 1e3;
  }
  atomic_store(&sr.stop, 1);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&sr.ready);
  return median(v, calls);
}

/* --- drain latency after the last exit ----------------------------------- */

struct handoff {
  _Atomic int phase; /* 1: worker inside; 2: worker exited */
  _Atomic tn_nanos exit_at;
  _Atomic uint32_t futex_word;
  bool use_gate;
  int samples;
};

static void *handoff_worker(void *arg) {
  struct handoff *h = arg;
  int i;
  for (i = 0; i < h->samples; i++) {
    struct timespec hold = {0, 300 * 1000}; /* 0.3 ms inside */
    if (h->use_gate) {
      while (!tn_gate_enter(gate))
        sched_yield();
      atomic_store(&h->phase, 1);
      while (!tn_gate_draining(gate))
        sched_yield();
      nanosleep(&hold, NULL);
      atomic_store(&h->exit_at, tn_now());
      tn_gate_exit(gate);
    } else {
      atomic_store(&h->phase, 1);
      nanosleep(&hold, NULL);
      atomic_store(&h->exit_at, tn_now());
      atomic_store(&h->futex_word, 1);
      syscall(SYS_futex, (uint32_t *)&h->futex_word, FUTEX_WAKE_PRIVATE, 1,
              NULL, NULL, 0);
    }
    while (atomic_load(&h->phase) != 0)
      sched_yield();
  }
  return NULL;
}

/* Median and p99 of (return - last exit), in us. */
static void drain_latency(bool use_gate, int samples, double *p50,
                          double *p99) {
  static double v[LATENCY_SAMPLES];
  struct handoff h;
  pthread_t t;
  int i;
  atomic_init(&h.phase, 0);
  atomic_init(&h.exit_at, 0);
  atomic_init(&h.futex_word, 0);
  h.use_gate = use_gate;
  h.samples = samples;
  pthread_create(&t, NULL, handoff_worker, &h);
  for (i = 0; i < samples; i++) {
    tn_nanos back;
    while (atomic_load(&h.phase) != 1)
      sched_yield();
    if (use_gate) {
      if (tn_gate_drain(gate, TN_SEC, NULL) != 0) {
        fprintf(stderr, "bench_gate: drain timed out\n");
        exit(1);
      }
    } else {
      /* the drain's schedule: naps from 20 us doubling to 1 ms */
      tn_nanos nap = 20 * TN_USEC;
      while (atomic_load(&h.futex_word) == 0) {
        struct timespec ts = {0, (long)nap};
        syscall(SYS_futex, (uint32_t *)&h.futex_word, FUTEX_WAIT_PRIVATE, 0,
                &ts, NULL, 0);
        nap = nap * 2 < TN_MSEC ? nap * 2 : TN_MSEC;
      }
      atomic_store(&h.futex_word, 0);
    }
    back = tn_now();
    v[i] = (double)(back - atomic_load(&h.exit_at)) / 1e3;
    if (use_gate)
      tn_gate_open(gate);
    atomic_store(&h.phase, 0);
  }
  pthread_join(t, NULL);
  qsort(v, (size_t)samples, sizeof v[0], cmp_double);
  *p50 = v[samples / 2];
  *p99 = v[samples * 99 / 100];
}

static void *idle_worker(void *arg) {
  pthread_barrier_t *b = arg;
  if (tn_gate_enter(gate)) /* registers with RCU and takes a slot */
    tn_gate_exit(gate);
  pthread_barrier_wait(b); /* used the gate */
  pthread_barrier_wait(b); /* measured: exit */
  return NULL;
}

/* Median cost of a drain with nothing in flight, in us, while MAX_THREADS
 * worker threads that used the gate sit idle (a quiet server). */
static double idle_drain_us(int calls) {
  pthread_t t[MAX_THREADS];
  pthread_barrier_t b;
  double v[64];
  int i;
  if (calls > 64)
    calls = 64;
  pthread_barrier_init(&b, NULL, MAX_THREADS + 1);
  for (i = 0; i < MAX_THREADS; i++)
    pthread_create(&t[i], NULL, idle_worker, &b);
  pthread_barrier_wait(&b);
  for (i = 0; i < calls; i++) {
    tn_nanos waited;
    tn_gate_drain(gate, TN_SEC, &waited);
    tn_gate_open(gate);
    v[i] = (double)waited / 1e3;
  }
  pthread_barrier_wait(&b);
  for (i = 0; i < MAX_THREADS; i++)
    pthread_join(t[i], NULL);
  pthread_barrier_destroy(&b);
  return median(v, calls);
}

int main(int argc, char **argv) {
  long iters = (argc > 1 ? atol(argv[1]) : 20) * 1000000L;
  double gate_ns[MAX_THREADS + 1], shared_ns[MAX_THREADS + 1];
  double overlap[MAX_THREADS + 1], shared_overlap[MAX_THREADS + 1];
  double memb_ns, bp_ns, memb_sync, bp_sync, memb_slow, bp_slow;
  double lat50, lat99, floor50, floor99, idle;
  int threads, r;

  if (iters <= 0 || tn_gate_new(&gate) != 0) {
    fprintf(stderr, "usage: bench_gate [MILLIONS]\n");
    return 2;
  }

  for (threads = 1; threads <= MAX_THREADS; threads++) {
    double g[ROUNDS], s[ROUNDS], o[ROUNDS], so[ROUNDS];
    for (r = 0; r < ROUNDS; r++) {
      g[r] = run_loop(LOOP_GATE, threads, iters, &o[r]);
      s[r] = run_loop(LOOP_SHARED, threads, iters, &so[r]);
    }
    gate_ns[threads] = median(g, ROUNDS);
    shared_ns[threads] = median(s, ROUNDS);
    overlap[threads] = median(o, ROUNDS);
    shared_overlap[threads] = median(so, ROUNDS);
  }
  for (threads = 1; threads <= MAX_THREADS; threads++) {
    printf("{\"bench\":\"gate_enter_exit\",\"threads\":%d,\"rounds\":%d,"
           "\"pairs_per_thread\":%ld,\"overlap\":%.2f,\"ns_per_pair\":%.2f,"
           "\"baseline\":{\"what\":\"fetch_add+fetch_sub on one shared "
           "atomic\",\"overlap\":%.2f,\"ns_per_pair\":%.2f},\"ratio\":%.3f,"
           "\"vs_1_thread\":%.3f,\"target_ns\":10,\"meets_target\":%s}\n",
           threads, ROUNDS, iters, overlap[threads], gate_ns[threads],
           shared_overlap[threads], shared_ns[threads],
           gate_ns[threads] / shared_ns[threads], gate_ns[threads] / gate_ns[1],
           gate_ns[threads] <= 10.0 && gate_ns[threads] <= 1.25 * gate_ns[1]
               ? "true"
               : "false");
    fflush(stdout);
  }

  {
    double m[ROUNDS], b[ROUNDS];
    for (r = 0; r < ROUNDS; r++) {
      m[r] = run_loop(LOOP_MEMB, MAX_THREADS, iters, NULL);
      b[r] = run_loop(LOOP_BP, MAX_THREADS, iters, NULL);
    }
    memb_ns = median(m, ROUNDS);
    bp_ns = median(b, ROUNDS);
    for (r = 0; r < ROUNDS; r++) {
      m[r] = sync_us(LOOP_MEMB, 0, 31);
      b[r] = sync_us(LOOP_BP, 0, 31);
    }
    memb_sync = median(m, ROUNDS);
    bp_sync = median(b, ROUNDS);
    for (r = 0; r < ROUNDS; r++) {
      m[r] = sync_us(LOOP_MEMB, 50 * TN_USEC, 15);
      b[r] = sync_us(LOOP_BP, 50 * TN_USEC, 15);
    }
    memb_slow = median(m, ROUNDS);
    bp_slow = median(b, ROUNDS);
  }
  printf("{\"bench\":\"gate_rcu_flavour\",\"threads\":%d,\"rounds\":%d,"
         "\"flavour\":\"bp\",\"ns_per_pair\":%.2f,\"synchronize_us\":%.1f,"
         "\"synchronize_50us_readers_us\":%.1f,"
         "\"baseline\":{\"what\":\"same fast path, memb read lock\","
         "\"ns_per_pair\":%.2f,\"synchronize_us\":%.1f,"
         "\"synchronize_50us_readers_us\":%.1f},"
         "\"ratio\":%.3f,\"synchronize_ratio\":%.2f,"
         "\"synchronize_50us_readers_ratio\":%.1f}\n",
         MAX_THREADS, ROUNDS, bp_ns, bp_sync, bp_slow, memb_ns, memb_sync,
         memb_slow, bp_ns / memb_ns, bp_sync / memb_sync, bp_slow / memb_slow);
  fflush(stdout);

  drain_latency(true, LATENCY_SAMPLES, &lat50, &lat99);
  drain_latency(false, LATENCY_SAMPLES, &floor50, &floor99);
  idle = idle_drain_us(63);
  printf("{\"bench\":\"gate_drain_latency\",\"samples\":%d,"
         "\"after_last_exit_us\":{\"p50\":%.1f,\"p99\":%.1f},"
         "\"idle_drain_us\":%.1f,"
         "\"baseline\":{\"what\":\"futex wake of a thread napping on the "
         "drain's schedule\","
         "\"p50\":%.1f,\"p99\":%.1f},\"ratio\":%.2f}\n",
         LATENCY_SAMPLES, lat50, lat99, idle, floor50, floor99,
         floor50 > 0 ? lat50 / floor50 : 0.0);
  tn_gate_free(gate);
  return 0;
}
