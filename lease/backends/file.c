/*
 * The embedded authority: a table of leases in one file, shared by the
 * processes of one machine under an fcntl OFD lock. No server. The bytes
 * (header, two checksummed copies per record) are in file_format.h.
 *
 * The trick: two copies per record, and the copy holding the last token
 * that was fsync'd is never the one overwritten. Every write goes to the
 * other copy; an acquire (a new token) writes it and fsyncs before
 * returning, and then the roles swap. Renewals and releases write without
 * fsync. So a torn or lost write can only damage a copy whose token was
 * never handed out, and the token counter never goes back (S2).
 *
 * Invariants added for the attacks on the file itself:
 *   - The file is the authority only while its path names it. Every
 *     renewal checks, under the lock, that the path still names the inode
 *     this process has open (same st_dev and st_ino, st_nlink > 0). If not
 *     (deleted, moved over, replaced) the term ends at once with
 *     TN_EREPLACED; every other call reopens the path first, so candidates
 *     campaign on the new file.
 *   - Tokens never repeat across files at one path: a file is created with
 *     a token base, the wall clock's latest bound in microseconds, and the
 *     first token of every entry is above it. An older file at that path
 *     issued at most one token per fsync'd acquire, far fewer than one per
 *     microsecond of its life, so its tokens are below the new base — unless
 *     the wall clock went back by more than the old file's age, which can
 *     only make new tokens lower, and fences refuse those (safe, not live).
 *     The base is an epoch, never compared with a deadline: deadlines stay
 *     on CLOCK_BOOTTIME.
 *   - An append (a new entry) reserves its space first (fallocate,
 *     KEEP_SIZE) and, if a write still fails, truncates the file back to
 *     its last whole entry: a full disk costs that one acquire TN_ENOSPC,
 *     never the other leases in the file.
 *   - No call waits forever for the lock when it has a term to lose:
 *     acquire and renew give up after the TTL (TN_ETIMEDOUT, naming the
 *     file and that another process holds its lock).
 *
 * Refused, never guessed: a bad header, both copies of a record bad, a
 * size that is not a whole number of entries, a different boot-time
 * namespace, a path that is not a regular file. tenurectl lease check
 * reports a torn tail and lease repair trims it.
 *
 * Boot time: expiries are CLOCK_BOOTTIME instants, meaningful only within
 * one boot, so every copy records the boot id; a copy from another boot is
 * void (no holder) but its token still counts.
 *
 * Threads: one mutex per open authority serialises the calls of one
 * process (threads sharing one open file description share its OFD lock,
 * so the lock alone would not exclude them) and the reopen.
 */
#define _GNU_SOURCE
#include "../src/authority.h"
#include "../src/crc32c.h"
#include "file_format.h"

#include <tenure/error.h>
#include <tenure/lease_file.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEADER_SIZE TN__LF_HEADER_SIZE
#define SLOT_SIZE TN__LF_SLOT_SIZE
#define ENTRY_SIZE TN__LF_ENTRY_SIZE
#define MAX_ENTRIES TN__LF_MAX_ENTRIES
#define FLAG_SYNCED TN__LF_FLAG_SYNCED
#define FLAG_HELD TN__LF_FLAG_HELD
#define SLOT_VALID TN__LF_SLOT_VALID
#define SLOT_BAD TN__LF_SLOT_BAD
#define WATCH_POLL (5 * TN_MSEC)
#define WATCH_POLL_NOTIFIED (100 * TN_MSEC) /* a safety net under inotify */
#define RELEASE_LOCK_WAIT (2 * TN_SEC)

typedef tn__lf_slot slot_t;
typedef tn__lf_entry entry_t;

struct file_auth {
  char path[PATH_MAX];
  int fd;
  int readonly;
  dev_t dev;
  ino_t ino;
  char boot_id[37];
  pthread_mutex_t mu;
};

/* Parse the boot-time offset of our time namespace (0 if none). */
static tn_nanos timens_boot_offset(void) {
  FILE *f = fopen("/proc/self/timens_offsets", "re");
  char line[128];
  tn_nanos off = 0;
  if (f == NULL)
    return 0;
  while (fgets(line, sizeof line, f)) {
    long long sec = 0, nsec = 0;
    char name[32];
    if (sscanf(line, "%31s %lld %lld", name, &sec, &nsec) == 3 &&
        (strcmp(name, "boottime") == 0 || strcmp(name, "7") == 0))
      off = (tn_nanos)sec * TN_SEC + nsec;
  }
  fclose(f);
  return off;
}

