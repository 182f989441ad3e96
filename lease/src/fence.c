/*
 * The fence: per-resource highest fencing token, kept durably in one file.
 *
 * Every operation is one critical section: take the handle's mutex (threads
 * of this process), take an fcntl OFD write lock on PATH.lock (processes and
 * other handles), re-read and check PATH, decide, and, only if a token rose,
 * write the whole new state to PATH.tmp, fsync it, rename it over PATH and
 * fsync the directory. Nothing is cached between operations, so a decision
 * is always made against what the other processes last wrote.
 *
 * Invariants:
 * - PATH is only ever replaced by rename, so any reader at any instant, and
 *   the file left by a crash at any instant, is one complete state written
 *   by this code (or the operator's own damage, which we refuse, never fix).
 * - A token in the file never goes down: a new state is derived from the
 *   state just read under the lock, and a lower token is refused before
 *   anything is written.
 * - PATH.tmp belongs to whoever holds the lock; a stale one left by a crash
 *   is truncated by the next writer and never read.
 *
 * The one trick: the lock lives on a separate file that is never renamed,
 * and it is an OFD lock (F_OFD_SETLKW), which belongs to the open file
 * description rather than the process. So two handles in one process
 * exclude each other, and closing some unrelated descriptor of the same file
 * elsewhere in the process does not silently drop the lock, as it would
 * with classic POSIX record locks.
 *
 * The file format and its parser are in fence_format.c.
 */
#define _GNU_SOURCE
#include "fence_format.h"
#include "fence_testing.h"

#include <tenure/error.h>
#include <tenure/fence.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tn_fence {
  pthread_mutex_t mu;
  int readonly;
  int lock_fd;      /* PATH.lock, -1 when read-only */
  int dir_fd;       /* the directory holding PATH, -1 when read-only */
  int sync_pending; /* a rename whose directory fsync failed */
  char *path;
  char *tmp_path;
  char *lock_path;
  tn__fence_state state; /* scratch: refilled from the file every call */
  unsigned char *buf;    /* scratch for the file's bytes */
  size_t buf_cap;
};

static __thread char last_error[512];

static int fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return code;
}

const char *tn_fence_last_error(void) { return last_error; }

static int from_errno(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
    return TN_ENOENT;
  case EACCES:
  case EPERM:
  case EROFS:
    return TN_EPERM;
  case ENOMEM:
    return TN_ENOMEM;
  case ENAMETOOLONG:
  case ELOOP:
    return TN_EINVAL;
  default:
    return TN_EIO;
  }
}

#ifdef TN_TESTING
static atomic_int fail_step;

void tn__fence_fail_next(int step) { atomic_store(&fail_step, step); }

static int injected(int step) {
  int armed = step;
  return atomic_compare_exchange_strong(&fail_step, &armed, 0);
}
#else
#define injected(step) 0
#endif

/* --- the critical section -------------------------------------------- */

static int lock_op(tn_fence *f, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
  while (fcntl(f->lock_fd, F_OFD_SETLKW, &fl) != 0) {
    if (errno != EINTR)
      return errno;
  }
  return 0;
}

static int enter(tn_fence *f) {
  int err;
  pthread_mutex_lock(&f->mu);
  if (f->readonly)
    return 0; /* readers rely on rename being atomic */
  if ((err = lock_op(f, F_WRLCK)) != 0) {
    pthread_mutex_unlock(&f->mu);
    return fail(from_errno(err), "fence lock %s: cannot lock: %s",
                f->lock_path, strerror(err));
  }
  return 0;
}

static void leave(tn_fence *f) {
  /* Unlocking a lock we hold cannot fail short of a bad descriptor, and
   * closing the descriptor would release it anyway. */
  if (!f->readonly)
    (void)lock_op(f, F_UNLCK);
  pthread_mutex_unlock(&f->mu);
}

/* --- reading -------------------------------------------------------- */

static int reserve_buf(tn_fence *f, size_t want) {
  unsigned char *grown;
  if (want <= f->buf_cap)
    return 0;
  grown = realloc(f->buf, want);
  if (grown == NULL)
    return TN_ENOMEM;
  f->buf = grown;
  f->buf_cap = want;
  return 0;
}

/* Read and check PATH into f->state. TN_ENOENT (with no message) when it
 * does not exist, so that open can create it; every other failure sets
 * last_error. */
