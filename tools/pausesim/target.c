/*
 * How pausesim stalls a target, and how it knows the stall has begun.
 *
 *   stop    SIGSTOP stops every thread of the process. The stall begins when
 *           the kernel says so, not when the signal is sent: for our own
 *           child, waitpid(WUNTRACED) returns at the group stop; for any
 *           other process, every /proc/PID/task/TID/stat reads 'T'.
 *   freeze  cgroup v2: write 1 to cgroup.freeze; the stall begins when
 *           cgroup.events reads "frozen 1". This stalls a whole process tree.
 *   gc      ask the target's tenure runtime, over its control socket, for an
 *           unplanned collection: a real stop-the-world from inside.
 *
 * Invariants: a --pid target is signalled through a pidfd when the kernel
 * has them, so a recycled pid is never signalled; a child is never
 * signalled after it has been reaped. Every wait for a confirmation is
 * bounded (PSIM_CONFIRM_BOUND) and gives way to a terminating signal, so
 * the caller always gets back in time to resume the target.
 */
#define _GNU_SOURCE
#include "pausesim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tenure/error.h>
#include <tenure/ctl.h>

/* Polling for a confirmation starts fine and backs off to this, which is
 * also the worst lag between the real start of a stall and start_boot_ns. */
#define POLL_FIRST (10 * TN_USEC)
#define POLL_MAX (200 * TN_USEC)

/* A collection on a large heap may take a while; past this it is an error. */
#define GC_CALL_TIMEOUT (60 * TN_SEC)

static void sleep_for(tn_nanos d) {
  struct timespec ts = {(time_t)(d / TN_SEC), (long)(d % TN_SEC)};
  clock_nanosleep(CLOCK_BOOTTIME, 0, &ts, NULL); /* EINTR: caller re-checks */
}

static int sys_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

static int sys_pidfd_send_signal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
  (void)pidfd;
  (void)sig;
  errno = ENOSYS;
  return -1;
#endif
}

/* --- /proc ---------------------------------------------------------------- */

/* The state letter of one task ('R', 'S', 'T', 'Z', ...), or 0 if it is gone.
 * The command name in parentheses may itself contain ')', so look for the
 * last one. */
static char task_state(pid_t pid, const char *tid) {
  char path[96], buf[1024], *paren;
  ssize_t n;
  int fd;

  if (tid)
    snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, tid);
  else
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  do
    n = read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  paren = strrchr(buf, ')');
  if (paren == NULL || paren[1] != ' ' || paren[2] == '\0')
    return 0;
  return paren[2];
}

enum { THREADS_RUNNING = 0, THREADS_STOPPED = 1, THREADS_GONE = 2 };

/* Whether every thread of pid is in group stop. A leader that exited before
 * its other threads stays a zombie entry; it does not count either way. */
static int threads_state(pid_t pid) {
  char path[64];
  DIR *dir;
  struct dirent *e;
  int stopped = 0;

  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  dir = opendir(path);
  if (dir == NULL)
    return THREADS_GONE;
  while ((e = readdir(dir)) != NULL) {
    char state;
    if (e->d_name[0] == '.')
      continue;
    state = task_state(pid, e->d_name);
    if (state == 0 || state == 'Z' || state == 'X')
      continue; /* exited thread */
    if (state != 'T') {
      closedir(dir);
      return THREADS_RUNNING;
    }
    stopped++;
  }
  closedir(dir);
  return stopped > 0 ? THREADS_STOPPED : THREADS_GONE;
}

