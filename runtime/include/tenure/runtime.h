/*
 * tn_runtime: one call to start the parts of the runtime a server wants —
 * the pause monitor, its telemetry, and the control socket — and one to stop
 * them. Each part can also be used alone (pausemon.h, telemetry.h, ctl.h).
 *
 * Lifecycle: tn_runtime_start -> (running) -> tn_runtime_stop, which also
 * frees. The accessors are valid between the two, from any thread.
 * start and stop are not thread-safe against each other.
 */
#ifndef TENURE_RUNTIME_H
#define TENURE_RUNTIME_H

#include <tenure/clock.h>
#include <tenure/ctl.h>
#include <tenure/pausemon.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_runtime_config {
  tn_pausemon_config pausemon;
  int no_control_socket;   /* do not listen on the control socket */
  const char *socket_path; /* NULL: $TENURE_RUN_DIR/<pid>.sock */
} tn_runtime_config;

typedef struct tn_runtime tn_runtime;

/*
 * Start the pause monitor and (unless disabled) the control socket with the
 * commands status, metrics, events [SINCE_SEQ], collect and
 * collect-unplanned (the last two answer "error unsupported" until a
 * collector governor runs). cfg may be NULL for defaults. Returns 0 or the
 * first part's error; on failure nothing is left running.
 */
int tn_runtime_start(const tn_runtime_config *cfg, tn_runtime **out);
/* Stop every part and free the runtime. NULL is ignored. */
void tn_runtime_stop(tn_runtime *rt);

tn_pausemon *tn_runtime_pausemon(tn_runtime *rt);
/* The control socket's path, or NULL when it is not listening. */
const char *tn_runtime_socket_path(const tn_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif
