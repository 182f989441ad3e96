/*
 * The lease: its local deadline, published for the guard through an RCU
 * pointer, and the acquire / renew / release calls that move it.
 *
 * Invariant (S1): the published deadline is never later, in real time, than
 * the moment the authority may give the lease to someone else. It is
 * computed from a clock read taken *before* the request is sent:
 *   deadline = t_send + D * (1 - drift_ppm / 1e6) - margin
 * or, for a backend on this machine's own boot clock (the file authority),
 *   deadline = expiry - margin.
 * A pause anywhere after t_send only makes the holder's view more
 * conservative.
 *
 * The guard is the hot path: an RCU read of an immutable snapshot {token,
 * deadline, state} and one boot-time clock read. It writes nothing shared
 * unless it refuses, and never blocks. Every state change publishes a new
 * snapshot (malloc memory) and frees the old one after a grace period.
 * A step-down always publishes the refusing snapshot *before* telling the
 * authority or the application, so guards refuse first (L2).
 */
#define _GNU_SOURCE
#include "authority.h"
#include "lease_internal.h"
#include "rcu.h"

#include <tenure/error.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct snapshot {
  uint64_t token;
  tn_nanos deadline;
  tn_lease_state state;
  struct rcu_head rcu;
};

/* What the calling thread's last successful guard began with. */
static __thread struct {
  const tn_lease *lease;
  uint64_t token;
  tn_nanos deadline;
} guard_tls;

static const char *const state_names[] = {"follower", "candidate", "leader",
                                          "stepping-down"};
static const char *const reason_names[] = {
    "expired",       "renew-failed",       "released",
    "planned-pause", "stopped",            "authority-replaced",
    "authority-refused"};

const char *tn_lease_state_name(tn_lease_state s) {
  return (unsigned)s < 4 ? state_names[s] : "invalid";
}

const char *tn_stepdown_reason_name(tn_stepdown_reason r) {
  return (unsigned)r < sizeof reason_names / sizeof reason_names[0]
             ? reason_names[r]
             : "invalid";
}

/* Under op_lock, on the thread that made the backend call. */
static void note_result(tn_lease *l, int rc) {
  if (rc == 0 || rc == TN_EBUSY) {
    l->fault_code = 0;
    l->fault[0] = '\0';
    return;
  }
  l->fault_code = rc;
  snprintf(l->fault, sizeof l->fault, "%s",
           *tn_authority_last_error() ? tn_authority_last_error()
                                      : tn_strerror(rc));
}

int tn_lease_last_error(tn_lease *l, char *buf, size_t len) {
  int rc;
  pthread_mutex_lock(&l->op_lock);
  rc = l->fault_code;
  if (buf && len)
    snprintf(buf, len, "%s", l->fault);
  pthread_mutex_unlock(&l->op_lock);
  return rc;
}

void tn_lease_options_init(tn_lease_options *o) {
  memset(o, 0, sizeof *o);
  o->ttl = 2 * TN_SEC;
  o->drift_ppm = -1;
  o->margin = -1;
  o->renew_every = 0;
}

int tn__lease_options_resolve(const tn_lease_options *in,
                              tn_lease_options *out) {
  tn_lease_options d;
  tn_lease_options_init(&d);
  if (in)
    d = *in;
  if (d.ttl == 0)
    d.ttl = 2 * TN_SEC;
  if (d.drift_ppm < 0)
    d.drift_ppm = 1000;
  if (d.margin < 0)
    d.margin = d.ttl / 20 > 5 * TN_MSEC ? d.ttl / 20 : 5 * TN_MSEC;
  if (d.renew_every == 0)
    d.renew_every = d.ttl / 3;
  if (d.ttl < 10 * TN_MSEC || d.ttl > 24 * TN_HOUR ||
      d.drift_ppm >= 1000000 || d.margin >= d.ttl || d.renew_every <= 0 ||
      d.renew_every >= d.ttl)
    return TN_EINVAL;
  *out = d;
  return 0;
}

tn_nanos tn__lease_deadline(const tn_lease_options *o, tn_nanos t_send,
                            tn_nanos duration, tn_nanos expiry) {
  if (expiry != 0)
    return expiry - o->margin;
  /* D * (1 - ppm/1e6), rounded down, without overflow */
  {
    __int128 shrink = (__int128)duration * o->drift_ppm;
    tn_nanos drift = (tn_nanos)((shrink + 999999) / 1000000);
    return t_send + duration - drift - o->margin;
  }
}

