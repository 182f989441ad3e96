/*
 * Benchmark: how well the pause monitor detects real stalls.
 *
 * Phase 1 (injected): a pausemeter child is SIGSTOPped for N stalls drawn
 * uniformly from 10..200 ms (fixed seed), each measured here from the
 * kernel's confirmation of the stop to SIGCONT. Figures: recall (stalls of
 * 10 ms or more found), attribution to "stopped", and duration error
 * p50/p99/max. Baseline: the wake-up lateness p99 of a bare 1 ms
 * clock_nanosleep thread in this process during the same phase — the
 * scheduling noise floor any sampler is subject to.
 *
 * Phase 2 (idle): pausemeter runs untouched at the default threshold; the
 * figure is events per minute (false positives, or real host stalls). The
 * baseline is the number of times the bare sleeper was late by more than the
 * same threshold in the same period.
 *
 * With --load, both phases run beside a CPU hog on every core (stress-ng
 * --cpu N, N = online CPUs, started here in its own process group and
 * killed with it). That is the case where the thread that runs the SIGCONT
 * handler may wait behind the hog for its turn: the figures are recall,
 * the share of stalls whose largest overlapping event says "stopped", how
 * many stalls were split over several events, and the events during the
 * injected phase that match no stall (the hog's own lateness, "cpu").
 *
 *   bench_detection [STALLS] [IDLE_SECONDS] [--load]    (default 60, 30)
 */
#define _GNU_SOURCE
#include <tenure/clock.h>
#include <tenure/histogram.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PAUSEMETER_PATH
#define PAUSEMETER_PATH "pausemeter"
#endif

struct window {
  tn_nanos start, end;
};

static _Atomic int bare_stop;
static tn_histogram *bare_late;
static _Atomic uint64_t bare_over_threshold;

static void *bare_sleeper(void *arg) {
  tn_nanos next = tn_now();
  (void)arg;
  while (!atomic_load(&bare_stop)) {
    struct timespec ts;
    tn_nanos late;
    next += TN_MSEC;
    ts.tv_sec = (time_t)(next / TN_SEC);
    ts.tv_nsec = (long)(next % TN_SEC);
    while (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
      ;
    late = tn_now() - next;
    tn_histogram_record(bare_late, late > 0 ? late : 0);
    if (late > 5 * TN_MSEC)
      atomic_fetch_add(&bare_over_threshold, 1);
    if (late > TN_MSEC)
      next = tn_now();
  }
  return NULL;
}

static void sleep_until(tn_nanos t) {
  struct timespec ts = {(time_t)(t / TN_SEC), (long)(t % TN_SEC)};
  while (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

static pid_t start_pausemeter(const char *events) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execl(PAUSEMETER_PATH, "pausemeter", "--quiet", "--no-socket", "--events",
          events, (char *)NULL);
    _exit(127);
  }
  while (access(events, F_OK) != 0)
    usleep(10000);
  usleep(200000);
  return pid;
}

/* A CPU hog on every online core, in its own process group. */
static pid_t start_hog(void) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  char n[32];
  pid_t pid;
  snprintf(n, sizeof n, "%ld", ncpu > 0 ? ncpu : 1);
  pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    setpgid(0, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execlp("stress-ng", "stress-ng", "--cpu", n, "--quiet", (char *)NULL);
    _exit(127);
  }
  if (pid > 0)
    setpgid(pid, pid);
  usleep(500000); /* let the workers start */
  return pid;
}

static void stop_hog(pid_t pid) {
  int st;
  if (pid <= 0)
    return;
  kill(-pid, SIGTERM);
  waitpid(pid, &st, 0);
}

static void stop_pausemeter(pid_t pid) {
  int st;
  kill(pid, SIGINT);
  waitpid(pid, &st, 0);
}

