/*
 * pausesim: inject stop-the-world stalls into real processes, so that the
 * code which must survive pauses (leases, pause monitors, collectors) can be
 * tested against real ones.
 *
 * The schedule loop alternates two absolute CLOCK_BOOTTIME deadlines: the
 * start of the next stall (end of the previous one plus a drawn gap) and the
 * end of the current one (its confirmed start plus a drawn duration).
 * Sleeping to absolute deadlines means wake-up lag never accumulates from
 * one stall to the next.
 *
 * The invariant everything else serves: pausesim never leaves its target
 * stopped or frozen. Every sleep is clock_nanosleep() in slices of at most
 * SLEEP_SLICE, so a terminating signal (which interrupts it with EINTR) or
 * the target's death is seen within one slice; every path out of a stall,
 * errors included, goes through psim_stall_end(); and the guardian process
 * (guard.c) covers the deaths pausesim cannot catch, SIGKILL among them.
 *
 * With a COMMAND, signals meant for pausesim are passed on to the command
 * straight from the handler (kill() is async-signal-safe), except those a
 * terminal sent to the whole process group, which the command already got.
 * No stall lands before the command is ready: a command that starts a
 * tenure runtime says so through the pipe in TENURE_READY_FD ('S' when the
 * start begins, 'R' once its monitor and socket run), and pausesim waits
 * for the 'R' (then for its control socket to answer status); one that says
 * nothing within --warmup is taken to start no runtime at all.
 */
#define _GNU_SOURCE
#include "pausesim.h"
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tenure/clock.h>
#include <tenure/ctl.h>
#include <tenure/error.h>
#include <tenure/version.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* Longest uninterrupted sleep: bounds how late a vanished target is seen.
 * A signal is seen at once (EINTR); the slice only matters if it lands in
 * the instant between the check and the sleep. */
#define SLEEP_SLICE (50 * TN_MSEC)

/* --- signals ----------------------------------------------------------------- */

static volatile sig_atomic_t stop_count;    /* terminating signals seen */
static volatile sig_atomic_t stop_signal;   /* the last of them */
static volatile sig_atomic_t alarm_fired;   /* the confirm bound passed */
static volatile sig_atomic_t forward_pid;   /* COMMAND child, 0 once reaped */

static const int terminating[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NTERMINATING (int)(sizeof terminating / sizeof terminating[0])
/* Dispositions pausesim found, restored in the COMMAND before exec so that
 * it inherits what it would have without pausesim in between. */
static struct sigaction inherited[NTERMINATING], inherited_pipe;

int psim_interrupted(void) { return stop_count != 0; }
int psim_alarm_fired(void) { return alarm_fired; }
void psim_alarm_clear(void) { alarm_fired = 0; }

static void on_terminate(int signo, siginfo_t *info, void *uctx) {
  int saved_errno = errno;
  (void)uctx;
  stop_signal = signo;
  stop_count = stop_count + 1;
  /* A terminal sends ^C to the whole foreground process group (si_code
   * SI_KERNEL), so the command has it already. A signal for the child that
   * arrives while it is stopped waits for the SIGCONT, which is sent next. */
  if (forward_pid > 0 && !(info && info->si_code == SI_KERNEL))
    kill((pid_t)forward_pid, signo);
  errno = saved_errno;
}

static void on_alarm(int signo) {
  (void)signo;
  alarm_fired = 1;
}

/* Its only job is to exist: a caught SIGCHLD interrupts clock_nanosleep()
 * when the command exits, where the default disposition would not. */
static void on_child(int signo) { (void)signo; }

static void install_signals(void) {
  struct sigaction sa;
  int i;

  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_terminate;
  sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: we want the EINTR */
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < NTERMINATING; i++)
    sigaddset(&sa.sa_mask, terminating[i]);
  for (i = 0; i < NTERMINATING; i++) {
    sigaction(terminating[i], NULL, &inherited[i]);
    /* Respect nohup. SIGINT and SIGQUIT are caught even when a script
     * started us in the background with them ignored: a stalled target
     * must be resumed whatever ends pausesim. */
    if (terminating[i] == SIGHUP && inherited[i].sa_handler == SIG_IGN)
      continue;
    sigaction(terminating[i], &sa, NULL);
  }

  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  sa.sa_handler = on_child;
  sa.sa_flags = SA_NOCLDSTOP; /* our own SIGSTOPs must not wake us */
  sigaction(SIGCHLD, &sa, NULL);
  /* A log on a closed pipe must be an error we report, not our death with
   * the target stopped. */
  sa.sa_handler = SIG_IGN;
  sa.sa_flags = 0;
  sigaction(SIGPIPE, &sa, &inherited_pipe);
}

