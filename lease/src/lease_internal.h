/*
 * Internal to lease/: the lease object (shared by lease.c and leader.c) and
 * the deadline formula, exposed for its unit tests.
 */
#ifndef TENURE_LEASE_INTERNAL_H
#define TENURE_LEASE_INTERNAL_H

#include "authority.h"

#include <pthread.h>
#include <stdatomic.h>
#include <tenure/lease.h>

struct snapshot;

struct tn_lease {
  tn_authority *auth;
  const tn__backend *backend;
  void *bstate;
  char name[TN_LEASE_NAME_MAX + 1];
  char holder[TN_HOLDER_MAX + 1];
  tn_lease_options opts; /* resolved: no defaults left */

  /* RCU-protected, replaced whole. C11 atomics rather than liburcu's
   * rcu_xchg_pointer/rcu_dereference: the same instructions on x86 (an
   * xchg, a plain load), and visible to ThreadSanitizer. */
  _Atomic(struct snapshot *) snap;
  pthread_mutex_t op_lock; /* serialises acquire / renew / release */
  tn_nanos last_renew;     /* t_send of the last successful grant */
  /* under op_lock: the last acquire/renew failure since the last success */
  int fault_code;
  char fault[384];

  _Atomic int stepdown_wanted; /* a guard refused while leader */
  _Atomic int handed_off;      /* released ahead of a planned pause */
  _Atomic int refuse_all;      /* out of memory for a snapshot: refuse */
  _Atomic uint64_t refusals;   /* guard refusals */
  _Atomic uint64_t pause_decisions[4]; /* by tn_pause_decision */
};

/* Fill the defaults of in (NULL: all defaults) and check them. */
int tn__lease_options_resolve(const tn_lease_options *in,
                              tn_lease_options *out);
/* §5.1. expiry != 0: a backend on this machine's boot clock. */
tn_nanos tn__lease_deadline(const tn_lease_options *o, tn_nanos t_send,
                            tn_nanos duration, tn_nanos expiry);
uint64_t tn__lease_refusals(const tn_lease *l);

#endif
