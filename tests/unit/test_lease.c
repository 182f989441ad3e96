/*
 * Unit tests: the lease deadline, the guard, renew / release, the planned
 * pause decision and the leader loop (lease.c, leader.c).
 *
 * A scripted backend stands in for the authority so each term of the
 * deadline formula, a slow request, a lost lease or an unreachable
 * authority can be produced exactly under a swapped clock.
 */
#define _GNU_SOURCE
#include "cu_main.h"

#include "authority.h"
#include "clock_testing.h"
#include "lease_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <tenure/error.h>
#include <tenure/lease.h>
#include <time.h>
#include <unistd.h>

/* --- a scripted backend --------------------------------------------------- */

static struct {
  tn__manual_clock *clock; /* advanced by `latency` inside each request */
  tn_nanos latency;
  tn_nanos grant;          /* duration granted (0: the ttl asked for) */
  int acquire_rc, renew_rc, release_rc;
  _Atomic int renew_blocks; /* renew waits while this is set */
  _Atomic int renew_blocked; /* a renewal is waiting on renew_blocks */
  uint64_t next_token;
  _Atomic int renews, releases; /* read by the test while a loop runs */
} fake;

static void fake_request(void) {
  if (fake.clock)
    fake.clock->boot += fake.latency;
}

static int f_open(const char *uri, void **st) {
  (void)uri;
  *st = &fake;
  return 0;
}
static void f_close(void *st) { (void)st; }
static int f_acquire(void *st, const char *n, const char *h, tn_nanos ttl,
                     tn__grant *g) {
  (void)st, (void)n, (void)h;
  fake_request();
  if (fake.acquire_rc)
    return fake.acquire_rc;
  g->token = ++fake.next_token;
  g->duration = fake.grant ? fake.grant : ttl;
  g->expiry = 0;
  return 0;
}
static int f_renew(void *st, const char *n, const char *h, uint64_t tok,
                   tn_nanos ttl, tn__grant *g) {
  (void)st, (void)n, (void)h;
  while (atomic_load(&fake.renew_blocks)) {
    atomic_store(&fake.renew_blocked, 1);
    usleep(1000);
  }
  atomic_store(&fake.renew_blocked, 0);
  fake_request();
  fake.renews++;
  if (fake.renew_rc)
    return fake.renew_rc;
  g->token = tok;
  g->duration = fake.grant ? fake.grant : ttl;
  g->expiry = 0;
  return 0;
}
static int f_release(void *st, const char *n, const char *h, uint64_t tok) {
  (void)st, (void)n, (void)h, (void)tok;
  fake.releases++;
  return fake.release_rc;
}
static int f_observe(void *st, const char *n, tn_lease_info *out) {
  (void)st, (void)n;
  memset(out, 0, sizeof *out);
  return TN_ENOENT;
}
static int f_list(void *st, tn_lease_info *out, size_t max, size_t *count) {
  (void)st, (void)out, (void)max;
  *count = 0;
  return 0;
}
static int f_force(void *st, const char *n) {
  (void)st, (void)n;
  return TN_ENOENT;
}
static int f_watch(void *st, const char *n, uint64_t tok, tn_nanos t) {
  (void)st, (void)n, (void)tok, (void)t;
  return TN_ETIMEDOUT;
}

static const tn__backend fake_backend = {
    .scheme = "fake", .open = f_open, .close = f_close,
    .acquire = f_acquire, .renew = f_renew, .release = f_release,
    .observe = f_observe, .list = f_list, .force_release = f_force,
    .watch = f_watch};

static tn__manual_clock mc;
static tn__clock_source src;
static tn_authority *auth;

static void setup(tn_nanos latency) {
  memset((void *)&fake, 0, sizeof fake);
  memset(&mc, 0, sizeof mc);
  mc.boot = 1000 * TN_SEC;
  mc.mono = 1000 * TN_SEC;
  fake.clock = &mc;
  fake.latency = latency;
  tn__manual_clock_source(&src, &mc);
  tn__clock_swap(&src);
  CU_ASSERT_EQUAL_FATAL(tn__authority_wrap(&fake_backend, &fake, &auth), 0);
}

static void teardown(void) {
  tn_authority_close(auth);
  tn__clock_swap(NULL);
}

static tn_lease *open_lease(tn_nanos ttl, int32_t ppm, tn_nanos margin) {
  tn_lease_options o;
  tn_lease *l = NULL;
  tn_lease_options_init(&o);
  o.ttl = ttl;
  o.drift_ppm = ppm;
  o.margin = margin;
  CU_ASSERT_EQUAL_FATAL(tn_lease_open(auth, "db-primary", "node-a", &o, &l),
                        0);
  return l;
}

