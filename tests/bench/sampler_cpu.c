/*
 * Benchmark: CPU cost of the pause sampler, as a fraction of one core.
 *
 * For each interval (1 ms, 10 ms) it runs the real pause monitor for a few
 * seconds and reads the sampler thread's CPU clock. The baseline, measured in
 * the same run, is a bare thread that does nothing but clock_nanosleep to
 * the same absolute deadlines: the floor any sampler at that rate pays. The
 * ratio says what tenure's attribution work costs on top of waking up.
 *
 *   bench_sampler_cpu [SECONDS]      (default 5 per measurement)
 */
#define _GNU_SOURCE
#include <tenure/pausemon.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static _Atomic int bare_stop;
static tn_nanos bare_interval;

static tn_nanos thread_cpu(pthread_t t) {
  clockid_t cid;
  struct timespec ts;
  if (pthread_getcpuclockid(t, &cid) != 0 || clock_gettime(cid, &ts) != 0)
    return -1;
  return (tn_nanos)ts.tv_sec * TN_SEC + ts.tv_nsec;
}

static void *bare_sleeper(void *arg) {
  tn_nanos next = tn_now();
  (void)arg;
  while (!atomic_load(&bare_stop)) {
    struct timespec ts;
    next += bare_interval;
    ts.tv_sec = (time_t)(next / TN_SEC);
    ts.tv_nsec = (long)(next % TN_SEC);
    clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL);
  }
  return NULL;
}

static double bare_fraction(tn_nanos interval, tn_nanos run) {
  pthread_t t;
  tn_nanos t0, cpu;
  bare_interval = interval;
  atomic_store(&bare_stop, 0);
  pthread_create(&t, NULL, bare_sleeper, NULL);
  t0 = tn_now();
  usleep((useconds_t)(run / TN_USEC));
  cpu = thread_cpu(t);
  t0 = tn_now() - t0;
  atomic_store(&bare_stop, 1);
  pthread_join(t, NULL);
  return (double)cpu / (double)t0;
}

static double sampler_fraction(tn_nanos interval, tn_nanos run) {
  tn_pausemon_config cfg = {0};
  tn_pausemon *m;
  tn_pausemon_stats st;
  tn_nanos t0;
  cfg.interval = interval;
  cfg.threshold = interval > 4 * TN_MSEC ? 2 * interval : 5 * TN_MSEC;
  if (tn_pausemon_open(&cfg, &m) != 0 || tn_pausemon_start(m) != 0) {
    fprintf(stderr, "bench_sampler_cpu: cannot start the monitor\n");
    exit(1);
  }
  t0 = tn_now();
  usleep((useconds_t)(run / TN_USEC));
  tn_pausemon_stats_get(m, &st);
  t0 = tn_now() - t0;
  tn_pausemon_close(m);
  return (double)st.sampler_cpu / (double)t0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  static const tn_nanos intervals[] = {TN_MSEC, 10 * TN_MSEC};
  tn_nanos run = (argc > 1 ? atoi(argv[1]) : 5) * TN_SEC;
  size_t i;
  for (i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
    /* three alternating rounds; medians, since this machine is shared */
    double s[3], b[3];
    int r;
    for (r = 0; r < 3; r++) {
      s[r] = sampler_fraction(intervals[i], run / 3);
      b[r] = bare_fraction(intervals[i], run / 3);
    }
    qsort(s, 3, sizeof s[0], cmp_double);
    qsort(b, 3, sizeof b[0], cmp_double);
    printf("{\"bench\":\"sampler_cpu\",\"interval_ns\":%lld,"
           "\"rounds\":3,\"seconds_per_round\":%.2f,"
           "\"cpu_fraction\":%.5f,"
           "\"baseline\":{\"what\":\"bare clock_nanosleep thread, same "
           "deadlines\",\"cpu_fraction\":%.5f},"
           "\"ratio\":%.2f,\"target_cpu_fraction\":0.015,\"meets_target\":%s}\n",
           (long long)intervals[i], tn_nanos_to_seconds(run / 3), s[1], b[1],
           b[1] > 0 ? s[1] / b[1] : 0.0,
           intervals[i] == TN_MSEC ? (s[1] <= 0.015 ? "true" : "false")
                                   : "null");
    fflush(stdout);
  }
  return 0;
}
