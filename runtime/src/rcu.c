/*
 * Lazy liburcu registration (see rcu.h). The key's value is only a marker:
 * the destructor runs at thread exit for threads that registered, and
 * unregisters them so synchronize_rcu never waits on a dead thread.
 */
#include "rcu.h"

#include "die.h"

#include <pthread.h>

static pthread_key_t unregister_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void unregister_at_exit(void *marker) {
  (void)marker;
  if (URCU_TLS(urcu_memb_reader).registered)
    urcu_memb_unregister_thread();
}

static void make_key(void) {
  if (pthread_key_create(&unregister_key, unregister_at_exit) != 0)
    TN__DIE("pthread_key_create failed: cannot track RCU readers");
}

void tn__rcu_register_slow(void) {
  pthread_once(&key_once, make_key);
  urcu_memb_register_thread();
  /* any non-NULL value makes the destructor run */
  pthread_setspecific(unregister_key, (void *)1);
}
