/*
 * The tn_runtime façade: wires the pause monitor, the collector governor
 * and telemetry to the control socket. It owns no logic of its own beyond
 * start order (monitor first, so the governor's collections are measured
 * from the start; socket last, so it never serves a half-built runtime) and
 * the reverse order on stop.
 *
 * Readiness. A tool that starts this process and wants to know when its
 * pause monitor is up (pausesim -- COMMAND, so that no stall lands before
 * there is a monitor to see it) passes a pipe's write end in
 * TENURE_READY_FD. tn_runtime_start writes 'S' on entry, then 'R' and closes
 * the pipe once everything runs, or 'F' if the start failed (a second
 * attempt, like pausemeter's retry without a socket, writes 'S' again).
 * Only a pipe is written to, and only by the first runtime that is ready.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/runtime.h>
#include <tenure/telemetry.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_BATCH 256

/* The socket's collect commands wait at most this long for the governor
 * (a deferral, a drain and a collection on a large heap). */
#define COLLECT_WAIT (60 * TN_SEC)

struct tn_runtime {
  tn_pausemon *pausemon;
  tn_gcgov *gcgov;
  tn_gate *gate; /* not owned */
  tn_ctl_server *ctl;
};

/* --- readiness (TENURE_READY_FD) ---------------------------------------- */

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static int ready_fd = -2; /* -2: not looked up yet, -1: none or done */

static void ready_note(char word) {
  pthread_mutex_lock(&ready_lock);
  if (ready_fd == -2) {
    const char *v = getenv("TENURE_READY_FD");
    char *end = NULL;
    long fd = v ? strtol(v, &end, 10) : -1;
    struct stat st;
    ready_fd = -1;
    if (v && *v && end && *end == '\0' && fd > 2 && fd < 65536 &&
        fstat((int)fd, &st) == 0 && S_ISFIFO(st.st_mode))
      ready_fd = (int)fd;
  }
  if (ready_fd >= 0) {
    /* A reader that went away must not kill us with SIGPIPE: block it for
     * the write and take the one the write raised, if any. */
    sigset_t pipe_set, old;
    struct timespec zero = {0, 0};
    ssize_t n;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    do
      n = write(ready_fd, &word, 1);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE))
      sigtimedwait(&pipe_set, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (n != 1 || word == 'R') {
      close(ready_fd); /* said, or nobody listens any more */
      ready_fd = -1;
    }
  }
  pthread_mutex_unlock(&ready_lock);
}

typedef int (*stream_writer)(FILE *f, const tn_runtime *rt, const char *args);

/* Render with stdio into memory, then hand the bytes to the socket. */
static int reply_with(tn_ctl_out *out, const tn_runtime *rt, const char *args,
                      stream_writer fn) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  int rc;
  if (f == NULL)
    return TN_ENOMEM;
  rc = fn(f, rt, args);
  if (fclose(f) != 0 && rc == 0)
    rc = TN_ENOMEM;
  if (rc == 0)
    rc = tn_ctl_out_write(out, text, len);
  free(text);
  return rc;
}

static int write_status(FILE *f, const tn_runtime *rt, const char *args) {
  tn_telemetry_sources src = {rt->pausemon, rt->gcgov, rt->gate};
  (void)args;
  return tn_telemetry_write_status(f, &src);
}

static int write_metrics(FILE *f, const tn_runtime *rt, const char *args) {
  tn_telemetry_sources src = {rt->pausemon, rt->gcgov, rt->gate};
  (void)args;
  return tn_telemetry_write_prometheus(f, &src);
}

static int write_events(FILE *f, const tn_runtime *rt, const char *args) {
  unsigned long long since = 0;
  tn_pause_event batch[EVENTS_BATCH];
  size_t n, i;
  if (args[0] != '\0') {
    char *end;
    if (args[0] < '0' || args[0] > '9')
      return TN_EINVAL;
    errno = 0;
    since = strtoull(args, &end, 10);
    if (errno || *end != '\0')
      return TN_EINVAL;
  }
  do {
    n = tn_pausemon_events_since(rt->pausemon, since, batch, EVENTS_BATCH);
    for (i = 0; i < n; i++) {
      char line[512];
      int len = tn_pause_event_to_json(&batch[i], line, sizeof line);
      if (len > 0 && (size_t)len < sizeof line)
        fprintf(f, "%s\n", line);
      since = batch[i].seq;
    }
  } while (n == EVENTS_BATCH);
  return ferror(f) ? TN_EIO : 0;
}