static int load(tn_fence *f) {
  struct stat sb;
  size_t len = 0, want;
  char why[256];
  int fd, rc, err;

  /* O_NONBLOCK: a FIFO planted at PATH must not hang us before fstat. */
  fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    err = errno;
    if (err == ENOENT)
      return TN_ENOENT;
    return fail(from_errno(err), "fence state %s: cannot open: %s", f->path,
                strerror(err));
  }
  if (fstat(fd, &sb) != 0) {
    err = errno;
    close(fd);
    return fail(TN_EIO, "fence state %s: cannot stat: %s", f->path,
                strerror(err));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return fail(TN_EINVAL, "fence state %s: %s, not a regular file", f->path,
                S_ISDIR(sb.st_mode) ? "is a directory" : "is a special file");
  }
  if ((uint64_t)sb.st_size > TN__FENCE_FILE_MAX) {
    close(fd);
    return fail(TN_ECORRUPT,
                "fence state %s: %" PRIu64 " bytes, larger than any valid "
                "state (at most %" PRIu64 "); the file is left as it is",
                f->path, (uint64_t)sb.st_size, TN__FENCE_FILE_MAX);
  }
  /* One byte more than stat said, so a file that grew is seen as such. */
  want = (size_t)sb.st_size + 1;
  if (reserve_buf(f, want) != 0) {
    close(fd);
    return fail(TN_ENOMEM, "fence state %s: out of memory", f->path);
  }
  while (len < want) {
    ssize_t n = read(fd, f->buf + len, want - len);
    if (n == 0)
      break;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      err = errno;
      close(fd);
      return fail(TN_EIO, "fence state %s: read failed: %s", f->path,
                  strerror(err));
    }
    len += (size_t)n;
  }
  close(fd);
  rc = tn__fence_parse(f->buf, len, &f->state, why, sizeof why);
  if (rc == TN_ENOMEM)
    return fail(rc, "fence state %s: out of memory", f->path);
  if (rc != 0)
    return fail(rc, "fence state %s: %s; the file is left as it is",
                f->path, why);
  return 0;
}

/* --- writing -------------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t len) {
  if (injected(TN__FENCE_STEP_WRITE)) {
    /* a disk that fills up halfway through */
    if (write(fd, p, len / 2) < 0)
      return errno;
    return ENOSPC;
  }
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Write f->state durably over PATH: PATH.tmp, fsync, rename, fsync dir.
 * Before the rename any failure removes PATH.tmp and leaves PATH as it was. */
static int store(tn_fence *f) {
  size_t len = tn__fence_encoded_size(&f->state);
  const char *what;
  int fd, err;

  if (reserve_buf(f, len) != 0)
    return fail(TN_ENOMEM, "fence state %s: out of memory", f->path);
  tn__fence_encode(&f->state, f->buf);

  fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
                             O_NOFOLLOW | O_NOCTTY,
            0666);
  if (fd < 0) {
    err = errno;
    return fail(from_errno(err) == TN_EPERM ? TN_EPERM : TN_EIO,
                "fence state %s: cannot create %s: %s", f->path, f->tmp_path,
                strerror(err));
  }
  what = "write";
  if ((err = write_all(fd, f->buf, len)) != 0)
    goto undo;
  what = "fsync";
  if (injected(TN__FENCE_STEP_FSYNC))
    err = EIO;
  else if (fsync(fd) != 0)
    err = errno;
  if (err != 0)
    goto undo;
  what = "close";
  err = close(fd) != 0 ? errno : 0;
  fd = -1;
  if (err != 0)
    goto undo;
  what = "rename";
  if (injected(TN__FENCE_STEP_RENAME))
    err = EIO;
  else if (rename(f->tmp_path, f->path) != 0)
    err = errno;
  if (err != 0)
    goto undo;

  /* PATH now names the new state; until the directory is synced a power
   * loss may bring back the old one. Remember that, so the next call
   * retries the sync before it trusts what it reads. */
  if (injected(TN__FENCE_STEP_DIRSYNC))
    err = EIO;
  else if (fsync(f->dir_fd) != 0)
    err = errno;
  if (err != 0) {
    f->sync_pending = 1;
    return fail(TN_EIO,
                "fence state %s: renamed into place but the directory fsync "
                "failed (%s): the new state may not survive a power loss",
                f->path, strerror(err));
  }
  f->sync_pending = 0;
  return 0;