static void restore_signals_for_exec(void) {
  struct sigaction dfl;
  sigset_t none;
  int i;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (i = 0; i < NTERMINATING; i++)
    sigaction(terminating[i], &inherited[i], NULL);
  sigaction(SIGPIPE, &inherited_pipe, NULL);
  sigaction(SIGCHLD, &dfl, NULL);
  sigaction(SIGALRM, &dfl, NULL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Die of signo, as if pausesim had not caught it, so that a shell sees
 * 128+signo and a script's loop stops. */
static void __attribute__((noreturn)) die_of_signal(int signo) {
  struct sigaction dfl;
  sigset_t set;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(signo, &dfl, NULL);
  sigemptyset(&set);
  sigaddset(&set, signo);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(signo);
  _exit(128 + signo);
}

/* --- options ----------------------------------------------------------------- */

typedef struct options {
  psim_mode mode;
  psim_spec duration;
  psim_spec interval;
  int duration_given;
  uint64_t count; /* 0: no limit */
  tn_nanos run_for; /* 0: no limit */
  tn_nanos start_after;
  uint64_t seed;
  int seed_given;
  const char *log_path;
  tn_nanos warmup;        /* COMMAND: how long a silent command gets */
  tn_nanos ready_timeout; /* COMMAND: how long a starting runtime gets */
  int ready_given;        /* --warmup or --ready-timeout was given */
  const char *recover;    /* --recover LOG */
  int verbosity; /* 0 quiet, 1 normal, 2 verbose */
  pid_t pid;     /* --pid, 0 if not given */
  const char *cgroup;
  char **command; /* NULL if none */
} options;

enum {
  OPT_PID = 256,
  OPT_CGROUP,
  OPT_FOR,
  OPT_START_AFTER,
  OPT_WARMUP,
  OPT_READY_TIMEOUT,
  OPT_RECOVER,
  OPT_HELP,
  OPT_VERSION
};

static const struct option long_options[] = {
    {"pid", required_argument, NULL, OPT_PID},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"mode", required_argument, NULL, 'm'},
    {"duration", required_argument, NULL, 'd'},
    {"interval", required_argument, NULL, 'i'},
    {"count", required_argument, NULL, 'n'},
    {"for", required_argument, NULL, OPT_FOR},
    {"start-after", required_argument, NULL, OPT_START_AFTER},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"ready-timeout", required_argument, NULL, OPT_READY_TIMEOUT},
    {"recover", required_argument, NULL, OPT_RECOVER},
    {"seed", required_argument, NULL, 's'},
    {"log", required_argument, NULL, 'l'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0}};

static void usage(FILE *out) {
  fputs(
      "Usage: pausesim [OPTION]... --pid PID | --cgroup DIR | -- COMMAND "
      "[ARG]...\n"
      "       pausesim --recover LOG\n"
      "Inject stop-the-world stalls into a process, a cgroup or a command.\n"
      "\n"
      "Target (exactly one):\n"
      "      --pid PID            stall a running process\n"
      "      --cgroup DIR         stall a cgroup v2 directory (--mode "
      "freeze)\n"
      "  -- COMMAND [ARG]...      run COMMAND, stall it, exit with its "
      "status\n"
      "\n"
      "Options:\n"
      "  -m, --mode MODE          stop: SIGSTOP/SIGCONT (default); freeze: "
      "cgroup v2\n"
      "                           cgroup.freeze; gc: ask the target's tenure "
      "runtime\n"
      "                           for an unplanned collection\n"
      "  -d, --duration SPEC      length of each stall (default 200ms)\n"
      "  -i, --interval SPEC      gap from the end of a stall to the start of "
      "the\n"
      "                           next (default 1s)\n"
      "  -n, --count N            stop after N stalls\n"
      "      --for TIME           stop stalling after TIME; a stall in "
      "progress\n"
      "                           is cut short\n"
      "      --start-after TIME   wait TIME before the first stall (default "
      "0s)\n"
      "      --warmup TIME        COMMAND: before the first stall, wait for "
      "its\n"
      "                           tenure runtime to be up, or TIME if it "
      "starts\n"
      "                           none (default 200ms)\n"
      "      --ready-timeout TIME COMMAND: give up (exit 1) if a runtime it "
      "began\n"
      "                           starting is not up after TIME (default "
      "10s)\n"
      "  -s, --seed N             seed of the schedule: the same seed and "
      "SPECs give\n"
      "                           the same durations and gaps (default: from "
      "the clock)\n"
      "  -l, --log FILE           write each stall to FILE as JSON lines (- "
      "for\n"
      "                           stdout): a begin record, then the stall\n"
      "      --recover LOG        after a crash of pausesim and its "
      "guardian:\n"
      "                           resume the target of a stall LOG shows "
      "begun\n"
      "                           and never ended, then exit\n"
      "  -q, --quiet              print errors only\n"
      "  -v, --verbose            print the seed and each stall as it "
      "happens\n"
      "      --help               print this help and exit\n"
      "      --version            print the version and exit\n"
      "\n"
      "SPEC: a duration (200ms, 1.5s, 1m30s), uniform:MIN,MAX, exp:MEAN,\n"
      "      or pareto:SCALE,SHAPE (SHAPE a positive decimal, e.g. 1.5).\n"
      "TIME: a duration; units ns, us, ms, s, m, h.\n"
      "\n"
      "Exit status: 0 done (or the --pid target exited), 1 failure, 2 usage "
      "error;\n"
      "with a COMMAND, the command's status (128+N if signal N killed it).\n"
      "See pausesim(1).\n",
      out);
}

static void __attribute__((noreturn)) usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("pausesim: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'pausesim --help' for more information.\n", stderr);
  exit(EXIT_USAGE);
}