/* The token base of a file created now: the wall clock's latest bound, in
 * microseconds. An unsynchronised clock still gives its reading (refusing
 * would make the authority unusable on such a machine); its worst case is
 * a clock far behind, which gives lower tokens, which fences refuse. */
static uint64_t token_base_now(void) {
  tn_wall_interval w;
  int64_t us;
  int rc = tn_wall_interval_now(&w); /* wall: an epoch for tokens, never compared with a deadline */
  if (rc != 0 && rc != TN_EUNSYNCED)
    w.latest.ns = tn_wall_now().ns + 16 * TN_SEC; /* wall: the same epoch, kernel maxerror unknown: its cap */
  us = w.latest.ns / 1000;
  return us > 0 ? (uint64_t)us : 1;
}

static void nap(tn_nanos d) {
  struct timespec ts = {(time_t)(d / TN_SEC), (long)(d % TN_SEC)};
  nanosleep(&ts, NULL);
}

/* The OFD lock: shared for reads, exclusive for writes. timeout <= 0 waits
 * as long as it takes; otherwise TN_ETIMEDOUT after it. */
static int lock_fd(int fd, const char *path, int shared, tn_nanos timeout) {
  struct flock fl;
  tn_nanos until, step = 50 * TN_USEC;
  memset(&fl, 0, sizeof fl);
  fl.l_type = shared ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (timeout <= 0) {
    while (fcntl(fd, F_OFD_SETLKW, &fl) != 0)
      if (errno != EINTR)
        return tn__authority_fail(TN_EIO, "%s: cannot lock: %s", path,
                                  strerror(errno));
    return 0;
  }
  until = tn_nanos_add_sat(tn_now(), timeout);
  for (;;) {
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
      return 0;
    if (errno != EAGAIN && errno != EACCES && errno != EINTR)
      return tn__authority_fail(TN_EIO, "%s: cannot lock: %s", path,
                                strerror(errno));
    if (tn_now() >= until)
      return tn__authority_fail(
          TN_ETIMEDOUT,
          "%s: another process has held the file's lock for %lld ms (a "
          "stopped or stuck process?); gave up waiting",
          path, (long long)(timeout / TN_MSEC));
    nap(step);
    if (step < 2 * TN_MSEC)
      step *= 2;
  }
}

static void unlock_fd(int fd) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fcntl(fd, F_OFD_SETLK, &fl);
}