/* --- the deadline formula, one term at a time ----------------------------- */

static void test_formula_terms(void) {
  tn_lease_options o;
  tn__lease_options_resolve(NULL, &o);
  o.drift_ppm = 0;
  o.margin = 0;
  /* t_send: the deadline moves with it, one for one */
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 0, TN_SEC, 0), TN_SEC);
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 7 * TN_SEC, TN_SEC, 0), 8 * TN_SEC);
  /* D */
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 0, 3 * TN_SEC, 0), 3 * TN_SEC);
  /* drift: 1000 ppm of 2 s is 2 ms */
  o.drift_ppm = 1000;
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 0, 2 * TN_SEC, 0),
                  2 * TN_SEC - 2 * TN_MSEC);
  o.drift_ppm = 1;
  /* a fraction of a ns of drift rounds towards the safe side */
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 0, 1500, 0), 1499);
  /* margin */
  o.drift_ppm = 0;
  o.margin = 50 * TN_MSEC;
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 0, TN_SEC, 0), 950 * TN_MSEC);
  /* a backend on our own boot clock: expiry - margin, no drift */
  o.drift_ppm = 1000;
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 5, TN_SEC, 77 * TN_SEC),
                  77 * TN_SEC - 50 * TN_MSEC);
  /* huge D does not overflow the drift product */
  o.margin = 0;
  CU_ASSERT_EQUAL(tn__lease_deadline(&o, 0, 24 * TN_HOUR, 0),
                  24 * TN_HOUR - 24 * TN_HOUR / 1000);
}

static void test_defaults_and_bad_options(void) {
  tn_lease_options o, r;
  tn_lease *l;
  CU_ASSERT_EQUAL(tn__lease_options_resolve(NULL, &r), 0);
  CU_ASSERT_EQUAL(r.ttl, 2 * TN_SEC);
  CU_ASSERT_EQUAL(r.drift_ppm, 1000);
  CU_ASSERT_EQUAL(r.margin, 100 * TN_MSEC);
  CU_ASSERT_EQUAL(r.renew_every, 2 * TN_SEC / 3);
  tn_lease_options_init(&o);
  o.ttl = TN_SEC;
  o.margin = TN_SEC; /* no time left to act */
  CU_ASSERT_EQUAL(tn__lease_options_resolve(&o, &r), TN_EINVAL);
  tn_lease_options_init(&o);
  o.renew_every = 3 * TN_SEC; /* renewing after the lease ran out */
  CU_ASSERT_EQUAL(tn__lease_options_resolve(&o, &r), TN_EINVAL);
  setup(0);
  CU_ASSERT_EQUAL(tn_lease_open(auth, "bad name", "a", NULL, &l), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_lease_open(auth, "ok", "quote\"d", NULL, &l), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_lease_open(auth, "", "a", NULL, &l), TN_EINVAL);
  teardown();
}

/* t_send is read before the request: a slow request (300 ms in flight)
 * shortens the term, it does not stretch it. */
static void test_time_read_before_request(void) {
  tn_lease *l;
  tn_nanos t_send;
  setup(300 * TN_MSEC);
  l = open_lease(TN_SEC, 1000, 10 * TN_MSEC);
  t_send = mc.boot;
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  CU_ASSERT_EQUAL(mc.boot, t_send + 300 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_deadline(l),
                  t_send + TN_SEC - TN_MSEC - 10 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_remaining(l), TN_SEC - 311 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_token(l), 1);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_LEADER);
  /* the authority granted less than asked: the shorter D is used */
  fake.grant = 400 * TN_MSEC;
  fake.latency = 0;
  t_send = mc.boot;
  CU_ASSERT_EQUAL(tn_lease_renew(l), 0);
  /* the authority restarted its timer with the shorter grant: the new,
   * earlier deadline replaces the old one */
  CU_ASSERT_EQUAL(tn_lease_deadline(l),
                  t_send + 400 * TN_MSEC - 400 * TN_USEC - 10 * TN_MSEC);
  tn_lease_close(l);
  teardown();
}

/* --- the guard ----------------------------------------------------------- */

