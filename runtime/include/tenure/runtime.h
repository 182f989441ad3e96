/*
 * tn_runtime: one call to start the parts of the runtime a server wants —
 * the pause monitor, the collector governor (when the GC heap is used), the
 * telemetry, and the control socket — and one to stop them. Each part can
 * also be used alone (pausemon.h, gcgov.h, gate.h, telemetry.h, ctl.h).
 *
 * Lifecycle: tn_runtime_start -> (running) -> tn_runtime_stop, which also
 * frees. The accessors are valid between the two, from any thread.
 * start and stop are not thread-safe against each other.
 */
#ifndef TENURE_RUNTIME_H
#define TENURE_RUNTIME_H

#include <tenure/clock.h>
#include <tenure/ctl.h>
#include <tenure/gate.h>
#include <tenure/gcgov.h>
#include <tenure/pausemon.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_runtime_config {
  tn_pausemon_config pausemon;
  int no_control_socket;   /* do not listen on the control socket */
  const char *socket_path; /* NULL: $TENURE_RUN_DIR/<pid>.sock */
  int gc_governor;         /* run a collector governor (the application
                              uses the GC heap and has called GC_INIT) */
  tn_gcgov_config gcgov;   /* its settings; a NULL gcgov.gate takes gate
                              below, a NULL gcgov.events_path takes
                              pausemon.events_path (one events file) */
  tn_gate *gate;           /* the application's request gate, or NULL:
                              drained by planned collections and reported
                              in telemetry. Not owned: free it after
                              tn_runtime_stop. */
} tn_runtime_config;

typedef struct tn_runtime tn_runtime;

/*
 * Start the pause monitor, then the collector governor if gc_governor is
 * set, then (unless disabled) the control socket with the commands status,
 * metrics, events [SINCE_SEQ], collect and collect-unplanned. collect asks
 * the governor for a planned collection (announce, drain, collect) and
 * collect-unplanned for one at once without draining; both wait for it and
 * reply with its JSON object ({"kind":"collection",...}), and both answer
 * "error unsupported" when no governor runs. cfg may be NULL for defaults.
 * Returns 0 or the first part's error; on failure nothing is left running.
 * If the environment names a pipe in TENURE_READY_FD, the first start that
 * succeeds tells it so (pausesim waits for this; see pausesim(1)).
 */
int tn_runtime_start(const tn_runtime_config *cfg, tn_runtime **out);
/* Stop every part and free the runtime. NULL is ignored. */
void tn_runtime_stop(tn_runtime *rt);

tn_pausemon *tn_runtime_pausemon(tn_runtime *rt);
/* The collector governor, or NULL when gc_governor was not set. */
tn_gcgov *tn_runtime_gcgov(tn_runtime *rt);
/* The control socket's path, or NULL when it is not listening. */
const char *tn_runtime_socket_path(const tn_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif
