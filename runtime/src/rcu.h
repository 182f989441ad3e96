/*
 * Internal: read-side RCU for threads tenure did not create.
 *
 * The gate and the lease guard are called from application threads that
 * never heard of liburcu. A thread registers itself with the memb flavour on
 * its first read section (the check reads the same thread-local block the
 * read lock itself touches, so it costs one predictable branch), and a
 * pthread_key destructor unregisters it when the thread exits.
 *
 * _LGPL_SOURCE inlines the read lock/unlock (about 2 ns here).
 */
#ifndef TENURE_RCU_H
#define TENURE_RCU_H

#ifndef _LGPL_SOURCE
#define _LGPL_SOURCE 1
#endif
#include <urcu/urcu-memb.h>

/* Register the calling thread and arrange its unregistration at exit. */
void tn__rcu_register_slow(void);

static inline void tn__rcu_read_lock(void) {
  if (caa_unlikely(!URCU_TLS(urcu_memb_reader).registered))
    tn__rcu_register_slow();
  urcu_memb_read_lock();
}

static inline void tn__rcu_read_unlock(void) { urcu_memb_read_unlock(); }

/* Wait for every read section that began before this call. The caller must
 * not be inside one. Blocks. */
static inline void tn__rcu_synchronize(void) { urcu_memb_synchronize_rcu(); }

/* Run fn(head) after a grace period, on liburcu's worker thread. head must
 * be in malloc memory, never GC memory (the collector does not scan
 * liburcu's queue). Registers the calling thread if needed. */
static inline void tn__rcu_call(struct rcu_head *head,
                                void (*fn)(struct rcu_head *)) {
  if (caa_unlikely(!URCU_TLS(urcu_memb_reader).registered))
    tn__rcu_register_slow();
  urcu_memb_call_rcu(head, fn);
}

/* Wait until every callback queued with tn__rcu_call has run. Blocks. */
static inline void tn__rcu_barrier(void) { urcu_memb_barrier(); }

#endif