static void test_guard_boundaries(void) {
  tn_lease *l;
  uint64_t tok = 0;
  tn_nanos deadline;
  setup(0);
  l = open_lease(TN_SEC, 0, 0);
  CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &tok), TN_ESTALE); /* not leader */
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  deadline = tn_lease_deadline(l);
  CU_ASSERT_EQUAL(tn_guard_begin(l, 100 * TN_MSEC, &tok), 0);
  CU_ASSERT_EQUAL(tok, 1);
  CU_ASSERT_EQUAL(tn_guard_end(l), 0);
  /* an action that would end exactly at the deadline is refused */
  mc.boot = deadline - 100 * TN_MSEC;
  CU_ASSERT_EQUAL(tn_guard_begin(l, 100 * TN_MSEC, &tok), TN_ESTALE);
  CU_ASSERT_EQUAL(tn_guard_begin(l, 100 * TN_MSEC - 1, &tok), 0);
  CU_ASSERT_EQUAL(tn_guard_end(l), 0);
  /* a pause during the action: the end says the effect may be fenced */
  CU_ASSERT_EQUAL(tn_guard_begin(l, TN_MSEC, &tok), 0);
  mc.boot = deadline; /* a ten-second stall would do the same */
  CU_ASSERT_EQUAL(tn_guard_end(l), TN_ELOST);
  /* from the deadline on, every guard refuses, and asks for a step-down */
  CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &tok), TN_ESTALE);
  CU_ASSERT_EQUAL(atomic_load(&l->stepdown_wanted), 1);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_STEPPING_DOWN);
  CU_ASSERT_EQUAL(tn_lease_remaining(l), 0);
  CU_ASSERT(tn__lease_refusals(l) >= 3);
  /* end without begin on this thread */
  CU_ASSERT_EQUAL(tn_guard_end(l), TN_EINVAL);
  tn_lease_close(l);
  teardown();
}

static void test_guard_end_after_release(void) {
  tn_lease *l;
  uint64_t tok;
  setup(0);
  l = open_lease(TN_SEC, 0, 0);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  CU_ASSERT_EQUAL(tn_guard_begin(l, TN_MSEC, &tok), 0);
  CU_ASSERT_EQUAL(tn_lease_release(l), 0); /* handed off mid-action */
  CU_ASSERT_EQUAL(tn_guard_end(l), TN_ELOST);
  CU_ASSERT_EQUAL(tn_guard_begin(l, TN_MSEC, &tok), TN_ESTALE);
  CU_ASSERT_EQUAL(fake.releases, 1);
  /* a new term has a new token; the old term's guard ends lost */
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  CU_ASSERT_EQUAL(tn_guard_begin(l, TN_MSEC, &tok), 0);
  CU_ASSERT_EQUAL(tok, 2);
  CU_ASSERT_EQUAL(tn_guard_end(l), 0);
  tn_lease_close(l);
  teardown();
}

/* --- renew and release ----------------------------------------------------- */

static void test_renew_paths(void) {
  tn_lease *l;
  uint64_t tok;
  tn_nanos d0;
  setup(0);
  l = open_lease(TN_SEC, 0, 0);
  CU_ASSERT_EQUAL(tn_lease_renew(l), TN_ELOST); /* not leader */
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  d0 = tn_lease_deadline(l);
  mc.boot += 300 * TN_MSEC;
  CU_ASSERT_EQUAL(tn_lease_renew(l), 0);
  CU_ASSERT_EQUAL(tn_lease_deadline(l), d0 + 300 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_token(l), 1); /* same term, same token */
  /* a transient failure keeps the term (the caller may retry) */
  fake.renew_rc = TN_EUNAVAILABLE;
  CU_ASSERT_EQUAL(tn_lease_renew(l), TN_EUNAVAILABLE);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_LEADER);
  CU_ASSERT_EQUAL(tn_guard_begin(l, TN_MSEC, &tok), 0);
  tn_guard_end(l);
  /* ... until the deadline passes during the attempt */
  fake.latency = TN_SEC;
  CU_ASSERT_EQUAL(tn_lease_renew(l), TN_ESTALE);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_FOLLOWER);
  CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &tok), TN_ESTALE);
  /* the authority says we lost it: guards refuse at once */
  fake.latency = 0;
  fake.renew_rc = 0;
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  fake.renew_rc = TN_ELOST;
  CU_ASSERT_EQUAL(tn_lease_renew(l), TN_ELOST);
  CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &tok), TN_ESTALE);
  /* renewing after the deadline never asks the authority */
  fake.renew_rc = 0;
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  fake.renews = 0;
  mc.boot += 2 * TN_SEC;
  CU_ASSERT_EQUAL(tn_lease_renew(l), TN_ESTALE);
  CU_ASSERT_EQUAL(fake.renews, 0);
  tn_lease_close(l);
  teardown();
}