static int read_events(const char *path, struct window *w, char (*cause)[16],
                       int max) {
  FILE *f = fopen(path, "r");
  char line[1024];
  int n = 0;
  if (!f)
    return 0;
  while (n < max && fgets(line, sizeof line, f)) {
    char *s = strstr(line, "\"start_boot_ns\":");
    char *d = strstr(line, "\"duration_ns\":");
    char *c = strstr(line, "\"cause\":\"");
    if (!s || !d || !c)
      continue;
    w[n].start = strtoll(s + 16, NULL, 10);
    w[n].end = w[n].start + strtoll(d + 14, NULL, 10);
    sscanf(c + 9, "%15[a-z]", cause[n]);
    n++;
  }
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  int nstalls = 60, idle_s = 30, load = 0, npos = 0;
  char dir[] = "/tmp/tenure-bench-detect-XXXXXX", ev1[256], ev2[256];
  struct window *inj;
  struct window det[1024];
  char cause[1024][16];
  tn_histogram *err;
  pthread_t bare;
  uint64_t seed = 42, found = 0, stopped = 0, split = 0, bare_idle;
  tn_nanos bare_p99_injected, worst = 0;
  pid_t pid, hog = 0;
  int ndet, i, j, unmatched = 0;
  char *matched;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--load") == 0)
      load = 1;
    else if (npos == 0 && ++npos)
      nstalls = atoi(argv[i]);
    else if (npos == 1 && ++npos)
      idle_s = atoi(argv[i]);
    else {
      fprintf(stderr, "usage: bench_detection [STALLS] [IDLE_SECONDS] [--load]\n");
      return 2;
    }
  }
  inj = calloc((size_t)(nstalls > 0 ? nstalls : 1), sizeof *inj);
  if (!inj || nstalls <= 0 || idle_s <= 0 || !mkdtemp(dir))
    return 2;
  if (load && (hog = start_hog()) <= 0) {
    fprintf(stderr, "bench_detection: cannot start stress-ng\n");
    return 1;
  }
  tn_histogram_new(&err);
  tn_histogram_new(&bare_late);
  snprintf(ev1, sizeof ev1, "%s/injected.jsonl", dir);
  snprintf(ev2, sizeof ev2, "%s/idle.jsonl", dir);

  /* phase 1: injected stalls */
  pid = start_pausemeter(ev1);
  pthread_create(&bare, NULL, bare_sleeper, NULL);
  for (i = 0; i < nstalls; i++) {
    int st;
    tn_nanos d;
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    d = 10 * TN_MSEC + (tn_nanos)((seed >> 33) % (190 * 1000)) * TN_USEC;
    kill(pid, SIGSTOP);
    waitpid(pid, &st, WUNTRACED);
    inj[i].start = tn_now();
    sleep_until(inj[i].start + d);
    inj[i].end = tn_now();
    kill(pid, SIGCONT);
    usleep(50000 + (useconds_t)((seed >> 20) % 100000));
  }
  atomic_store(&bare_stop, 1);
  pthread_join(bare, NULL);
  bare_p99_injected = tn_histogram_percentile(bare_late, 99);
  stop_pausemeter(pid);
  ndet = read_events(ev1, det, cause, 1024);
  matched = calloc((size_t)ndet + 1, 1);
  for (i = 0; i < nstalls; i++) {
    int best = -1, overlaps = 0;
    tn_nanos best_ov = 0;
    for (j = 0; j < ndet; j++) {
      tn_nanos lo = det[j].start > inj[i].start ? det[j].start : inj[i].start;
      tn_nanos hi = det[j].end < inj[i].end ? det[j].end : inj[i].end;
      if (hi <= lo)
        continue;
      overlaps++;
      matched[j] = 1;
      if (hi - lo > best_ov) {
        best_ov = hi - lo;
        best = j;
      }
    }
    if (best >= 0) {
      tn_nanos e = (det[best].end - det[best].start) -
                   (inj[i].end - inj[i].start);
      found++;
      split += overlaps > 1;
      stopped += strcmp(cause[best], "stopped") == 0;
      tn_histogram_record(err, llabs(e));
      if (llabs(e) > worst)
        worst = llabs(e);
    }
  }
  for (j = 0; j < ndet; j++)
    unmatched += !matched[j];
  free(matched);
  printf("{\"bench\":\"detection_injected\",\"load\":%s,\"stalls\":%d,"
         "\"range_ms\":[10,200],"
         "\"recall\":%.4f,\"attributed_stopped\":%.4f,\"split\":%llu,"
         "\"other_events\":%d,"
         "\"abs_error_ns\":{\"p50\":%lld,\"p99\":%lld,\"max\":%lld},"
         "\"baseline\":{\"what\":\"bare 1ms sleeper wake-up lateness p99, same "
         "phase\",\"p99_ns\":%lld},\"ratio\":%.2f,"
         "\"target\":{\"recall\":1.0,\"p99_error_ns\":2000000},"
         "\"meets_target\":%s}\n",
         load ? "true" : "false", nstalls, (double)found / nstalls,
         found ? (double)stopped / found : 0, (unsigned long long)split,
         unmatched,
         (long long)tn_histogram_percentile(err, 50),
         (long long)tn_histogram_percentile(err, 99), (long long)worst,
         (long long)bare_p99_injected,
         bare_p99_injected > 0
             ? (double)tn_histogram_percentile(err, 99) / bare_p99_injected
             : 0.0,
         found == (uint64_t)nstalls &&
                 tn_histogram_percentile(err, 99) <= 2 * TN_MSEC
             ? "true"
             : "false");
  fflush(stdout);

  /* phase 2: idle */
  tn_histogram_reset(bare_late);
  atomic_store(&bare_over_threshold, 0);
  atomic_store(&bare_stop, 0);
  pid = start_pausemeter(ev2);
  pthread_create(&bare, NULL, bare_sleeper, NULL);
  sleep((unsigned)idle_s);
  atomic_store(&bare_stop, 1);
  pthread_join(bare, NULL);
  stop_pausemeter(pid);
  ndet = read_events(ev2, det, cause, 1024);
  bare_idle = atomic_load(&bare_over_threshold);
  stop_hog(hog);
  printf("{\"bench\":\"detection_idle\",\"load\":%s,\"seconds\":%d,"
         "\"threshold_ns\":5000000,"
         "\"events_per_minute\":%.2f,"
         "\"baseline\":{\"what\":\"bare 1ms sleeper wake-ups later than the "
         "threshold, same period\",\"per_minute\":%.2f},\"ratio\":%.2f}\n",
         load ? "true" : "false", idle_s, ndet * 60.0 / idle_s, bare_idle * 60.0 / idle_s,
         bare_idle ? (double)ndet / (double)bare_idle : 0.0);
  unlink(ev1);
  unlink(ev2);
  rmdir(dir);
  return 0;
}