static void parse_spec_option(const char *option, const char *text,
                              psim_spec *out) {
  tn_parse_error err = {0, NULL};
  if (psim_spec_parse(text, out, &err) != 0)
    usage_error("%s \"%s\": %s at offset %zu", option, text,
                err.reason ? err.reason : "invalid", err.pos);
}

static tn_nanos parse_time_option(const char *option, const char *text) {
  tn_parse_error err = {0, NULL};
  tn_nanos d = 0;
  if (tn_duration_parse(text, &d, &err) != 0)
    usage_error("%s \"%s\": %s at offset %zu", option, text,
                err.reason ? err.reason : "invalid", err.pos);
  return d;
}

/* A whole decimal number in [min, max], digits only. */
static int parse_uint(const char *text, uint64_t min, uint64_t max,
                      uint64_t *out) {
  uint64_t v = 0;
  const char *p = text;
  if (*p == '\0')
    return -1;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    if (__builtin_mul_overflow(v, 10, &v) ||
        __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
      return -1;
  }
  if (v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static void parse_options(int argc, char **argv, options *o) {
  int c, targets;
  uint64_t v;

  memset(o, 0, sizeof *o);
  o->mode = PSIM_MODE_STOP;
  o->verbosity = 1;
  o->warmup = 200 * TN_MSEC;
  o->ready_timeout = 10 * TN_SEC;
  psim_spec_parse("200ms", &o->duration, NULL);
  psim_spec_parse("1s", &o->interval, NULL);

  /* '+': options end at the first non-option, so a COMMAND's own options
   * are never taken for ours, with or without "--". */
  opterr = 0; /* report problems ourselves, in pausesim's words */
  while ((c = getopt_long(argc, argv, "+:m:d:i:n:s:l:qvh", long_options,
                          NULL)) != -1) {
    switch (c) {
    case OPT_PID:
      if (parse_uint(optarg, 1, INT32_MAX, &v) != 0)
        usage_error("--pid \"%s\": not a process id (a positive whole "
                    "number)",
                    optarg);
      o->pid = (pid_t)v;
      break;
    case OPT_CGROUP:
      if (*optarg == '\0')
        usage_error("--cgroup: empty directory name");
      o->cgroup = optarg;
      break;
    case 'm':
      if (strcmp(optarg, "stop") == 0)
        o->mode = PSIM_MODE_STOP;
      else if (strcmp(optarg, "freeze") == 0)
        o->mode = PSIM_MODE_FREEZE;
      else if (strcmp(optarg, "gc") == 0)
        o->mode = PSIM_MODE_GC;
      else
        usage_error("--mode \"%s\": unknown mode (use stop, freeze or gc)",
                    optarg);
      break;
    case 'd':
      parse_spec_option("--duration", optarg, &o->duration);
      o->duration_given = 1;
      break;
    case 'i':
      parse_spec_option("--interval", optarg, &o->interval);
      break;
    case 'n':
      if (parse_uint(optarg, 1, UINT64_MAX, &o->count) != 0)
        usage_error("--count \"%s\": not a whole number of at least 1",
                    optarg);
      break;
    case OPT_FOR:
      o->run_for = parse_time_option("--for", optarg);
      if (o->run_for == 0)
        usage_error("--for \"%s\": must be longer than 0s", optarg);
      break;
    case OPT_START_AFTER:
      o->start_after = parse_time_option("--start-after", optarg);
      break;
    case OPT_RECOVER:
      if (*optarg == '\0')
        usage_error("--recover: empty file name");
      o->recover = optarg;
      break;
    case OPT_WARMUP:
      o->warmup = parse_time_option("--warmup", optarg);
      o->ready_given = 1;
      break;
    case OPT_READY_TIMEOUT:
      o->ready_timeout = parse_time_option("--ready-timeout", optarg);
      if (o->ready_timeout == 0)
        usage_error("--ready-timeout \"%s\": must be longer than 0s", optarg);
      o->ready_given = 1;
      break;
    case 's':
      if (parse_uint(optarg, 0, UINT64_MAX, &o->seed) != 0)
        usage_error("--seed \"%s\": not a whole number from 0 to "
                    "18446744073709551615",
                    optarg);
      o->seed_given = 1;
      break;
    case 'l':
      if (*optarg == '\0')
        usage_error("--log: empty file name");
      o->log_path = optarg;
      break;
    case 'q':
      o->verbosity = 0;
      break;
    case 'v':
      o->verbosity = 2;
      break;
    case 'h':
    case OPT_HELP:
      usage(stdout);
      exit(0);
    case OPT_VERSION:
      printf("pausesim (tenure) %s\n", tn_version_string());
      exit(0);
    case ':':
    default: {
      /* A long option is named by its argv word, a short one by optopt
       * (its word may be a cluster such as -qx). */
      const char *word = argv[optind - 1];
      int is_long = strncmp(word, "--", 2) == 0;
      int name_len = is_long ? (int)strcspn(word, "=") : 2;
      char short_name[3] = {'-', (char)optopt, '\0'};
      if (!is_long)
        word = short_name;
      if (c == ':')
        usage_error("option %.*s needs a value", name_len, word);
      usage_error("unknown option %.*s", name_len, word);
    }
    }
  }
  if (optind < argc)
    o->command = argv + optind;
  if (o->recover) {
    if (o->pid || o->cgroup || o->command || o->log_path)
      usage_error("--recover LOG takes no target and no --log: the log "
                  "names the target");
    return;
  }

  targets = (o->pid != 0) + (o->cgroup != NULL) + (o->command != NULL);
  if (targets == 0)
    usage_error("no target: give --pid PID, --cgroup DIR or -- COMMAND");
  if (targets > 1)
    usage_error("give one target only: --pid PID, --cgroup DIR or -- "
                "COMMAND");
  if (o->pid == getpid())
    usage_error("--pid %d is pausesim itself", (int)o->pid);
  if (o->ready_given && o->command == NULL)
    usage_error("--warmup and --ready-timeout apply to -- COMMAND only: a "
                "process given by --pid or --cgroup is already running");
  switch (o->mode) {
  case PSIM_MODE_STOP:
    if (o->cgroup)
      usage_error("--mode stop stops one process; use --mode freeze to "
                  "stall --cgroup %s",
                  o->cgroup);
    break;
  case PSIM_MODE_FREEZE:
    if (!o->cgroup)
      usage_error("--mode freeze needs --cgroup DIR (a cgroup v2 "
                  "directory); use --mode stop for a single process");
    break;
  case PSIM_MODE_GC:
    if (o->cgroup)
      usage_error("--mode gc needs --pid PID or a COMMAND, not --cgroup");
    if (o->duration_given)
      usage_error("--duration does not apply to --mode gc: a collection "
                  "lasts as long as it takes");
    break;
  }
}

/* --- the run ----------------------------------------------------------------- */

typedef struct stats {
  uint64_t stalls;   /* logged stalls (or collections) */
  uint64_t cut;      /* of which ended early */
  tn_nanos total;    /* measured time stalled */
  tn_nanos err_sum;  /* measured - requested, over stalls not cut short */
  tn_nanos err_max;  /* the one with the largest magnitude, with its sign */
  tn_nanos longest;
} stats;

typedef struct run {
  options o;
  psim_target target;
  psim_schedule sched;
  psim_guard guard;
  int log_fd; /* -1: no log */
  int ready_fd; /* COMMAND: read end of the TENURE_READY_FD pipe, or -1 */
  int cut_why;  /* why the stall being held ended early, or PSIM_OK */
  stats st;
} run;

static const char *mode_name(psim_mode m) {
  return m == PSIM_MODE_FREEZE ? "freeze" : m == PSIM_MODE_GC ? "gc" : "stop";
}

/* Write a whole line with one write() (a reader sees whole lines as they
 * happen); only a short write, which a regular file does not do, loops. */
static int write_line(int fd, const char *line, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, line, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    line += n;
    len -= (size_t)n;
  }
  return 0;
}

static int record_stall(run *r, uint64_t seq, tn_nanos start,
                        tn_nanos duration, tn_nanos requested, int cut) {
  stats *st = &r->st;
  char line[256];
  int n;

  st->stalls++;
  st->total += duration;
  if (duration > st->longest)
    st->longest = duration;
  if (cut) {
    st->cut++;
  } else if (r->o.mode != PSIM_MODE_GC) {
    tn_nanos err = duration - requested;
    tn_nanos mag = err < 0 ? -err : err;
    tn_nanos max_mag = st->err_max < 0 ? -st->err_max : st->err_max;
    st->err_sum += err;
    if (mag > max_mag)
      st->err_max = err;
  }

  if (r->o.verbosity >= 2) {
    char req[64];
    tn_duration_format(requested, req, sizeof req);
    if (r->o.mode == PSIM_MODE_GC)
      fprintf(stderr,
              "pausesim: collection %" PRIu64 ": %s, %.3f ms round trip\n",
              seq, r->target.label, tn_nanos_to_millis(duration));
    else if (cut)
      fprintf(stderr,
              "pausesim: stall %" PRIu64 ": %s %s %.3f ms (requested %s, "
              "cut short)\n",
              seq, r->target.label,
              r->o.mode == PSIM_MODE_FREEZE ? "frozen" : "stopped",
              tn_nanos_to_millis(duration), req);
    else
      fprintf(stderr,
              "pausesim: stall %" PRIu64 ": %s %s %.3f ms (requested %s, "
              "%+.3f ms)\n",
              seq, r->target.label,
              r->o.mode == PSIM_MODE_FREEZE ? "frozen" : "stopped",
              tn_nanos_to_millis(duration), req,
              tn_nanos_to_millis(duration - requested));
  }

  if (r->log_fd < 0)
    return 0;
  n = snprintf(line, sizeof line,
               "{\"seq\":%" PRIu64 ",\"pid\":%d,\"mode\":\"%s\","
               "\"start_boot_ns\":%" PRId64 ",\"duration_ns\":%" PRId64
               ",\"requested_ns\":%" PRId64 "}\n",
               seq,
               r->target.kind == PSIM_TARGET_CGROUP ? 0 : (int)r->target.pid,
               mode_name(r->o.mode), start, duration, requested);
  if (write_line(r->log_fd, line, (size_t)n) != 0) {
    fprintf(stderr, "pausesim: cannot write to the log %s: %s\n",
            r->o.log_path, strerror(errno));
    return -1;
  }
  return 0;
}

/* Sleep until deadline, in slices, watching for signals and the target's
 * end. Returns PSIM_OK at the deadline, PSIM_INTERRUPTED or PSIM_GONE. */
static int sleep_until(run *r, tn_nanos deadline) {
  for (;;) {
    struct timespec ts;
    tn_nanos now, wake;
    if (psim_interrupted())
      return PSIM_INTERRUPTED;
    if (psim_target_gone(&r->target))
      return PSIM_GONE;
    now = tn_now();
    if (now >= deadline)
      return PSIM_OK;
    wake = deadline - now > SLEEP_SLICE ? now + SLEEP_SLICE : deadline;
    ts.tv_sec = (time_t)(wake / TN_SEC);
    ts.tv_nsec = (long)(wake % TN_SEC);
    /* The last slice returns straight away: re-checking /proc here would
     * only lengthen the stall. */
    if (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL) == 0 &&
        wake == deadline)
      return PSIM_OK;
  }
}

