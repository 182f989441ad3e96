/*
 * The join helper: pthread_create and pthread_join as the C library has
 * them, for code compiled with GC_THREADS (see realthread.h for why).
 *
 * Invariant: this file never defines GC_THREADS and never includes
 * <gc/gc.h>, so the names below are the real functions. The #error keeps it
 * that way if a build flag ever adds the define for every file.
 */
#ifdef GC_THREADS
#error "realthread.c must be compiled without GC_THREADS"
#endif
#include "realthread.h"

int tn__real_thread_create(pthread_t *thread, const pthread_attr_t *attr,
                           void *(*fn)(void *), void *arg) {
  return pthread_create(thread, attr, fn, arg);
}

int tn__real_thread_join(pthread_t thread, void **ret) {
  return pthread_join(thread, ret);
}