static int pidfd_exited(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

/* --- cgroup files --------------------------------------------------------- */

/* The value of "frozen" in cgroup.events: 1, 0, or -1 if it cannot be read
 * (the cgroup was removed). */
static int cgroup_frozen(int events_fd) {
  char buf[256], *line;
  ssize_t n;
  do
    n = pread(events_fd, buf, sizeof buf - 1, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  for (line = buf; line; line = strchr(line, '\n')) {
    if (*line == '\n')
      line++;
    if (strncmp(line, "frozen ", 7) == 0)
      return line[7] == '1';
  }
  return -1;
}

static int cgroup_write_freeze(psim_target *t, const char *value) {
  ssize_t n;
  do
    n = pwrite(t->freeze_fd, value, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n == 1)
    return PSIM_OK;
  if (errno == ENOENT || errno == ENODEV)
    return PSIM_GONE;
  fprintf(stderr, "pausesim: cannot write %s to %s/cgroup.freeze: %s\n",
          value, t->cgroup, strerror(errno));
  return errno == EACCES || errno == EPERM ? TN_EPERM : TN_EIO;
}

/* Is pid listed in DIR/cgroup.procs or in any cgroup below DIR? Used to
 * refuse a freeze that would freeze pausesim itself: then nobody could thaw. */
static int cgroup_holds_pid(int dirfd, pid_t pid, int depth) {
  int fd, found = 0;
  DIR *dir;
  struct dirent *e;

  fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    FILE *f = fdopen(fd, "r");
    long p;
    if (f == NULL) {
      close(fd);
    } else {
      while (!found && fscanf(f, "%ld", &p) == 1)
        found = (p == (long)pid);
      fclose(f);
    }
  }
  if (found || depth >= 64)
    return found;
  fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  dir = fdopendir(fd);
  if (dir == NULL) {
    close(fd);
    return 0;
  }
  while (!found && (e = readdir(dir)) != NULL) {
    int sub;
    if (e->d_name[0] == '.' || e->d_type != DT_DIR)
      continue;
    sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sub < 0)
      continue;
    found = cgroup_holds_pid(sub, pid, depth + 1);
    close(sub);
  }
  closedir(dir);
  return found;
}

static int open_cgroup(psim_target *t) {
  char path[PATH_MAX + 32];
  struct stat st;
  int dirfd, frozen;

  snprintf(t->label, sizeof t->label, "cgroup %s", t->cgroup);
  if (stat(t->cgroup, &st) != 0) {
    int e = errno;
    fprintf(stderr, "pausesim: --cgroup %s: %s\n", t->cgroup, strerror(e));
    return e == EACCES ? TN_EPERM : TN_ENOENT;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pausesim: --cgroup %s: not a directory\n", t->cgroup);
    return TN_ENOENT;
  }
  snprintf(path, sizeof path, "%s/cgroup.freeze", t->cgroup);
  t->freeze_fd = open(path, O_WRONLY | O_CLOEXEC);
  if (t->freeze_fd < 0) {
    int e = errno;
    if (e == ENOENT)
      fprintf(stderr,
              "pausesim: --cgroup %s: no cgroup.freeze there; it must be a "
              "non-root cgroup v2 directory (kernel 5.2 or later)\n",
              t->cgroup);
    else
      fprintf(stderr, "pausesim: --cgroup %s: cannot open %s: %s\n",
              t->cgroup, path, strerror(e));
    return e == EACCES || e == EPERM ? TN_EPERM : TN_ENOENT;
  }
  snprintf(path, sizeof path, "%s/cgroup.events", t->cgroup);
  t->events_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (t->events_fd < 0) {
    fprintf(stderr, "pausesim: --cgroup %s: cannot open %s: %s\n", t->cgroup,
            path, strerror(errno));
    return TN_EIO;
  }
  frozen = cgroup_frozen(t->events_fd);
  if (frozen < 0) {
    fprintf(stderr, "pausesim: --cgroup %s: cannot read cgroup.events\n",
            t->cgroup);
    return TN_EIO;
  }
  if (frozen == 1) {
    fprintf(stderr,
            "pausesim: --cgroup %s is already frozen by someone else; "
            "pausesim will not thaw it\n",
            t->cgroup);
    return TN_EBUSY;
  }
  dirfd = open(t->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd >= 0) {
    int inside = cgroup_holds_pid(dirfd, getpid(), 0);
    close(dirfd);
    if (inside) {
      fprintf(stderr,
              "pausesim: --cgroup %s contains pausesim itself; freezing it "
              "would leave nobody to thaw it\n",
              t->cgroup);
      return TN_EINVAL;
    }
  }
  return 0;
}

