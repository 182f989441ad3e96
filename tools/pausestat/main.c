/*
 * pausestat: read pause telemetry, from a live process (its control socket)
 * or from a JSON-lines file of pause events, and optionally compare what
 * was detected with what pausesim injected.
 *
 * The program is one loop: refresh the source, (re)compare, render. Without
 * --watch it runs once. With --watch the exit signals are blocked and taken
 * by sigtimedwait between refreshes, so a signal is an ordinary event of the
 * loop, as in pausemeter; a target that goes away (socket removed or
 * refused, events file removed) ends the watch with a final line, not an
 * error.
 *
 * Exit status: 0 when all went well (with --compare: every injected stall
 * longer than the threshold was detected), 1 for a failure or a failed
 * comparison, 2 for bad arguments.
 */
#define _GNU_SOURCE
#include "pausestat.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <tenure/ctl.h>
#include <tenure/error.h>
#include <tenure/version.h>

#define DEFAULT_WATCH TN_SEC
#define DEFAULT_THRESHOLD (5 * TN_MSEC)
#define DEFAULT_TOLERANCE (2 * TN_MSEC)

static void usage(FILE *out) {
  fprintf(out,
          "usage: pausestat --pid PID | --socket PATH | --events FILE "
          "[options]\n"
          "Show pause telemetry per cause: count, total, p50, p99, p99.9, "
          "max.\n"
          "\n"
          "Source (exactly one):\n"
          "  -p, --pid PID           a live process, through its control "
          "socket\n"
          "  -s, --socket PATH       a live process, through this control "
          "socket\n"
          "  -e, --events FILE       a JSON-lines file of pause events "
          "(pausemeter --events)\n"
          "\n"
          "Options:\n"
          "  -j, --json              print one JSON object (one per refresh "
          "with --watch)\n"
          "  -w, --watch[=SECS]      refresh every SECS (default 1; also a "
          "TIME) until\n"
          "                          SIGINT or SIGTERM, or until the target "
          "is gone\n"
          "  -c, --compare FILE      compare with a pausesim log of injected "
          "stalls:\n"
          "                          recall, precision, duration error; exit "
          "1 unless\n"
          "                          every stall longer than the threshold "
          "was detected\n"
          "  -T, --tolerance TIME    count matches whose duration error "
          "exceeds TIME\n"
          "                          (default 2ms)\n"
          "  -t, --threshold TIME    the detector threshold for --compare "
          "(default: the\n"
          "                          process's own, or 5ms for a file)\n"
          "  -h, --help              show this help\n"
          "  -V, --version           show the version\n"
          "\n"
          "TIME is a duration such as 250ms, 1.5s, 100us, 2m or 1h30m.\n"
          "Exit status: 0 ok, 1 failure or failed comparison, 2 bad "
          "arguments.\n");
}

static int parse_time(const char *opt, const char *text, tn_nanos *out) {
  tn_parse_error err;
  if (tn_duration_parse(text, out, &err) != 0) {
    fprintf(stderr, "pausestat: %s \"%s\": %s at offset %zu\n", opt, text,
            err.reason, err.pos);
    return -1;
  }
  return 0;
}

/* --watch=SECS: a plain decimal number of seconds, or a TIME. */
static int parse_watch(const char *text, tn_nanos *out) {
  char buf[64];
  size_t i, n = strlen(text);
  int digits = 0, dots = 0;
  for (i = 0; i < n; i++) {
    if (text[i] >= '0' && text[i] <= '9')
      digits++;
    else if (text[i] == '.')
      dots++;
    else
      break;
  }
  if (i == n && digits > 0 && dots <= 1 && n < sizeof buf - 1) {
    snprintf(buf, sizeof buf, "%ss", text);
    if (parse_time("--watch", buf, out) != 0)
      return -1;
  } else if (parse_time("--watch", text, out) != 0) {
    return -1;
  }
  if (*out < 100 * TN_MSEC || *out > TN_HOUR) {
    fprintf(stderr, "pausestat: --watch \"%s\": must be between 100ms and "
                    "1h\n",
            text);
    return -1;
  }
  return 0;
}

static int parse_pid(const char *text, long *out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
      v <= 0 || v > INT_MAX) {
    fprintf(stderr, "pausestat: --pid \"%s\": not a process id (a whole "
                    "number from 1)\n",
            text);
    return -1;
  }
  *out = v;
  return 0;
}

/* A file or socket path: not empty (an empty shell variable, say). */
static int check_path(const char *opt, const char *text) {
  if (text[0] == '\0') {
    fprintf(stderr, "pausestat: %s: the path is empty\n", opt);
    return -1;
  }
  return 0;
}