enum run_end { END_DONE, END_GONE, END_SIGNAL, END_ERROR };

/* Asked while the guardian holds a stall: end it early? */
static int stall_cut(void *arg) {
  run *r = arg;
  if (psim_interrupted())
    r->cut_why = PSIM_INTERRUPTED;
  else if (psim_target_gone(&r->target))
    r->cut_why = PSIM_GONE;
  return r->cut_why != PSIM_OK;
}

static int stall_once(run *r, uint64_t seq, tn_nanos run_end,
                      tn_nanos *end) {
  psim_target *t = &r->target;
  tn_nanos requested = psim_schedule_next_duration(&r->sched);
  tn_nanos start = 0, full = 0, until = 0, resumed_at = 0;
  int begun, wake = PSIM_OK, resumed = PSIM_OK, guarded;

  /* The ground truth names the stall before the signal is sent, so that a
   * pausesim that dies mid-stall leaves a record --recover can act on. */
  if (psim_log_begin(r->log_fd, seq, t, tn_now(), requested) != 0) {
    fprintf(stderr, "pausesim: cannot write to the log %s: %s\n",
            r->o.log_path, strerror(errno));
    return END_ERROR;
  }
  guarded = psim_guard_stalling(
                &r->guard, tn_nanos_add_sat(tn_now(),
                                            tn_nanos_add_sat(
                                                requested,
                                                PSIM_CONFIRM_BOUND))) == 0;
  begun = psim_stall_begin(t, &start);
  r->cut_why = PSIM_OK;
  if (begun == PSIM_OK) {
    full = tn_nanos_add_sat(start, requested);
    until = full < run_end ? full : run_end;
  }
  if (guarded) {
    /* The guardian ends it: at until, or now if the stop failed. */
    int told = begun == PSIM_OK ? psim_guard_end_at(&r->guard, until)
                                : psim_guard_end_now(&r->guard);
    if (told == 0 &&
        psim_guard_await(&r->guard, stall_cut, r, &resumed_at) == 0) {
      *end = resumed_at;
      wake = r->cut_why;
    } else {
      guarded = 0; /* the guardian is gone: finish here */
    }
  }
  if (!guarded) {
    if (begun == PSIM_OK && r->cut_why == PSIM_OK)
      wake = sleep_until(r, until);
    else if (begun == PSIM_OK)
      wake = r->cut_why;
    /* Whatever happened above, the target is resumed here. */
    resumed = psim_stall_end(t);
    *end = tn_now();
  }

  if (begun == PSIM_OK &&
      record_stall(r, seq, start, *end - start, requested,
                   wake != PSIM_OK || until != full) != 0)
    return END_ERROR;
  if (begun < 0 || resumed < 0)
    return END_ERROR;
  if (begun == PSIM_GONE || wake == PSIM_GONE || resumed == PSIM_GONE)
    return END_GONE;
  if (begun == PSIM_INTERRUPTED || wake == PSIM_INTERRUPTED)
    return END_SIGNAL;
  return END_DONE;
}

