/*
 * The guardian: the one process that ends every stall.
 *
 * Before the first stall pausesim forks a small guardian in its own
 * session, joined to it by two pipes. pausesim stops or freezes the target;
 * the guardian alone resumes it. Messages are 9 bytes (a letter and a boot
 * time), so each write is atomic:
 *   pausesim -> guardian  'S' t  a stall is starting: end it at t at the
 *                                latest (a provisional bound, sent before
 *                                the stop signal)
 *                         'T' t  the stop is confirmed: end it at t
 *                         'C' -  end it now (cut short, failed, the end)
 *                         'Q' -  the run is over: exit
 *   guardian -> pausesim  'D' t  resumed at t (after each S, exactly one)
 * Because the end time lives in the guardian, stopping pausesim (SIGSTOP,
 * a debugger, a starved CPU) cannot stretch a stall. Because only the
 * guardian sends the resume, and pausesim starts no stall before it has the
 * 'D' of the last one, a late resume can never cut the next stall short.
 *
 * Death. The kernel closes the pipes when pausesim dies however it dies
 * (SIGKILL, a crash, the OOM killer); a guardian that reads EOF while a
 * stall is on resumes the target at once. 'S' is written before the stop,
 * so the guardian can only err towards a spare SIGCONT (harmless to a
 * running process), never towards leaving the target stopped. The guardian
 * sits in its own session so that a terminal's ^C or a kill of pausesim's
 * process group does not take it down with pausesim. Should the guardian
 * die instead, pausesim sees the broken pipe and resumes the target itself.
 */
#define _GNU_SOURCE
#include "pausesim.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void close_all_but(const int *keep, int nkeep) {
#ifdef SYS_close_range
  unsigned lo = 3;
  /* keep[] is small and unsorted: close the gaps between kept fds in
   * ascending order. */
  for (;;) {
    unsigned next = ~0u;
    int i;
    for (i = 0; i < nkeep; i++)
      if (keep[i] >= (int)lo && (unsigned)keep[i] < next)
        next = (unsigned)keep[i];
    if (next > lo)
      syscall(SYS_close_range, lo, next == ~0u ? ~0u : next - 1, 0);
    if (next == ~0u)
      break;
    lo = next + 1;
  }
#else
  (void)keep;
  (void)nkeep;
#endif
}

#define MSG_LEN 9

static int send_msg(int fd, char word, tn_nanos at) {
  unsigned char m[MSG_LEN];
  ssize_t n;
  int i;
  m[0] = (unsigned char)word;
  for (i = 0; i < 8; i++)
    m[1 + i] = (unsigned char)((uint64_t)at >> (8 * i));
  do
    n = write(fd, m, sizeof m);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof m ? 0 : -1;
}

static tn_nanos msg_time(const unsigned char *m) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--)
    v = (v << 8) | m[1 + i];
  return (tn_nanos)v;
}

static void guardian_resume(const psim_target *t, int orphaned) {
  int rc;
  if (t->mode == PSIM_MODE_FREEZE)
    rc = pwrite(t->freeze_fd, "0", 1, 0) == 1 ? 0 : -1;
#ifdef SYS_pidfd_send_signal
  else if (t->pidfd >= 0)
    rc = (int)syscall(SYS_pidfd_send_signal, t->pidfd, SIGCONT, NULL, 0);
#endif
  else
    rc = kill(t->pid, SIGCONT);
  if (rc == 0 && orphaned)
    dprintf(2, "pausesim: guardian: pausesim ended during a stall; resumed "
               "%s\n",
            t->label);
  else if (rc != 0 && errno != ESRCH)
    dprintf(2, "pausesim: guardian: could not resume %s: %s\n", t->label,
            strerror(errno));
}

static void __attribute__((noreturn)) guardian_main(int rfd, int wfd,
                                                    const psim_target *t) {
  static const int ignored[] = {SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN,
                                SIGTTOU, SIGPIPE};
  static const int defaulted[] = {SIGTERM, SIGCHLD, SIGALRM};
  int keep[4] = {rfd, wfd, t->pidfd, t->freeze_fd};
  unsigned char buf[MSG_LEN * 16];
  size_t have = 0, i;
  int holding = 0; /* a stall is on */
  tn_nanos deadline = 0;
  sigset_t none;
  int devnull;

  setsid();
  for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
    signal(ignored[i], SIG_IGN);
  for (i = 0; i < sizeof defaulted / sizeof defaulted[0]; i++)
    signal(defaulted[i], SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
  }
  close_all_but(keep, 4);
  /* ppoll says when to look; the read must never wait on its own */
  fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* end stalls on time */

  for (;;) {
    struct pollfd pfd = {rfd, POLLIN, 0};
    struct timespec ts, *tsp = NULL;
    ssize_t n;
    int end_now = 0;
    if (holding) {
      tn_nanos left = deadline - tn_now();
      if (left < 0)
        left = 0;
      ts.tv_sec = (time_t)(left / TN_SEC);
      ts.tv_nsec = (long)(left % TN_SEC);
      tsp = &ts;
    }
    if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno != EINTR)
      break;
    /* Read all that was sent before acting on the clock: a 'C' or 'T'
     * already in the pipe changes what the deadline means. */
    n = read(rfd, buf + have, sizeof buf - have);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
      break; /* pausesim is gone */
    if (n > 0)
      have += (size_t)n;
    for (i = 0; i + MSG_LEN <= have; i += MSG_LEN) {
      switch (buf[i]) {
      case 'S':
        holding = 1;
        deadline = msg_time(buf + i);
        break;
      case 'T':
        if (holding)
          deadline = msg_time(buf + i);
        break;
      case 'C':
        end_now = 1;
        break;
      case 'Q':
        if (holding)
          guardian_resume(t, 0);
        _exit(0);
      default:
        break;
      }
    }
    memmove(buf, buf + i, have - i);
    have -= i;
    if (end_now || (holding && tn_now() >= deadline)) {
      if (holding)
        guardian_resume(t, 0);
      holding = 0;
      if (send_msg(wfd, 'D', tn_now()) != 0)
        break; /* pausesim is gone; nothing is stalled now */
    }
  }
  if (holding)
    guardian_resume(t, 1);
  _exit(0);
}

