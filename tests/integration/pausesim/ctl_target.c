/*
 * A stand-in target for pausesim's gc mode: a process with a tenure control
 * socket whose collect-unplanned does what the test asks.
 *
 *   ctl_target unsupported   reply "error unsupported", as a runtime without
 *                            a collector governor does
 *   ctl_target collect:MS    hold the reply MS milliseconds (a collection
 *                            that long), then reply ok with the count so far
 *
 * It prints the socket path on stdout once listening, then waits for
 * SIGTERM or SIGINT. Signals are blocked before the server thread starts, so
 * only the main thread's sigwait() takes them.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tenure/ctl.h>
#include <tenure/error.h>

static long hold_ms = -1; /* -1: unsupported */
static unsigned long collections;

static int on_collect_unplanned(const char *args, tn_ctl_out *out,
                                void *arg) {
  struct timespec ts;
  (void)args;
  (void)arg;
  if (hold_ms < 0)
    return TN_ENOTSUP;
  ts.tv_sec = hold_ms / 1000;
  ts.tv_nsec = (hold_ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0) {
  }
  collections++;
  return tn_ctl_out_printf(out, "{\"collections\":%lu}\n", collections);
}

int main(int argc, char **argv) {
  tn_ctl_server *server;
  sigset_t stop;
  int rc, sig;

  if (argc != 2) {
    fprintf(stderr, "usage: ctl_target unsupported | collect:MS\n");
    return 2;
  }
  if (strncmp(argv[1], "collect:", 8) == 0)
    hold_ms = atol(argv[1] + 8);
  else if (strcmp(argv[1], "unsupported") != 0) {
    fprintf(stderr, "ctl_target: unknown behaviour %s\n", argv[1]);
    return 2;
  }
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, NULL);

  rc = tn_ctl_server_new(NULL, &server);
  if (rc == 0)
    rc = tn_ctl_server_register(server, "collect-unplanned",
                                on_collect_unplanned, NULL);
  if (rc == 0)
    rc = tn_ctl_server_start(server);
  if (rc != 0) {
    fprintf(stderr, "ctl_target: control socket: %s\n", tn_strerror(rc));
    return 1;
  }
  printf("%s\n", tn_ctl_server_path(server));
  fflush(stdout);
  sigwait(&stop, &sig);
  tn_ctl_server_free(server);
  return 0;
}