static int collect_once(run *r, uint64_t seq, tn_nanos *end) {
  tn_nanos start = 0;
  int rc = psim_gc_collect(&r->target, &start, end);
  if (rc == PSIM_GONE)
    return END_GONE;
  if (rc < 0)
    return END_ERROR;
  if (record_stall(r, seq, start, *end - start, 0, 0) != 0)
    return END_ERROR;
  return psim_interrupted() ? END_SIGNAL : END_DONE;
}

static int run_schedule(run *r) {
  tn_nanos run_start = tn_now();
  tn_nanos run_end = r->o.run_for > 0
                         ? tn_nanos_add_sat(run_start, r->o.run_for)
                         : TN_NANOS_MAX;
  tn_nanos next = tn_nanos_add_sat(run_start, r->o.start_after);
  uint64_t seq;

  for (seq = 1; r->o.count == 0 || seq <= r->o.count; seq++) {
    tn_nanos end = 0;
    int rc;
    if (next >= run_end)
      return END_DONE;
    rc = sleep_until(r, next);
    if (rc == PSIM_INTERRUPTED)
      return END_SIGNAL;
    if (rc == PSIM_GONE)
      return END_GONE;
    if (r->o.mode == PSIM_MODE_GC)
      rc = collect_once(r, seq, &end);
    else
      rc = stall_once(r, seq, run_end, &end);
    if (rc != END_DONE)
      return rc;
    next = tn_nanos_add_sat(end, psim_schedule_next_gap(&r->sched));
  }
  return END_DONE;
}