static int read_full(int fd, void *buf, size_t len, off_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t len, off_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
                       off + (off_t)done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      errno = ENOSPC; /* a full device answers with a short write first */
    if (n <= 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

static int space_error(int err) { return err == ENOSPC || err == EDQUOT; }

static const char *file_kind(mode_t m) {
  return S_ISFIFO(m)   ? "a FIFO"
         : S_ISDIR(m)  ? "a directory"
         : S_ISCHR(m)  ? "a character device"
         : S_ISBLK(m)  ? "a block device"
         : S_ISSOCK(m) ? "a socket"
                       : "not a regular file";
}

/* Open path as a lease file: never blocks (a FIFO), refuses anything that
 * is not a regular file. Returns the fd or a negative code. */
static int open_lease_fd(const char *path, int readonly, struct stat *st) {
  int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK |
                          O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    return err == ENOENT   ? TN_ENOENT
           : err == EACCES ? tn__authority_fail(TN_EPERM, "%s: cannot open: %s",
                                                path, strerror(err))
           : err == ENXIO || err == EISDIR
               ? tn__authority_fail(TN_ENOTSUP,
                                    "%s: not a regular file; a lease file "
                                    "must be one",
                                    path)
               : tn__authority_fail(TN_EIO, "%s: cannot open: %s", path,
                                    strerror(err));
  }
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    int rc = tn__authority_fail(TN_ENOTSUP,
                                "%s: not a regular file (%s); a lease file "
                                "must be a regular file",
                                path, file_kind(st->st_mode));
    close(fd);
    return rc;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

static int create_file(const char *path) {
  char tmp[PATH_MAX + 32];
  unsigned char hdr[HEADER_SIZE];
  tn__lf_header h;
  int fd, rc = 0;
  char *slash;
  if (snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid()) >=
      (int)sizeof tmp)
    return tn__authority_fail(TN_EINVAL, "%s: path too long", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return tn__authority_fail(errno == EACCES ? TN_EPERM
                              : errno == ENOENT ? TN_ENOENT
                              : space_error(errno) ? TN_ENOSPC
                                                   : TN_EIO,
                              "%s: cannot create: %s", path, strerror(errno));
  memset(&h, 0, sizeof h);
  h.timens = timens_boot_offset();
  h.token_base = token_base_now();
  tn__lf_header_encode(&h, hdr);
  if (write_full(fd, hdr, sizeof hdr, 0) != 0 || fsync(fd) != 0)
    rc = tn__authority_fail(space_error(errno) ? TN_ENOSPC : TN_EIO,
                            "%s: cannot write: %s", tmp, strerror(errno));
  close(fd);
  /* link, not rename: if another process created it first, keep theirs */
  if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST)
    rc = tn__authority_fail(TN_EIO, "%s: cannot create: %s", path,
                            strerror(errno));
  unlink(tmp);
  if (rc == 0 && (slash = strrchr(tmp, '/')) != NULL) {
    int dfd;
    *slash = '\0';
    dfd = open(*tmp ? tmp : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  return rc;
}

/* (Re)open fa->path, creating it when missing unless read-only. */
static int open_path(struct file_auth *fa) {
  struct stat st;
  int fd = open_lease_fd(fa->path, fa->readonly, &st), rc;
  if (fd == TN_ENOENT) {
    if (fa->readonly)
      return tn__authority_fail(TN_ENOENT, "%s: no such lease file",
                                fa->path);
    rc = create_file(fa->path);
    if (rc != 0)
      return rc;
    fd = open_lease_fd(fa->path, 0, &st);
    if (fd == TN_ENOENT)
      return tn__authority_fail(TN_ENOENT, "%s: removed while opening",
                                fa->path);
  }
  if (fd < 0)
    return fd;
  fa->fd = fd;
  fa->dev = st.st_dev;
  fa->ino = st.st_ino;
  return 0;
}

/* Does the path still name the file we hold open? 0, or TN_EREPLACED with
 * the reason in words. */
static int check_same_file(struct file_auth *fa) {
  struct stat mine, named;
  if (fstat(fa->fd, &mine) != 0)
    return tn__authority_fail(TN_EIO, "%s: %s", fa->path, strerror(errno));
  if (mine.st_nlink == 0 || stat(fa->path, &named) != 0)
    return tn__authority_fail(TN_EREPLACED,
                              "authority replaced: %s was deleted under this "
                              "holder (the file it has open is no longer "
                              "linked there); the term ends now",
                              fa->path);
  if (named.st_dev != mine.st_dev || named.st_ino != mine.st_ino)
    return tn__authority_fail(TN_EREPLACED,
                              "authority replaced: %s now names another file "
                              "(moved or copied over the one this holder "
                              "has open); the term ends now",
                              fa->path);
  return 0;
}

/* Before a call that may act on the authority: follow the path to the file
 * it names now. A failed reopen leaves the old descriptor in place. */
static int refresh(struct file_auth *fa) {
  int old = fa->fd, rc;
  dev_t dev = fa->dev;
  ino_t ino = fa->ino;
  if (check_same_file(fa) == 0)
    return 0;
  rc = open_path(fa);
  if (rc != 0) {
    fa->fd = old;
    fa->dev = dev;
    fa->ino = ino;
    return rc;
  }
  close(old);
  return 0;
}

/* Read and check the whole table (under the lock). */
static int load(struct file_auth *fa, tn__lf_table *t) {
  struct stat st;
  unsigned char *raw;
  char why[300];
  int rc;
  memset(t, 0, sizeof *t);
  if (fstat(fa->fd, &st) != 0)
    return tn__authority_fail(TN_EIO, "%s: %s", fa->path, strerror(errno));
  if (st.st_size > HEADER_SIZE + (off_t)MAX_ENTRIES * ENTRY_SIZE + ENTRY_SIZE)
    return tn__authority_fail(TN_ECORRUPT,
                              "%s: %lld bytes, more than %d entries; "
                              "refusing it",
                              fa->path, (long long)st.st_size, MAX_ENTRIES);
  raw = malloc(st.st_size ? (size_t)st.st_size : 1);
  if (raw == NULL)
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  if (st.st_size && read_full(fa->fd, raw, (size_t)st.st_size, 0) != 0) {
    free(raw);
    return tn__authority_fail(TN_EIO, "%s: cannot read: %s", fa->path,
                              errno ? strerror(errno) : "short read");
  }
  rc = tn__lf_parse(raw, (size_t)st.st_size, timens_boot_offset(), 1, 0, t,
                    why, sizeof why);
  free(raw);
  if (rc == TN_ENOMEM)
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  if (rc != 0)
    return tn__authority_fail(rc, "%s: %s; refusing it", fa->path, why);
  return 0;
}

/* The entry for name, or -1. */
static long find(const tn__lf_table *t, const char *name) {
  size_t i;
  for (i = 0; i < t->count; i++)
    if (t->entries[i].cur >= 0 &&
        strcmp(t->entries[i].s[t->entries[i].cur].name, name) == 0)
      return (long)i;
  return -1;
}

/* Take the lock and read the table; on failure nothing is held. */
static int lock_and_load(struct file_auth *fa, int shared, tn_nanos timeout,
                         tn__lf_table *t) {
  int rc = lock_fd(fa->fd, fa->path, shared, timeout);
  if (rc)
    return rc;
  rc = load(fa, t);
  if (rc)
    unlock_fd(fa->fd);
  return rc;
}

/* Is the current copy a live hold right now? */
static int held_now(const struct file_auth *fa, const slot_t *s,
                    tn_nanos now) {
  return (s->flags & FLAG_HELD) && strcmp(s->boot_id, fa->boot_id) == 0 &&
         now < s->expiry;
}

/* Add a whole entry at the end without ever leaving a partial one: reserve
 * the space first, and if a write fails anyway, cut the file back. */
static int append_entry(struct file_auth *fa, const unsigned char *both,
                        off_t off, const char *name) {
  int err;
  if (fallocate(fa->fd, FALLOC_FL_KEEP_SIZE, off, ENTRY_SIZE) != 0 &&
      errno != EOPNOTSUPP && errno != ENOSYS) {
    err = errno;
    return tn__authority_fail(space_error(err) ? TN_ENOSPC : TN_EIO,
                              "%s: cannot add lease %s: %s (the file is "
                              "unchanged; the other leases in it are not "
                              "affected)",
                              fa->path, name, strerror(err));
  }
  if (write_full(fa->fd, both, ENTRY_SIZE, off) == 0)
    return 0;
  err = errno;
  if (ftruncate(fa->fd, off) != 0 || fdatasync(fa->fd) != 0)
    return tn__authority_fail(space_error(err) ? TN_ENOSPC : TN_EIO,
                              "%s: cannot add lease %s: %s, and cannot cut "
                              "the partial entry off (%s): run `tenurectl "
                              "lease repair %s`",
                              fa->path, name, strerror(err), strerror(errno),
                              fa->path);
  return tn__authority_fail(space_error(err) ? TN_ENOSPC : TN_EIO,
                            "%s: cannot add lease %s: %s (the file is "
                            "unchanged; the other leases in it are not "
                            "affected)",
                            fa->path, name, strerror(err));
}

/* Write a new copy for entry i (i == t->count appends a new entry). */
static int store(struct file_auth *fa, const tn__lf_table *t, size_t i,
                 slot_t *s, int sync) {
  unsigned char raw[SLOT_SIZE];
  const entry_t *e = i < t->count ? &t->entries[i] : NULL;
  off_t off;
  int target = 0;
  if (e) {
    target = e->target;
    s->seq = (e->cur >= 0 ? e->s[e->cur].seq : 0) + 1;
    if (e->s[1 - target].state == SLOT_VALID && e->s[1 - target].seq >= s->seq)
      s->seq = e->s[1 - target].seq + 1;
  } else {
    s->seq = 1;
  }
  s->flags = (s->flags & ~FLAG_SYNCED) | (sync ? FLAG_SYNCED : 0);
  memcpy(s->boot_id, fa->boot_id, sizeof s->boot_id);
  tn__lf_slot_encode(s, raw);
  off = HEADER_SIZE + (off_t)i * ENTRY_SIZE + (off_t)target * SLOT_SIZE;
  if (e == NULL) {
    /* a new entry: both copies in one write (the other one empty) */
    unsigned char both[ENTRY_SIZE];
    int rc;
    memset(both, 0, sizeof both);
    memcpy(both, raw, SLOT_SIZE);
    rc = append_entry(fa, both, off, s->name);
    if (rc != 0)
      return rc;
    if (sync && fdatasync(fa->fd) != 0) {
      int err = errno;
      /* the token was never handed out: the entry may go */
      if (ftruncate(fa->fd, off) == 0)
        fdatasync(fa->fd);
      return tn__authority_fail(space_error(err) ? TN_ENOSPC : TN_EIO,
                                "%s: fsync failed adding lease %s: %s",
                                fa->path, s->name, strerror(err));
    }
    return 0;
  }
  if (write_full(fa->fd, raw, SLOT_SIZE, off) != 0)
    return tn__authority_fail(space_error(errno) ? TN_ENOSPC : TN_EIO,
                              "%s: write failed: %s", fa->path,
                              strerror(errno));
  if (sync && fdatasync(fa->fd) != 0)
    return tn__authority_fail(space_error(errno) ? TN_ENOSPC : TN_EIO,
                              "%s: fsync failed: %s", fa->path,
                              strerror(errno));
  return 0;
}

static int do_open(const char *uri, int readonly, void **state) {
  struct file_auth *fa;
  const char *path = uri + strlen("file://");
  tn__lf_table t;
  int rc;
  if (path[0] != '/')
    return tn__authority_fail(TN_EINVAL,
                              "authority URI \"%.200s\": a file authority "
                              "needs an absolute path, file:///dir/leases.tn",
                              uri);
  if (strlen(path) >= PATH_MAX)
    return tn__authority_fail(TN_EINVAL, "authority URI: path too long");
  fa = calloc(1, sizeof *fa);
  if (fa == NULL)
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  strcpy(fa->path, path);
  fa->readonly = readonly;
  if (tn_boot_id(fa->boot_id) != 0) {
    free(fa);
    return tn__authority_fail(TN_EIO, "cannot read the kernel's boot id");
  }
  rc = open_path(fa);
  if (rc != 0) {
    free(fa);
    return rc;
  }
  rc = lock_and_load(fa, readonly, 0, &t);
  if (rc == 0) {
    unlock_fd(fa->fd);
    tn__lf_table_free(&t);
  }
  if (rc != 0) {
    close(fa->fd);
    free(fa);
    return rc;
  }
  pthread_mutex_init(&fa->mu, NULL);
  *state = fa;
  return 0;
}

static int file_open(const char *uri, void **state) {
  return do_open(uri, 0, state);
}

static int file_open_readonly(const char *uri, void **state) {
  return do_open(uri, 1, state);
}

static void file_close(void *state) {
  struct file_auth *fa = state;
  close(fa->fd);
  pthread_mutex_destroy(&fa->mu);
  free(fa);
}

static int refuse_readonly(const struct file_auth *fa) {
  return tn__authority_fail(TN_EPERM, "%s: opened read-only", fa->path);
}

static int file_acquire(void *state, const char *name, const char *holder,
                        tn_nanos ttl, tn__grant *g) {
  struct file_auth *fa = state;
  tn__lf_table t;
  slot_t s;
  long i;
  tn_nanos now;
  int rc;
  if (fa->readonly)
    return refuse_readonly(fa);
  pthread_mutex_lock(&fa->mu);
  rc = refresh(fa);
  if (rc == 0)
    rc = lock_and_load(fa, 0, ttl, &t);
  if (rc == 0 && (rc = check_same_file(fa)) != 0) {
    /* replaced between the reopen and the lock: campaign again */
    unlock_fd(fa->fd);
    tn__lf_table_free(&t);
    rc = tn__authority_fail(TN_EBUSY, "%s: replaced while acquiring",
                            fa->path);
  }
  if (rc) {
    pthread_mutex_unlock(&fa->mu);
    return rc;
  }
  now = tn_now();
  i = find(&t, name);
  if (i >= 0 && held_now(fa, &t.entries[i].s[t.entries[i].cur], now)) {
    rc = TN_EBUSY;
  } else if (i < 0 && t.count >= MAX_ENTRIES) {
    rc = tn__authority_fail(TN_ENOMEM, "%s: lease table full (%d names)",
                            fa->path, MAX_ENTRIES);
  } else {
    memset(&s, 0, sizeof s);
    strcpy(s.name, name);
    strcpy(s.holder, holder);
    s.token = tn__lf_next_token(&t.hdr, i >= 0 ? &t.entries[i] : NULL);
    s.expiry = now + ttl;
    s.flags = FLAG_HELD;
    /* the new token is on disk before anyone can use it (S2, S4) */
    rc = store(fa, &t, i >= 0 ? (size_t)i : t.count, &s, 1);
    if (rc == 0) {
      g->token = s.token;
      g->duration = ttl;
      g->expiry = s.expiry;
    }
  }
  tn__lf_table_free(&t);
  unlock_fd(fa->fd);
  pthread_mutex_unlock(&fa->mu);
  return rc;
}

static int file_renew(void *state, const char *name, const char *holder,
                      uint64_t token, tn_nanos ttl, tn__grant *g) {
  struct file_auth *fa = state;
  tn__lf_table t;
  slot_t s;
  const entry_t *e;
  long i;
  tn_nanos now;
  int rc;
  if (fa->readonly)
    return refuse_readonly(fa);
  pthread_mutex_lock(&fa->mu);
  rc = lock_and_load(fa, 0, ttl, &t);
  if (rc == 0 && (rc = check_same_file(fa)) != 0) {
    unlock_fd(fa->fd);
    tn__lf_table_free(&t);
  }
  if (rc) {
    pthread_mutex_unlock(&fa->mu);
    return rc;
  }
  now = tn_now();
  i = find(&t, name);
  e = i >= 0 ? &t.entries[i] : NULL;
  if (e == NULL) {
    rc = tn__authority_fail(TN_ELOST, "%s: lease %s is no longer in the file",
                            fa->path, name);
  } else if (e->s[0].state == SLOT_BAD || e->s[1].state == SLOT_BAD) {
    /* During our own term both copies were written by us: a damaged one
     * was damaged under us. The term cannot be confirmed. */
    rc = tn__authority_fail(TN_ECORRUPT,
                            "%s: entry %ld (lease %s): a copy of the record "
                            "fails its checksum (damaged under its holder); "
                            "the term cannot be confirmed",
                            fa->path, i, name);
  } else if (e->s[e->cur].token != token ||
             strcmp(e->s[e->cur].holder, holder) != 0) {
    rc = tn__authority_fail(
        TN_ELOST, "%s: lease %s: the term with token %llu is over (%s)",
        fa->path, name, (unsigned long long)token,
        (e->s[e->cur].flags & FLAG_HELD) ? "another holder has it"
                                         : "released");
  } else if (!held_now(fa, &e->s[e->cur], now)) {
    rc = tn__authority_fail(TN_ELOST,
                            "%s: lease %s: the term with token %llu %s",
                            fa->path, name, (unsigned long long)token,
                            (e->s[e->cur].flags & FLAG_HELD) ? "expired"
                                                              : "was released");
  } else {
    s = e->s[e->cur];
    s.expiry = now + ttl;
    rc = store(fa, &t, (size_t)i, &s, 0);
    if (rc == 0) {
      g->token = token;
      g->duration = ttl;
      g->expiry = s.expiry;
    }
  }
  tn__lf_table_free(&t);
  unlock_fd(fa->fd);
  pthread_mutex_unlock(&fa->mu);
  return rc;
}

static int end_term(struct file_auth *fa, const char *name,
                    const char *holder, uint64_t token) {
  tn__lf_table t;
  slot_t s;
  long i;
  int rc;
  if (fa->readonly)
    return refuse_readonly(fa);
  pthread_mutex_lock(&fa->mu);
  /* A holder releases in the file it holds; an operator in the one the
   * path names now. */
  rc = holder ? check_same_file(fa) : refresh(fa);
  if (rc == TN_EREPLACED) {
    pthread_mutex_unlock(&fa->mu);
    return TN_ELOST; /* that term is over with its file */
  }
  if (rc == 0)
    rc = lock_and_load(fa, 0, RELEASE_LOCK_WAIT, &t);
  if (rc) {
    pthread_mutex_unlock(&fa->mu);
    return rc;
  }
  i = find(&t, name);
  if (i < 0 || !held_now(fa, &t.entries[i].s[t.entries[i].cur], tn_now()) ||
      (holder && (t.entries[i].s[t.entries[i].cur].token != token ||
                  strcmp(t.entries[i].s[t.entries[i].cur].holder, holder) !=
                      0))) {
    rc = holder ? TN_ELOST : TN_ENOENT;
  } else {
    s = t.entries[i].s[t.entries[i].cur];
    s.flags &= ~FLAG_HELD;
    s.holder[0] = '\0';
    s.expiry = 0;
    rc = store(fa, &t, (size_t)i, &s, 0);
  }
  tn__lf_table_free(&t);
  unlock_fd(fa->fd);
  pthread_mutex_unlock(&fa->mu);
  return rc;
}

static int file_release(void *state, const char *name, const char *holder,
                        uint64_t token) {
  return end_term(state, name, holder, token);
}

static int file_force_release(void *state, const char *name) {
  return end_term(state, name, NULL, 0);
}

static void fill_info(const struct file_auth *fa, const entry_t *en,
                      tn_nanos now, tn_lease_info *out) {
  const slot_t *s = &en->s[en->cur];
  memset(out, 0, sizeof *out);
  strcpy(out->name, s->name);
  out->token = en->token;
  out->held = held_now(fa, s, now);
  if (out->held) {
    strcpy(out->holder, s->holder);
    out->remaining = s->expiry - now;
  }
}

/* Read the table of the file the path names now, under a shared lock. */
static int read_table(struct file_auth *fa, tn__lf_table *t) {
  int rc;
  pthread_mutex_lock(&fa->mu);
  rc = refresh(fa);
  if (rc == 0)
    rc = lock_and_load(fa, 1, 0, t);
  if (rc == 0)
    unlock_fd(fa->fd);
  pthread_mutex_unlock(&fa->mu);
  return rc;
}

static int file_observe(void *state, const char *name, tn_lease_info *out) {
  struct file_auth *fa = state;
  tn__lf_table t;
  long i;
  int rc = read_table(fa, &t);
  if (rc)
    return rc;
  i = find(&t, name);
  if (i < 0)
    rc = TN_ENOENT;
  else
    fill_info(fa, &t.entries[i], tn_now(), out);
  tn__lf_table_free(&t);
  return rc;
}

static int file_list(void *state, tn_lease_info *out, size_t max,
                     size_t *count) {
  struct file_auth *fa = state;
  tn__lf_table t;
  size_t i, k = 0;
  tn_nanos now;
  int rc = read_table(fa, &t);
  if (rc)
    return rc;
  now = tn_now();
  for (i = 0; i < t.count; i++) {
    if (t.entries[i].cur < 0)
      continue;
    if (k < max)
      fill_info(fa, &t.entries[i], now, &out[k]);
    k++;
  }
  *count = k;
  tn__lf_table_free(&t);
  return 0;
}

/* Wait for the term to end: woken by inotify when the file is written (a
 * release, a takeover) or unlinked, and at the holder's expiry at the
 * latest. Without inotify (or if it runs out of watches) it polls every
 * WATCH_POLL. A file replaced meanwhile is followed by file_observe. */
static int file_watch(void *state, const char *name, uint64_t token,
                      tn_nanos timeout) {
  struct file_auth *fa = state;
  tn_nanos until = tn_nanos_add_sat(tn_now(), timeout);
  int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), rc = 0;
  if (ino >= 0 &&
      inotify_add_watch(ino, fa->path,
                        IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
                            IN_MOVE_SELF) < 0) {
    close(ino);
    ino = -1;
  }
  for (;;) {
    tn_lease_info info;
    tn_nanos now, wait;
    rc = file_observe(fa, name, &info);
    if (rc == TN_ENOENT) {
      rc = 0;
      break;
    }
    if (rc != 0)
      break;
    if (!info.held || info.token != token)
      break;
    now = tn_now();
    if (now >= until) {
      rc = TN_ETIMEDOUT;
      break;
    }
    wait = ino >= 0 ? WATCH_POLL_NOTIFIED : WATCH_POLL;
    if (info.remaining < wait)
      wait = info.remaining > 0 ? info.remaining : 0;
    if (until - now < wait)
      wait = until - now;
    if (ino >= 0) {
      struct pollfd pfd = {ino, POLLIN, 0};
      char events[4096];
      int ms = (int)((wait + TN_MSEC - 1) / TN_MSEC);
      if (poll(&pfd, 1, ms) > 0)
        while (read(ino, events, sizeof events) > 0)
          ; /* drain; the table is re-read above */
    } else {
      nap(wait);
    }
  }
  if (ino >= 0)
    close(ino);
  return rc;
}

const tn__backend tn__file_backend = {
    .scheme = "file",
    .open = file_open,
    .open_readonly = file_open_readonly,
    .close = file_close,
    .acquire = file_acquire,
    .renew = file_renew,
    .release = file_release,
    .observe = file_observe,
    .list = file_list,
    .force_release = file_force_release,
    .watch = file_watch,
};

/* --- the operator's check and repair ----------------------------------- */

/* Read the whole file under the lock (held on return when *fd >= 0). */
static int read_image(const char *path, int writable, int *fdp,
                      unsigned char **img, size_t *len, struct stat *st) {
  int fd = open_lease_fd(path, !writable, st), rc;
  *fdp = -1;
  *img = NULL;
  if (fd == TN_ENOENT)
    return tn__authority_fail(TN_ENOENT, "%s: no such lease file", path);
  if (fd < 0)
    return fd;
  rc = lock_fd(fd, path, !writable, 0);
  if (rc == 0 && fstat(fd, st) != 0)
    rc = tn__authority_fail(TN_EIO, "%s: %s", path, strerror(errno));
  if (rc == 0 &&
      st->st_size > HEADER_SIZE + (off_t)(MAX_ENTRIES + 1) * ENTRY_SIZE)
    rc = tn__authority_fail(TN_ECORRUPT, "%s: %lld bytes, too large for a "
                                         "lease file",
                            path, (long long)st->st_size);
  if (rc == 0 && (*img = malloc(st->st_size ? (size_t)st->st_size : 1)) ==
                     NULL)
    rc = tn__authority_fail(TN_ENOMEM, "out of memory");
  if (rc == 0 && st->st_size &&
      read_full(fd, *img, (size_t)st->st_size, 0) != 0)
    rc = tn__authority_fail(TN_EIO, "%s: cannot read", path);
  if (rc != 0) {
    free(*img);
    *img = NULL;
    close(fd); /* drops the lock */
    return rc;
  }
  *len = (size_t)st->st_size;
  *fdp = fd;
  return 0;
}

static int check_image(const char *path, const unsigned char *img, size_t len,
                       tn__lf_table *t, tn_lease_file_report *out) {
  char why[300];
  size_t i;
  int rc = tn__lf_parse(img, len, timens_boot_offset(), 1, 1, t, why,
                        sizeof why);
  memset(out, 0, sizeof *out);
  out->size = len;
  if (rc == TN_ENOMEM)
    return tn__authority_fail(rc, "out of memory");
  if (rc != 0)
    return tn__authority_fail(rc, "%s: %s", path, why);
  out->version = t->hdr.version;
  out->token_base = t->hdr.token_base;
  out->entries = t->count;
  out->damaged_copies = t->damaged;
  out->torn_bytes = t->torn_bytes;
  for (i = 0; i < t->count; i++) {
    if (t->entries[i].cur < 0)
      continue;
    out->leases++;
    if (t->entries[i].token > out->max_token)
      out->max_token = t->entries[i].token;
  }
  return 0;
}

int tn_lease_file_check(const char *path, tn_lease_file_report *out) {
  unsigned char *img;
  size_t len;
  struct stat st;
  tn__lf_table t;
  int fd, rc = read_image(path, 0, &fd, &img, &len, &st);
  if (rc != 0)
    return rc;
  close(fd);
  rc = check_image(path, img, len, &t, out);
  free(img);
  tn__lf_table_free(&t);
  return rc;
}

int tn_lease_file_repair(const char *path, tn_lease_file_report *out) {
  unsigned char *img;
  size_t len, keep;
  struct stat st;
  tn__lf_table t;
  char tmp[PATH_MAX + 32], dir[PATH_MAX];
  char *slash;
  int fd, tfd, rc = read_image(path, 1, &fd, &img, &len, &st);
  if (rc != 0)
    return rc;
  rc = check_image(path, img, len, &t, out);
  if (rc != 0 || out->torn_bytes == 0)
    goto done;
  /* A new header whose base is above anything this file can have issued
   * (its own tokens, and the wall clock now by the creation argument), so
   * the lease whose entry is cut off starts again above its old tokens. */
  {
    tn__lf_header h = t.hdr;
    uint64_t now_base = token_base_now();
    if (now_base > h.token_base)
      h.token_base = now_base;
    if (out->max_token > h.token_base)
      h.token_base = out->max_token;
    tn__lf_header_encode(&h, img);
    out->token_base = h.token_base;
    out->version = TN__LF_VERSION;
  }
  keep = len - out->torn_bytes;
  if (snprintf(tmp, sizeof tmp, "%s.repair.%ld", path, (long)getpid()) >=
      (int)sizeof tmp) {
    rc = tn__authority_fail(TN_EINVAL, "%s: path too long", path);
    goto done;
  }
  tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777);
  if (tfd < 0) {
    rc = tn__authority_fail(space_error(errno) ? TN_ENOSPC : TN_EIO,
                            "%s: cannot create: %s", tmp, strerror(errno));
    goto done;
  }
  if (fchown(tfd, st.st_uid, st.st_gid) != 0) {
    /* not root: the file stays ours, which is who could repair it */
  }
  if (write_full(tfd, img, keep, 0) != 0 || fsync(tfd) != 0) {
    rc = tn__authority_fail(space_error(errno) ? TN_ENOSPC : TN_EIO,
                            "%s: cannot write: %s", tmp, strerror(errno));
    close(tfd);
    unlink(tmp);
    goto done;
  }
  close(tfd);
  if (rename(tmp, path) != 0) {
    rc = tn__authority_fail(TN_EIO, "%s: cannot replace: %s", path,
                            strerror(errno));
    unlink(tmp);
    goto done;
  }
  snprintf(dir, sizeof dir, "%s", path);
  slash = strrchr(dir, '/');
  if (slash) {
    int dfd;
    *slash = '\0';
    dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  out->repaired = 1;
  out->size = keep;
  out->torn_bytes = 0;
done:
  free(img);
  tn__lf_table_free(&t);
  close(fd);
  return rc;
}