static void test_acquire_busy(void) {
  tn_lease *l;
  setup(0);
  l = open_lease(TN_SEC, 0, 0);
  fake.acquire_rc = TN_EBUSY;
  CU_ASSERT_EQUAL(tn_lease_try_acquire(l), TN_EBUSY);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_FOLLOWER);
  CU_ASSERT_EQUAL(tn_lease_token(l), 0);
  tn_lease_close(l);
  teardown();
}

/* --- planned pauses (design §5.3) -------------------------------------------- */

static void test_pause_decisions(void) {
  tn_lease *l;
  setup(0);
  l = open_lease(TN_SEC, 0, 50 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_prepare_for_pause(l, 10 * TN_MSEC),
                  TN_PAUSE_NOT_LEADER);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  /* 950 ms left, a 100 ms pause: keep leading */
  CU_ASSERT_EQUAL(tn_lease_prepare_for_pause(l, 100 * TN_MSEC), TN_PAUSE_KEEP);
  CU_ASSERT_EQUAL(fake.renews, 0);
  /* 150 ms left, a 300 ms pause: a renewal (950 ms) covers it */
  mc.boot += 800 * TN_MSEC;
  CU_ASSERT_EQUAL(tn_lease_prepare_for_pause(l, 300 * TN_MSEC),
                  TN_PAUSE_RENEWED);
  CU_ASSERT_EQUAL(fake.renews, 1);
  CU_ASSERT(tn_lease_remaining(l) > 350 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_LEADER);
  /* a 2 s pause outlasts any term: hand off before it starts */
  CU_ASSERT_EQUAL(tn_lease_prepare_for_pause(l, 2 * TN_SEC),
                  TN_PAUSE_HANDED_OFF);
  CU_ASSERT_EQUAL(fake.releases, 1);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_FOLLOWER);
  CU_ASSERT_EQUAL(atomic_load(&l->handed_off), 1);
  /* a renewal that fails also ends in a handoff */
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  mc.boot += 900 * TN_MSEC;
  fake.renew_rc = TN_EUNAVAILABLE;
  CU_ASSERT_EQUAL(tn_lease_prepare_for_pause(l, 300 * TN_MSEC),
                  TN_PAUSE_HANDED_OFF);
  tn_lease_close(l);
  teardown();
}

/* --- the leader loop on the real clock: L2 --------------------------------- */

/* On the real clock a loaded machine may run any thread hundreds of
 * milliseconds late. So these tests wait for what they need with a deadline
 * far beyond that (the deadline only turns "never" into a failure), use a
 * ttl that a late renewal thread cannot miss, and check the guard against
 * the deadline by the order of clock reads, not by how soon it refused. */
#define LOOP_DEADLINE (20 * TN_SEC)

/* Poll until *flag >= want or LOOP_DEADLINE passes; returns whether. */
static int wait_for(_Atomic int *flag, int want) {
  tn_nanos until = tn_now() + LOOP_DEADLINE;
  while (atomic_load(flag) < want) {
    if (tn_now() > until)
      return 0;
    usleep(1000);
  }
  return 1;
}

struct loop_probe {
  tn_leader *ld;
  _Atomic int elected, stepped_down, step_down_reason;
  _Atomic int release_step_down; /* on_step_down blocks until set */
  _Atomic uint64_t token;
};

static void on_elected(uint64_t token, void *arg) {
  struct loop_probe *p = arg;
  atomic_store(&p->token, token);
  atomic_store(&p->elected, 1);
}

static int lead(tn_lease *l, void *arg) {
  uint64_t tok;
  (void)arg;
  if (tn_guard_begin(l, TN_MSEC, &tok) == 0)
    tn_guard_end(l);
  usleep(1000);
  return 0;
}

static void on_step_down(tn_stepdown_reason r, void *arg) {
  struct loop_probe *p = arg;
  atomic_store(&p->step_down_reason, (int)r);
  atomic_store(&p->stepped_down, 1);
  while (!atomic_load(&p->release_step_down))
    usleep(1000); /* an application that takes its time */
}

static void *run_loop(void *arg) {
  struct loop_probe *p = arg;
  tn_leader_run(p->ld);
  return NULL;
}

