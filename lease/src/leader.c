/*
 * The leader loop: campaign, lead, step down, repeat.
 *
 * Two threads per loop while leading. The caller's thread runs the
 * application's lead() callback, which guards each action. A renewal thread
 * renews every renew_every and, when a renewal fails or the deadline
 * passes, stops: the guards have already been refusing since the deadline
 * (they read the clock themselves), so nothing waits on this loop for
 * safety — it only tidies up and tells the application (L2).
 *
 * Reasons, first that applies: stopped (tn_leader_stop or lead() asked),
 * planned-pause (handed off before a planned pause), authority-replaced
 * (the authority's state was deleted or replaced under us: a lease file
 * removed or moved over), authority-refused (the authority refused its
 * own state: a truncated file, a damaged record), released (the authority
 * ended our term: an operator's forced release), renew-failed (renewals
 * failed until the deadline: unreachable, no space, the lock held by
 * another process), expired (the deadline passed with no failed renewal,
 * or a guard refused because it was too close). The authority's own words
 * are in tn_lease_last_error() when on_step_down runs.
 *
 * A campaign that fails for lack of space twice in a row ends the loop
 * with TN_ENOSPC, so the application hears of it instead of waiting
 * silently; other failures are retried every 100 ms.
 */
#define _GNU_SOURCE
#include "lease_internal.h"

#include <tenure/error.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tn_leader {
  tn_lease *lease;
  tn_leader_callbacks cb;
  void *arg;
  _Atomic int stop;
  pthread_t renewer;
  _Atomic int renewer_stop;
  _Atomic int renew_result; /* 0 while fine; else the failing code */
  _Atomic int renew_fault;  /* the last transient renewal failure */
};

static void nap(tn_nanos d) {
  struct timespec ts = {(time_t)(d / TN_SEC), (long)(d % TN_SEC)};
  nanosleep(&ts, NULL);
}

static void *renew_main(void *arg) {
  tn_leader *ld = arg;
  tn_lease *l = ld->lease;
  tn_nanos next = tn_now() + l->opts.renew_every;
  while (!atomic_load(&ld->renewer_stop)) {
    tn_nanos now = tn_now();
    int rc;
    if (now < next) {
      tn_nanos d = next - now;
      nap(d < 10 * TN_MSEC ? d : 10 * TN_MSEC); /* stay stoppable */
      continue;
    }
    rc = tn_lease_renew(l);
    if (rc == 0) {
      atomic_store(&ld->renew_fault, 0);
      next = l->last_renew + l->opts.renew_every;
    } else if (rc == TN_ELOST || rc == TN_ESTALE || rc == TN_EREPLACED ||
               rc == TN_ECORRUPT) {
      atomic_store(&ld->renew_result, rc);
      return NULL;
    } else if (tn_lease_state_get(l) != TN_LEASE_LEADER) {
      atomic_store(&ld->renew_result, rc);
      return NULL;
    } else {
      atomic_store(&ld->renew_fault, rc);
      next = tn_now() + 20 * TN_MSEC; /* transient: retry before the deadline */
    }
  }
  return NULL;
}

int tn_leader_open(tn_authority *a, const char *name, const char *identity,
                   const tn_lease_options *opts, const tn_leader_callbacks *cb,
                   void *arg, tn_leader **out) {
  tn_leader *ld;
  int rc;
  if (cb == NULL || cb->lead == NULL || out == NULL)
    return TN_EINVAL;
  ld = calloc(1, sizeof *ld);
  if (ld == NULL)
    return TN_ENOMEM;
  rc = tn_lease_open(a, name, identity, opts, &ld->lease);
  if (rc != 0) {
    free(ld);
    return rc;
  }
  ld->cb = *cb;
  ld->arg = arg;
  *out = ld;
  return 0;
}

tn_lease *tn_leader_lease(tn_leader *ld) { return ld->lease; }

void tn_leader_stop(tn_leader *ld) { atomic_store(&ld->stop, 1); }

void tn_leader_close(tn_leader *ld) {
  if (ld == NULL)
    return;
  tn_lease_close(ld->lease);
  free(ld);
}

/* Why the term is over, or -1 while it goes on. */
static int term_over(tn_leader *ld) {
  tn_lease *l = ld->lease;
  int rr;
  if (atomic_load(&ld->stop))
    return TN_STEPDOWN_STOPPED;
  if (atomic_load(&l->handed_off))
    return TN_STEPDOWN_PLANNED_PAUSE;
  rr = atomic_load(&ld->renew_result);
  if (rr == TN_EREPLACED)
    return TN_STEPDOWN_AUTHORITY_REPLACED;
  if (rr == TN_ECORRUPT)
    return TN_STEPDOWN_AUTHORITY_REFUSED;
  if (rr == TN_ELOST)
    return tn_lease_remaining(l) > 0 || tn_lease_state_get(l) ==
                                            TN_LEASE_FOLLOWER
               ? TN_STEPDOWN_RELEASED
               : TN_STEPDOWN_EXPIRED;
  if (rr == TN_ESTALE) /* woke up (or renewed) past the deadline */
    return atomic_load(&ld->renew_fault) ? TN_STEPDOWN_RENEW_FAILED
                                         : TN_STEPDOWN_EXPIRED;
  if (rr != 0)
    return TN_STEPDOWN_RENEW_FAILED;
  if (tn_lease_state_get(l) != TN_LEASE_LEADER ||
      atomic_load(&l->stepdown_wanted))
    return TN_STEPDOWN_EXPIRED;
  return -1;
}

int tn_leader_run(tn_leader *ld) {
  tn_lease *l = ld->lease;
  int no_space = 0;
  while (!atomic_load(&ld->stop)) {
    int rc = tn_lease_acquire(l, 200 * TN_MSEC), reason;
    if (rc == TN_ETIMEDOUT || rc == TN_EBUSY)
      continue;
    if (rc == TN_ENOSPC && ++no_space >= 2)
      return rc; /* the words stay in tn_authority_last_error() */
    if (rc != 0) {
      nap(100 * TN_MSEC); /* the authority is unwell: try again soon */
      continue;
    }
    no_space = 0;
    atomic_store(&l->handed_off, 0);
    atomic_store(&ld->renew_result, 0);
    atomic_store(&ld->renew_fault, 0);
    atomic_store(&ld->renewer_stop, 0);
    if (pthread_create(&ld->renewer, NULL, renew_main, ld) != 0) {
      tn_lease_release(l);
      return TN_ENOMEM;
    }
    if (ld->cb.on_elected)
      ld->cb.on_elected(tn_lease_token(l), ld->arg);
    while ((reason = term_over(ld)) < 0) {
      if (ld->cb.lead(l, ld->arg) != 0)
        atomic_store(&ld->stop, 1);
    }
    atomic_store(&ld->renewer_stop, 1);
    pthread_join(ld->renewer, NULL);
    /* the deadline may have passed while the renewal was failing: now that
     * it has finished, say why if it knows */
    if (reason == TN_STEPDOWN_EXPIRED) {
      int again = term_over(ld);
      if (again > 0 && again != TN_STEPDOWN_STOPPED)
        reason = again;
      else if (atomic_load(&ld->renew_fault))
        reason = TN_STEPDOWN_RENEW_FAILED;
    }
    tn_lease_release(l); /* guards refuse first, then the authority frees */
    if (ld->cb.on_step_down)
      ld->cb.on_step_down((tn_stepdown_reason)reason, ld->arg);
  }
  return 0;
}
