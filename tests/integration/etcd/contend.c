/*
 * Integration: three processes contend for one etcd lease, ROUNDS terms
 * each (acquire, a guarded action, release), against a real etcd.
 *
 *   it_etcd_contend ENDPOINTS_FILE [ROUNDS]   (default 15)
 *
 * Each guarded action reports {token, begin, end} (boot time, which all
 * processes on this machine share) through a pipe. Afterwards, in the
 * order the actions began:
 *   - tokens strictly increase from one term to the next (S2);
 *   - no two actions overlap in time (one holder at a time, S1);
 *   - every term's guard admitted its action, and every round happened.
 */
#define _GNU_SOURCE
#include "it_etcd.h"

#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CANDIDATES 3

struct record {
  uint64_t token;
  tn_nanos begin, end;
  int who;
  int guard_rc;
};

static pid_t kids[CANDIDATES];

static void kill_kids(void) {
  int i;
  for (i = 0; i < CANDIDATES; i++)
    if (kids[i] > 0)
      kill(kids[i], SIGKILL);
}

static void candidate(const char *uri, int who, int rounds, int out) {
  char holder[16];
  tn_authority *a = it_open(uri);
  tn_lease *l;
  int i;
  snprintf(holder, sizeof holder, "c%d", who);
  l = it_lease(a, "contended", holder, 2 * TN_SEC);
  for (i = 0; i < rounds; i++) {
    struct record r;
    struct timespec work = {0, (2 + (who + i) % 8) * 1000000L};
    int rc = tn_lease_acquire(l, 30 * TN_SEC);
    if (rc != 0) {
      fprintf(stderr, "%s: acquire: %s: %s\n", holder, tn_err_name(rc),
              tn_authority_last_error());
      _exit(3);
    }
    memset(&r, 0, sizeof r);
    r.who = who;
    r.guard_rc = tn_guard_begin(l, 100 * TN_MSEC, &r.token);
    r.begin = tn_now();
    nanosleep(&work, NULL);
    r.end = tn_now();
    if (r.guard_rc == 0 && tn_guard_end(l) != 0)
      r.guard_rc = TN_ELOST;
    if (write(out, &r, sizeof r) != (ssize_t)sizeof r)
      _exit(4);
    rc = tn_lease_release(l);
    if (rc != 0) {
      fprintf(stderr, "%s: release: %s: %s\n", holder, tn_err_name(rc),
              tn_authority_last_error());
      _exit(5);
    }
    /* give the others a chance: a releaser retrying at once would win
     * the race against waiters that poll (every 20 ms). 100 ms is five
     * polls, so the lease moves between processes (the check below) even
     * when a loaded machine delays a waiter's poll and its acquire. */
    nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
  }
  tn_lease_close(l);
  tn_authority_close(a);
  _exit(0);
}

static int by_begin(const void *x, const void *y) {
  const struct record *a = x, *b = y;
  return a->begin < b->begin ? -1 : a->begin > b->begin;
}

int main(int argc, char **argv) {
  char endpoints[512], uri[700];
  int rounds = argc > 2 ? atoi(argv[2]) : 15, fds[2], i, status, ok = 1;
  struct record *recs;
  size_t n = 0, want;
  int switches = 0;
  if (argc < 2 || rounds < 1) {
    fprintf(stderr, "usage: it_etcd_contend ENDPOINTS_FILE [ROUNDS]\n");
    return 2;
  }
  it_read_endpoints(argv[1], endpoints, sizeof endpoints);
  snprintf(uri, sizeof uri, "etcd://%s/it-contend-%ld", endpoints,
           (long)getpid());
  want = (size_t)rounds * CANDIDATES;
  recs = calloc(want + 1, sizeof *recs);
  if (recs == NULL || pipe(fds) != 0)
    return 2;
  atexit(kill_kids);
  for (i = 0; i < CANDIDATES; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      close(fds[0]);
      candidate(uri, i + 1, rounds, fds[1]);
    }
  }
  close(fds[1]);
  while (n <= want && read(fds[0], &recs[n], sizeof recs[n]) ==
                          (ssize_t)sizeof recs[n])
    n++;
  for (i = 0; i < CANDIDATES; i++) {
    waitpid(kids[i], &status, 0);
    kids[i] = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "FAIL: candidate %d ended with status %d\n", i + 1,
              status);
      ok = 0;
    }
  }
  CHECK(n == want, "%zu records, want %zu", n, want);
  qsort(recs, n, sizeof *recs, by_begin);
  for (i = 0; i < (int)n; i++) {
    CHECK(recs[i].guard_rc == 0, "term %d (token %llu): guard %s", i,
          (unsigned long long)recs[i].token, tn_err_name(recs[i].guard_rc));
    if (i == 0)
      continue;
    CHECK(recs[i].token > recs[i - 1].token,
          "term %d: token %llu after %llu", i,
          (unsigned long long)recs[i].token,
          (unsigned long long)recs[i - 1].token);
    CHECK(recs[i].begin >= recs[i - 1].end,
          "term %d (c%d) began %lld ns before term %d (c%d) ended", i,
          recs[i].who, (long long)(recs[i - 1].end - recs[i].begin), i - 1,
          recs[i - 1].who);
    switches += recs[i].who != recs[i - 1].who;
  }
  printf("%zu terms, %d changes of holder, tokens %llu..%llu\n", n, switches,
         n ? (unsigned long long)recs[0].token : 0ull,
         n ? (unsigned long long)recs[n - 1].token : 0ull);
  CHECK(switches >= 3, "the lease hardly moved between processes");
  free(recs);
  if (!ok || it_failures) {
    printf("etcd contention: FAILED\n");
    return 1;
  }
  printf("etcd contention: ok\n");
  return 0;
}
