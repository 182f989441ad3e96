/*
 * A stand-in process for pausestat's socket tests: a tenure control socket
 * whose `status` and `events` answers come from files the test writes, so
 * the test decides exactly what pausestat reads (sections a runtime does
 * not have yet, wrong types, malformed event lines, known figures).
 *
 *   pst_fake_target SOCKET STATUS_FILE EVENTS_FILE
 *
 * status          the contents of STATUS_FILE, re-read on every call, so a
 *                 test can change the answer between refreshes
 * events [SINCE]  the lines of EVENTS_FILE whose "seq":N is above SINCE;
 *                 lines with no readable seq only when SINCE is 0
 *
 * It prints the socket path on stdout once listening, then waits for
 * SIGTERM or SIGINT (blocked before the server thread starts, so only the
 * main thread's sigwait takes them) and removes the socket on the way out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenure/ctl.h>
#include <tenure/error.h>

static const char *status_path, *events_path;

static int send_file_lines(tn_ctl_out *out, const char *path,
                           unsigned long long since) {
  FILE *f = fopen(path, "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  if (f == NULL)
    return TN_EIO;
  while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
    const char *seq = strstr(line, "\"seq\":");
    char *end = NULL;
    unsigned long long v = 0;
    if (seq != NULL) {
      errno = 0;
      v = strtoull(seq + 6, &end, 10);
      if (end == seq + 6 || errno != 0)
        seq = NULL;
    }
    if (seq != NULL ? v > since : since == 0)
      rc = tn_ctl_out_write(out, line, (size_t)n);
  }
  free(line);
  fclose(f);
  return rc;
}

static int on_status(const char *args, tn_ctl_out *out, void *arg) {
  (void)args;
  (void)arg;
  return send_file_lines(out, status_path, 0);
}

static int on_events(const char *args, tn_ctl_out *out, void *arg) {
  char *end;
  unsigned long long since = 0;
  (void)arg;
  if (args[0] != '\0') {
    errno = 0;
    since = strtoull(args, &end, 10);
    if (*end != '\0' || errno != 0)
      return TN_EINVAL;
  }
  return send_file_lines(out, events_path, since);
}

int main(int argc, char **argv) {
  tn_ctl_config cfg;
  tn_ctl_server *server;
  sigset_t stop;
  int rc, sig;

  if (argc != 4) {
    fprintf(stderr, "usage: pst_fake_target SOCKET STATUS_FILE EVENTS_FILE\n");
    return 2;
  }
  status_path = argv[2];
  events_path = argv[3];
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, NULL);

  memset(&cfg, 0, sizeof cfg);
  cfg.path = argv[1];
  if ((rc = tn_ctl_server_new(&cfg, &server)) != 0 ||
      (rc = tn_ctl_server_register(server, "status", on_status, NULL)) != 0 ||
      (rc = tn_ctl_server_register(server, "events", on_events, NULL)) != 0 ||
      (rc = tn_ctl_server_start(server)) != 0) {
    fprintf(stderr, "pst_fake_target: %s: %s\n", argv[1], tn_strerror(rc));
    return 1;
  }
  printf("%s\n", tn_ctl_server_path(server));
  fflush(stdout);
  sigwait(&stop, &sig);
  tn_ctl_server_free(server);
  return 0;
}
