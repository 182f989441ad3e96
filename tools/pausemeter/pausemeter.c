/*
 * pausemeter: the pause monitor with no application around it, measuring
 * the stalls the host itself inflicts (like jHiccup's control process).
 *
 * It starts a tn_runtime (sampler, telemetry, control socket, so pausestat
 * can read it live), prints events as they are seen, and on exit (--for
 * elapsed, SIGINT, SIGTERM or SIGHUP) prints a per-cause summary and exits 0.
 *
 * Arguments are checked before anything starts: a duration must be more
 * than zero (an explicit 0 is refused, never taken for "the default"), and
 * the events file must open for appending, so its error is the first and
 * only thing printed (exit 1), not a complaint about the control socket.
 *
 * The main thread waits in sigtimedwait with the exit signals blocked, so a
 * signal is an ordinary event of the loop and nothing runs in a handler.
 * SIGCONT is deliberately left unblocked: the monitor's handler counts it.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/histogram.h>
#include <tenure/runtime.h>
#include <tenure/version.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

static void usage(FILE *out) {
  fprintf(out,
          "usage: pausemeter [options]\n"
          "Measure the stalls this host inflicts on a process, with causes.\n"
          "\n"
          "  -i, --interval TIME    sampler interval (default 1ms)\n"
          "  -t, --threshold TIME   report stalls longer than this (default "
          "5ms, at least 1ms)\n"
          "  -f, --for TIME         stop after TIME, more than 0 (default: "
          "until SIGINT or\n"
          "                         SIGTERM)\n"
          "  -e, --events FILE      append one JSON line per event to FILE\n"
          "      --no-socket        do not open the control socket\n"
          "  -q, --quiet            print only the final summary\n"
          "  -h, --help             show this help\n"
          "  -V, --version          show the version\n"
          "\n"
          "TIME is a duration such as 250ms, 1.5s, 100us, 2m or 1h30m.\n"
          "While it runs, `pausestat --pid PID` reads it live.\n");
}

/* A duration more than zero; zero means nothing useful for any option. */
static int parse_time(const char *opt, const char *text, tn_nanos *out) {
  tn_parse_error err;
  int rc = tn_duration_parse(text, out, &err);
  if (rc != 0) {
    fprintf(stderr, "pausemeter: %s \"%s\": %s at offset %zu\n", opt, text,
            err.reason, err.pos);
    return -1;
  }
  if (*out <= 0) {
    fprintf(stderr, "pausemeter: %s \"%s\": must be more than 0\n", opt,
            text);
    return -1;
  }
  return 0;
}

/* The file the monitor will append to, opened (and created) now as it
 * will be, so that a bad path is reported first, with the system's reason. */
static int check_events_file(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "pausemeter: --events \"%s\": cannot open for appending: "
                    "%s\n",
            path, strerror(errno));
    return -1;
  }
  close(fd);
  return 0;
}

static void fmt_ms(tn_nanos d, char *buf, size_t len) {
  snprintf(buf, len, "%.3fms", tn_nanos_to_millis(d));
}

static void print_event(const tn_pause_event *ev) {
  char wall[40], dur[32];
  tn_walltime_format(ev->start_wall, wall, sizeof wall);
  fmt_ms(ev->duration, dur, sizeof dur);
  printf("%s  #%llu  %-8s %12s%s\n", wall, (unsigned long long)ev->seq,
         tn_pause_cause_name(ev->cause), dur, ev->planned ? "  planned" : "");
  fflush(stdout);
}

