/*
 * fenced_counter: a candidate that, while it leads, keeps incrementing a
 * counter kept in a fenced store. Point several candidates at the same
 * authority and store, stall the leader with pausesim, and the store stays
 * correct: a write that a pause delayed past the end of its term is refused
 * by the fence, because a newer holder has already written with a higher
 * token.
 *
 *   fenced_counter --authority URI --lease NAME --id ID --store DIR
 *                  [--ttl 1s] [--work 10ms] [--interval 5ms] [--for TIME]
 *                  [--t0 SECONDS] [--quiet]
 *
 * The store (DIR):
 *   counter        the value, replaced whole (write, fsync, rename)
 *   fence.tn       the highest accepted token (tenure/fence.h)
 *   store.lock     serialises writers across processes (OFD lock)
 *   writes.jsonl   one line per write attempt, in decision order:
 *     {"token":T,"holder":"ID","value":V,"accepted":true|false,"boot_ns":N}
 *
 * Each write: guard (refuses if the term cannot outlast the action), then
 * `--work` of computing, then the store checks the token. A stall during
 * the work is exactly the case the guard cannot catch and the fence must.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/fence.h>
#include <tenure/lease.h>
#include <tenure/runtime.h>
#include <tenure/version.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct candidate {
  const char *id;
  char store[PATH_MAX];
  tn_fence *fence;
  int lock_fd;
  int log_fd;
  tn_nanos work, interval, t0;
  int quiet;
  uint64_t token;
  unsigned long accepted, refused, guard_refusals;
};

static tn_leader *the_leader;

static void on_signal(int sig) {
  (void)sig;
  if (the_leader)
    tn_leader_stop(the_leader); /* an atomic store: async-signal-safe */
}

static void say(const struct candidate *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct candidate *c, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  if (c->quiet)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("[%7.3fs] %-4s %s\n", tn_nanos_to_seconds(tn_now() - c->t0), c->id,
         msg);
  fflush(stdout);
}

