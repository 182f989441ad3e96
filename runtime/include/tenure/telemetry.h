/*
 * Telemetry output: Prometheus text exposition (format 0.0.4) and the status
 * JSON object, from whichever parts of the runtime are running.
 * docs/telemetry.md documents every metric and field.
 *
 * Concurrency: these functions only read, through the parts' thread-safe
 * accessors, and may run on any thread while the parts run. They allocate
 * (malloc) and write to a caller's stdio stream; never call them from a
 * signal handler or a collection-event callback.
 */
#ifndef TENURE_TELEMETRY_H
#define TENURE_TELEMETRY_H

#include <stdio.h>
#include <tenure/gate.h>
#include <tenure/gcgov.h>
#include <tenure/pausemon.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The parts to report on; a NULL part is left out. */
typedef struct tn_telemetry_sources {
  const tn_pausemon *pausemon;
  const tn_gcgov *gcgov; /* collections, heap, allocation rate, malloc */
  const tn_gate *gate;   /* in flight, draining, shed; drains come from the
                            governor that drains it (gcgov) */
} tn_telemetry_sources;

/* Upper bounds (seconds) of the fixed `le` buckets, 1 ms .. 10 s. */
#define TN_TELEMETRY_BUCKETS                                                   \
  {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}

/* Write the Prometheus text. Returns 0, TN_ENOMEM or TN_EIO. */
int tn_telemetry_write_prometheus(FILE *out, const tn_telemetry_sources *src);

/* Write the status object as one line of JSON (with a trailing newline).
 * Returns 0, TN_ENOMEM or TN_EIO. */
int tn_telemetry_write_status(FILE *out, const tn_telemetry_sources *src);

#ifdef __cplusplus
}
#endif

#endif
