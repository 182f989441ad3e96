/*
 * Benchmark: the guard's cost, tn_guard_begin + tn_guard_end, on 1 and 2
 * threads, against a bare clock_gettime(CLOCK_BOOTTIME) measured in the same
 * run. begin and end each read the clock once (end must know whether the
 * deadline passed during the action), so two bare reads are the floor; the
 * figure is reported against one read (the design's yardstick) and two.
 *
 *   bench_guard [ITERATIONS]   (default 20M per thread per round, 5 rounds)
 */
#define _GNU_SOURCE
#include <tenure/lease.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long iterations = 20000000;
static tn_lease *lease;
static pthread_barrier_t start_line;

static double ns_per_op(tn_nanos t0, tn_nanos t1) {
  return (double)(t1 - t0) / (double)iterations;
}

static void *run_guard(void *arg) {
  double *out = arg;
  uint64_t token, sum = 0;
  tn_nanos t0, t1;
  long i;
  pthread_barrier_wait(&start_line);
  t0 = tn_now();
  for (i = 0; i < iterations; i++) {
    if (tn_guard_begin(lease, TN_MSEC, &token) == 0) {
      sum += token;
      tn_guard_end(lease);
    }
  }
  t1 = tn_now();
  *out = ns_per_op(t0, t1);
  if (sum != (uint64_t)iterations * tn_lease_token(lease))
    fprintf(stderr, "bench_guard: a guard refused during the run\n");
  return NULL;
}

static void *run_clock(void *arg) {
  double *out = arg;
  struct timespec ts;
  int64_t sum = 0;
  tn_nanos t0, t1;
  long i;
  pthread_barrier_wait(&start_line);
  t0 = tn_now();
  for (i = 0; i < iterations; i++) {
    clock_gettime(CLOCK_BOOTTIME, &ts);
    sum += ts.tv_nsec;
  }
  t1 = tn_now();
  *out = ns_per_op(t0, t1);
  if (sum == 42)
    printf(" ");
  return NULL;
}

static double measure(void *(*fn)(void *), int threads) {
  pthread_t t[2];
  double r[2] = {0, 0};
  int i;
  pthread_barrier_init(&start_line, NULL, (unsigned)threads);
  for (i = 0; i < threads; i++)
    pthread_create(&t[i], NULL, fn, &r[i]);
  for (i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  pthread_barrier_destroy(&start_line);
  return threads == 1 ? r[0] : (r[0] + r[1]) / 2;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  char dir[] = "/tmp/tenure-bench-guard-XXXXXX", uri[128];
  tn_authority *auth;
  tn_lease_options o;
  int threads;
  if (argc > 1)
    iterations = atol(argv[1]);
  if (!mkdtemp(dir))
    return 2;
  snprintf(uri, sizeof uri, "file://%s/leases.tn", dir);
  tn_lease_options_init(&o);
  o.ttl = 24 * TN_HOUR; /* no renewal needed during the run */
  if (tn_authority_open(uri, &auth) != 0 ||
      tn_lease_open(auth, "bench", "bench", &o, &lease) != 0 ||
      tn_lease_try_acquire(lease) != 0) {
    fprintf(stderr, "bench_guard: %s\n", tn_authority_last_error());
    return 1;
  }
  for (threads = 1; threads <= 2; threads++) {
    double g[5], c[5];
    int r;
    for (r = 0; r < 5; r++) {
      g[r] = measure(run_guard, threads);
      c[r] = measure(run_clock, threads);
    }
    qsort(g, 5, sizeof g[0], cmp);
    qsort(c, 5, sizeof c[0], cmp);
    printf("{\"bench\":\"guard\",\"threads\":%d,\"iterations\":%ld,\"rounds\":5,"
           "\"begin_end_ns\":%.2f,"
           "\"baseline\":{\"what\":\"clock_gettime(CLOCK_BOOTTIME)\","
           "\"ns\":%.2f},\"ratio\":%.2f,\"ratio_vs_two_reads\":%.2f,"
           "\"target_ratio\":1.5}\n",
           threads, iterations, g[2], c[2], g[2] / c[2], g[2] / (2 * c[2]));
    fflush(stdout);
  }
  tn_lease_release(lease);
  tn_lease_close(lease);
  tn_authority_close(auth);
  {
    char path[160];
    snprintf(path, sizeof path, "%s/leases.tn", dir);
    unlink(path);
    rmdir(dir);
  }
  return 0;
}
