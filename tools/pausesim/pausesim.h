/*
 * pausesim internals shared by main.c (options, schedule loop, log),
 * target.c (how a stall is made: stop, freeze, gc) and guard.c (the
 * guardian process that resumes the target if pausesim itself dies).
 *
 * Everything runs on pausesim's one thread. Functions that talk to the
 * target print their own error message (naming the target) before returning
 * a negative TN_E* code, so callers only decide the exit status.
 */
#ifndef PAUSESIM_PAUSESIM_H
#define PAUSESIM_PAUSESIM_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <tenure/clock.h>

typedef enum psim_mode { PSIM_MODE_STOP, PSIM_MODE_FREEZE, PSIM_MODE_GC } psim_mode;

typedef enum psim_target_kind {
  PSIM_TARGET_PID,    /* --pid: someone else's process */
  PSIM_TARGET_CHILD,  /* -- COMMAND: our child, reaped with waitpid() */
  PSIM_TARGET_CGROUP  /* --cgroup: a cgroup v2 directory */
} psim_target_kind;

/* Outcomes other than errors (errors are negative TN_E* codes). */
enum {
  PSIM_OK = 0,
  PSIM_GONE = 1,        /* the target exited or its cgroup was removed */
  PSIM_INTERRUPTED = 2  /* a terminating signal arrived */
};

typedef struct psim_target {
  psim_target_kind kind;
  psim_mode mode;
  pid_t pid;          /* PID and CHILD */
  int pidfd;          /* PID: a pidfd when the kernel has them, else -1 */
  const char *cgroup; /* CGROUP: the directory as given */
  int freeze_fd;      /* CGROUP: DIR/cgroup.freeze, open for writing */
  int events_fd;      /* CGROUP: DIR/cgroup.events, open for reading */
  char socket_path[PATH_MAX]; /* gc mode: the target's control socket */
  int exited;         /* CHILD: reaped, wait_status valid; PID: seen gone */
  int wait_status;
  char label[PATH_MAX + 16]; /* "pid 123" or "cgroup DIR", for messages */
} psim_target;

/* How long a stop or freeze may take to be confirmed before pausesim gives
 * up, resumes the target and fails. */
#define PSIM_CONFIRM_BOUND (10 * TN_SEC)

/* main.c: non-zero once SIGINT, SIGTERM, SIGHUP or SIGQUIT has arrived. */
int psim_interrupted(void);
/* main.c: non-zero once the confirm timer (SIGALRM) has fired. */
int psim_alarm_fired(void);
void psim_alarm_clear(void);

/* --- target.c ------------------------------------------------------------ */

/* Check the target before the run: it exists, may be signalled, is not
 * already stopped or frozen by someone else, and (freeze) pausesim is not
 * inside the cgroup. Opens the fds the target needs. Returns 0, TN_EINVAL
 * (a usage problem: exit 2) or another negative code (exit 1). */
int psim_target_open(psim_target *t);
void psim_target_close(psim_target *t);

/*
 * Start a stall and wait until the kernel confirms it (stopped or frozen),
 * at most PSIM_CONFIRM_BOUND. Returns PSIM_OK with *start = tn_now() at the
 * confirmation, PSIM_GONE, PSIM_INTERRUPTED or a negative code. Whatever it
 * returns, the caller must call psim_stall_end() next: the stop signal or
 * the freeze may have been sent.
 */
int psim_stall_begin(psim_target *t, tn_nanos *start);
/* End the stall: SIGCONT or thaw. Returns PSIM_OK, PSIM_GONE or a negative
 * code. Safe to call when the target is not stalled. */
int psim_stall_end(psim_target *t);

/* gc mode: ask for an unplanned collection; *start and *end bracket the
 * call. Returns PSIM_OK, PSIM_GONE or a negative code. */
int psim_gc_collect(psim_target *t, tn_nanos *start, tn_nanos *end);

/* Non-zero if the target has exited (CHILD: reaps it and keeps the status)
 * or its cgroup is gone. Never blocks. */
int psim_target_gone(psim_target *t);

/* --- journal.c ----------------------------------------------------------- */

/* Write the begin record of stall seq (at: now, requested: its planned
 * length) to the log fd, before the stop signal or freeze. fd < 0: no log,
 * returns 0. Returns 0 or -1 (errno set) if the line could not be written. */
int psim_log_begin(int fd, uint64_t seq, const psim_target *t, tn_nanos at,
                   tn_nanos requested);
/* pausesim --recover LOG: resume the target of a stall that was begun and
 * never ended. Prints what it did. Returns the exit status: 0 (resumed, or
 * nothing to do) or 1. */
int psim_recover(const char *log);

/* --- guard.c ------------------------------------------------------------- */

/*
 * The guardian: a small process that ends every stall and outlives
 * pausesim (guard.c has the protocol). With a guardian, pausesim stops the
 * target and the guardian resumes it at the end time it was given, so
 * stopping pausesim cannot stretch a stall; if pausesim dies (SIGKILL, a
 * crash, the OOM killer) the guardian resumes the target at once.
 */
typedef struct psim_guard {
  pid_t pid;   /* -1 when not running */
  int fd;      /* write end of the pipe to it, -1 when not running */
  int back_fd; /* read end of the pipe from it */
} psim_guard;

/* Start the guardian for t. On failure prints a warning and leaves the
 * guard inactive: pausesim then ends the stalls itself. */
void psim_guard_start(psim_guard *g, const psim_target *t, int verbose);
/* Non-zero while a guardian runs. */
int psim_guard_active(const psim_guard *g);
/* Before the stop: a stall starts and must end by bound at the latest.
 * Returns 0, or -1 when there is no guardian (any more). */
int psim_guard_stalling(psim_guard *g, tn_nanos bound);
/* The stop is confirmed: end the stall at end. 0 or -1 as above. */
int psim_guard_end_at(psim_guard *g, tn_nanos end);
/* End the stall now. 0 or -1 as above. */
int psim_guard_end_now(psim_guard *g);
/* Wait for the guardian to resume the target; *resumed_at is when it did.
 * cut(arg), asked while waiting (a signal interrupts the wait), returns
 * non-zero to end the stall early. Returns 0, or -1 when the guardian is
 * gone (pausesim must resume the target itself). */
int psim_guard_await(psim_guard *g, int (*cut)(void *), void *arg,
                     tn_nanos *resumed_at);
/* Tell it the run ended cleanly, and reap it. */
void psim_guard_stop(psim_guard *g);

#endif