/* A control socket path must also fit in a sockaddr_un. */
static int check_socket_path(const char *text) {
  size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
  if (check_path("--socket", text) != 0)
    return -1;
  if (strlen(text) > max) {
    fprintf(stderr, "pausestat: --socket \"%s\": longer than the %zu bytes "
                    "a Unix socket path may have\n",
            text, max);
    return -1;
  }
  return 0;
}

/* Wait up to d for an exit signal. Returns the signal, or 0. */
static int wait_signal(const sigset_t *sigs, tn_nanos d) {
  tn_nanos deadline = tn_now() + d;
  for (;;) {
    tn_nanos left = deadline - tn_now();
    struct timespec ts;
    int sig;
    if (left <= 0)
      return 0;
    ts.tv_sec = (time_t)(left / TN_SEC);
    ts.tv_nsec = (long)(left % TN_SEC);
    sig = sigtimedwait(sigs, NULL, &ts);
    if (sig > 0)
      return sig;
    if (errno != EAGAIN && errno != EINTR) {
      perror("pausestat: sigtimedwait");
      return SIGTERM;
    }
  }
}

static void watch_header(FILE *out, int tty, int n, tn_nanos every) {
  char wall[40], per[32];
  tn_walltime_format(tn_wall_now(), wall, sizeof wall);
  tn_duration_format(every, per, sizeof per);
  if (tty)
    fputs("\033[H\033[2J", out);
  else if (n > 0)
    fputc('\n', out);
  fprintf(out, "pausestat --watch every %s, %s\n", per, wall);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"pid", required_argument, NULL, 'p'},
      {"socket", required_argument, NULL, 's'},
      {"events", required_argument, NULL, 'e'},
      {"json", no_argument, NULL, 'j'},
      {"watch", optional_argument, NULL, 'w'},
      {"compare", required_argument, NULL, 'c'},
      {"tolerance", required_argument, NULL, 'T'},
      {"threshold", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  const char *socket_path = NULL, *events_path = NULL, *compare_path = NULL;
  char pid_socket[4096], msg[4300];
  long pid = 0;
  int json = 0, watch = 0, nsources = 0, c, rc, status = 0, tty = 0;
  int have_verdict = 0, verdict = 0, refreshes = 0;
  tn_nanos every = DEFAULT_WATCH, tolerance = DEFAULT_TOLERANCE;
  tn_nanos threshold_opt = 0;
  int have_tolerance = 0;
  sigset_t exit_sigs;
  pst_source src;
  pst_jsonl injected;
  pst_stall_list stalls = {0};
  pst_compare cmp;

  while ((c = getopt_long(argc, argv, "p:s:e:jw::c:T:t:hV", opts, NULL)) !=
         -1) {
    switch (c) {
    case 'p':
      if (parse_pid(optarg, &pid) != 0)
        return PST_EXIT_USAGE;
      nsources++;
      break;
    case 's':
      if (check_socket_path(optarg) != 0)
        return PST_EXIT_USAGE;
      socket_path = optarg;
      nsources++;
      break;
    case 'e':
      if (check_path("--events", optarg) != 0)
        return PST_EXIT_USAGE;
      events_path = optarg;
      nsources++;
      break;
    case 'j':
      json = 1;
      break;
    case 'w':
      watch = 1;
      if (optarg && parse_watch(optarg, &every) != 0)
        return PST_EXIT_USAGE;
      break;
    case 'c':
      if (check_path("--compare", optarg) != 0)
        return PST_EXIT_USAGE;
      compare_path = optarg;
      break;
    case 'T':
      if (parse_time("--tolerance", optarg, &tolerance) != 0)
        return PST_EXIT_USAGE;
      have_tolerance = 1;
      break;
    case 't':
      if (parse_time("--threshold", optarg, &threshold_opt) != 0)
        return PST_EXIT_USAGE;
      if (threshold_opt <= 0) {
        fprintf(stderr, "pausestat: --threshold \"%s\": must be more than "
                        "0\n",
                optarg);
        return PST_EXIT_USAGE;
      }
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      printf("pausestat (tenure) %s\n", tn_version_string());
      return 0;
    default:
      usage(stderr);
      return PST_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pausestat: unexpected argument \"%s\"\n", argv[optind]);
    return PST_EXIT_USAGE;
  }
  if (nsources != 1) {
    fprintf(stderr, "pausestat: %s\n",
            nsources == 0
                ? "no source: give --pid PID, --socket PATH or --events FILE"
                : "give only one of --pid, --socket and --events, once");
    return PST_EXIT_USAGE;
  }
  if (!compare_path && (have_tolerance || threshold_opt)) {
    fprintf(stderr, "pausestat: --%s only applies with --compare\n",
            have_tolerance ? "tolerance" : "threshold");
    return PST_EXIT_USAGE;
  }
  if (pid > 0) {
    rc = tn_ctl_socket_path((pid_t)pid, pid_socket, sizeof pid_socket);
    if (rc != 0) {
      fprintf(stderr, "pausestat: pid %ld: cannot name its control socket: "
                      "%s\n",
              pid, tn_strerror(rc));
      return PST_EXIT_FAIL;
    }
    socket_path = pid_socket;
  }

  if (pst_source_init(&src, events_path ? PST_SRC_EVENTS : PST_SRC_SOCKET,
                      events_path ? events_path : socket_path) != 0) {
    pst_source_free(&src);
    fprintf(stderr, "pausestat: out of memory\n");
    return PST_EXIT_FAIL;
  }
  src.pid = pid;
  src.want_events = compare_path != NULL;
  src.final = !watch;
  pst_jsonl_init(&injected, compare_path, PST_LINE_STALL);
  memset(&cmp, 0, sizeof cmp);

  sigemptyset(&exit_sigs);
  if (watch) {
    /* Before anything could start a thread, as in pausemeter. */
    sigaddset(&exit_sigs, SIGINT);
    sigaddset(&exit_sigs, SIGTERM);
    sigaddset(&exit_sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &exit_sigs, NULL);
    tty = isatty(STDOUT_FILENO);
  }

  for (;;) {
    rc = pst_source_refresh(&src, msg, sizeof msg);
    if (rc == PST_ERR_FATAL) {
      status = PST_EXIT_FAIL;
      break;
    }
    if (rc == PST_ERR_GONE || (rc == PST_ERR_BUSY && !watch)) {
      if (refreshes == 0 || !watch) {
        fprintf(stderr, "pausestat: %s\n", msg);
        status = PST_EXIT_FAIL;
      } else {
        /* The end of the experiment, not a failure. */
        fprintf(json ? stderr : stdout,
                "pausestat: %s; the target is gone, stopping after %d "
                "refresh%s\n",
                msg, refreshes, refreshes == 1 ? "" : "es");
        status = compare_path && !(have_verdict && verdict) ? PST_EXIT_FAIL
                                                            : 0;
      }
      break;
    }
    if (rc == PST_ERR_BUSY) {
      fprintf(stderr, "pausestat: %s; trying again\n", msg);
    } else {
      pst_view view = {&src, NULL, NULL, NULL, compare_path};
      if (compare_path) {
        int restarted;
        tn_nanos threshold = threshold_opt;
        rc = pst_jsonl_read_file(&injected, compare_path, !watch, &restarted,
                                 NULL, &stalls);
        if (rc == PST_ERR_FATAL || (rc == 0 && pst_jsonl_finish(&injected))) {
          status = PST_EXIT_FAIL;
          break;
        }
        if (restarted)
          fprintf(stderr, "pausestat: %s was truncated or replaced; reading "
                          "it from its start again\n",
                  compare_path);
        if (threshold == 0)
          threshold = pst_source_threshold(&src);
        if (threshold == 0)
          threshold = DEFAULT_THRESHOLD;
        if (pst_compare_run(&stalls, &src.events, threshold, tolerance,
                            src.not_before, &cmp) != 0) {
          fprintf(stderr, "pausestat: out of memory\n");
          status = PST_EXIT_FAIL;
          break;
        }
        have_verdict = 1;
        verdict = cmp.pass;
        view.cmp = &cmp;
        view.stalls = &stalls;
        view.events = &src.events;
      }
      if (watch && !json)
        watch_header(stdout, tty, refreshes, every);
      if (json) {
        if (pst_render_json(stdout, &view) != 0) {
          fprintf(stderr, "pausestat: out of memory\n");
          status = PST_EXIT_FAIL;
          break;
        }
      } else {
        pst_render_text(stdout, &view);
      }
      fflush(stdout);
      refreshes++;
      status = compare_path && !verdict ? PST_EXIT_FAIL : 0;
    }
    if (!watch)
      break;
    if (wait_signal(&exit_sigs, every) != 0)
      break;
  }

  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "pausestat: writing the report failed: %s\n",
            strerror(errno));
    status = PST_EXIT_FAIL;
  }
  pst_compare_free(&cmp);
  pst_stall_list_free(&stalls);
  pst_source_free(&src);
  return status;
}
