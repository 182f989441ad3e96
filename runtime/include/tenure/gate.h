/*
 * Request gate: admit requests while open, refuse them while draining, and
 * tell the collector governor when nothing admitted is still in flight.
 *
 * The fast path (enter/exit) writes only a per-thread counter on its own
 * cache line inside an RCU read section; no shared cache line is written.
 * The rare path (drain) pays for consistency, as in the kernel's percpu_ref:
 * set the state to draining, synchronize_rcu() so every enter that saw
 * "open" has counted itself, then sum the per-thread counters until zero or
 * the deadline.
 *
 * Threads need no registration: a thread registers itself on its first
 * enter and is unregistered when it exits.
 *
 * Concurrency:
 *   tn_gate_enter / tn_gate_exit   any thread, any number at once; lock-free
 *                                  once the thread has a slot in the gate.
 *                                  An exit must run on the thread that made
 *                                  the matching successful enter.
 *   tn_gate_drain / tn_gate_open   one controller at a time (the governor);
 *                                  concurrently with enter/exit. drain may
 *                                  block up to its timeout; never call it
 *                                  from a thread that is inside the gate.
 *   tn_gate_inflight, _shed, _draining  any thread; approximate while
 *                                  requests come and go, exact after drain.
 *   open/close of the gate object: one thread, with no other call running.
 */
#ifndef TENURE_GATE_H
#define TENURE_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <tenure/clock.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_gate tn_gate;

/* A new gate, open. Returns 0 or TN_ENOMEM. */
int tn_gate_new(tn_gate **out);
/* Free. Every thread must be out of the gate. */
void tn_gate_free(tn_gate *g);

/* Admit a request: true (the caller must tn_gate_exit when done), or false
 * while draining or closed (the caller sheds it, e.g. 503 + Retry-After);
 * a refusal is counted in shed. Never waits on the gate. A thread's first
 * enter on a gate takes a slot (malloc, or one an exited thread left), and
 * its first enter on any gate registers it with liburcu (a brief mutex);
 * if no slot can be had the request is still counted, on a shared line. */
bool tn_gate_enter(tn_gate *g);
/* The admitted request is done. On the thread that entered. Never blocks;
 * while a drain waits, it may make one futex wake-up system call. */
void tn_gate_exit(tn_gate *g);

/*
 * Stop admitting and wait until every admitted request has exited, or until
 * timeout passes. Returns 0 when drained (in-flight is zero and stays zero
 * until tn_gate_open), TN_ETIMEDOUT otherwise (the gate stays closed; the
 * caller decides). The gate stays closed after either until tn_gate_open.
 * Sets *waited (may be NULL) to the time spent. Returns within a wake-up
 * of the last exit. timeout <= 0 checks once. Blocks; the RCU grace period
 * it starts with is not bounded by timeout (read sections last nanoseconds,
 * longer only while a reader thread is preempted inside one).
 */
int tn_gate_drain(tn_gate *g, tn_nanos timeout, tn_nanos *waited);
/* Admit again. Never blocks. */
void tn_gate_open(tn_gate *g);

/* Admitted requests not yet exited: the sum over all threads. Never blocks. */
int64_t tn_gate_inflight(const tn_gate *g);
/* Enters refused since tn_gate_new. Never blocks. */
uint64_t tn_gate_shed(const tn_gate *g);
/* True from the start of a drain until tn_gate_open: enters are refused. */
bool tn_gate_draining(const tn_gate *g);

#ifdef __cplusplus
}
#endif

#endif