/* --- the COMMAND ------------------------------------------------------------- */

/* Start the command. Returns 0, or the exit status for a command that could
 * not be run (127 not found, 126 otherwise), as a shell would. */
static int spawn_command(run *r) {
  char **argv = r->o.command;
  int errpipe[2], ready[2], err = 0;
  pid_t self = getpid();
  ssize_t n;
  pid_t pid;

  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    fprintf(stderr, "pausesim: pipe: %s\n", strerror(errno));
    return EXIT_FAIL;
  }
  if (pipe2(ready, O_CLOEXEC | O_NONBLOCK) != 0) {
    fprintf(stderr, "pausesim: pipe: %s\n", strerror(errno));
    close(errpipe[0]);
    close(errpipe[1]);
    return EXIT_FAIL;
  }
  pid = fork();
  if (pid < 0) {
    fprintf(stderr, "pausesim: fork: %s\n", strerror(errno));
    close(errpipe[0]);
    close(errpipe[1]);
    close(ready[0]);
    close(ready[1]);
    return EXIT_FAIL;
  }
  if (pid == 0) {
    char fdtext[16];
    int w;
    close(errpipe[0]);
    close(ready[0]);
    restore_signals_for_exec();
    /* pausesim's death, however it comes (SIGKILL too), ends the command
     * instead of leaving it to run on under pid 1. SIGTERM, so that it can
     * clean up; if it is stopped then, the guardian's SIGCONT lets it act. */
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != self)
      _exit(128 + SIGTERM); /* pausesim died before the line above */
    /* The command keeps this end across exec (F_DUPFD clears close-on-exec);
     * a tenure runtime in it reports on it (see wait_ready). */
    w = fcntl(ready[1], F_DUPFD, 3);
    if (w >= 0 && fcntl(w, F_SETFL, 0) == 0 &&
        snprintf(fdtext, sizeof fdtext, "%d", w) > 0)
      setenv("TENURE_READY_FD", fdtext, 1);
    else
      unsetenv("TENURE_READY_FD");
    execvp(argv[0], argv);
    err = errno;
    /* The pipe is close-on-exec: EOF tells the parent exec succeeded. */
    if (write(errpipe[1], &err, sizeof err) < 0)
      _exit(126);
    _exit(err == ENOENT ? 127 : 126);
  }
  close(errpipe[1]);
  close(ready[1]);
  r->ready_fd = ready[0];
  do
    n = read(errpipe[0], &err, sizeof err);
  while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n == (ssize_t)sizeof err) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    fprintf(stderr, "pausesim: cannot run %s: %s\n", argv[0], strerror(err));
    return err == ENOENT ? 127 : 126;
  }
  r->target.pid = pid;
  forward_pid = pid;
  return 0;
}

/*
 * Before the first stall, wait until the command can see one. Its tenure
 * runtime, if it starts one, writes 'S' when the start begins and 'R' when
 * the monitor and socket run ('F' if that start failed). After 'R' the
 * control socket, if it is at the usual path, must answer status. A command
 * that has said nothing when --warmup is over starts no runtime (or not
 * yet): it is ready. Returns END_DONE when ready, END_GONE, END_SIGNAL, or
 * END_ERROR (message printed) when a runtime began and never got up within
 * --ready-timeout.
 */
static int wait_ready(run *r) {
  psim_target *t = &r->target;
  tn_nanos began = tn_now();
  tn_nanos warm_end = tn_nanos_add_sat(began, r->o.warmup);
  tn_nanos give_up = tn_nanos_add_sat(began, r->o.ready_timeout);
  char said = 0, word, limit[64];
  int open = r->ready_fd >= 0;

  for (;;) {
    struct pollfd pfd = {r->ready_fd, POLLIN, 0};
    tn_nanos now, wake;
    ssize_t n = -1;
    if (psim_interrupted())
      return END_SIGNAL;
    if (psim_target_gone(t))
      return END_GONE;
    while (open && (n = read(r->ready_fd, &word, 1)) != 0) {
      if (n < 0) {
        if (errno != EINTR)
          break; /* EAGAIN: nothing more for now */
        continue;
      }
      if (word == 'S' || word == 'R' || word == 'F')
        said = word;
    }
    if (open && n == 0)
      open = 0; /* every writer closed it: nothing more will come */
    if (said == 'R')
      break;
    now = tn_now();
    if (said != 'S' && now >= warm_end)
      return END_DONE; /* no runtime is starting: stall it as it is */
    if (said == 'S' && now >= give_up) {
      tn_duration_format(r->o.ready_timeout, limit, sizeof limit);
      fprintf(stderr,
              "pausesim: %s (%s) did not become ready: its tenure runtime "
              "began starting but was not up after %s (--ready-timeout)\n",
              t->label, r->o.command[0], limit);
      return END_ERROR;
    }
    wake = said == 'S' ? give_up : warm_end;
    if (wake - now > SLEEP_SLICE)
      wake = now + SLEEP_SLICE;
    /* a signal or SIGCHLD interrupts the poll: both are checked above */
    poll(open ? &pfd : NULL, open ? 1 : 0,
         (int)((wake - now + TN_MSEC - 1) / TN_MSEC));
  }

  /* The runtime is up. Its socket, if at the usual place, must answer. */
  {
    char path[PATH_MAX], why[128];
    struct stat st;
    tn_nanos left;
    int rc;
    if (tn_ctl_socket_path(t->pid, path, sizeof path) != 0 ||
        stat(path, &st) != 0)
      return END_DONE; /* no socket, or one elsewhere: 'R' said enough */
    for (;;) {
      left = give_up - tn_now();
      rc = tn_ctl_call(path, "status", NULL, NULL, why, sizeof why,
                       left > TN_SEC ? TN_SEC : left > 0 ? left : 1);
      if (rc == 0)
        return END_DONE;
      if (psim_interrupted())
        return END_SIGNAL;
      if (psim_target_gone(t))
        return END_GONE;
      if (tn_now() >= give_up) {
        tn_duration_format(r->o.ready_timeout, limit, sizeof limit);
        fprintf(stderr,
                "pausesim: %s (%s) did not become ready: its control socket "
                "%s did not answer status within %s (--ready-timeout): %s\n",
                t->label, r->o.command[0], path, limit,
                why[0] ? why : tn_strerror(rc));
        return END_ERROR;
      }
      usleep(10000);
    }
  }
}

