/*
 * The tn_runtime façade: wires the pause monitor and telemetry to the
 * control socket. It owns no logic of its own beyond start order (monitor
 * first, so the socket never serves a half-built runtime) and the reverse
 * order on stop.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/runtime.h>
#include <tenure/telemetry.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define EVENTS_BATCH 256

struct tn_runtime {
  tn_pausemon *pausemon;
  tn_ctl_server *ctl;
};

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
  tn_telemetry_sources src = {rt->pausemon};
  (void)args;
  return tn_telemetry_write_status(f, &src);
}

static int write_metrics(FILE *f, const tn_runtime *rt, const char *args) {
  tn_telemetry_sources src = {rt->pausemon};
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
static int on_collect(const char *args, tn_ctl_out *out, void *arg) {
  (void)args;
  (void)out;
  (void)arg;
  return TN_ENOTSUP; /* until a collector governor runs */
}

int tn_runtime_start(const tn_runtime_config *cfg, tn_runtime **out) {
  tn_runtime_config defaults = {0};
  tn_runtime *rt;
  int rc;
  if (cfg == NULL)
    cfg = &defaults;
  rt = calloc(1, sizeof *rt);
  if (rt == NULL)
    return TN_ENOMEM;
  rc = tn_pausemon_open(&cfg->pausemon, &rt->pausemon);
  if (rc == 0)
    rc = tn_pausemon_start(rt->pausemon);
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
      rc = tn_ctl_server_register(rt->ctl, "collect-unplanned", on_collect, rt);
    if (rc == 0)
      rc = tn_ctl_server_start(rt->ctl);
  }
  if (rc != 0) {
    tn_runtime_stop(rt);
    return rc;
  }
  *out = rt;
  return 0;
}

void tn_runtime_stop(tn_runtime *rt) {
  if (rt == NULL)
    return;
  if (rt->ctl)
    tn_ctl_server_free(rt->ctl);
  if (rt->pausemon)
    tn_pausemon_close(rt->pausemon);
  free(rt);
}

tn_pausemon *tn_runtime_pausemon(tn_runtime *rt) { return rt->pausemon; }

const char *tn_runtime_socket_path(const tn_runtime *rt) {
  return rt->ctl ? tn_ctl_server_path(rt->ctl) : NULL;
}
