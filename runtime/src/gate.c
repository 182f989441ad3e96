/*
 * Request gate: admit requests while open, refuse them while draining, and
 * tell the controller (the collector governor) when nothing admitted is still
 * in flight.
 *
 * Each thread counts its own requests in a slot that only it writes; the
 * gate keeps a push-only list of the slots. tn_gate_enter
 * reads the gate's state inside an RCU read section and, if open, adds one
 * to the slot; tn_gate_exit subtracts one. Neither writes a shared line
 * while the gate is open. Drain works like the kernel's percpu_ref kill:
 * store "draining", synchronize_rcu() so every enter that read "open" has
 * counted itself, then sum the slots until the sum is zero or the deadline.
 *
 * Invariants:
 *  - After the grace period no slot's inflight ever grows until tn_gate_open
 *    (an increment only happens in a read section that read "open"). So a
 *    sum read slot by slot is never below the true total at the end of the
 *    read, and a sum of zero means zero, even while exits race the sum.
 *    The sum is signed: a slot may go negative if a request's slot changed
 *    under it (eviction, below); the total is still exact.
 *  - A slot is freed by whichever lets go of it last, the gate (at
 *    tn_gate_free) or its owning thread (at thread exit or eviction): two
 *    holder bits in one atomic word decide who. A thread that exits leaves
 *    its slot, counts intact, for the next new thread to claim.
 *  - exit stores its count with release and drain sums with acquire, so
 *    whatever a request did happens before a drain that returns 0; open is
 *    a release and enter's load an acquire, so whatever the controller did
 *    while closed happens before the next admitted request.
 *
 * The trick: the gate's state shares one word with a process-unique gate
 * id, and a thread caches (id, slot) pairs. The fast path's single load of
 * that word both checks the state and finds the slot with one compare, and
 * a freed gate's address coming back from malloc cannot alias a stale
 * cache entry. A drain is woken by the exit that brings a slot to zero
 * (futex), with short polls as the fallback, so it returns within a
 * wake-up of the last exit.
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE 1
#include <urcu/urcu-memb.h>
/*
 * Thread-local data in a shared library is reached through __tls_get_addr
 * by default, a call per access: four in a read section, which made enter
 * cost 19 ns instead of 5. Initial-exec reaches it at a fixed offset from
 * %fs. It needs the libraries loaded at start-up (or room in the static TLS
 * reserve), which linking jemalloc, itself initial-exec, already requires.
 */
#ifdef CONFIG_RCU_TLS
extern DECLARE_URCU_TLS(struct urcu_reader, urcu_memb_reader)
    __attribute__((tls_model("initial-exec")));
#endif
#include "rcu.h"

#include <tenure/error.h>
#include <tenure/gate.h>

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CACHE_LINE 64

#define GATE_OPEN 0u
#define GATE_DRAINING 1u /* drain in progress: an exit reaching zero wakes it */
#define GATE_CLOSED 2u   /* drain returned; refusing until tn_gate_open */
#define STATE_BITS 2
#define STATE_MASK ((1u << STATE_BITS) - 1)

#define HELD_BY_GATE 1u  /* the gate's list links the slot */
#define HELD_BY_OWNER 2u /* a thread's cache holds the slot */

#define GATES_PER_THREAD 8 /* cached slots per thread before eviction */

#define NAP_FIRST (20 * TN_USEC)
#define NAP_MAX TN_MSEC

/* 128 bytes: the CPU's adjacent-line prefetcher pairs 64-byte lines, and two
 * threads' 64-byte slots side by side doubled the cost on two threads. */
struct slot {
  _Atomic int64_t inflight; /* written by the owner thread only */
  _Atomic uint64_t shed;    /* written by the owner thread only */
  _Atomic unsigned holders; /* HELD_BY_GATE | HELD_BY_OWNER */
  struct slot *next;        /* immutable once the slot is published */
} __attribute__((aligned(2 * CACHE_LINE)));

struct tn_gate {
  /* Read by every enter and exit, written only by drain and open. */
  _Alignas(CACHE_LINE) _Atomic uint64_t word; /* id << STATE_BITS | state */
  /* Slow path: new slots, and requests of a thread that got no slot. */
  _Alignas(CACHE_LINE) _Atomic(struct slot *) slots;
  _Atomic int64_t spill_inflight;
  _Atomic uint64_t spill_shed;
  /* Futex the drainer sleeps on; bumped by exits while draining. */
  _Alignas(CACHE_LINE) _Atomic uint32_t drain_seq;
};

