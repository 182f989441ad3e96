/*
 * The embedded authority: a table of leases in one file, shared by the
 * processes of one machine under an fcntl OFD lock. No server.
 *
 * Layout (all integers little-endian):
 *   header  256 bytes: "TNLEASE1", version, slot size, the creator's
 *           boot-time namespace offset, CRC32C of the bytes before it.
 *   entries 512 bytes each, one per lease name: two 256-byte copies
 *           ("slots") of the record
 *             seq, token, expiry (boot ns), flags (SYNCED, HELD),
 *             boot id, name, holder, CRC32C.
 * The file is created whole (temp file, fsync, link into place) and only
 * ever grows by whole entries.
 *
 * The trick: two copies per record, and the copy holding the last token
 * that was fsync'd is never the one overwritten. Every write goes to the
 * other copy; an acquire (a new token) writes it and fsyncs before
 * returning, and then the roles swap. Renewals and releases write without
 * fsync. So a torn or lost write — a crash in the middle, a power cut
 * before writeback — can only damage a copy whose token was never handed
 * out, and the token counter (the highest token in any valid copy) never
 * goes back: S2 survives crashes of the authority.
 *
 * A copy whose checksum fails is accepted only when its sibling is valid
 * (that is the torn-write case above). Anything else — a bad header, both
 * copies bad, a size that is not a whole number of entries, a different
 * boot-time namespace — refuses the file with an error naming it: the
 * code never guesses and never reinitialises.
 *
 * Boot time: expiries are CLOCK_BOOTTIME instants, meaningful only within
 * one boot, so every copy records the boot id; a copy from another boot is
 * void (no holder) but its token still counts.
 */
#define _GNU_SOURCE
#include "../src/authority.h"
#include "../src/crc32c.h"

#include <tenure/error.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "TNLEASE1"
#define VERSION 1u
#define HEADER_SIZE 256
#define SLOT_SIZE 256
#define ENTRY_SIZE (2 * SLOT_SIZE)
#define MAX_ENTRIES 4096
#define WATCH_POLL (5 * TN_MSEC)
#define WATCH_POLL_NOTIFIED (100 * TN_MSEC) /* a safety net under inotify */

#define FLAG_SYNCED 1u
#define FLAG_HELD 2u

/* slot field offsets */
#define O_SEQ 0
#define O_TOKEN 8
#define O_EXPIRY 16
#define O_FLAGS 24
#define O_BOOTID 32
#define O_NAME 72
#define O_HOLDER 136
#define O_CRC 252

/* header field offsets */
#define H_MAGIC 0
#define H_VERSION 8
#define H_SLOTSIZE 12
#define H_TIMENS 16
#define H_CRC 252

struct file_auth {
  char path[PATH_MAX];
  int fd;
  char boot_id[37];
};

/* One decoded copy of a record. */
struct slot {
  int state; /* SLOT_EMPTY, SLOT_VALID, SLOT_BAD */
  uint64_t seq, token;
  tn_nanos expiry;
  uint32_t flags;
  char boot_id[37];
  char name[TN_LEASE_NAME_MAX + 1];
  char holder[TN_HOLDER_MAX + 1];
};
enum { SLOT_EMPTY, SLOT_VALID, SLOT_BAD };

struct entry {
  struct slot s[2];
  int cur;        /* index of the newest valid copy, -1 if none */
  int target;     /* the copy the next write goes to */
  uint64_t token; /* highest token in any valid copy */
};