static int open_pid(psim_target *t) {
  char state;

  if (kill(t->pid, 0) != 0) {
    if (errno == EPERM)
      fprintf(stderr,
              "pausesim: --pid %d: permission denied (signalling another "
              "user's process needs root or CAP_KILL)\n",
              (int)t->pid);
    else
      fprintf(stderr, "pausesim: --pid %d: no such process\n", (int)t->pid);
    return errno == EPERM ? TN_EPERM : TN_ENOENT;
  }
  state = task_state(t->pid, NULL);
  if (state == 'Z' || state == 'X' || state == 0) {
    fprintf(stderr, "pausesim: --pid %d: no such process (it has exited)\n",
            (int)t->pid);
    return TN_ENOENT;
  }
  t->pidfd = sys_pidfd_open(t->pid);
  if (t->pidfd < 0 && errno == ESRCH) {
    fprintf(stderr, "pausesim: --pid %d: no such process\n", (int)t->pid);
    return TN_ENOENT;
  }
  /* A pidfd is a refinement; without one (old kernel) kill() is used. */
  if (t->mode == PSIM_MODE_STOP && threads_state(t->pid) == THREADS_STOPPED) {
    fprintf(stderr,
            "pausesim: --pid %d is already stopped by someone else; "
            "pausesim will not resume it\n",
            (int)t->pid);
    return TN_EBUSY;
  }
  return 0;
}

int psim_target_open(psim_target *t) {
  int rc;
  t->pidfd = -1;
  t->freeze_fd = -1;
  t->events_fd = -1;
  t->exited = 0;
  t->socket_path[0] = '\0';

  if (t->kind == PSIM_TARGET_CGROUP)
    return open_cgroup(t);

  snprintf(t->label, sizeof t->label, "pid %d", (int)t->pid);
  if (t->kind == PSIM_TARGET_PID) {
    rc = open_pid(t);
    if (rc != 0)
      return rc;
  }
  if (t->mode == PSIM_MODE_GC) {
    struct stat st;
    rc = tn_ctl_socket_path(t->pid, t->socket_path, sizeof t->socket_path);
    if (rc != 0) {
      fprintf(stderr, "pausesim: cannot work out the control socket path: %s\n",
              tn_strerror(rc));
      return rc;
    }
    /* A child may not have started its runtime yet; it is checked at the
     * first collection instead. */
    if (t->kind == PSIM_TARGET_PID && stat(t->socket_path, &st) != 0) {
      fprintf(stderr,
              "pausesim: pid %d does not run a tenure runtime: no control "
              "socket at %s\n",
              (int)t->pid, t->socket_path);
      return TN_ENOENT;
    }
  }
  return 0;
}

void psim_target_close(psim_target *t) {
  if (t->pidfd >= 0)
    close(t->pidfd);
  if (t->freeze_fd >= 0)
    close(t->freeze_fd);
  if (t->events_fd >= 0)
    close(t->events_fd);
  t->pidfd = t->freeze_fd = t->events_fd = -1;
}

int psim_target_gone(psim_target *t) {
  switch (t->kind) {
  case PSIM_TARGET_CHILD:
    if (!t->exited) {
      int status;
      pid_t r = waitpid(t->pid, &status, WNOHANG);
      if (r == t->pid) {
        t->exited = 1;
        t->wait_status = status;
      } else if (r < 0 && errno == ECHILD) {
        t->exited = 1; /* cannot happen while we hold it; do not signal */
        t->wait_status = 0;
      }
    }
    return t->exited;
  case PSIM_TARGET_PID:
    if (!t->exited) {
      char state;
      if (t->pidfd >= 0) {
        /* readable once the process has exited, zombie or not */
        t->exited = pidfd_exited(t->pidfd);
      } else if (kill(t->pid, 0) != 0 && errno == ESRCH) {
        t->exited = 1;
      } else {
        state = task_state(t->pid, NULL);
        t->exited = state == 0 || state == 'Z' || state == 'X';
      }
    }
    return t->exited;
  case PSIM_TARGET_CGROUP:
  default:
    return cgroup_frozen(t->events_fd) < 0;
  }
}