undo:
  if (fd >= 0)
    close(fd);
  unlink(f->tmp_path);
  return fail(from_errno(err) == TN_EPERM ? TN_EPERM : TN_EIO,
              "fence state %s: %s of %s failed: %s; the previous state is "
              "unchanged",
              f->path, what, f->tmp_path, strerror(err));
}

static int finish_pending_sync(tn_fence *f) {
  if (!f->sync_pending)
    return 0;
  if (fsync(f->dir_fd) != 0) {
    int err = errno;
    return fail(TN_EIO,
                "fence state %s: directory fsync still failing (%s): "
                "refusing to admit until the last state is durable",
                f->path, strerror(err));
  }
  f->sync_pending = 0;
  return 0;
}

/* --- open and close ------------------------------------------------- */

static char *join(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  char *s = malloc(na + nb + 1);
  if (s) {
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
  }
  return s;
}

static void destroy(tn_fence *f) {
  if (f->lock_fd >= 0)
    close(f->lock_fd);
  if (f->dir_fd >= 0)
    close(f->dir_fd);
  pthread_mutex_destroy(&f->mu);
  tn__fence_state_free(&f->state);
  free(f->buf);
  free(f->path);
  free(f->tmp_path);
  free(f->lock_path);
  free(f);
}

static int open_dir(tn_fence *f) {
  char *dir = strdup(f->path), *slash;
  int err;
  if (dir == NULL)
    return fail(TN_ENOMEM, "fence state %s: out of memory", f->path);
  slash = strrchr(dir, '/');
  if (slash == NULL)
    strcpy(dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  f->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (f->dir_fd < 0) {
    err = errno;
    fail(from_errno(err), "fence state %s: cannot open its directory %s: %s",
         f->path, dir, strerror(err));
    free(dir);
    return from_errno(err);
  }
  free(dir);
  return 0;
}

static int open_common(const char *path, int readonly, tn_fence **out) {
  struct stat sb;
  tn_fence *f;
  size_t n;
  int rc, err;

  last_error[0] = '\0';
  if (out == NULL)
    return fail(TN_EINVAL, "tn_fence_open: out is NULL");
  *out = NULL;
  if (path == NULL || *path == '\0')
    return fail(TN_EINVAL, "tn_fence_open: no path given");
  n = strlen(path);
  if (path[n - 1] == '/')
    return fail(TN_EINVAL, "fence state %s: path names a directory", path);
  if (n + sizeof ".lock" > PATH_MAX)
    return fail(TN_EINVAL, "fence state %s: path too long", path);

  /* Refuse a directory or device before creating PATH.lock beside it. */
  if (stat(path, &sb) == 0) {
    if (!S_ISREG(sb.st_mode))
      return fail(TN_EINVAL, "fence state %s: %s, not a regular file", path,
                  S_ISDIR(sb.st_mode) ? "is a directory" : "is a special file");
  } else if (errno != ENOENT || readonly) {
    err = errno;
    return fail(from_errno(err), "fence state %s: %s", path, strerror(err));
  }

  f = calloc(1, sizeof *f);
  if (f == NULL)
    return fail(TN_ENOMEM, "fence state %s: out of memory", path);
  f->readonly = readonly;
  f->lock_fd = -1;
  f->dir_fd = -1;
  pthread_mutex_init(&f->mu, NULL);
  tn__fence_state_init(&f->state);
  f->path = strdup(path);
  f->tmp_path = join(path, ".tmp");
  f->lock_path = join(path, ".lock");
  if (!f->path || !f->tmp_path || !f->lock_path) {
    destroy(f);
    return fail(TN_ENOMEM, "fence state %s: out of memory", path);
  }

  if (!readonly) {
    if ((rc = open_dir(f)) != 0) {
      destroy(f);
      return rc;
    }
    f->lock_fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY,
                      0666);
    if (f->lock_fd < 0) {
      err = errno;
      fail(from_errno(err), "fence lock %s: cannot open: %s", f->lock_path,
           strerror(err));
      destroy(f);
      return from_errno(err);
    }
  }

  if ((rc = enter(f)) != 0) {
    destroy(f);
    return rc;
  }
  rc = load(f);
  if (rc == TN_ENOENT) {
    if (readonly)
      rc = fail(TN_ENOENT, "fence state %s: does not exist", path);
    else
      rc = store(f); /* f->state is empty: a new, empty state */
  }
  leave(f);
  if (rc != 0) {
    destroy(f);
    return rc;
  }
  *out = f;
  return 0;
}