/* End a command that will not be stalled: SIGTERM, and SIGKILL if it is
 * still there 2 s later. wait_command reaps it. */
static void end_command(run *r) {
  tn_nanos give_up = tn_now() + 2 * TN_SEC;
  if (psim_target_gone(&r->target))
    return;
  kill(r->target.pid, SIGTERM);
  while (!psim_target_gone(&r->target) && tn_now() < give_up)
    usleep(10000);
  if (!psim_target_gone(&r->target))
    kill(r->target.pid, SIGKILL);
}

/* Wait for the command to end. Signals keep being forwarded by the
 * handler meanwhile. Returns its exit status the shell way. */
static int wait_command(run *r) {
  psim_target *t = &r->target;
  while (!t->exited) {
    int status;
    pid_t w = waitpid(t->pid, &status, 0);
    if (w == t->pid) {
      t->exited = 1;
      t->wait_status = status;
    } else if (w < 0 && errno != EINTR) {
      fprintf(stderr, "pausesim: waitpid(%d): %s\n", (int)t->pid,
              strerror(errno));
      forward_pid = 0;
      return EXIT_FAIL;
    }
  }
  forward_pid = 0; /* reaped: its pid may be reused, never signal it */
  if (WIFEXITED(t->wait_status))
    return WEXITSTATUS(t->wait_status);
  if (WIFSIGNALED(t->wait_status))
    return 128 + WTERMSIG(t->wait_status);
  return EXIT_FAIL;
}

/* --- start and finish ---------------------------------------------------- */

static uint64_t seed_from_clock(void) {
  uint64_t mix = (uint64_t)tn_wall_now().ns ^ ((uint64_t)tn_now() << 17) ^
                 ((uint64_t)getpid() << 40);
  return psim_splitmix64(&mix);
}

static int open_log(run *r) {
  r->log_fd = -1;
  if (r->o.log_path == NULL)
    return 0;
  if (strcmp(r->o.log_path, "-") == 0) {
    r->log_fd = STDOUT_FILENO;
    return 0;
  }
  r->log_fd = open(r->o.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0644);
  if (r->log_fd < 0) {
    fprintf(stderr, "pausesim: cannot open the log %s: %s\n", r->o.log_path,
            strerror(errno));
    return -1;
  }
  return 0;
}

/* fsync and close. Returns -1 if the log may have lost lines. */
static int close_log(run *r) {
  struct stat st;
  int rc = 0;
  if (r->log_fd < 0 || r->log_fd == STDOUT_FILENO)
    return 0;
  if (fstat(r->log_fd, &st) == 0 && S_ISREG(st.st_mode) &&
      fsync(r->log_fd) != 0) {
    fprintf(stderr, "pausesim: cannot fsync the log %s: %s\n",
            r->o.log_path, strerror(errno));
    rc = -1;
  }
  if (close(r->log_fd) != 0 && rc == 0) {
    fprintf(stderr, "pausesim: cannot close the log %s: %s\n",
            r->o.log_path, strerror(errno));
    rc = -1;
  }
  r->log_fd = -1;
  return rc;
}

static void print_plan(const run *r) {
  char dur[80], gap[80], limit[160] = "", t[64];
  size_t used = 0;
  psim_spec_format(&r->o.duration, dur, sizeof dur);
  psim_spec_format(&r->o.interval, gap, sizeof gap);
  fprintf(stderr, "pausesim: seed %" PRIu64 " (repeat with --seed %" PRIu64
                  ")\n",
          r->o.seed, r->o.seed);
  if (r->o.count)
    used += (size_t)snprintf(limit + used, sizeof limit - used,
                             ", %" PRIu64 " %s%s", r->o.count,
                             r->o.mode == PSIM_MODE_GC ? "collection"
                                                       : "stall",
                             r->o.count == 1 ? "" : "s");
  if (r->o.run_for) {
    tn_duration_format(r->o.run_for, t, sizeof t);
    used += (size_t)snprintf(limit + used, sizeof limit - used, ", for %s", t);
  }
  if (r->o.start_after) {
    tn_duration_format(r->o.start_after, t, sizeof t);
    snprintf(limit + used, sizeof limit - used, ", starting after %s", t);
  }
  if (r->o.mode == PSIM_MODE_GC)
    fprintf(stderr,
            "pausesim: unplanned collections in %s via %s, interval %s%s\n",
            r->target.label, r->target.socket_path, gap, limit);
  else
    fprintf(stderr, "pausesim: stalling %s (%s mode), duration %s, interval "
                    "%s%s\n",
            r->target.label, mode_name(r->o.mode), dur, gap, limit);
}