/* --- stop mode ------------------------------------------------------------ */

static int send_signal(psim_target *t, int sig) {
  int rc;
  if (t->kind == PSIM_TARGET_CHILD && psim_target_gone(t))
    return PSIM_GONE; /* reaped: its pid may belong to someone else now */
  if (t->pidfd >= 0)
    rc = sys_pidfd_send_signal(t->pidfd, sig);
  else
    rc = kill(t->pid, sig);
  if (rc == 0)
    return PSIM_OK;
  if (errno == ESRCH) {
    if (t->kind == PSIM_TARGET_PID)
      t->exited = 1;
    return PSIM_GONE;
  }
  fprintf(stderr, "pausesim: cannot send %s to %s: %s\n",
          sig == SIGSTOP ? "SIGSTOP" : "SIGCONT", t->label, strerror(errno));
  return errno == EPERM ? TN_EPERM : TN_EIO;
}

static int confirm_child_stopped(psim_target *t, tn_nanos *start) {
  struct itimerval arm, disarm;
  int rc, status;

  /* waitpid() cannot time out, so a timer interrupts it: first at the
   * bound, then every 20 ms in case the first tick fell just before the
   * call blocked. */
  memset(&arm, 0, sizeof arm);
  memset(&disarm, 0, sizeof disarm);
  arm.it_value.tv_sec = (time_t)(PSIM_CONFIRM_BOUND / TN_SEC);
  arm.it_interval.tv_usec = 20000;
  psim_alarm_clear();
  setitimer(ITIMER_REAL, &arm, NULL);
  for (;;) {
    pid_t r = waitpid(t->pid, &status, WUNTRACED);
    if (r == t->pid) {
      if (WIFSTOPPED(status)) {
        *start = tn_now();
        rc = PSIM_OK;
      } else {
        t->exited = 1;
        t->wait_status = status;
        rc = PSIM_GONE;
      }
      break;
    }
    if (r < 0 && errno == EINTR) {
      if (psim_interrupted()) {
        rc = PSIM_INTERRUPTED;
        break;
      }
      if (psim_alarm_fired()) {
        fprintf(stderr,
                "pausesim: %s did not stop within %lld ms after SIGSTOP "
                "(is it being traced?)\n",
                t->label, (long long)(PSIM_CONFIRM_BOUND / TN_MSEC));
        rc = TN_ETIMEDOUT;
        break;
      }
      continue;
    }
    fprintf(stderr, "pausesim: waitpid(%d): %s\n", (int)t->pid,
            strerror(errno));
    rc = TN_EIO;
    break;
  }
  setitimer(ITIMER_REAL, &disarm, NULL);
  return rc;
}

static int confirm_pid_stopped(psim_target *t, tn_nanos *start) {
  tn_nanos deadline = tn_now() + PSIM_CONFIRM_BOUND, backoff = POLL_FIRST;
  for (;;) {
    int state;
    if (t->pidfd >= 0 && pidfd_exited(t->pidfd)) {
      t->exited = 1;
      return PSIM_GONE;
    }
    state = threads_state(t->pid);
    if (state == THREADS_STOPPED) {
      *start = tn_now();
      return PSIM_OK;
    }
    if (state == THREADS_GONE) {
      t->exited = 1;
      return PSIM_GONE;
    }
    if (psim_interrupted())
      return PSIM_INTERRUPTED;
    if (tn_now() >= deadline) {
      fprintf(stderr,
              "pausesim: %s did not stop within %lld ms after SIGSTOP (a "
              "thread in uninterruptible sleep, or the process is traced?)\n",
              t->label, (long long)(PSIM_CONFIRM_BOUND / TN_MSEC));
      return TN_ETIMEDOUT;
    }
    sleep_for(backoff);
    backoff = backoff * 2 > POLL_MAX ? POLL_MAX : backoff * 2;
  }
}

