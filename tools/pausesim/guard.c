/*
 * The guardian: pausesim's dead man's switch.
 *
 * pausesim resumes its target on every exit path it lives through, but
 * SIGKILL, a crash or the OOM killer leave no exit path. So before the first
 * stall pausesim forks a small guardian in its own session, connected by a
 * pipe. pausesim writes 'S' just before it stops or freezes the target, 'R'
 * once it has resumed it, and 'Q' when it ends cleanly. The kernel closes
 * the pipe when pausesim dies however it dies; a guardian that reads EOF
 * while the last word was 'S' resumes the target itself.
 *
 * The trick is that the pipe, not a signal or a timeout, carries pausesim's
 * death: EOF cannot be lost, delayed or faked. 'S' is written before the
 * stop, so the guardian can only err towards a spare SIGCONT (harmless to a
 * running process), never towards leaving the target stopped. The guardian
 * sits in its own session so that a terminal's ^C or a kill of pausesim's
 * process group does not take it down with pausesim.
 */
#define _GNU_SOURCE
#include "pausesim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

static void guardian_resume(const psim_target *t) {
  int rc;
  if (t->mode == PSIM_MODE_FREEZE)
    rc = pwrite(t->freeze_fd, "0", 1, 0) == 1 ? 0 : -1;
#ifdef SYS_pidfd_send_signal
  else if (t->pidfd >= 0)
    rc = (int)syscall(SYS_pidfd_send_signal, t->pidfd, SIGCONT, NULL, 0);
#endif
  else
    rc = kill(t->pid, SIGCONT);
  if (rc == 0)
    dprintf(2, "pausesim: guardian: pausesim ended during a stall; resumed "
               "%s\n",
            t->label);
  else if (errno != ESRCH)
    dprintf(2, "pausesim: guardian: could not resume %s: %s\n", t->label,
            strerror(errno));
}

static void __attribute__((noreturn)) guardian_main(int rfd,
                                                    const psim_target *t) {
  static const int ignored[] = {SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN,
                                SIGTTOU};
  static const int defaulted[] = {SIGTERM, SIGCHLD, SIGALRM, SIGPIPE};
  int keep[3] = {rfd, t->pidfd, t->freeze_fd};
  char state = 'R', buf[64];
  sigset_t none;
  size_t i;
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
  close_all_but(keep, 3);

  for (;;) {
    ssize_t n = read(rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (i = 0; i < (size_t)n; i++) {
      if (buf[i] == 'Q')
        _exit(0);
      state = buf[i];
    }
  }
  if (state == 'S')
    guardian_resume(t);
  _exit(0);
}

void psim_guard_start(psim_guard *g, const psim_target *t, int verbose) {
  int fds[2];
  pid_t pid;

  g->pid = -1;
  g->fd = -1;
  if (t->mode == PSIM_MODE_GC)
    return; /* nothing of ours to undo: the target runs its own collection */
  if (pipe2(fds, O_CLOEXEC) != 0) {
    fprintf(stderr, "pausesim: warning: no guardian (pipe: %s)\n",
            strerror(errno));
    return;
  }
  pid = fork();
  if (pid < 0) {
    fprintf(stderr, "pausesim: warning: no guardian (fork: %s)\n",
            strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return;
  }
  if (pid == 0) {
    close(fds[1]);
    guardian_main(fds[0], t);
  }
  close(fds[0]);
  g->pid = pid;
  g->fd = fds[1];
  if (verbose)
    fprintf(stderr, "pausesim: guardian %d will resume %s if pausesim dies\n",
            (int)pid, t->label);
}

static void tell(psim_guard *g, char word) {
  ssize_t n;
  if (g->fd < 0)
    return;
  do
    n = write(g->fd, &word, 1);
  while (n < 0 && errno == EINTR);
  /* EPIPE: the guardian was killed; pausesim itself still resumes. */
}

void psim_guard_stalling(psim_guard *g) { tell(g, 'S'); }
void psim_guard_resumed(psim_guard *g) { tell(g, 'R'); }

void psim_guard_stop(psim_guard *g) {
  tell(g, 'Q');
  if (g->fd >= 0)
    close(g->fd);
  g->fd = -1;
  if (g->pid > 0) {
    while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  g->pid = -1;
}