static void free_snapshot(struct rcu_head *head) {
  free(caa_container_of(head, struct snapshot, rcu));
}

/* Publish a new snapshot; the old one is freed after a grace period. */
static int publish(tn_lease *l, uint64_t token, tn_nanos deadline,
                   tn_lease_state state) {
  struct snapshot *s = malloc(sizeof *s), *old;
  if (s == NULL)
    return TN_ENOMEM;
  s->token = token;
  s->deadline = deadline;
  s->state = state;
  old = atomic_exchange_explicit(&l->snap, s, memory_order_acq_rel);
  if (old)
    tn__rcu_call(&old->rcu, free_snapshot);
  return 0;
}

/* Guards must refuse even if there is no memory for a new snapshot: fall
 * back to marking the current one's term as over. */
static void publish_refusing(tn_lease *l, tn_lease_state state) {
  if (publish(l, 0, 0, state) != 0)
    atomic_store(&l->refuse_all, 1);
}

int tn_lease_open(tn_authority *a, const char *name, const char *holder,
                  const tn_lease_options *opts, tn_lease **out) {
  tn_lease *l;
  int rc;
  if (a == NULL || out == NULL)
    return TN_EINVAL;
  if (!tn__lease_name_valid(name))
    return tn__authority_fail(TN_EINVAL,
                              "lease name \"%.80s\": use 1-63 of "
                              "[A-Za-z0-9._-]",
                              name ? name : "(null)");
  if (!tn__holder_valid(holder))
    return tn__authority_fail(TN_EINVAL,
                              "holder \"%.80s\": use 1-63 printable ASCII "
                              "characters, no quotes or backslashes",
                              holder ? holder : "(null)");
  l = calloc(1, sizeof *l);
  if (l == NULL)
    return TN_ENOMEM;
  rc = tn__lease_options_resolve(opts, &l->opts);
  if (rc != 0) {
    free(l);
    return tn__authority_fail(rc, "lease options: need 10ms <= ttl <= 24h, "
                                  "margin < ttl, 0 < renew_every < ttl, "
                                  "drift_ppm < 1e6");
  }
  l->auth = a;
  l->backend = tn__authority_backend(a, &l->bstate);
  strcpy(l->name, name);
  strcpy(l->holder, holder);
  pthread_mutex_init(&l->op_lock, NULL);
  rc = publish(l, 0, 0, TN_LEASE_FOLLOWER);
  if (rc != 0) {
    free(l);
    return rc;
  }
  *out = l;
  return 0;
}

void tn_lease_close(tn_lease *l) {
  struct snapshot *s;
  if (l == NULL)
    return;
  s = atomic_exchange_explicit(&l->snap, NULL, memory_order_acq_rel);
  tn__rcu_synchronize();
  free(s);
  tn__rcu_barrier(); /* earlier snapshots queued with call_rcu */
  pthread_mutex_destroy(&l->op_lock);
  free(l);
}

/* Read the snapshot's fields in one read section. */
static void read_snapshot(const tn_lease *l, uint64_t *token,
                          tn_nanos *deadline, tn_lease_state *state) {
  struct snapshot *s;
  tn__rcu_read_lock();
  s = atomic_load_explicit(&((tn_lease *)l)->snap, memory_order_acquire);
  if (s) {
    *token = s->token;
    *deadline = s->deadline;
    *state = s->state;
  } else {
    *token = 0;
    *deadline = 0;
    *state = TN_LEASE_FOLLOWER;
  }
  tn__rcu_read_unlock();
  if (atomic_load_explicit(&l->refuse_all, memory_order_relaxed))
    *state = TN_LEASE_FOLLOWER;
}

int tn_guard_begin(tn_lease *l, tn_nanos action_budget, uint64_t *token) {
  uint64_t tok;
  tn_nanos deadline, now;
  tn_lease_state state;
  read_snapshot(l, &tok, &deadline, &state);
  now = tn_now(); /* after the snapshot: can only be more conservative */
  if (state != TN_LEASE_LEADER || action_budget < 0 ||
      now + action_budget >= deadline) {
    if (state == TN_LEASE_LEADER)
      atomic_store_explicit(&l->stepdown_wanted, 1, memory_order_release);
    atomic_fetch_add_explicit(&l->refusals, 1, memory_order_relaxed);
    return TN_ESTALE;
  }
  guard_tls.lease = l;
  guard_tls.token = tok;
  guard_tls.deadline = deadline;
  *token = tok;
  return 0;
}