/* --- freeze mode ----------------------------------------------------------- */

static int confirm_frozen(psim_target *t, tn_nanos *start) {
  tn_nanos deadline = tn_now() + PSIM_CONFIRM_BOUND, backoff = POLL_FIRST;
  for (;;) {
    int frozen = cgroup_frozen(t->events_fd);
    if (frozen == 1) {
      *start = tn_now();
      return PSIM_OK;
    }
    if (frozen < 0)
      return PSIM_GONE;
    if (psim_interrupted())
      return PSIM_INTERRUPTED;
    if (tn_now() >= deadline) {
      fprintf(stderr,
              "pausesim: %s did not report \"frozen 1\" within %lld ms\n",
              t->label, (long long)(PSIM_CONFIRM_BOUND / TN_MSEC));
      return TN_ETIMEDOUT;
    }
    sleep_for(backoff);
    backoff = backoff * 2 > POLL_MAX ? POLL_MAX : backoff * 2;
  }
}

/* --- the stall ------------------------------------------------------------- */

int psim_stall_begin(psim_target *t, tn_nanos *start) {
  int rc;
  if (t->mode == PSIM_MODE_FREEZE) {
    rc = cgroup_write_freeze(t, "1");
    return rc != PSIM_OK ? rc : confirm_frozen(t, start);
  }
  rc = send_signal(t, SIGSTOP);
  if (rc != PSIM_OK)
    return rc;
  if (t->kind == PSIM_TARGET_CHILD)
    return confirm_child_stopped(t, start);
  return confirm_pid_stopped(t, start);
}

int psim_stall_end(psim_target *t) {
  if (t->mode == PSIM_MODE_FREEZE)
    return cgroup_write_freeze(t, "0");
  return send_signal(t, SIGCONT);
}

/* --- gc mode --------------------------------------------------------------- */

int psim_gc_collect(psim_target *t, tn_nanos *start, tn_nanos *end) {
  char reason[128] = "";
  char *payload = NULL;
  size_t payload_len = 0;
  int rc;

  if (psim_target_gone(t))
    return PSIM_GONE;
  *start = tn_now();
  rc = tn_ctl_call(t->socket_path, "collect-unplanned", &payload,
                   &payload_len, reason, sizeof reason, GC_CALL_TIMEOUT);
  *end = tn_now();
  free(payload);
  switch (rc) {
  case 0:
    return PSIM_OK;
  case TN_ENOTSUP:
    fprintf(stderr,
            "pausesim: %s runs a tenure runtime without a collector governor "
            "(collect-unplanned is unsupported there), so gc mode cannot "
            "stall it\n",
            t->label);
    return rc;
  case TN_ENOENT:
  case TN_EUNAVAILABLE:
    if (psim_target_gone(t))
      return PSIM_GONE;
    fprintf(stderr,
            "pausesim: %s does not run a tenure runtime: %s at %s%s\n",
            t->label,
            rc == TN_ENOENT ? "no control socket" : "nobody listening",
            t->socket_path,
            t->kind == PSIM_TARGET_CHILD
                ? " (if it starts one later, give it time with --start-after)"
                : "");
    return rc;
  case TN_EPERM:
    fprintf(stderr,
            "pausesim: %s refused the control connection: permission denied "
            "(run pausesim as the same user)\n",
            t->label);
    return rc;
  default:
    fprintf(stderr, "pausesim: collect-unplanned on %s failed: %s%s%s\n",
            t->label, tn_strerror(rc), reason[0] ? ": " : "", reason);
    return rc;
  }
}