static void test_leader_loop_guards_refuse_before_step_down(void) {
  static struct loop_probe p;
  tn_leader_callbacks cb = {on_elected, lead, on_step_down};
  tn_lease_options o;
  pthread_t t;
  tn_lease *l;
  uint64_t tok;
  tn_nanos first_deadline, deadline, refused_at, until;
  int admitted_late = 0, refused = 0;
  memset((void *)&fake, 0, sizeof fake);
  memset(&p, 0, sizeof p);
  CU_ASSERT_EQUAL_FATAL(tn__authority_wrap(&fake_backend, &fake, &auth), 0);
  tn_lease_options_init(&o);
  /* renewals every 100 ms against a 2 s term: the renewal thread would
   * have to be descheduled for ~1.8 s to lose it */
  o.ttl = 2 * TN_SEC;
  o.renew_every = 100 * TN_MSEC;
  CU_ASSERT_EQUAL_FATAL(
      tn_leader_open(auth, "loop", "node-a", &o, &cb, &p, &p.ld), 0);
  l = tn_leader_lease(p.ld);
  pthread_create(&t, NULL, run_loop, &p);
  CU_ASSERT_FATAL(wait_for(&p.elected, 1));
  CU_ASSERT_EQUAL(atomic_load(&p.token), 1);
  first_deadline = tn_lease_deadline(l);
  /* Renewals keep it alive past its first term's deadline. */
  until = tn_now() + LOOP_DEADLINE;
  while ((atomic_load(&fake.renews) < 2 || tn_now() <= first_deadline) &&
         tn_now() < until)
    usleep(1000);
  CU_ASSERT(atomic_load(&fake.renews) >= 2);
  CU_ASSERT(tn_now() > first_deadline);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_LEADER);
  CU_ASSERT(tn_lease_deadline(l) > first_deadline);

  /* The authority becomes unreachable: renewals hang. Once the loop's
   * renewal is stuck, nothing can move the deadline. */
  atomic_store(&fake.renew_blocks, 1);
  CU_ASSERT_FATAL(wait_for(&fake.renew_blocked, 1));
  deadline = tn_lease_deadline(l);
  /* Guards refuse from the deadline on, by the clock alone. A guard whose
   * call began at or after the deadline must be refused; one that is
   * refused must have been called at or after it. Both are orders of
   * clock reads, so a late-scheduled poller cannot break them. */
  until = tn_now() + LOOP_DEADLINE;
  for (;;) {
    tn_nanos called = tn_now();
    if (tn_guard_begin(l, 0, &tok) != 0) {
      refused = 1;
      break;
    }
    tn_guard_end(l);
    if (called >= deadline)
      admitted_late++;
    if (called > until)
      break;
    usleep(100);
  }
  refused_at = tn_now();
  CU_ASSERT_TRUE(refused); /* it did refuse, on its own: the loop is stuck */
  CU_ASSERT_EQUAL(admitted_late, 0);
  CU_ASSERT(refused_at >= deadline);
  /* ... while the loop has not stepped down: it is stuck behind the
   * renewal (which waits until released below, so this holds however long
   * it takes) */
  usleep(50 * 1000);
  CU_ASSERT_EQUAL(atomic_load(&p.stepped_down), 0);
  CU_ASSERT_EQUAL(atomic_load(&fake.renew_blocked), 1);
  CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &tok), TN_ESTALE);

  /* The renewal returns (too late); on_step_down runs and blocks; guards
   * still refuse throughout. */
  atomic_store(&fake.renew_blocks, 0);
  CU_ASSERT_FATAL(wait_for(&p.stepped_down, 1));
  CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &tok), TN_ESTALE);
  CU_ASSERT(atomic_load(&p.step_down_reason) == TN_STEPDOWN_RENEW_FAILED ||
            atomic_load(&p.step_down_reason) == TN_STEPDOWN_EXPIRED);
  tn_leader_stop(p.ld);
  atomic_store(&p.release_step_down, 1);
  pthread_join(t, NULL);
  CU_ASSERT(fake.releases >= 1);
  tn_leader_close(p.ld);
  tn_authority_close(auth);
}

