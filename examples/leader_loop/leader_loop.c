/*
 * leader_loop: the smallest correct leader loop.
 *
 * The loop that everyone writes first is broken:
 *
 *     while (true) {
 *         if (lease.expiresSoon()) lease.renew();
 *         if (lease.isValid()) process(request);   // <- the bug
 *     }
 *
 * Between isValid() and the end of process() the process can stop for any
 * length of time: a garbage collection, SIGSTOP, a hypervisor, a starved
 * CPU. It wakes up, believes the check it made a moment ago, and writes as
 * the leader while someone else already is.
 *
 * This program shows the three things that fix it, each marked FIX below:
 *   1. the check is made against CLOCK_BOOTTIME, immediately before the
 *      action, and includes how long the action may take;
 *   2. the action carries the fencing token to the resource, which refuses
 *      tokens older than one it has seen (see examples/fenced_counter);
 *   3. renewal runs on its own thread, so a slow action cannot starve it,
 *      and the guard refuses on its own clock read even if the renewal
 *      thread is stuck.
 *
 *   leader_loop URI NAME ID      e.g. leader_loop file:///tmp/leases.tn job node-1
 */
#include <tenure/error.h>
#include <tenure/lease.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static tn_leader *leader;

static void stop(int sig) {
  (void)sig;
  tn_leader_stop(leader); /* async-signal-safe */
}

static void on_elected(uint64_t token, void *arg) {
  (void)arg;
  printf("elected with token %llu\n", (unsigned long long)token);
}

/* Called again and again while this process leads. */
static int lead(tn_lease *lease, void *arg) {
  uint64_t token;
  (void)arg;
  /* FIX 1: ask, right now, whether the term outlasts the whole action
   * (here 50 ms). It reads the boot-time clock, never wall time, and never
   * blocks. */
  if (tn_guard_begin(lease, 50 * TN_MSEC, &token) != 0)
    return 0; /* too late: the loop steps down; do nothing as leader */

  /* FIX 2: the action presents the token; the resource refuses a token
   * older than the newest it has seen, which covers a pause right here,
   * after the check. */
  printf("doing leader work with token %llu\n", (unsigned long long)token);

  /* The term may have ended during the action; then the resource's answer
   * (accepted or fenced) is the truth, not our belief. */
  if (tn_guard_end(lease) == TN_ELOST)
    printf("the term ended during that action; trust the resource's answer\n");

  usleep(200 * 1000);
  return 0;
}

static void on_step_down(tn_stepdown_reason reason, void *arg) {
  (void)arg;
  /* FIX 3 (L2): by the time this runs, guards have been refusing since the
   * deadline; this callback may be slow without putting anything at risk. */
  printf("stepped down: %s\n", tn_stepdown_reason_name(reason));
}

int main(int argc, char **argv) {
  tn_leader_callbacks cb = {on_elected, lead, on_step_down};
  tn_authority *auth;
  int rc;
  if (argc != 4) {
    fprintf(stderr, "usage: leader_loop URI NAME ID\n");
    return 2;
  }
  if (tn_authority_open(argv[1], &auth) != 0) {
    fprintf(stderr, "leader_loop: %s\n", tn_authority_last_error());
    return 1;
  }
  /* Defaults: ttl 2 s, 1000 ppm drift allowance, margin 100 ms, renewal
   * every ttl/3 on its own thread. */
  rc = tn_leader_open(auth, argv[2], argv[3], NULL, &cb, NULL, &leader);
  if (rc != 0) {
    fprintf(stderr, "leader_loop: %s\n", tn_authority_last_error());
    return 2;
  }
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  rc = tn_leader_run(leader); /* campaign, lead, step down, until stopped */
  tn_leader_close(leader);
  tn_authority_close(auth);
  return rc == 0 ? 0 : 1;
}