static void nap(tn_nanos d) {
  struct timespec ts = {(time_t)(d / TN_SEC), (long)(d % TN_SEC)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int store_lock(struct candidate *c, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  while (fcntl(c->lock_fd, type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW,
               &fl) != 0) {
    if (errno != EINTR)
      return -1;
  }
  return 0;
}

static long long read_counter(const struct candidate *c) {
  char path[PATH_MAX + 16], buf[32];
  ssize_t n;
  int fd;
  snprintf(path, sizeof path, "%s/counter", c->store);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : -1;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  return strtoll(buf, NULL, 10);
}

static int write_counter(const struct candidate *c, long long v) {
  char path[PATH_MAX + 16], tmp[PATH_MAX + 32], buf[32];
  int fd, len, ok;
  snprintf(path, sizeof path, "%s/counter", c->store);
  snprintf(tmp, sizeof tmp, "%s/counter.%ld.tmp", c->store, (long)getpid());
  len = snprintf(buf, sizeof buf, "%lld\n", v);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  ok = write(fd, buf, (size_t)len) == len && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  fd = open(c->store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  return 0;
}

/* One write attempt, decided and logged under the store lock. Returns 1
 * accepted, 0 refused by the fence, -1 on error. */
static int store_write(struct candidate *c, uint64_t token) {
  char line[256];
  long long cur, value;
  int rc, accepted, len;
  if (store_lock(c, F_WRLCK) != 0)
    return -1;
  cur = read_counter(c);
  if (cur < 0) {
    store_lock(c, F_UNLCK);
    return -1;
  }
  value = cur + 1;
  rc = tn_fence_admit(c->fence, "counter", token);
  accepted = rc == 0;
  if (rc != 0 && rc != TN_EFENCED) {
    fprintf(stderr, "fenced_counter %s: fence: %s\n", c->id,
            tn_fence_last_error());
    store_lock(c, F_UNLCK);
    return -1;
  }
  if (accepted && write_counter(c, value) != 0) {
    fprintf(stderr, "fenced_counter %s: cannot write the counter: %s\n",
            c->id, strerror(errno));
    store_lock(c, F_UNLCK);
    return -1;
  }
  len = snprintf(line, sizeof line,
                 "{\"token\":%llu,\"holder\":\"%s\",\"value\":%lld,"
                 "\"accepted\":%s,\"boot_ns\":%lld}\n",
                 (unsigned long long)token, c->id, value,
                 accepted ? "true" : "false", (long long)tn_now());
  if (write(c->log_fd, line, (size_t)len) != len) {
    store_lock(c, F_UNLCK);
    return -1;
  }
  store_lock(c, F_UNLCK);
  return accepted;
}

static void on_elected(uint64_t token, void *arg) {
  struct candidate *c = arg;
  c->token = token;
  say(c, "elected, token %llu", (unsigned long long)token);
}

static int lead(tn_lease *l, void *arg) {
  struct candidate *c = arg;
  uint64_t token;
  int rc = tn_guard_begin(l, c->work + 20 * TN_MSEC, &token);
  if (rc != 0) {
    c->guard_refusals++;
    say(c, "guard refused: the term cannot outlast the write");
    return 0;
  }
  nap(c->work); /* computing the new value: a stall here outlives the check */
  rc = store_write(c, token);
  if (rc == 1) {
    c->accepted++;
  } else if (rc == 0) {
    c->refused++;
    say(c, "write with token %llu REFUSED by the fence (a newer leader wrote)",
        (unsigned long long)token);
  } else {
    say(c, "store error");
  }
  if (tn_guard_end(l) == TN_ELOST && rc == 1)
    say(c, "term ended during a write that the fence still accepted (no "
           "newer token had written yet)");
  nap(c->interval);
  return 0;
}

static void on_step_down(tn_stepdown_reason reason, void *arg) {
  struct candidate *c = arg;
  say(c, "stepped down (%s) after token %llu", tn_stepdown_reason_name(reason),
      (unsigned long long)c->token);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: fenced_counter --authority URI --lease NAME --id ID "
          "--store DIR\n"
          "                      [--ttl 1s] [--work 10ms] [--interval 5ms] "
          "[--for TIME]\n"
          "                      [--events FILE] [--t0 SECONDS] [--quiet]\n"
          "A leader candidate that increments a counter in a fenced store.\n");
}

static int parse_time(const char *opt, const char *text, tn_nanos *out) {
  tn_parse_error e;
  if (tn_duration_parse(text, out, &e) != 0) {
    fprintf(stderr, "fenced_counter: %s \"%s\": %s at offset %zu\n", opt,
            text, e.reason, e.pos);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"authority", required_argument, NULL, 'a'},
      {"lease", required_argument, NULL, 'l'},
      {"id", required_argument, NULL, 'i'},
      {"store", required_argument, NULL, 's'},
      {"ttl", required_argument, NULL, 't'},
      {"work", required_argument, NULL, 'w'},
      {"interval", required_argument, NULL, 'I'},
      {"for", required_argument, NULL, 'f'},
      {"events", required_argument, NULL, 'e'},
      {"t0", required_argument, NULL, '0'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  const char *uri = NULL, *name = NULL, *events = NULL, *store = NULL;
  struct candidate c;
  tn_lease_options lo;
  tn_leader_callbacks cb = {on_elected, lead, on_step_down};
  tn_authority *auth = NULL;
  tn_runtime *rt = NULL;
  tn_runtime_config rc_cfg;
  tn_nanos run_for = 0;
  char path[PATH_MAX + 32];
  struct sigaction sa;
  int opt, rc;

  memset(&c, 0, sizeof c);
  c.work = 10 * TN_MSEC;
  c.interval = 5 * TN_MSEC;
  c.t0 = tn_now();
  tn_lease_options_init(&lo);
  lo.ttl = TN_SEC;
  while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case 'a': uri = optarg; break;
    case 'l': name = optarg; break;
    case 'i': c.id = optarg; break;
    case 's': store = optarg; break;
    case 'e': events = optarg; break;
    case 'q': c.quiet = 1; break;
    case 't':
      if (parse_time("--ttl", optarg, &lo.ttl))
        return 2;
      break;
    case 'w':
      if (parse_time("--work", optarg, &c.work))
        return 2;
      break;
    case 'I':
      if (parse_time("--interval", optarg, &c.interval))
        return 2;
      break;
    case 'f':
      if (parse_time("--for", optarg, &run_for))
        return 2;
      break;
    case '0': {
      char *end;
      double s = strtod(optarg, &end);
      if (*end != '\0' || s < 0) {
        fprintf(stderr, "fenced_counter: --t0 \"%s\": expected seconds of "
                        "boot time\n", optarg);
        return 2;
      }
      c.t0 = (tn_nanos)(s * 1e9);
      break;
    }
    case 'h': usage(stdout); return 0;
    case 'V':
      printf("fenced_counter (tenure) %s\n", tn_version_string());
      return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!uri || !name || !c.id || !store) {
    usage(stderr);
    return 2;
  }
  if (strlen(store) >= PATH_MAX - 32) {
    fprintf(stderr, "fenced_counter: --store: path too long\n");
    return 2;
  }
  strcpy(c.store, store);
  if (mkdir(store, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "fenced_counter: --store %s: %s\n", store,
            strerror(errno));
    return 1;
  }
  snprintf(path, sizeof path, "%s/fence.tn", store);
  if (tn_fence_open(path, &c.fence) != 0) {
    fprintf(stderr, "fenced_counter: %s\n", tn_fence_last_error());
    return 1;
  }
  snprintf(path, sizeof path, "%s/store.lock", store);
  c.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  snprintf(path, sizeof path, "%s/writes.jsonl", store);
  c.log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (c.lock_fd < 0 || c.log_fd < 0) {
    fprintf(stderr, "fenced_counter: %s: %s\n", path, strerror(errno));
    return 1;
  }
  if (tn_authority_open(uri, &auth) != 0) {
    fprintf(stderr, "fenced_counter: %s\n", tn_authority_last_error());
    return 1;
  }

  /* The pause monitor records what this candidate suffered. */
  memset(&rc_cfg, 0, sizeof rc_cfg);
  rc_cfg.pausemon.events_path = events;
  rc_cfg.no_control_socket = 1;
  rc = tn_runtime_start(&rc_cfg, &rt);
  if (rc != 0) {
    fprintf(stderr, "fenced_counter: cannot start the runtime: %s\n",
            tn_strerror(rc));
    return 1;
  }

  rc = tn_leader_open(auth, name, c.id, &lo, &cb, &c, &the_leader);
  if (rc != 0) {
    fprintf(stderr, "fenced_counter: %s\n", tn_authority_last_error());
    return 2;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (run_for > 0) {
    signal(SIGALRM, on_signal);
    alarm((unsigned)((run_for + TN_SEC - 1) / TN_SEC));
  }
  say(&c, "candidate for \"%s\" (ttl %.3gs)", name, tn_nanos_to_seconds(lo.ttl));
  rc = tn_leader_run(the_leader);
  say(&c, "done: %lu writes accepted, %lu refused by the fence, %lu guard "
          "refusals",
      c.accepted, c.refused, c.guard_refusals);
  tn_leader_close(the_leader);
  tn_runtime_stop(rt);
  tn_authority_close(auth);
  tn_fence_close(c.fence);
  close(c.lock_fd);
  fsync(c.log_fd);
  close(c.log_fd);
  return rc == 0 ? 0 : 1;
}