static int on_status(const char *args, tn_ctl_out *out, void *arg) {
  return reply_with(out, arg, args, write_status);
}
static int on_metrics(const char *args, tn_ctl_out *out, void *arg) {
  return reply_with(out, arg, args, write_metrics);
}
static int on_events(const char *args, tn_ctl_out *out, void *arg) {
  return reply_with(out, arg, args, write_events);
}
/* Runs on the control socket's thread, which the collector does not know
 * (GC_gcollect there aborts): the governor's thread collects, this one
 * waits for it. */
static int collect_with(tn_ctl_out *out, tn_runtime *rt, const char *args,
                        tn_gc_kind kind) {
  tn_gc_plan done;
  char line[1024];
  int rc, n;
  if (args[0] != '\0')
    return TN_EINVAL;
  if (rt->gcgov == NULL)
    return TN_ENOTSUP;
  rc = tn_gcgov_collect(rt->gcgov, kind, COLLECT_WAIT, &done);
  if (rc != 0)
    return rc;
  n = tn_gc_plan_to_json(&done, line, sizeof line - 1);
  if (n <= 0 || (size_t)n >= sizeof line - 1)
    return TN_ERANGE;
  line[n++] = '\n';
  return tn_ctl_out_write(out, line, (size_t)n);
}

static int on_collect(const char *args, tn_ctl_out *out, void *arg) {
  return collect_with(out, arg, args, TN_GC_PLANNED);
}

static int on_collect_unplanned(const char *args, tn_ctl_out *out,
                                void *arg) {
  return collect_with(out, arg, args, TN_GC_UNPLANNED);
}

int tn_runtime_start(const tn_runtime_config *cfg, tn_runtime **out) {
  tn_runtime_config defaults = {0};
  tn_runtime *rt;
  int rc;
  if (cfg == NULL)
    cfg = &defaults;
  ready_note('S');
  rt = calloc(1, sizeof *rt);
  if (rt == NULL) {
    ready_note('F');
    return TN_ENOMEM;
  }
  rt->gate = cfg->gate;
  rc = tn_pausemon_open(&cfg->pausemon, &rt->pausemon);
  if (rc == 0)
    rc = tn_pausemon_start(rt->pausemon);
  if (rc == 0 && cfg->gc_governor) {
    tn_gcgov_config gc = cfg->gcgov;
    if (gc.gate == NULL)
      gc.gate = cfg->gate;
    if (gc.events_path == NULL)
      gc.events_path = cfg->pausemon.events_path;
    rc = tn_gcgov_open(&gc, &rt->gcgov);
    if (rc == 0)
      rc = tn_gcgov_start(rt->gcgov);
  }
  if (rc == 0 && !cfg->no_control_socket) {
    tn_ctl_config cc = {0};
    cc.path = cfg->socket_path;
    rc = tn_ctl_server_new(&cc, &rt->ctl);
    if (rc == 0)
      rc = tn_ctl_server_register(rt->ctl, "status", on_status, rt);
    if (rc == 0)
      rc = tn_ctl_server_register(rt->ctl, "metrics", on_metrics, rt);
    if (rc == 0)
      rc = tn_ctl_server_register(rt->ctl, "events", on_events, rt);
    if (rc == 0)
      rc = tn_ctl_server_register(rt->ctl, "collect", on_collect, rt);
    if (rc == 0)
      rc = tn_ctl_server_register(rt->ctl, "collect-unplanned",
                                  on_collect_unplanned, rt);
    if (rc == 0)
      rc = tn_ctl_server_start(rt->ctl);
  }
  if (rc != 0) {
    tn_runtime_stop(rt);
    ready_note('F');
    return rc;
  }
  *out = rt;
  ready_note('R');
  return 0;
}

void tn_runtime_stop(tn_runtime *rt) {
  if (rt == NULL)
    return;
  if (rt->ctl)
    tn_ctl_server_free(rt->ctl);
  if (rt->gcgov)
    tn_gcgov_close(rt->gcgov);
  if (rt->pausemon)
    tn_pausemon_close(rt->pausemon);
  free(rt);
}

tn_pausemon *tn_runtime_pausemon(tn_runtime *rt) { return rt->pausemon; }

tn_gcgov *tn_runtime_gcgov(tn_runtime *rt) { return rt->gcgov; }

const char *tn_runtime_socket_path(const tn_runtime *rt) {
  return rt->ctl ? tn_ctl_server_path(rt->ctl) : NULL;
}