static _Atomic uint64_t next_gate_id = 1; /* 0 marks an empty cache entry */

/* --- the thread's slot cache -------------------------------------------- */

struct gate_ref {
  uint64_t id;
  struct slot *slot;
};

/* Most recently used first; refs[0] is the fast path's one compare. */
#define TLS_FAST __attribute__((tls_model("initial-exec")))
static __thread struct gate_ref refs[GATES_PER_THREAD] TLS_FAST;
static __thread int refs_keyed TLS_FAST; /* the exit destructor is armed */

static pthread_key_t refs_key;
static pthread_once_t refs_key_once = PTHREAD_ONCE_INIT;
static int refs_key_ok;

static void slot_let_go(struct slot *s, unsigned holder) {
  unsigned before = atomic_fetch_and_explicit(&s->holders, ~holder,
                                              memory_order_acq_rel);
  if (before == holder)
    free(s);
}

static void refs_release_all(void *marker) {
  int i;
  (void)marker;
  for (i = 0; i < GATES_PER_THREAD; i++) {
    if (refs[i].id != 0)
      slot_let_go(refs[i].slot, HELD_BY_OWNER);
    refs[i].id = 0;
    refs[i].slot = NULL;
  }
  refs_keyed = 0;
}

static void make_refs_key(void) {
  refs_key_ok = pthread_key_create(&refs_key, refs_release_all) == 0;
}

/* Arm the thread-exit destructor. False if it cannot be: then the thread
 * must not own slots, which nobody would ever let go of. */
static int refs_arm(void) {
  if (refs_keyed)
    return 1;
  pthread_once(&refs_key_once, make_refs_key);
  if (!refs_key_ok || pthread_setspecific(refs_key, refs) != 0)
    return 0;
  refs_keyed = 1;
  return 1;
}

/* A slot of g nobody owns (left by an exited thread), or a new one. */
static struct slot *slot_claim(tn_gate *g) {
  struct slot *s;
  for (s = atomic_load_explicit(&g->slots, memory_order_acquire); s;
       s = s->next) {
    unsigned free_slot = HELD_BY_GATE;
    if (atomic_compare_exchange_strong_explicit(
            &s->holders, &free_slot, HELD_BY_GATE | HELD_BY_OWNER,
            memory_order_acq_rel, memory_order_relaxed))
      return s;
  }
  s = aligned_alloc(2 * CACHE_LINE, sizeof *s);
  if (s == NULL)
    return NULL;
  atomic_init(&s->inflight, 0);
  atomic_init(&s->shed, 0);
  atomic_init(&s->holders, HELD_BY_GATE | HELD_BY_OWNER);
  s->next = atomic_load_explicit(&g->slots, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&g->slots, &s->next, s,
                                                memory_order_release,
                                                memory_order_relaxed))
    ;
  return s;
}

static void refs_move_to_front(int i) {
  struct gate_ref hit = refs[i];
  for (; i > 0; i--)
    refs[i] = refs[i - 1];
  refs[0] = hit;
}

/*
 * The slow half of the lookup: refs[0] is not this gate. Returns the slot,
 * now in refs[0], or NULL when none can be had (out of memory, no pthread
 * key): the caller then counts in the gate's spill counters.
 */
static __attribute__((noinline)) struct slot *slot_find(tn_gate *g,
                                                        uint64_t id) {
  struct slot *s;
  int i, victim;
  for (i = 1; i < GATES_PER_THREAD; i++) {
    if (refs[i].id == id) {
      refs_move_to_front(i);
      return refs[0].slot;
    }
  }
  if (!refs_arm())
    return NULL;
  /* Make room: an entry whose gate is gone, else the least recently used.
   * An evicted slot keeps its counts; the gate still sums it. */
  victim = GATES_PER_THREAD - 1;
  for (i = 0; i < GATES_PER_THREAD; i++) {
    if (refs[i].id == 0 ||
        !(atomic_load_explicit(&refs[i].slot->holders, memory_order_relaxed) &
          HELD_BY_GATE)) {
      victim = i;
      break;
    }
  }
  if (refs[victim].id != 0)
    slot_let_go(refs[victim].slot, HELD_BY_OWNER);
  refs[victim].id = 0;
  refs[victim].slot = NULL;
  s = slot_claim(g);
  if (s == NULL)
    return NULL;
  refs[victim].id = id;
  refs[victim].slot = s;
  refs_move_to_front(victim);
  return s;
}

static inline struct slot *slot_of(tn_gate *g, uint64_t id) {
  if (caa_likely(refs[0].id == id))
    return refs[0].slot;
  return slot_find(g, id);
}

/* --- fast path ---------------------------------------------------------- */

#ifdef TN_TESTING
/* Fault injection: called inside enter's read section, between reading the
 * state and counting, to widen the window a grace period must cover. */
static void (*enter_stall)(void);
void tn__gate_set_enter_stall(void (*stall)(void));
void tn__gate_set_enter_stall(void (*stall)(void)) { enter_stall = stall; }
#define ENTER_STALL()                                                          \
  do {                                                                         \
    if (enter_stall != NULL)                                                   \
      enter_stall();                                                           \
  } while (0)
#else
#define ENTER_STALL() ((void)0)
#endif

bool tn_gate_enter(tn_gate *g) {
  uint64_t word;
  struct slot *s;
  bool admitted;
  tn__rcu_read_lock();
  word = atomic_load_explicit(&g->word, memory_order_acquire);
  s = slot_of(g, word >> STATE_BITS);
  admitted = (word & STATE_MASK) == GATE_OPEN;
  ENTER_STALL();
  if (caa_likely(s != NULL)) {
    if (caa_likely(admitted))
      atomic_store_explicit(
          &s->inflight,
          atomic_load_explicit(&s->inflight, memory_order_relaxed) + 1,
          memory_order_relaxed);
    else
      atomic_store_explicit(
          &s->shed, atomic_load_explicit(&s->shed, memory_order_relaxed) + 1,
          memory_order_relaxed);
  } else if (admitted) {
    atomic_fetch_add_explicit(&g->spill_inflight, 1, memory_order_relaxed);
  } else {
    atomic_fetch_add_explicit(&g->spill_shed, 1, memory_order_relaxed);
  }
  tn__rcu_read_unlock();
  return admitted;
}

static __attribute__((noinline)) void wake_drainer(tn_gate *g) {
  atomic_fetch_add_explicit(&g->drain_seq, 1, memory_order_seq_cst);
  syscall(SYS_futex, (uint32_t *)&g->drain_seq, FUTEX_WAKE_PRIVATE, 1, NULL,
          NULL, 0);
}

void tn_gate_exit(tn_gate *g) {
  uint64_t word = atomic_load_explicit(&g->word, memory_order_relaxed);
  struct slot *s = slot_of(g, word >> STATE_BITS);
  int64_t left;
  if (caa_likely(s != NULL)) {
    left = atomic_load_explicit(&s->inflight, memory_order_relaxed) - 1;
    atomic_store_explicit(&s->inflight, left, memory_order_release);
  } else {
    atomic_fetch_sub_explicit(&g->spill_inflight, 1, memory_order_release);
    left = 0;
  }
  /*
   * Re-read the state after the store. If the drain's store of "draining"
   * came too late for this load to see it, the membarrier inside its grace
   * period has made our store visible to its first sum; otherwise we see
   * "draining" here and wake it. (Without membarrier the wake may be
   * missed; the drainer's polls still find the zero.)
   */
  atomic_signal_fence(memory_order_seq_cst);
  word = atomic_load_explicit(&g->word, memory_order_relaxed);
  if (caa_unlikely((word & STATE_MASK) == GATE_DRAINING) && left <= 0)
    wake_drainer(g);
}

/* --- slow path ---------------------------------------------------------- */

int tn_gate_new(tn_gate **out) {
  tn_gate *g = aligned_alloc(CACHE_LINE, sizeof *g);
  uint64_t id;
  if (g == NULL)
    return TN_ENOMEM;
  id = atomic_fetch_add_explicit(&next_gate_id, 1, memory_order_relaxed);
  atomic_init(&g->word, id << STATE_BITS | GATE_OPEN);
  atomic_init(&g->slots, NULL);
  atomic_init(&g->spill_inflight, 0);
  atomic_init(&g->spill_shed, 0);
  atomic_init(&g->drain_seq, 0);
  *out = g;
  return 0;
}