static void put_u32(unsigned char *p, uint32_t v) {
  int i;
  for (i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  int i;
  for (i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static int all_zero(const unsigned char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

/* Copy a NUL-terminated string field of width w; 0 if not terminated. */
static int get_str(char *dst, const unsigned char *src, size_t w) {
  size_t n = strnlen((const char *)src, w);
  if (n == w)
    return 0;
  memcpy(dst, src, n);
  dst[n] = '\0';
  return 1;
}

/* Decode one copy. Internal but not static: the fuzz target uses it. */
int tn__file_slot_decode(const unsigned char *raw, struct slot *s);
int tn__file_slot_decode(const unsigned char *raw, struct slot *s) {
  memset(s, 0, sizeof *s);
  if (all_zero(raw, SLOT_SIZE)) {
    s->state = SLOT_EMPTY;
    return SLOT_EMPTY;
  }
  s->state = SLOT_BAD;
  if (tn__crc32c(0, raw, O_CRC) != get_u32(raw + O_CRC))
    return SLOT_BAD;
  s->seq = get_u64(raw + O_SEQ);
  s->token = get_u64(raw + O_TOKEN);
  s->expiry = (tn_nanos)get_u64(raw + O_EXPIRY);
  s->flags = get_u32(raw + O_FLAGS);
  if (!get_str(s->boot_id, raw + O_BOOTID, 40) ||
      !get_str(s->name, raw + O_NAME, 64) ||
      !get_str(s->holder, raw + O_HOLDER, 64))
    return SLOT_BAD;
  if (!tn__lease_name_valid(s->name) || s->seq == 0 || s->token == 0 ||
      (s->flags & ~(FLAG_SYNCED | FLAG_HELD)) != 0 ||
      ((s->flags & FLAG_HELD) && !tn__holder_valid(s->holder)))
    return SLOT_BAD;
  s->state = SLOT_VALID;
  return SLOT_VALID;
}

static void slot_encode(const struct slot *s, unsigned char *raw) {
  memset(raw, 0, SLOT_SIZE);
  put_u64(raw + O_SEQ, s->seq);
  put_u64(raw + O_TOKEN, s->token);
  put_u64(raw + O_EXPIRY, (uint64_t)s->expiry);
  put_u32(raw + O_FLAGS, s->flags);
  memcpy(raw + O_BOOTID, s->boot_id, strlen(s->boot_id));
  memcpy(raw + O_NAME, s->name, strlen(s->name));
  memcpy(raw + O_HOLDER, s->holder, strlen(s->holder));
  put_u32(raw + O_CRC, tn__crc32c(0, raw, O_CRC));
}

/* Which copy is current, which one the next write goes to, and the
 * highest token. Returns 0, or -1 when neither copy is usable but one is
 * damaged (a corrupt entry). */
static int entry_resolve(struct entry *e) {
  int i, synced = -1;
  e->cur = -1;
  e->token = 0;
  for (i = 0; i < 2; i++) {
    if (e->s[i].state != SLOT_VALID)
      continue;
    if (e->cur < 0 || e->s[i].seq > e->s[e->cur].seq)
      e->cur = i;
    if ((e->s[i].flags & FLAG_SYNCED) &&
        (synced < 0 || e->s[i].seq > e->s[synced].seq))
      synced = i;
    if (e->s[i].token > e->token)
      e->token = e->s[i].token;
  }
  if (e->cur < 0 && (e->s[0].state == SLOT_BAD || e->s[1].state == SLOT_BAD))
    return -1;
  if (e->cur >= 0 && e->s[0].state == SLOT_VALID &&
      e->s[1].state == SLOT_VALID &&
      strcmp(e->s[0].name, e->s[1].name) != 0)
    return -1;
  /* never overwrite the newest copy whose token was fsync'd */
  if (synced >= 0)
    e->target = 1 - synced;
  else if (e->cur >= 0)
    e->target = 1 - e->cur;
  else
    e->target = 0;
  return 0;
}

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

static int lock_file(struct file_auth *fa) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  while (fcntl(fa->fd, F_OFD_SETLKW, &fl) != 0) {
    if (errno != EINTR)
      return tn__authority_fail(TN_EIO, "%s: cannot lock: %s", fa->path,
                                strerror(errno));
  }
  return 0;
}

static void unlock_file(struct file_auth *fa) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fcntl(fa->fd, F_OFD_SETLK, &fl);
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
    if (n <= 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

/* Validate the header bytes. Returns 0 or a reason. */
static const char *header_check(const unsigned char *h, tn_nanos our_timens) {
  if (memcmp(h + H_MAGIC, MAGIC, 8) != 0)
    return "not a tenure lease file (bad magic)";
  if (tn__crc32c(0, h, H_CRC) != get_u32(h + H_CRC))
    return "header checksum mismatch";
  if (get_u32(h + H_VERSION) != VERSION)
    return "unsupported lease file version";
  if (get_u32(h + H_SLOTSIZE) != SLOT_SIZE)
    return "unexpected record size";
  if ((tn_nanos)get_u64(h + H_TIMENS) != our_timens)
    return "created in a different boot-time namespace (container): its "
           "expiry times would not be comparable with this process's clock";
  return NULL;
}

/* Read and check the whole table (under the lock). *entries is malloc'd. */
static int load(struct file_auth *fa, struct entry **entries, size_t *n) {
  struct stat st;
  unsigned char hdr[HEADER_SIZE];
  unsigned char *raw;
  const char *why;
  size_t i, count;
  struct entry *e;

  *entries = NULL;
  *n = 0;
  if (fstat(fa->fd, &st) != 0)
    return tn__authority_fail(TN_EIO, "%s: %s", fa->path, strerror(errno));
  if (st.st_size < HEADER_SIZE)
    return tn__authority_fail(TN_ECORRUPT,
                              "%s: truncated (%lld bytes, the header alone "
                              "is %d); refusing it",
                              fa->path, (long long)st.st_size, HEADER_SIZE);
  if ((st.st_size - HEADER_SIZE) % ENTRY_SIZE != 0)
    return tn__authority_fail(TN_ECORRUPT,
                              "%s: truncated or extended (%lld bytes is not "
                              "a whole number of %d-byte entries); refusing it",
                              fa->path, (long long)st.st_size, ENTRY_SIZE);
  count = (size_t)(st.st_size - HEADER_SIZE) / ENTRY_SIZE;
  if (count > MAX_ENTRIES)
    return tn__authority_fail(TN_ECORRUPT, "%s: %zu entries, more than %d",
                              fa->path, count, MAX_ENTRIES);
  if (read_full(fa->fd, hdr, HEADER_SIZE, 0) != 0)
    return tn__authority_fail(TN_EIO, "%s: cannot read the header", fa->path);
  why = header_check(hdr, timens_boot_offset());
  if (why)
    return tn__authority_fail(TN_ECORRUPT, "%s: %s; refusing it", fa->path,
                              why);
  raw = malloc(count ? count * ENTRY_SIZE : 1);
  e = calloc(count ? count : 1, sizeof *e);
  if (raw == NULL || e == NULL) {
    free(raw);
    free(e);
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  }
  if (count && read_full(fa->fd, raw, count * ENTRY_SIZE, HEADER_SIZE) != 0) {
    free(raw);
    free(e);
    return tn__authority_fail(TN_EIO, "%s: cannot read the entries",
                              fa->path);
  }
  for (i = 0; i < count; i++) {
    tn__file_slot_decode(raw + i * ENTRY_SIZE, &e[i].s[0]);
    tn__file_slot_decode(raw + i * ENTRY_SIZE + SLOT_SIZE, &e[i].s[1]);
    if (entry_resolve(&e[i]) != 0) {
      free(raw);
      free(e);
      return tn__authority_fail(TN_ECORRUPT,
                                "%s: entry %zu: both copies of the record "
                                "fail their checksum or disagree; refusing "
                                "the file",
                                fa->path, i);
    }
  }
  free(raw);
  *entries = e;
  *n = count;
  return 0;
}

/* The entry for name, or -1. */
static long find(const struct entry *e, size_t n, const char *name) {
  size_t i;
  for (i = 0; i < n; i++)
    if (e[i].cur >= 0 && strcmp(e[i].s[e[i].cur].name, name) == 0)
      return (long)i;
  return -1;
}

/* Take the lock and read the table; on failure nothing is held. */
static int lock_and_load(struct file_auth *fa, struct entry **e, size_t *n) {
  int rc = lock_file(fa);
  if (rc)
    return rc;
  rc = load(fa, e, n);
  if (rc)
    unlock_file(fa);
  return rc;
}

/* Read the table under the lock, for queries that change nothing. */
static int read_table(struct file_auth *fa, struct entry **e, size_t *n) {
  int rc = lock_and_load(fa, e, n);
  if (rc == 0)
    unlock_file(fa);
  return rc;
}

/* Is the current copy a live hold right now? */
static int held_now(const struct file_auth *fa, const struct slot *s,
                    tn_nanos now) {
  return (s->flags & FLAG_HELD) && strcmp(s->boot_id, fa->boot_id) == 0 &&
         now < s->expiry;
}

/* Write a new copy for entry i (index == n appends a new entry). */
static int store(struct file_auth *fa, struct entry *e, size_t i, size_t n,
                 struct slot *s, int sync) {
  unsigned char raw[SLOT_SIZE];
  off_t off;
  int target = 0;
  if (i < n) {
    target = e[i].target;
    s->seq = (e[i].cur >= 0 ? e[i].s[e[i].cur].seq : 0) + 1;
    if (e[i].s[1 - target].state == SLOT_VALID &&
        e[i].s[1 - target].seq >= s->seq)
      s->seq = e[i].s[1 - target].seq + 1;
  } else {
    s->seq = 1;
  }
  s->flags = (s->flags & ~FLAG_SYNCED) | (sync ? FLAG_SYNCED : 0);
  memcpy(s->boot_id, fa->boot_id, sizeof s->boot_id);
  slot_encode(s, raw);
  off = HEADER_SIZE + (off_t)i * ENTRY_SIZE + (off_t)target * SLOT_SIZE;
  if (i == n) {
    /* a new entry: both copies in one write (the other one empty) */
    unsigned char both[ENTRY_SIZE];
    memset(both, 0, sizeof both);
    memcpy(both, raw, SLOT_SIZE);
    if (write_full(fa->fd, both, ENTRY_SIZE, off) != 0)
      return tn__authority_fail(TN_EIO, "%s: write failed: %s", fa->path,
                                strerror(errno));
  } else if (write_full(fa->fd, raw, SLOT_SIZE, off) != 0) {
    return tn__authority_fail(TN_EIO, "%s: write failed: %s", fa->path,
                              strerror(errno));
  }
  if (sync && fdatasync(fa->fd) != 0)
    return tn__authority_fail(TN_EIO, "%s: fsync failed: %s", fa->path,
                              strerror(errno));
  return 0;
}

static int create_file(const char *path) {
  char tmp[PATH_MAX + 32];
  unsigned char hdr[HEADER_SIZE];
  int fd, rc = 0;
  char *slash;
  if (snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid()) >=
      (int)sizeof tmp)
    return tn__authority_fail(TN_EINVAL, "%s: path too long", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return tn__authority_fail(errno == EACCES ? TN_EPERM
                              : errno == ENOENT ? TN_ENOENT
                                                : TN_EIO,
                              "%s: cannot create: %s", path, strerror(errno));
  memset(hdr, 0, sizeof hdr);
  memcpy(hdr + H_MAGIC, MAGIC, 8);
  put_u32(hdr + H_VERSION, VERSION);
  put_u32(hdr + H_SLOTSIZE, SLOT_SIZE);
  put_u64(hdr + H_TIMENS, (uint64_t)timens_boot_offset());
  put_u32(hdr + H_CRC, tn__crc32c(0, hdr, H_CRC));
  if (write_full(fd, hdr, sizeof hdr, 0) != 0 || fsync(fd) != 0)
    rc = tn__authority_fail(TN_EIO, "%s: cannot write: %s", tmp,
                            strerror(errno));
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

static int file_open(const char *uri, void **state) {
  struct file_auth *fa;
  const char *path = uri + strlen("file://");
  struct entry *e;
  size_t n;
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
  if (tn_boot_id(fa->boot_id) != 0) {
    free(fa);
    return tn__authority_fail(TN_EIO, "cannot read the kernel's boot id");
  }
  fa->fd = open(path, O_RDWR | O_CLOEXEC);
  if (fa->fd < 0 && errno == ENOENT) {
    rc = create_file(path);
    if (rc != 0) {
      free(fa);
      return rc;
    }
    fa->fd = open(path, O_RDWR | O_CLOEXEC);
  }
  if (fa->fd < 0) {
    rc = tn__authority_fail(errno == EACCES ? TN_EPERM : TN_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    free(fa);
    return rc;
  }
  rc = lock_file(fa);
  if (rc == 0) {
    rc = load(fa, &e, &n);
    unlock_file(fa);
    free(e);
  }
  if (rc != 0) {
    close(fa->fd);
    free(fa);
    return rc;
  }
  *state = fa;
  return 0;
}

static void file_close(void *state) {
  struct file_auth *fa = state;
  close(fa->fd);
  free(fa);
}

static int file_acquire(void *state, const char *name, const char *holder,
                        tn_nanos ttl, tn__grant *g) {
  struct file_auth *fa = state;
  struct entry *e;
  struct slot s;
  size_t n;
  long i;
  tn_nanos now;
  int rc = lock_and_load(fa, &e, &n);
  if (rc)
    return rc;
  now = tn_now();
  i = find(e, n, name);
  if (i >= 0 && held_now(fa, &e[i].s[e[i].cur], now)) {
    rc = TN_EBUSY;
  } else if (i < 0 && n >= MAX_ENTRIES) {
    rc = tn__authority_fail(TN_ENOMEM, "%s: lease table full (%d names)",
                            fa->path, MAX_ENTRIES);
  } else {
    memset(&s, 0, sizeof s);
    strcpy(s.name, name);
    strcpy(s.holder, holder);
    s.token = (i >= 0 ? e[i].token : 0) + 1;
    s.expiry = now + ttl;
    s.flags = FLAG_HELD;
    /* the new token is on disk before anyone can use it (S2, S4) */
    rc = store(fa, e, i >= 0 ? (size_t)i : n, n, &s, 1);
    if (rc == 0) {
      g->token = s.token;
      g->duration = ttl;
      g->expiry = s.expiry;
    }
  }
  free(e);
  unlock_file(fa);
  return rc;
}

static int file_renew(void *state, const char *name, const char *holder,
                      uint64_t token, tn_nanos ttl, tn__grant *g) {
  struct file_auth *fa = state;
  struct entry *e;
  struct slot s;
  size_t n;
  long i;
  tn_nanos now;
  int rc = lock_and_load(fa, &e, &n);
  if (rc)
    return rc;
  now = tn_now();
  i = find(e, n, name);
  if (i < 0 || !held_now(fa, &e[i].s[e[i].cur], now) ||
      e[i].s[e[i].cur].token != token ||
      strcmp(e[i].s[e[i].cur].holder, holder) != 0) {
    rc = TN_ELOST;
  } else {
    s = e[i].s[e[i].cur];
    s.expiry = now + ttl;
    rc = store(fa, e, (size_t)i, n, &s, 0);
    if (rc == 0) {
      g->token = token;
      g->duration = ttl;
      g->expiry = s.expiry;
    }
  }
  free(e);
  unlock_file(fa);
  return rc;
}

static int end_term(struct file_auth *fa, const char *name,
                    const char *holder, uint64_t token) {
  struct entry *e;
  struct slot s;
  size_t n;
  long i;
  int rc = lock_and_load(fa, &e, &n);
  if (rc)
    return rc;
  i = find(e, n, name);
  if (i < 0 || !held_now(fa, &e[i].s[e[i].cur], tn_now()) ||
      (holder && (e[i].s[e[i].cur].token != token ||
                  strcmp(e[i].s[e[i].cur].holder, holder) != 0))) {
    rc = holder ? TN_ELOST : TN_ENOENT;
  } else {
    s = e[i].s[e[i].cur];
    s.flags &= ~FLAG_HELD;
    s.holder[0] = '\0';
    s.expiry = 0;
    rc = store(fa, e, (size_t)i, n, &s, 0);
  }
  free(e);
  unlock_file(fa);
  return rc;
}

static int file_release(void *state, const char *name, const char *holder,
                        uint64_t token) {
  return end_term(state, name, holder, token);
}

static int file_force_release(void *state, const char *name) {
  return end_term(state, name, NULL, 0);
}

static void fill_info(const struct file_auth *fa, const struct entry *en,
                      tn_nanos now, tn_lease_info *out) {
  const struct slot *s = &en->s[en->cur];
  memset(out, 0, sizeof *out);
  strcpy(out->name, s->name);
  out->token = en->token;
  out->held = held_now(fa, s, now);
  if (out->held) {
    strcpy(out->holder, s->holder);
    out->remaining = s->expiry - now;
  }
}

static int file_observe(void *state, const char *name, tn_lease_info *out) {
  struct file_auth *fa = state;
  struct entry *e;
  size_t n;
  long i;
  int rc = read_table(fa, &e, &n);
  if (rc)
    return rc;
  i = find(e, n, name);
  if (i < 0)
    rc = TN_ENOENT;
  else
    fill_info(fa, &e[i], tn_now(), out);
  free(e);
  return rc;
}

static int file_list(void *state, tn_lease_info *out, size_t max,
                     size_t *count) {
  struct file_auth *fa = state;
  struct entry *e;
  size_t n, i, k = 0;
  tn_nanos now;
  int rc = read_table(fa, &e, &n);
  if (rc)
    return rc;
  now = tn_now();
  for (i = 0; i < n; i++) {
    if (e[i].cur < 0)
      continue;
    if (k < max)
      fill_info(fa, &e[i], now, &out[k]);
    k++;
  }
  *count = k;
  free(e);
  return 0;
}

/* Wait for the term to end: woken by inotify when the file is written (a
 * release, a takeover), and at the holder's expiry at the latest. Without
 * inotify (or if it runs out of watches) it polls every WATCH_POLL. */
static int file_watch(void *state, const char *name, uint64_t token,
                      tn_nanos timeout) {
  struct file_auth *fa = state;
  tn_nanos until = tn_nanos_add_sat(tn_now(), timeout);
  int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), rc = 0;
  if (ino >= 0 && inotify_add_watch(ino, fa->path, IN_MODIFY) < 0) {
    close(ino);
    ino = -1;
  }
  for (;;) {
    tn_lease_info info;
    tn_nanos now, nap;
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
    nap = ino >= 0 ? WATCH_POLL_NOTIFIED : WATCH_POLL;
    if (info.remaining < nap)
      nap = info.remaining > 0 ? info.remaining : 0;
    if (until - now < nap)
      nap = until - now;
    if (ino >= 0) {
      struct pollfd pfd = {ino, POLLIN, 0};
      char events[4096];
      int ms = (int)((nap + TN_MSEC - 1) / TN_MSEC);
      if (poll(&pfd, 1, ms) > 0)
        while (read(ino, events, sizeof events) > 0)
          ; /* drain; the table is re-read above */
    } else {
      struct timespec ts = {(time_t)(nap / TN_SEC), (long)(nap % TN_SEC)};
      nanosleep(&ts, NULL);
    }
  }
  if (ino >= 0)
    close(ino);
  return rc;
}

const tn__backend tn__file_backend = {
    .scheme = "file",
    .open = file_open,
    .close = file_close,
    .acquire = file_acquire,
    .renew = file_renew,
    .release = file_release,
    .observe = file_observe,
    .list = file_list,
    .force_release = file_force_release,
    .watch = file_watch,
};
