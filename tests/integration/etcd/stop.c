/*
 * Integration: a holder SIGSTOPped past its TTL, against a real etcd.
 *
 *   it_etcd_stop ENDPOINTS_FILE
 *
 * Holder A renews every 200 ms and makes guarded fenced puts every 5 ms.
 * It is stopped; B waits for the lease. Checked:
 *   - B gets the lease only after A's last deadline (S1), and within
 *     TTL + etcd's 0.5 s expiry sweep + slack of the stop (L1);
 *   - B's token is higher than A's (S2), and B's fenced put is accepted;
 *   - when A wakes (stopped longer than the TTL): its guard refuses
 *     (TN_ESTALE), a put with its old token is refused by etcd
 *     (TN_EFENCED), and its renewal fails (TN_ESTALE, or TN_ELOST when a
 *     renewal in flight at the stop finished after the wake).
 */
#define _GNU_SOURCE
#include "it_etcd.h"

#include <tenure/etcd.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TTL (2 * TN_SEC)

enum { MSG_TERM = 1, MSG_DEADLINE, MSG_WOKE };

struct msg {
  int kind;
  uint64_t token;
  tn_nanos deadline;
  int guard_rc, put_rc, renew_rc;
  unsigned long puts_ok;
};

static pid_t holder_pid;

static void release_holder(void) {
  if (holder_pid > 0) {
    kill(holder_pid, SIGCONT);
    kill(holder_pid, SIGKILL);
  }
}

static void send_msg(int out, const struct msg *m) {
  if (write(out, m, sizeof *m) != (ssize_t)sizeof *m)
    _exit(4);
}

static void holder(const char *uri, const char *key, int out) {
  tn_authority *a = it_open(uri);
  tn_lease *l = it_lease(a, "stopped", "node-a", TTL);
  struct msg m;
  tn_nanos last_loop, last_renew;
  unsigned long puts_ok = 0;
  int rc = tn_lease_acquire(l, 10 * TN_SEC);
  if (rc != 0) {
    fprintf(stderr, "holder: acquire: %s\n", tn_authority_last_error());
    _exit(3);
  }
  memset(&m, 0, sizeof m);
  m.kind = MSG_TERM;
  m.token = tn_lease_token(l);
  m.deadline = tn_lease_deadline(l);
  send_msg(out, &m);
  last_loop = last_renew = tn_now();
  for (;;) {
    struct timespec five = {0, 5 * 1000000L};
    tn_nanos now = tn_now();
    uint64_t tok;
    if (now - last_loop > TTL + 500 * TN_MSEC) {
      /* woke from the stop, which lasts TTL + 1 s or more; a loop merely
       * delayed on a loaded machine (seconds have been seen) is not it */
      m.kind = MSG_WOKE;
      m.guard_rc = tn_guard_begin(l, 5 * TN_MSEC, &tok);
      /* an action delayed past its guard by the stop: the old token */
      m.put_rc = tn_etcd_fenced_put(a, "stopped", m.token, key, "a-late", 6);
      m.renew_rc = tn_lease_renew(l);
      m.puts_ok = puts_ok;
      send_msg(out, &m);
      tn_lease_close(l);
      tn_authority_close(a);
      _exit(0);
    }
    last_loop = now;
    if (now - last_renew >= 200 * TN_MSEC) {
      if (tn_lease_renew(l) == 0) {
        m.kind = MSG_DEADLINE;
        m.deadline = tn_lease_deadline(l);
        m.puts_ok = puts_ok;
        send_msg(out, &m);
      }
      last_renew = now;
    }
    if (tn_guard_begin(l, 20 * TN_MSEC, &tok) == 0) {
      if (tn_etcd_fenced_put(a, "stopped", tok, key, "a", 1) == 0)
        puts_ok++;
      tn_guard_end(l);
    }
    nanosleep(&five, NULL);
  }
}

