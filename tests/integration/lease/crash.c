/*
 * Integration: kill -9 the holder and the acquirer of a file-authority
 * lease at random points, again and again, and check S2 and S4:
 *   - the file always opens (never corrupt, never reinitialised);
 *   - every token a process was told it holds is unique, and tokens only
 *     grow from one round to the next;
 *   - the file's token counter is never behind a token that was handed out.
 *
 *   it_lease_crash [ROUNDS]   (default 200)
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/lease.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char uri[256];

/* A candidate that acquires, renews, releases, forever; it reports each
 * token it was granted through the pipe, after acquire returned. */
static void candidate(const char *holder, int out) {
  tn_authority *a;
  tn_lease *l;
  tn_lease_options o;
  unsigned seed = (unsigned)getpid();
  uint64_t last = 0;
  int rc = tn_authority_open(uri, &a);
  if (rc != 0) {
    fprintf(stderr, "candidate %s: open: %s\n", holder,
            tn_authority_last_error());
    _exit(3);
  }
  tn_lease_options_init(&o);
  o.ttl = 30 * TN_MSEC;
  o.margin = 5 * TN_MSEC;
  o.renew_every = 10 * TN_MSEC;
  if (tn_lease_open(a, "crash", holder, &o, &l) != 0)
    _exit(4);
  for (;;) {
    rc = tn_lease_try_acquire(l);
    if (rc == 0) {
      uint64_t tok = tn_lease_token(l);
      /* still leading from the last round of the loop: the same term */
      if (tok == last) {
        tn_lease_release(l);
        continue;
      }
      last = tok;
      if (write(out, &tok, sizeof tok) != sizeof tok)
        _exit(5);
      if (rand_r(&seed) % 2)
        tn_lease_renew(l);
      if (rand_r(&seed) % 2)
        tn_lease_release(l);
    } else if (rc != TN_EBUSY) {
      fprintf(stderr, "candidate %s: acquire: %s (%s)\n", holder,
              tn_strerror(rc), tn_authority_last_error());
      _exit(6);
    }
    usleep(rand_r(&seed) % 300);
  }
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 200;
  char dir[] = "/tmp/tenure-it-crash-XXXXXX", path[128];
  uint64_t *seen = NULL, prev_max = 0;
  size_t nseen = 0, cap = 0;
  unsigned seed = 12345;
  int r, failures = 0, children_failed = 0;

  if (!mkdtemp(dir))
    return 2;
  snprintf(path, sizeof path, "%s/leases.tn", dir);
  snprintf(uri, sizeof uri, "file://%s", path);

  /* ROUNDS rounds, and more (up to 10 times as many) until at least
   * ROUNDS / 2 tokens were handed out: the kills come at random points of
   * 0-18 ms, and on a loaded machine many rounds end before a candidate
   * got anywhere. The count of rounds, not the time, is what matters. */
  for (r = 0; (r < rounds || nseen < (size_t)rounds / 2) && r < 10 * rounds &&
              failures == 0;
       r++) {
    int fds[2];
    pid_t kids[2];
    uint64_t tok, round_min = UINT64_MAX, round_max = 0;
    tn_authority *a;
    tn_lease_info info;
    int k, status, rc;
    if (pipe(fds) != 0)
      return 2;
    for (k = 0; k < 2; k++) {
      kids[k] = fork();
      if (kids[k] == 0) {
        close(fds[0]);
        candidate(k ? "acquirer" : "holder", fds[1]);
      }
    }
    close(fds[1]);
    usleep(rand_r(&seed) % 15000);
    kill(kids[0], SIGKILL);
    usleep(rand_r(&seed) % 3000);
    kill(kids[1], SIGKILL);
    for (k = 0; k < 2; k++) {
      waitpid(kids[k], &status, 0);
      if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        fprintf(stderr, "round %d: a candidate ended on its own (%#x)\n", r,
                status);
        children_failed++;
      }
    }
    while (read(fds[0], &tok, sizeof tok) == sizeof tok) {
      size_t i;
      for (i = 0; i < nseen; i++) {
        if (seen[i] == tok) {
          fprintf(stderr, "FAIL round %d: token %llu handed out twice\n", r,
                  (unsigned long long)tok);
          failures++;
        }
      }
      if (nseen == cap) {
        cap = cap ? 2 * cap : 1024;
        seen = realloc(seen, cap * sizeof *seen);
      }
      seen[nseen++] = tok;
      if (tok < round_min)
        round_min = tok;
      if (tok > round_max)
        round_max = tok;
    }
    close(fds[0]);
    if (round_max && round_min <= prev_max) {
      fprintf(stderr, "FAIL round %d: token %llu not above the last round's "
                      "%llu\n",
              r, (unsigned long long)round_min, (unsigned long long)prev_max);
      failures++;
    }
    if (round_max > prev_max)
      prev_max = round_max;
    rc = tn_authority_open(uri, &a);
    if (rc != 0) {
      fprintf(stderr, "FAIL round %d: the file does not open: %s\n", r,
              tn_authority_last_error());
      failures++;
      break;
    }
    rc = tn_authority_observe(a, "crash", &info);
    if (prev_max && (rc != 0 || info.token < prev_max)) {
      fprintf(stderr, "FAIL round %d: file token %llu behind handed-out %llu\n",
              r, (unsigned long long)info.token,
              (unsigned long long)prev_max);
      failures++;
    }
    tn_authority_close(a);
  }
  printf("%d rounds, %zu tokens handed out, highest %llu, %d failures\n", r,
         nseen, (unsigned long long)prev_max, failures + children_failed);
  unlink(path);
  rmdir(dir);
  free(seen);
  if (nseen < (size_t)rounds / 2) {
    fprintf(stderr, "FAIL: too few tokens handed out to mean anything\n");
    return 1;
  }
  return failures || children_failed ? 1 : 0;
}