int tn_fence_open(const char *path, tn_fence **out) {
  return open_common(path, 0, out);
}

int tn_fence_open_readonly(const char *path, tn_fence **out) {
  return open_common(path, 1, out);
}

void tn_fence_close(tn_fence *f) {
  if (f)
    destroy(f);
}

/* --- operations ----------------------------------------------------- */

/* Load under the lock; a state file that vanished after open is an error
 * here, never a reason to start again from nothing. */
static int load_existing(tn_fence *f) {
  int rc = load(f);
  if (rc == TN_ENOENT)
    return fail(TN_ENOENT,
                "fence state %s: the file has disappeared since it was "
                "opened; refusing to start again from an empty state",
                f->path);
  return rc;
}

int tn_fence_admit(tn_fence *f, const char *resource, uint64_t token) {
  uint64_t highest;
  int rc;

  last_error[0] = '\0';
  if (f == NULL)
    return fail(TN_EINVAL, "tn_fence_admit: fence is NULL");
  if (!tn__fence_resource_valid(resource))
    return fail(TN_EINVAL,
                "tn_fence_admit: resource name must be 1..%d bytes of "
                "[A-Za-z0-9._/-]",
                TN_FENCE_RESOURCE_MAX);
  if (token == 0)
    return fail(TN_EINVAL, "tn_fence_admit: token 0 is invalid (tokens "
                           "start at 1)");
  if (f->readonly)
    return fail(TN_EPERM, "fence state %s: opened read-only", f->path);

  if ((rc = enter(f)) != 0)
    return rc;
  if ((rc = finish_pending_sync(f)) != 0 || (rc = load_existing(f)) != 0)
    goto out;
  highest = tn__fence_get(&f->state, resource);
  if (token < highest) {
    rc = fail(TN_EFENCED,
              "fence state %s: resource \"%s\": token %" PRIu64
              " is lower than the highest admitted, %" PRIu64,
              f->path, resource, token, highest);
    goto out;
  }
  if (token == highest)
    goto out; /* already recorded and durable */
  rc = tn__fence_put(&f->state, resource, token);
  if (rc == TN_ERANGE)
    rc = fail(rc, "fence state %s: already holds %d resources, no room for "
                  "\"%s\"",
              f->path, TN_FENCE_RESOURCES_MAX, resource);
  else if (rc != 0)
    rc = fail(rc, "fence state %s: out of memory", f->path);
  else
    rc = store(f);
out:
  leave(f);
  return rc;
}

int tn_fence_highest(tn_fence *f, const char *resource, uint64_t *token) {
  int rc;
  last_error[0] = '\0';
  if (f == NULL || token == NULL)
    return fail(TN_EINVAL, "tn_fence_highest: NULL argument");
  if (!tn__fence_resource_valid(resource))
    return fail(TN_EINVAL,
                "tn_fence_highest: resource name must be 1..%d bytes of "
                "[A-Za-z0-9._/-]",
                TN_FENCE_RESOURCE_MAX);
  if ((rc = enter(f)) != 0)
    return rc;
  rc = load_existing(f);
  if (rc == 0)
    *token = tn__fence_get(&f->state, resource);
  leave(f);
  return rc;
}

int tn_fence_list(tn_fence *f, tn_fence_entry *out, size_t max, size_t *count) {
  size_t i;
  int rc;
  last_error[0] = '\0';
  if (f == NULL || count == NULL || (out == NULL && max > 0))
    return fail(TN_EINVAL, "tn_fence_list: NULL argument");
  if ((rc = enter(f)) != 0)
    return rc;
  rc = load_existing(f);
  if (rc == 0) {
    for (i = 0; i < f->state.count && i < max; i++) {
      memcpy(out[i].resource, f->state.entries[i].resource,
             sizeof out[i].resource);
      out[i].token = f->state.entries[i].token;
    }
    *count = f->state.count;
  }
  leave(f);
  return rc;
}