static void print_summary(tn_pausemon *m, tn_nanos ran) {
  tn_pausemon_stats st;
  char a[32], b[32], c[32], d[32], e[32];
  int i;
  tn_pausemon_stats_get(m, &st);
  printf("\npausemeter: %.1fs sampled at %.3gms, threshold %.3gms, "
         "%llu wake-ups, sampler CPU %.3f%%\n",
         tn_nanos_to_seconds(ran), tn_nanos_to_millis(st.interval),
         tn_nanos_to_millis(st.threshold), (unsigned long long)st.wakeups,
         ran > 0 ? 100.0 * (double)st.sampler_cpu / (double)ran : 0.0);
  printf("%-8s %7s %14s %12s %12s %12s %12s\n", "cause", "count", "total",
         "p50", "p99", "p99.9", "max");
  for (i = 0; i < TN_CAUSE_COUNT; i++) {
    const tn_pause_summary *s = &st.cause[i];
    fmt_ms(s->total, a, sizeof a);
    fmt_ms(s->p50, b, sizeof b);
    fmt_ms(s->p99, c, sizeof c);
    fmt_ms(s->p999, d, sizeof d);
    fmt_ms(s->max, e, sizeof e);
    printf("%-8s %7llu %14s %12s %12s %12s %12s\n",
           tn_pause_cause_name((tn_pause_cause)i),
           (unsigned long long)s->count, a, b, c, d, e);
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"interval", required_argument, NULL, 'i'},
      {"threshold", required_argument, NULL, 't'},
      {"for", required_argument, NULL, 'f'},
      {"events", required_argument, NULL, 'e'},
      {"no-socket", no_argument, NULL, 'S'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  tn_runtime_config cfg;
  tn_runtime *rt = NULL;
  tn_nanos run_for = 0, started, deadline;
  sigset_t exit_sigs;
  uint64_t printed = 0;
  int quiet = 0, c, rc;

  memset(&cfg, 0, sizeof cfg);
  while ((c = getopt_long(argc, argv, "i:t:f:e:qhV", opts, NULL)) != -1) {
    switch (c) {
    case 'i':
      if (parse_time("--interval", optarg, &cfg.pausemon.interval))
        return EXIT_USAGE;
      break;
    case 't':
      if (parse_time("--threshold", optarg, &cfg.pausemon.threshold))
        return EXIT_USAGE;
      break;
    case 'f':
      if (parse_time("--for", optarg, &run_for))
        return EXIT_USAGE;
      break;
    case 'e':
      if (optarg[0] == '\0') {
        fprintf(stderr, "pausemeter: --events: the file name is empty\n");
        return EXIT_USAGE;
      }
      cfg.pausemon.events_path = optarg;
      break;
    case 'S':
      cfg.no_control_socket = 1;
      break;
    case 'q':
      quiet = 1;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      printf("pausemeter (tenure) %s\n", tn_version_string());
      return 0;
    default:
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pausemeter: unexpected argument \"%s\"\n", argv[optind]);
    return EXIT_USAGE;
  }
  /* parse_time refused an explicit 0: zero here means "not given" */
  if (cfg.pausemon.interval == 0)
    cfg.pausemon.interval = TN_MSEC;
  if (cfg.pausemon.threshold == 0)
    cfg.pausemon.threshold = 5 * TN_MSEC;
  if (cfg.pausemon.threshold < TN_MSEC ||
      cfg.pausemon.threshold <= cfg.pausemon.interval) {
    fprintf(stderr,
            "pausemeter: --threshold must be at least 1ms and longer than "
            "--interval\n");
    return EXIT_USAGE;
  }
  if (cfg.pausemon.interval < 100 * TN_USEC || cfg.pausemon.interval > TN_SEC) {
    fprintf(stderr, "pausemeter: --interval must be between 100us and 1s\n");
    return EXIT_USAGE;
  }

  if (cfg.pausemon.events_path && check_events_file(cfg.pausemon.events_path))
    return 1;

  /* Block the exit signals before any thread exists, so every thread
   * inherits the mask and only sigtimedwait below receives them. */
  sigemptyset(&exit_sigs);
  sigaddset(&exit_sigs, SIGINT);
  sigaddset(&exit_sigs, SIGTERM);
  sigaddset(&exit_sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &exit_sigs, NULL);

  rc = tn_runtime_start(&cfg, &rt);
  if (rc != 0 && !cfg.no_control_socket) {
    /* Blame the socket only if the monitor starts without it. */
    int socket_rc = rc;
    cfg.no_control_socket = 1;
    rc = tn_runtime_start(&cfg, &rt);
    if (rc == 0)
      fprintf(stderr,
              "pausemeter: control socket unavailable (%s); running without "
              "it\n",
              tn_strerror(socket_rc));
  }
  if (rc != 0) {
    if (cfg.pausemon.events_path && (rc == TN_ENOENT || rc == TN_EPERM ||
                                     rc == TN_EIO))
      fprintf(stderr, "pausemeter: --events \"%s\": %s\n",
              cfg.pausemon.events_path, tn_strerror(rc));
    else
      fprintf(stderr, "pausemeter: cannot start the monitor: %s\n",
              tn_strerror(rc));
    return 1;
  }
  started = tn_now();
  deadline = run_for > 0 ? tn_nanos_add_sat(started, run_for) : TN_NANOS_MAX;
  if (!quiet) {
    const char *sock = tn_runtime_socket_path(rt);
    printf("pausemeter %s: pid %ld, interval %.3gms, threshold %.3gms%s%s\n",
           tn_version_string(), (long)getpid(),
           tn_nanos_to_millis(cfg.pausemon.interval),
           tn_nanos_to_millis(cfg.pausemon.threshold),
           sock ? ", socket " : "", sock ? sock : "");
    fflush(stdout);
  }

  for (;;) {
    struct timespec wait;
    tn_nanos now = tn_now(), left = deadline - now;
    int sig;
    if (left <= 0)
      break;
    if (left > 100 * TN_MSEC)
      left = 100 * TN_MSEC;
    wait.tv_sec = (time_t)(left / TN_SEC);
    wait.tv_nsec = (long)(left % TN_SEC);
    sig = sigtimedwait(&exit_sigs, NULL, &wait);
    if (!quiet) {
      tn_pause_event evs[64];
      size_t n, i;
      do {
        n = tn_pausemon_events_since(tn_runtime_pausemon(rt), printed, evs,
                                     64);
        for (i = 0; i < n; i++) {
          print_event(&evs[i]);
          printed = evs[i].seq;
        }
      } while (n == 64);
    }
    if (sig > 0)
      break;
    if (sig < 0 && errno != EAGAIN && errno != EINTR) {
      perror("pausemeter: sigtimedwait");
      break;
    }
  }
  print_summary(tn_runtime_pausemon(rt), tn_now() - started);
  tn_runtime_stop(rt);
  return 0;
}