void psim_guard_start(psim_guard *g, const psim_target *t, int verbose) {
  int to_guard[2], from_guard[2];
  pid_t pid;

  g->pid = -1;
  g->fd = -1;
  g->back_fd = -1;
  if (t->mode == PSIM_MODE_GC)
    return; /* nothing of ours to undo: the target runs its own collection */
  if (pipe2(to_guard, O_CLOEXEC) != 0) {
    fprintf(stderr, "pausesim: warning: no guardian (pipe: %s)\n",
            strerror(errno));
    return;
  }
  if (pipe2(from_guard, O_CLOEXEC) != 0) {
    fprintf(stderr, "pausesim: warning: no guardian (pipe: %s)\n",
            strerror(errno));
    close(to_guard[0]);
    close(to_guard[1]);
    return;
  }
  pid = fork();
  if (pid < 0) {
    fprintf(stderr, "pausesim: warning: no guardian (fork: %s)\n",
            strerror(errno));
    close(to_guard[0]);
    close(to_guard[1]);
    close(from_guard[0]);
    close(from_guard[1]);
    return;
  }
  if (pid == 0) {
    close(to_guard[1]);
    close(from_guard[0]);
    guardian_main(to_guard[0], from_guard[1], t);
  }
  close(to_guard[0]);
  close(from_guard[1]);
  g->pid = pid;
  g->fd = to_guard[1];
  g->back_fd = from_guard[0];
  if (verbose)
    fprintf(stderr, "pausesim: guardian %d ends each stall, and resumes %s "
                    "if pausesim dies\n",
            (int)pid, t->label);
}

int psim_guard_active(const psim_guard *g) { return g->fd >= 0; }

/* The guardian is gone: pausesim ends stalls itself from now on. */
static void guard_lost(psim_guard *g) {
  if (g->fd >= 0)
    close(g->fd);
  if (g->back_fd >= 0)
    close(g->back_fd);
  g->fd = g->back_fd = -1;
  fprintf(stderr, "pausesim: warning: the guardian is gone; pausesim ends "
                  "the stalls itself\n");
}

/* One word to the guardian; a write that fails means it is gone. */
static int tell(psim_guard *g, char word, tn_nanos at) {
  if (g->fd < 0)
    return -1;
  if (send_msg(g->fd, word, at) != 0) {
    guard_lost(g);
    return -1;
  }
  return 0;
}

int psim_guard_stalling(psim_guard *g, tn_nanos bound) {
  return tell(g, 'S', bound);
}

int psim_guard_end_at(psim_guard *g, tn_nanos end) { return tell(g, 'T', end); }

int psim_guard_end_now(psim_guard *g) { return tell(g, 'C', 0); }

int psim_guard_await(psim_guard *g, int (*cut)(void *), void *arg,
                     tn_nanos *resumed_at) {
  unsigned char m[MSG_LEN];
  size_t have = 0;
  int asked = 0;
  while (g->back_fd >= 0) {
    struct pollfd pfd = {g->back_fd, POLLIN, 0};
    ssize_t n;
    if (!asked && cut && cut(arg)) {
      if (psim_guard_end_now(g) != 0)
        return -1;
      asked = 1;
    }
    /* a signal interrupts the wait: cut() is asked again */
    if (poll(&pfd, 1, 50) <= 0)
      continue;
    n = read(g->back_fd, m + have, sizeof m - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      guard_lost(g);
      return -1;
    }
    have += (size_t)n;
    if (have == sizeof m && m[0] == 'D') {
      *resumed_at = msg_time(m);
      return 0;
    }
    if (have == sizeof m)
      have = 0; /* nothing else is sent this way */
  }
  return -1;
}

void psim_guard_stop(psim_guard *g) {
  if (g->fd >= 0)
    send_msg(g->fd, 'Q', 0);
  if (g->fd >= 0)
    close(g->fd);
  if (g->back_fd >= 0)
    close(g->back_fd);
  g->fd = g->back_fd = -1;
  if (g->pid > 0) {
    while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  g->pid = -1;
}