void tn_gate_free(tn_gate *g) {
  uint64_t id;
  struct slot *s, *next;
  int i;
  if (g == NULL)
    return;
  id = atomic_load_explicit(&g->word, memory_order_relaxed) >> STATE_BITS;
  /* The caller's own cache entry goes now rather than at its thread exit. */
  for (i = 0; i < GATES_PER_THREAD; i++) {
    if (refs[i].id == id) {
      slot_let_go(refs[i].slot, HELD_BY_OWNER);
      for (; i + 1 < GATES_PER_THREAD; i++)
        refs[i] = refs[i + 1];
      refs[i].id = 0;
      refs[i].slot = NULL;
      break;
    }
  }
  for (s = atomic_load_explicit(&g->slots, memory_order_acquire); s; s = next) {
    next = s->next; /* before letting go: the owner may free it at once */
    slot_let_go(s, HELD_BY_GATE);
  }
  free(g);
}

static int64_t inflight_sum(const tn_gate *g) {
  const struct slot *s;
  int64_t sum = atomic_load_explicit(&g->spill_inflight, memory_order_acquire);
  for (s = atomic_load_explicit(&g->slots, memory_order_acquire); s;
       s = s->next)
    sum += atomic_load_explicit(&s->inflight, memory_order_acquire);
  return sum;
}

static void drain_nap(tn_gate *g, uint32_t seen, tn_nanos nap) {
  struct timespec ts;
  ts.tv_sec = (time_t)(nap / TN_SEC);
  ts.tv_nsec = (long)(nap % TN_SEC);
  /* Returns early on a wake, a signal, or drain_seq already moved on. */
  syscall(SYS_futex, (uint32_t *)&g->drain_seq, FUTEX_WAIT_PRIVATE, seen, &ts,
          NULL, 0);
}

int tn_gate_drain(tn_gate *g, tn_nanos timeout, tn_nanos *waited) {
  uint64_t id = atomic_load_explicit(&g->word, memory_order_relaxed) >>
                STATE_BITS;
  tn_nanos start = tn_now();
  tn_nanos deadline = tn_nanos_add_sat(start, timeout > 0 ? timeout : 0);
  tn_nanos nap = NAP_FIRST;
  int rc;

  atomic_store_explicit(&g->word, id << STATE_BITS | GATE_DRAINING,
                        memory_order_release);
  /* Every enter that read "open" did so in a read section that has ended
   * once this returns, and its increment is visible. */
  tn__rcu_synchronize();
  for (;;) {
    /* Read the futex word before the sum: an exit after the sum moves it,
     * and the wait below then returns at once. */
    uint32_t seen = atomic_load_explicit(&g->drain_seq, memory_order_seq_cst);
    tn_nanos now;
    if (inflight_sum(g) <= 0) {
      rc = 0;
      break;
    }
    now = tn_now();
    if (now >= deadline) {
      rc = TN_ETIMEDOUT;
      break;
    }
    drain_nap(g, seen, deadline - now < nap ? deadline - now : nap);
    nap = nap * 2 < NAP_MAX ? nap * 2 : NAP_MAX;
  }
  atomic_store_explicit(&g->word, id << STATE_BITS | GATE_CLOSED,
                        memory_order_release);
  if (waited != NULL)
    *waited = tn_now() - start;
  return rc;
}

void tn_gate_open(tn_gate *g) {
  uint64_t id = atomic_load_explicit(&g->word, memory_order_relaxed) >>
                STATE_BITS;
  atomic_store_explicit(&g->word, id << STATE_BITS | GATE_OPEN,
                        memory_order_release);
}

int64_t tn_gate_inflight(const tn_gate *g) { return inflight_sum(g); }

uint64_t tn_gate_shed(const tn_gate *g) {
  const struct slot *s;
  uint64_t sum = atomic_load_explicit(&g->spill_shed, memory_order_relaxed);
  for (s = atomic_load_explicit(&g->slots, memory_order_acquire); s;
       s = s->next)
    sum += atomic_load_explicit(&s->shed, memory_order_relaxed);
  return sum;
}

bool tn_gate_draining(const tn_gate *g) {
  return (atomic_load_explicit(&g->word, memory_order_acquire) & STATE_MASK) !=
         GATE_OPEN;
}

#ifdef TN_TESTING
/* Test hooks are declared in tests/unit/test_gate.c. */

/* How many slots the gate links, and how many of them a thread owns. */
void tn__gate_census(const tn_gate *g, size_t *slots, size_t *owned);
void tn__gate_census(const tn_gate *g, size_t *slots, size_t *owned) {
  const struct slot *s;
  *slots = 0;
  *owned = 0;
  for (s = atomic_load_explicit(&g->slots, memory_order_acquire); s;
       s = s->next) {
    (*slots)++;
    if (atomic_load_explicit(&s->holders, memory_order_acquire) &
        HELD_BY_OWNER)
      (*owned)++;
  }
}
#endif
