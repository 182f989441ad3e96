/*
 * Internal: create and join threads with the C library's own pthread
 * functions, whatever the caller was compiled with.
 *
 * A file compiled with GC_THREADS (before <gc/gc.h>) has pthread_create and
 * pthread_join redirected to GC_pthread_create / GC_pthread_join. bdwgc
 * 8.2.2's GC_pthread_join looks the thread up in its own table and
 * dereferences the result without a check, so joining a thread made by the
 * real pthread_create (tenure's sampler and control-socket threads, liburcu's
 * workers, any library's) crashes with SIGSEGV. realthread.c is compiled
 * without the redirect; code built with GC_THREADS creates and joins such
 * threads through it.
 *
 * Threads made here are not registered with the collector: they must not
 * touch garbage-collected memory, and a collection does not stop them.
 *
 * Concurrency: as pthread_create / pthread_join.
 */
#ifndef TENURE_REALTHREAD_H
#define TENURE_REALTHREAD_H

#include <pthread.h>

/* pthread_create itself. Returns its result (0 or an errno value). */
int tn__real_thread_create(pthread_t *thread, const pthread_attr_t *attr,
                           void *(*fn)(void *), void *arg);
/* pthread_join itself. Returns its result (0 or an errno value). */
int tn__real_thread_join(pthread_t thread, void **ret);

#endif