static void test_leader_stop_releases(void) {
  static struct loop_probe p;
  tn_leader_callbacks cb = {on_elected, lead, on_step_down};
  pthread_t t;
  memset((void *)&fake, 0, sizeof fake);
  memset(&p, 0, sizeof p);
  atomic_store(&p.release_step_down, 1);
  CU_ASSERT_EQUAL_FATAL(tn__authority_wrap(&fake_backend, &fake, &auth), 0);
  CU_ASSERT_EQUAL_FATAL(
      tn_leader_open(auth, "loop", "node-a", NULL, &cb, &p, &p.ld), 0);
  pthread_create(&t, NULL, run_loop, &p);
  CU_ASSERT(wait_for(&p.elected, 1));
  tn_leader_stop(p.ld);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(atomic_load(&p.step_down_reason), TN_STEPDOWN_STOPPED);
  CU_ASSERT_EQUAL(fake.releases, 1);
  CU_ASSERT_EQUAL(tn_lease_state_get(tn_leader_lease(p.ld)),
                  TN_LEASE_FOLLOWER);
  tn_leader_close(p.ld);
  tn_authority_close(auth);
}

/* The governor's announcements reach the lease's pause decision. */
static void test_follows_collections(void) {
  tn_gcgov *g = NULL;
  tn_lease *l;
  tn_gc_plan done;
  memset((void *)&fake, 0, sizeof fake);
  CU_ASSERT_EQUAL_FATAL(tn__authority_wrap(&fake_backend, &fake, &auth), 0);
  l = open_lease(10 * TN_SEC, 1000, 50 * TN_MSEC);
  CU_ASSERT_EQUAL_FATAL(tn_gcgov_open(NULL, &g), 0);
  CU_ASSERT_EQUAL_FATAL(tn_gcgov_start(g), 0);
  CU_ASSERT_EQUAL_FATAL(tn_lease_follow_collections(l, g), 0);
  /* not leading: nothing to decide */
  CU_ASSERT_EQUAL(tn_gcgov_collect(g, TN_GC_PLANNED, 5 * TN_SEC, &done), 0);
  CU_ASSERT_EQUAL(tn_lease_pause_decisions(l, TN_PAUSE_NOT_LEADER), 1);
  /* leading with ten seconds left: keep leading through the pause */
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  CU_ASSERT_EQUAL(tn_gcgov_collect(g, TN_GC_PLANNED, 5 * TN_SEC, &done), 0);
  CU_ASSERT_EQUAL(tn_lease_pause_decisions(l, TN_PAUSE_KEEP), 1);
  CU_ASSERT_EQUAL(tn_lease_state_get(l), TN_LEASE_LEADER);
  /* an unplanned collection is not announced: no decision */
  CU_ASSERT_EQUAL(tn_gcgov_collect(g, TN_GC_UNPLANNED, 5 * TN_SEC, &done), 0);
  CU_ASSERT_EQUAL(tn_lease_pause_decisions(l, TN_PAUSE_KEEP), 1);
  CU_ASSERT_EQUAL(tn_lease_unfollow_collections(l, g), 0);
  CU_ASSERT_EQUAL(tn_gcgov_collect(g, TN_GC_PLANNED, 5 * TN_SEC, &done), 0);
  CU_ASSERT_EQUAL(tn_lease_pause_decisions(l, TN_PAUSE_KEEP), 1);
  tn_gcgov_close(g);
  tn_lease_close(l);
  tn_authority_close(auth);
}

static void test_names(void) {
  CU_ASSERT_STRING_EQUAL(tn_lease_state_name(TN_LEASE_LEADER), "leader");
  CU_ASSERT_STRING_EQUAL(tn_stepdown_reason_name(TN_STEPDOWN_PLANNED_PAUSE),
                         "planned-pause");
  CU_ASSERT_STRING_EQUAL(tn_stepdown_reason_name((tn_stepdown_reason)99),
                         "invalid");
}

static const tn_cu_test formula_tests[] = {
    {"each term of the deadline formula", test_formula_terms},
    {"defaults and bad options", test_defaults_and_bad_options},
    {"time is read before the request", test_time_read_before_request},
    {NULL, NULL}};

static const tn_cu_test guard_tests[] = {
    {"guard boundaries and pauses", test_guard_boundaries},
    {"guard end after a handoff", test_guard_end_after_release},
    {"renew paths", test_renew_paths},
    {"acquire busy", test_acquire_busy},
    {"planned pause: keep, renew, hand off", test_pause_decisions},
    {"names", test_names},
    {NULL, NULL}};

static const tn_cu_test loop_tests[] = {
    {"L2: guards refuse before step-down runs",
     test_leader_loop_guards_refuse_before_step_down},
    {"stop releases", test_leader_stop_releases},
    {"governor announcements drive the decision", test_follows_collections},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {
    {"deadline", formula_tests, NULL, NULL},
    {"guard (swapped clock)", guard_tests, NULL, NULL},
    {"leader loop (real clock)", loop_tests, NULL, NULL},
    {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