static void print_summary(const run *r) {
  const stats *st = &r->st;
  uint64_t measured = st->stalls - st->cut;
  if (st->stalls == 0) {
    fprintf(stderr, "pausesim: no stalls injected into %s\n",
            r->target.label);
    return;
  }
  if (r->o.mode == PSIM_MODE_GC) {
    fprintf(stderr,
            "pausesim: %" PRIu64 " unplanned collection%s in %s, round trips "
            "%.3f ms in total, longest %.3f ms\n",
            st->stalls, st->stalls == 1 ? "" : "s", r->target.label,
            tn_nanos_to_millis(st->total), tn_nanos_to_millis(st->longest));
    return;
  }
  fprintf(stderr,
          "pausesim: %" PRIu64 " stall%s injected into %s (%s mode), %.3f ms "
          "stalled in total\n",
          st->stalls, st->stalls == 1 ? "" : "s", r->target.label,
          mode_name(r->o.mode), tn_nanos_to_millis(st->total));
  if (measured > 0)
    fprintf(stderr,
            "pausesim: measured - requested duration over %" PRIu64
            " stall%s: mean %+.3f ms, max %+.3f ms\n",
            measured, measured == 1 ? "" : "s",
            tn_nanos_to_millis(st->err_sum) / (double)measured,
            tn_nanos_to_millis(st->err_max));
  if (st->cut > 0)
    fprintf(stderr,
            "pausesim: %" PRIu64 " stall%s cut short (by --for, a signal or "
            "the target's exit), left out of the error figures\n",
            st->cut, st->cut == 1 ? "" : "s");
}

int main(int argc, char **argv) {
  run r;
  int end, status = 0, rc;

  memset(&r, 0, sizeof r);
  parse_options(argc, argv, &r.o);
  if (r.o.recover)
    return psim_recover(r.o.recover);
  if (!r.o.seed_given)
    r.o.seed = seed_from_clock();
  psim_schedule_init(&r.sched, &r.o.duration, &r.o.interval, r.o.seed);

  r.target.mode = r.o.mode;
  r.target.pid = r.o.pid;
  r.target.cgroup = r.o.cgroup;
  r.target.kind = r.o.command  ? PSIM_TARGET_CHILD
                  : r.o.cgroup ? PSIM_TARGET_CGROUP
                               : PSIM_TARGET_PID;
  r.target.pidfd = r.target.freeze_fd = r.target.events_fd = -1;
  r.guard.pid = -1;
  r.guard.fd = -1;
  r.ready_fd = -1;

  install_signals();
  if (open_log(&r) != 0)
    return EXIT_FAIL;
  if (r.target.kind == PSIM_TARGET_CHILD) {
    rc = spawn_command(&r);
    if (rc != 0) {
      close_log(&r);
      return rc;
    }
  }
  rc = psim_target_open(&r.target);
  if (rc != 0) {
    psim_target_close(&r.target);
    close_log(&r);
    if (r.target.kind == PSIM_TARGET_CHILD) {
      /* Nothing was stalled; the command is ours to end. */
      kill(r.target.pid, SIGKILL);
      wait_command(&r);
    }
    return rc == TN_EINVAL ? EXIT_USAGE : EXIT_FAIL;
  }
  if (r.o.verbosity >= 2)
    print_plan(&r);
  psim_guard_start(&r.guard, &r.target, r.o.verbosity >= 2);

  /* Wake on time: the default 50 us of timer slack is error we can avoid.
   * Set after the fork so that the command keeps its own slack. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  end = END_DONE;
  if (r.target.kind == PSIM_TARGET_CHILD) {
    end = wait_ready(&r);
    close(r.ready_fd);
    r.ready_fd = -1;
  }
  if (end == END_DONE)
    end = run_schedule(&r);
  else if (end == END_ERROR)
    end_command(&r); /* it never got ready: ours to end */

  psim_guard_stop(&r.guard);
  psim_target_close(&r.target);
  if (close_log(&r) != 0 && end != END_ERROR)
    end = END_ERROR;
  if (r.o.verbosity >= 1) {
    if (end == END_GONE && r.target.kind == PSIM_TARGET_PID)
      fprintf(stderr, "pausesim: %s exited; the run is over\n",
              r.target.label);
    else if (end == END_GONE && r.target.kind == PSIM_TARGET_CGROUP)
      fprintf(stderr, "pausesim: %s was removed; the run is over\n",
              r.target.label);
    print_summary(&r);
  }

  if (r.target.kind == PSIM_TARGET_CHILD) {
    status = wait_command(&r);
    return end == END_ERROR ? EXIT_FAIL : status;
  }
  if (end == END_SIGNAL)
    die_of_signal(stop_signal);
  return end == END_ERROR ? EXIT_FAIL : 0;
}