int tn_guard_end(tn_lease *l) {
  uint64_t tok;
  tn_nanos deadline, now;
  tn_lease_state state;
  if (guard_tls.lease != l)
    return TN_EINVAL; /* no guard began on this thread for this lease */
  guard_tls.lease = NULL;
  now = tn_now();
  if (now >= guard_tls.deadline)
    return TN_ELOST;
  /* released or taken over during the action, before the deadline */
  read_snapshot(l, &tok, &deadline, &state);
  if (state != TN_LEASE_LEADER || tok != guard_tls.token)
    return TN_ELOST;
  return 0;
}

tn_lease_state tn_lease_state_get(const tn_lease *l) {
  uint64_t tok;
  tn_nanos deadline;
  tn_lease_state state;
  read_snapshot(l, &tok, &deadline, &state);
  if (state == TN_LEASE_LEADER && tn_now() >= deadline)
    return TN_LEASE_STEPPING_DOWN;
  return state;
}

uint64_t tn_lease_token(const tn_lease *l) {
  uint64_t tok;
  tn_nanos deadline;
  tn_lease_state state;
  read_snapshot(l, &tok, &deadline, &state);
  return state == TN_LEASE_LEADER ? tok : 0;
}

tn_nanos tn_lease_deadline(const tn_lease *l) {
  uint64_t tok;
  tn_nanos deadline;
  tn_lease_state state;
  read_snapshot(l, &tok, &deadline, &state);
  return state == TN_LEASE_LEADER ? deadline : 0;
}

tn_nanos tn_lease_remaining(const tn_lease *l) {
  tn_nanos deadline = tn_lease_deadline(l), left;
  if (deadline == 0)
    return 0;
  left = deadline - tn_now();
  return left > 0 ? left : 0;
}

uint64_t tn__lease_refusals(const tn_lease *l) {
  return atomic_load(&l->refusals);
}

int tn_lease_try_acquire(tn_lease *l) {
  tn__grant g;
  tn_nanos t_send;
  int rc;
  pthread_mutex_lock(&l->op_lock);
  if (tn_lease_state_get(l) == TN_LEASE_LEADER) {
    pthread_mutex_unlock(&l->op_lock);
    return 0;
  }
  publish(l, 0, 0, TN_LEASE_CANDIDATE);
  memset(&g, 0, sizeof g);
  t_send = tn_now(); /* before the request: §5.1 */
  tn__authority_fail(0, "%s", "");
  rc = l->backend->acquire(l->bstate, l->name, l->holder, l->opts.ttl, &g);
  note_result(l, rc);
  if (rc == 0) {
    atomic_store(&l->stepdown_wanted, 0);
    atomic_store(&l->refuse_all, 0);
    rc = publish(l, g.token,
                 tn__lease_deadline(&l->opts, t_send, g.duration, g.expiry),
                 TN_LEASE_LEADER);
    l->last_renew = t_send;
  } else {
    publish(l, 0, 0, TN_LEASE_FOLLOWER);
  }
  pthread_mutex_unlock(&l->op_lock);
  return rc;
}

int tn_lease_acquire(tn_lease *l, tn_nanos timeout) {
  tn_nanos until = timeout > 0 ? tn_nanos_add_sat(tn_now(), timeout)
                               : TN_NANOS_MAX;
  for (;;) {
    tn_lease_info info;
    tn_nanos now;
    int rc = tn_lease_try_acquire(l);
    if (rc != TN_EBUSY)
      return rc;
    now = tn_now();
    if (now >= until)
      return TN_ETIMEDOUT;
    /* sleep until the holder's term is over (or our timeout) */
    rc = l->backend->observe(l->bstate, l->name, &info);
    if (rc == 0 && info.held) {
      rc = l->backend->watch(l->bstate, l->name, info.token, until - now);
      if (rc != 0 && rc != TN_ETIMEDOUT) {
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL); /* backend trouble: do not spin */
      }
    }
  }
}