int main(int argc, char **argv) {
  char endpoints[512], uri[700], key[128];
  int fds[2], status;
  struct msg m, woke;
  uint64_t token_a, token_b;
  tn_nanos deadline_a, t_stop, t_b, stopped_for;
  tn_authority *a;
  tn_lease *lb;
  int rc;
  if (argc != 2) {
    fprintf(stderr, "usage: it_etcd_stop ENDPOINTS_FILE\n");
    return 2;
  }
  it_read_endpoints(argv[1], endpoints, sizeof endpoints);
  setvbuf(stdout, NULL, _IOLBF, 0);
  snprintf(uri, sizeof uri, "etcd://%s/it-stop-%ld", endpoints,
           (long)getpid());
  snprintf(key, sizeof key, "it-stop-%ld/data", (long)getpid());
  if (pipe(fds) != 0)
    return 2;
  atexit(release_holder);
  holder_pid = fork();
  if (holder_pid == 0) {
    close(fds[0]);
    holder(uri, key, fds[1]);
  }
  close(fds[1]);
  if (read(fds[0], &m, sizeof m) != (ssize_t)sizeof m || m.kind != MSG_TERM) {
    fprintf(stderr, "FAIL: the holder never got the lease\n");
    return 1;
  }
  token_a = m.token;
  deadline_a = m.deadline;
  printf("A holds token %llu\n", (unsigned long long)token_a);
  /* A few renewals and more than 10 accepted puts before the stop (the
   * check on woke.puts_ok below), counted, not timed: on a loaded machine
   * 700 ms may hold far fewer puts than on an idle one. */
  {
    int renewals = 0;
    while (renewals < 3 || m.puts_ok <= 10) {
      if (read(fds[0], &m, sizeof m) != (ssize_t)sizeof m ||
          m.kind != MSG_DEADLINE) {
        fprintf(stderr, "FAIL: the holder stopped reporting renewals\n");
        return 1;
      }
      renewals++;
      if (m.deadline > deadline_a)
        deadline_a = m.deadline;
    }
  }

  kill(holder_pid, SIGSTOP);
  t_stop = tn_now();
  /* A's latest deadline: what it had reported before it stopped */
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  while (read(fds[0], &m, sizeof m) == (ssize_t)sizeof m)
    if (m.kind == MSG_DEADLINE && m.deadline > deadline_a)
      deadline_a = m.deadline;
  fcntl(fds[0], F_SETFL, 0);
  printf("A stopped with %.0f ms left on its deadline\n",
         tn_nanos_to_millis(deadline_a - t_stop));

  a = it_open(uri);
  lb = it_lease(a, "stopped", "node-b", TTL);
  rc = tn_lease_acquire(lb, 10 * TN_SEC);
  t_b = tn_now();
  CHECK(rc == 0, "B: acquire %s", tn_err_name(rc));
  token_b = tn_lease_token(lb);
  printf("B holds token %llu, %.0f ms after the stop, %.0f ms after A's "
         "deadline\n",
         (unsigned long long)token_b, tn_nanos_to_millis(t_b - t_stop),
         tn_nanos_to_millis(t_b - deadline_a));
  CHECK(t_b > deadline_a, "B got the lease %lld ms before A's deadline",
        (long long)((deadline_a - t_b) / TN_MSEC));
  /* L1: soon after A's term, not at B's 10 s timeout: TTL, etcd's 0.5 s
   * expiry sweep, and 3 s for a loaded etcd and machine. */
  CHECK(t_b - t_stop < TTL + 500 * TN_MSEC + 3000 * TN_MSEC,
        "B waited %lld ms", (long long)((t_b - t_stop) / TN_MSEC));
  CHECK(token_b > token_a, "tokens %llu then %llu",
        (unsigned long long)token_a, (unsigned long long)token_b);
  CHECK_RC(tn_etcd_fenced_put(a, "stopped", token_b, key, "b", 1), 0);

  /* keep A stopped well past its TTL, then wake it */
  stopped_for = tn_now() - t_stop;
  if (stopped_for < TTL + TN_SEC)
    usleep((useconds_t)((TTL + TN_SEC - stopped_for) / 1000));
  CHECK(tn_lease_renew(lb) == 0, "B cannot renew");
  kill(holder_pid, SIGCONT);
  if (read(fds[0], &woke, sizeof woke) != (ssize_t)sizeof woke ||
      woke.kind != MSG_WOKE) {
    fprintf(stderr, "FAIL: no report from the woken holder\n");
    return 1;
  }
  waitpid(holder_pid, &status, 0);
  holder_pid = 0;
  printf("A woke: guard %s, put with the old token %s, renew %s (%lu puts "
         "accepted before the stop)\n",
         tn_err_name(woke.guard_rc), tn_err_name(woke.put_rc),
         tn_err_name(woke.renew_rc), woke.puts_ok);
  CHECK(woke.guard_rc == TN_ESTALE, "guard %s", tn_err_name(woke.guard_rc));
  CHECK(woke.put_rc == TN_EFENCED, "stale put %s", tn_err_name(woke.put_rc));
  /* ESTALE: the deadline had passed; ELOST: a renewal in flight at the
   * stop came back after the wake and found the lease gone */
  CHECK(woke.renew_rc == TN_ESTALE || woke.renew_rc == TN_ELOST, "renew %s",
        tn_err_name(woke.renew_rc));
  CHECK(woke.puts_ok > 10, "only %lu guarded puts before the stop",
        woke.puts_ok);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "holder status %d",
        status);
  /* B is unaffected */
  CHECK_RC(tn_lease_renew(lb), 0);
  CHECK_RC(tn_etcd_fenced_put(a, "stopped", token_b, key, "b2", 2), 0);
  tn_lease_release(lb);
  tn_lease_close(lb);
  tn_authority_close(a);
  if (it_failures) {
    printf("etcd stop: %d checks failed\n", it_failures);
    return 1;
  }
  printf("etcd stop: ok\n");
  return 0;
}
