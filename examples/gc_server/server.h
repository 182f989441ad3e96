/*
 * gc_server's two halves and what passes between them.
 *
 * acceptor.c is the front: one thread, made with the C library's own
 * pthread_create, that the collector does not know. It owns every socket,
 * reads "REQ <id>" lines, asks the gate, and either replies "SHED <id>" at
 * once or hands the request to a worker. It never touches GC memory, so a
 * stop-the-world collection does not stop it: requests that arrive during a
 * collection are turned away in microseconds.
 *
 * gc_server.c is the back: GC-registered worker threads that serve each
 * request from the collected heap, and main(), which wires the gate, the
 * pause monitor and the collector governor together.
 *
 * Between them are only single-producer single-consumer rings in malloc
 * memory and eventfds. No lock is shared: a worker can be stopped by the
 * collector at any instruction, and a lock it held would stop the acceptor
 * too.
 *
 * Concurrency: a gcs_link's `jobs` ring is pushed by the acceptor and popped
 * by its worker; `done` the other way round. Everything else in the
 * acceptor belongs to the acceptor's thread until gcs_acceptor_stop has
 * returned.
 */
#ifndef GC_SERVER_SERVER_H
#define GC_SERVER_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <tenure/clock.h>
#include <tenure/gate.h>

#define GCS_RING_SIZE 4096u /* a power of two */
#define GCS_CACHE_LINE 64

/* One admitted request on its way through a worker and back. */
struct gcs_job {
  uint32_t conn;     /* connection slot in the acceptor */
  uint32_t gen;      /* that slot's generation: the reply is dropped if the
                        connection was closed and the slot reused */
  uint64_t id;       /* the client's request id */
  tn_nanos admitted; /* boot time of tn_gate_enter */
};

struct gcs_ring {
  _Alignas(GCS_CACHE_LINE) _Atomic uint64_t head; /* next to pop */
  _Alignas(GCS_CACHE_LINE) _Atomic uint64_t tail; /* next to push */
  _Alignas(GCS_CACHE_LINE) struct gcs_job slot[GCS_RING_SIZE];
};

/* Producer side. Returns 0, or -1 when full. */
static inline int gcs_ring_push(struct gcs_ring *r, const struct gcs_job *j) {
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  if (tail - atomic_load_explicit(&r->head, memory_order_acquire) >=
      GCS_RING_SIZE)
    return -1;
  r->slot[tail & (GCS_RING_SIZE - 1)] = *j;
  atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
  return 0;
}

/* Consumer side. Returns 1 with *j filled, or 0 when empty. */
static inline int gcs_ring_pop(struct gcs_ring *r, struct gcs_job *j) {
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  if (head == atomic_load_explicit(&r->tail, memory_order_acquire))
    return 0;
  *j = r->slot[head & (GCS_RING_SIZE - 1)];
  atomic_store_explicit(&r->head, head + 1, memory_order_release);
  return 1;
}

/* The acceptor and one worker. malloc memory (aligned_alloc). */
struct gcs_link {
  struct gcs_ring jobs; /* acceptor -> worker */
  struct gcs_ring done; /* worker -> acceptor */
  int wake_fd;          /* eventfd the worker sleeps on */
  _Atomic int stop;     /* the worker should return once `jobs` is empty */
  uint64_t outstanding; /* acceptor only: pushed, not yet back from done.
                           Kept below GCS_RING_SIZE, so `done` never fills */
};

/* The admitted interval of one request: from tn_gate_enter to tn_gate_exit,
 * both read on the acceptor's thread. */
struct gcs_interval {
  tn_nanos start, end;
};

struct gcs_acceptor_config {
  int listen_fd;           /* bound and listening; the acceptor closes it */
  tn_gate *gate;           /* not owned */
  struct gcs_link **links; /* one per worker */
  int nlinks;
  int done_fd; /* eventfd the workers write after pushing to `done` */
};

struct gcs_acceptor_stats {
  uint64_t requests;    /* well-formed request lines read */
  uint64_t admitted;    /* tn_gate_enter said yes and a worker took it */
  uint64_t served;      /* came back from a worker (replied OK if the
                           connection was still open) */
  uint64_t shed;        /* refused by the gate: replied SHED */
  uint64_t overflow;    /* admitted but every worker's ring was full:
                           exited at once, replied SHED */
  uint64_t malformed;   /* lines answered with ERR */
  uint64_t connections; /* accepted in all */
  uint64_t unrecorded;  /* admitted intervals not kept (out of memory) */
  tn_nanos admitted_max;      /* longest admitted interval */
  struct gcs_interval *intervals; /* every admitted interval, in exit order;
                                     malloc, owned by the caller after stop */
  size_t nintervals;
};

typedef struct gcs_acceptor gcs_acceptor;

/* Start the acceptor's thread with the C library's pthread_create (never
 * GC_pthread_create, whatever the caller was compiled with). Returns 0 or an
 * errno value. */
int gcs_acceptor_start(const struct gcs_acceptor_config *cfg,
                       gcs_acceptor **out);

/* Stop accepting, shed whatever still arrives, wait for every admitted
 * request to come back from the workers (so the gate holds nothing of this
 * thread), then join the thread with the C library's pthread_join and free
 * the acceptor. The workers must still be running. Fills *stats; the
 * caller frees stats->intervals. Blocks until then. */
void gcs_acceptor_stop(gcs_acceptor *a, struct gcs_acceptor_stats *stats);

/* Counters so far, for progress lines; any thread, approximate. */
void gcs_acceptor_peek(const gcs_acceptor *a, uint64_t *served,
                       uint64_t *shed);

#endif