int tn_lease_renew(tn_lease *l) {
  uint64_t tok;
  tn_nanos deadline, t_send;
  tn_lease_state state;
  tn__grant g;
  int rc;
  pthread_mutex_lock(&l->op_lock);
  read_snapshot(l, &tok, &deadline, &state);
  if (state != TN_LEASE_LEADER) {
    pthread_mutex_unlock(&l->op_lock);
    return TN_ELOST;
  }
  memset(&g, 0, sizeof g);
  t_send = tn_now();
  if (t_send >= deadline) {
    /* too late: the authority may already have moved on */
    publish_refusing(l, TN_LEASE_FOLLOWER);
    pthread_mutex_unlock(&l->op_lock);
    return TN_ESTALE;
  }
  tn__authority_fail(0, "%s", "");
  rc = l->backend->renew(l->bstate, l->name, l->holder, tok, l->opts.ttl, &g);
  note_result(l, rc);
  if (rc == 0) {
    /* The fresh deadline replaces the old one even when it is earlier: the
     * authority restarted its timer with this grant, so the old promise no
     * longer holds. The term's token never changes. */
    rc = publish(l, tok,
                 tn__lease_deadline(&l->opts, t_send, g.duration, g.expiry),
                 TN_LEASE_LEADER);
    l->last_renew = t_send;
  } else if (rc == TN_ELOST || rc == TN_EREPLACED || rc == TN_ECORRUPT) {
    /* over, or the authority can no longer vouch for the term: its state
     * was replaced or is refused. Guards refuse from now on. */
    publish_refusing(l, TN_LEASE_FOLLOWER);
  } else if (tn_now() >= deadline) {
    /* the authority could not be reached in time */
    publish_refusing(l, TN_LEASE_FOLLOWER);
    rc = TN_ESTALE;
  }
  /* Any other failure leaves the term as it is: the guards keep using the
   * deadline already computed, and the caller may retry before it. */
  pthread_mutex_unlock(&l->op_lock);
  return rc;
}

int tn_lease_release(tn_lease *l) {
  uint64_t tok;
  tn_nanos deadline;
  tn_lease_state state;
  int rc;
  pthread_mutex_lock(&l->op_lock);
  read_snapshot(l, &tok, &deadline, &state);
  /* guards refuse before the authority hears of it */
  publish_refusing(l, TN_LEASE_FOLLOWER);
  if (state != TN_LEASE_LEADER || tok == 0) {
    pthread_mutex_unlock(&l->op_lock);
    return 0;
  }
  rc = l->backend->release(l->bstate, l->name, l->holder, tok);
  if (rc == TN_ELOST)
    rc = 0; /* already over: nothing to give up */
  pthread_mutex_unlock(&l->op_lock);
  return rc;
}

static tn_gc_answer on_collection_notice(const tn_gc_plan *plan,
                                        tn_nanos *defer, void *arg) {
  tn_lease *l = arg;
  (void)defer;
  if (plan->kind == TN_GC_ANNOUNCE) {
    tn_pause_decision d = tn_lease_prepare_for_pause(l, plan->expected_pause);
    atomic_fetch_add(&l->pause_decisions[d], 1);
  }
  return TN_GC_NOW;
}

int tn_lease_follow_collections(tn_lease *l, tn_gcgov *g) {
  return tn_gcgov_subscribe(g, on_collection_notice, l);
}

int tn_lease_unfollow_collections(tn_lease *l, tn_gcgov *g) {
  return tn_gcgov_unsubscribe(g, on_collection_notice, l);
}

uint64_t tn_lease_pause_decisions(const tn_lease *l, tn_pause_decision d) {
  return (unsigned)d < 4 ? atomic_load(&l->pause_decisions[d]) : 0;
}

tn_pause_decision tn_lease_prepare_for_pause(tn_lease *l, tn_nanos pause) {
  tn_nanos need = pause + l->opts.margin;
  if (tn_lease_state_get(l) != TN_LEASE_LEADER)
    return TN_PAUSE_NOT_LEADER;
  if (tn_lease_remaining(l) > need)
    return TN_PAUSE_KEEP;
  /* A renewal helps only if a fresh term outlasts the pause. */
  if (tn__lease_deadline(&l->opts, 0, l->opts.ttl, 0) > need &&
      tn_lease_renew(l) == 0 && tn_lease_remaining(l) > need)
    return TN_PAUSE_RENEWED;
  atomic_store(&l->handed_off, 1);
  tn_lease_release(l);
  return TN_PAUSE_HANDED_OFF;
}
