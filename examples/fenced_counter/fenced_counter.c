/*
 * fenced_counter: a candidate that, while it leads, keeps incrementing a
 * counter kept in a fenced store. Point several candidates at the same
 * authority and store, stall the leader with pausesim, and the store stays
 * correct: a write that a pause delayed past the end of its term is refused
 * by the fence, because a newer holder has already written with a higher
 * token.
 *
 *   fenced_counter --authority URI --lease NAME --id ID --store DIR
 *                  [--ttl 1s] [--work 10ms] [--interval 5ms] [--for TIME]
 *                  [--events FILE] [--t0 SECONDS] [--quiet]
 *
 * The store (DIR; it must exist, or its parent must, and then DIR is made):
 *   counter        the value and the write that made it (counter_file.h),
 *                  replaced whole: counter.PID.tmp, fsync, rename, fsync DIR
 *   fence.tn       the highest accepted token (tenure/fence.h)
 *   store.lock     serialises writers across processes (OFD lock)
 *   writes.jsonl   one line per write attempt, in decision order:
 *     {"token":T,"holder":"ID","value":V,"accepted":true|false,"boot_ns":N,
 *      "term":"NONCE","pid":P,"base_token":BT,"base_term":"BN","fence":F}
 *     term   random per term of this process (two terms handed one token
 *            differ here); base_*: the write the counter held when this one
 *            read it (value V-1; 0 and "" for the empty counter); fence: the
 *            highest token the fence held after deciding (T when accepted).
 *     A line with "torn":true (and "found_by":PID) is a write whose writer
 *     died after saving the counter and before logging it, logged for it by
 *     the next writer; its pid, term and holder are the dead writer's.
 *
 * Each write: guard (refuses if the term cannot outlast the action), then
 * `--work` of computing, then the store checks the token. A stall during
 * the work is exactly the case the guard cannot catch and the fence must.
 *
 * Kill -9 at any instant. One write, all under store.lock, is: cut a torn
 * log tail, read the counter, bring the log level with it, admit the token
 * in the fence, save the counter (naming this write), append the log line
 * (fdatasync). Invariant while nobody holds the lock: the log names the
 * counter's write, or the counter is exactly one write ahead (its writer
 * died between the save and the append). So each writer, before its own
 * write, logs such a write as torn, and check_writes counts a counter one
 * write ahead of the log's end as torn too. A writer that dies after the
 * admit and before the save leaves only a higher token in the fence, which
 * the next refusal's "fence" field shows. A writer that dies inside an
 * append leaves a last line without its newline: the next writer cuts it
 * off (the write it described, if any, is still named by the counter).
 * Temporaries exist only while their writer holds store.lock, so any found
 * by a holder of the lock are a dead writer's and are removed.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/fence.h>
#include <tenure/lease.h>
#include <tenure/runtime.h>
#include <tenure/version.h>

#include "counter_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A write needs work plus this much of its term left (tn_guard_begin). */
#define WRITE_SLACK (20 * TN_MSEC)

struct candidate {
  const char *id;
  char store[PATH_MAX];
  tn_fence *fence;
  int lock_fd;
  int log_fd;
  tn_nanos work, interval, t0;
  int quiet;
  long pid;
  uint64_t token;                  /* from on_elected */
  uint64_t term_token;             /* the token term_nonce was drawn for */
  char term_nonce[COUNTER_TERM_LEN + 1];
  int swept;                       /* leftover temporaries removed */
  int fatal;                       /* the store cannot be used: stop */
  unsigned long accepted, refused, guard_refusals;
};

static tn_leader *the_leader;

static void on_signal(int sig) {
  (void)sig;
  if (the_leader)
    tn_leader_stop(the_leader); /* an atomic store: async-signal-safe */
}

static void say(const struct candidate *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct candidate *c, const char *fmt, ...) {
  char msg[PATH_MAX + 256];
  va_list ap;
  if (c->quiet)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("[%7.3fs] %-4s %s\n", tn_nanos_to_seconds(tn_now() - c->t0), c->id,
         msg);
  fflush(stdout);
}

static void nap(tn_nanos d) {
  struct timespec ts = {(time_t)(d / TN_SEC), (long)(d % TN_SEC)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* A fresh random nonce for the term that holds token. */
static void new_term(struct candidate *c, uint64_t token) {
  uint64_t r;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
    /* no entropy source: splitmix64 of boot time and pid, still unique
     * per term of this machine in practice */
    r = (uint64_t)tn_now() ^ ((uint64_t)c->pid << 40);
    r += 0x9e3779b97f4a7c15ULL;
    r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ULL;
    r = (r ^ (r >> 27)) * 0x94d049bb133111ebULL;
    r ^= r >> 31;
  }
  snprintf(c->term_nonce, sizeof c->term_nonce, "%016llx",
           (unsigned long long)r);
  c->term_token = token;
}

/* Lock (or unlock) fd whole, waiting if wait. 0 or an errno value (EAGAIN
 * when !wait and another holds it). */
static int ofd_lock(int fd, short type, int wait) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) != 0) {
    if (errno != EINTR)
      return errno == EACCES ? EAGAIN : errno;
  }
  return 0;
}

static int store_lock(struct candidate *c) {
  int err = ofd_lock(c->lock_fd, F_WRLCK, 1);
  if (err)
    fprintf(stderr, "fenced_counter %s: %s/store.lock: cannot lock: %s\n",
            c->id, c->store, strerror(err));
  return err ? -1 : 0;
}

static void store_unlock(struct candidate *c) {
  (void)ofd_lock(c->lock_fd, F_UNLCK, 0);
}

/* "counter.<digits>.tmp" */
static int is_counter_tmp(const char *name) {
  const char *p = name + strlen("counter.");
  if (strncmp(name, "counter.", strlen("counter.")) != 0 || *p < '0' ||
      *p > '9')
    return 0;
  while (*p >= '0' && *p <= '9')
    p++;
  return strcmp(p, ".tmp") == 0;
}

/*
 * Remove what dead writers left. Caller holds store.lock. A counter.PID.tmp
 * lives only while its writer holds store.lock, so every one seen now is a
 * dead writer's, whatever its pid (checking the pid with kill(pid, 0) would
 * be weaker: a reused pid would keep a stale file forever). fence.tn.tmp
 * belongs to whoever holds fence.tn.lock (fence.h); it is removed only if
 * that lock is free right now.
 */
static void sweep_leftovers(struct candidate *c) {
  char path[PATH_MAX + 32];
  struct dirent *de;
  DIR *d;
  int fd;
  c->swept = 1;
  d = opendir(c->store);
  if (!d)
    return;
  while ((de = readdir(d)) != NULL) {
    if (!is_counter_tmp(de->d_name))
      continue;
    if (unlinkat(dirfd(d), de->d_name, 0) == 0)
      say(c, "removed %s, left by a writer that died mid-write", de->d_name);
  }
  closedir(d);
  snprintf(path, sizeof path, "%s/fence.tn.lock", c->store);
  fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return;
  if (ofd_lock(fd, F_WRLCK, 0) == 0) {
    snprintf(path, sizeof path, "%s/fence.tn.tmp", c->store);
    if (unlink(path) == 0)
      say(c, "removed fence.tn.tmp, left by a writer that died mid-admit");
    (void)ofd_lock(fd, F_UNLCK, 0);
  }
  close(fd);
}

/*
 * A writer killed inside its append (a write(2) to a file can stop short
 * at a page boundary on SIGKILL) leaves a last line without its newline.
 * Cut it off, so that the next line starts on a line of its own. The write
 * that line described, if accepted, is still named by the counter file.
 * Caller holds store.lock. 0, or -1 (errno).
 */
static int log_cut_torn_tail(struct candidate *c) {
  char buf[4096];
  struct stat st;
  off_t pos, cut = 0;
  char last;
  if (fstat(c->log_fd, &st) != 0)
    return -1;
  if (st.st_size == 0)
    return 0;
  if (pread(c->log_fd, &last, 1, st.st_size - 1) != 1)
    return -1;
  if (last == '\n')
    return 0;
  for (pos = st.st_size; pos > 0 && cut == 0;) {
    size_t chunk = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
    ssize_t n = pread(c->log_fd, buf, chunk, pos - (off_t)chunk);
    if (n != (ssize_t)chunk)
      return -1;
    while (n > 0 && buf[n - 1] != '\n')
      n--;
    if (n > 0)
      cut = pos - (off_t)chunk + n;
    pos -= (off_t)chunk;
  }
  if (ftruncate(c->log_fd, cut) != 0)
    return -1;
  say(c, "cut a torn last line from writes.jsonl (its writer died while "
         "appending it)");
  return 0;
}

/* 0 and *s (value 0 for no file), -1 on I/O error, -2 when the file is not
 * a counter (reported; the store is then unusable). */
static int read_counter(const struct candidate *c, struct counter_state *s) {
  char path[PATH_MAX + 16], buf[COUNTER_LINE_MAX + 1];
  const char *why;
  size_t len = 0;
  ssize_t n;
  int fd;
  memset(s, 0, sizeof *s);
  snprintf(path, sizeof path, "%s/counter", c->store);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    fprintf(stderr, "fenced_counter %s: %s: %s\n", c->id, path,
            strerror(errno));
    return -1;
  }
  while (len < sizeof buf &&
         (n = read(fd, buf + len, sizeof buf - len)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      fprintf(stderr, "fenced_counter %s: %s: %s\n", c->id, path,
              strerror(errno));
      close(fd);
      return -1;
    }
    len += (size_t)n;
  }
  close(fd);
  if (counter_parse(buf, len, s, &why) != 0) {
    fprintf(stderr, "fenced_counter %s: %s: %s; refusing to write (the "
                    "store is left as it is)\n",
            c->id, path, why);
    return -2;
  }
  return 0;
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Replace the counter with s durably. 0, or -1 (errno) with the old
 * counter still in place unless the failure came after the rename. */
static int write_counter(const struct candidate *c,
                         const struct counter_state *s) {
  char path[PATH_MAX + 16], tmp[PATH_MAX + 48], buf[COUNTER_LINE_MAX + 1];
  int fd, len, ok, err;
  snprintf(path, sizeof path, "%s/counter", c->store);
  snprintf(tmp, sizeof tmp, "%s/counter.%ld.tmp", c->store, c->pid);
  len = counter_format(s, buf, sizeof buf);
  if (len < 0 || (size_t)len >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  ok = write_all(fd, buf, (size_t)len) == 0 && fsync(fd) == 0;
  err = errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok || rename(tmp, path) != 0) {
    if (ok)
      err = errno;
    unlink(tmp);
    errno = err;
    return -1;
  }
  fd = open(c->store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ok = fsync(fd) == 0;
  close(fd);
  return ok ? 0 : -1;
}

/* In one of our own log lines: the number after key (e.g. "\"value\":"). */
static int line_u64(const char *line, const char *key, uint64_t *out) {
  const char *p = strstr(line, key);
  char *end;
  if (!p)
    return -1;
  p += strlen(key);
  if (*p < '0' || *p > '9')
    return -1;
  errno = 0;
  *out = strtoull(p, &end, 10);
  return errno == ERANGE || (*end != ',' && *end != '}') ? -1 : 0;
}

/* The string after key ("\"term\":\""), empty or 16 hex digits. Holder ids
 * contain no '"', so a key with its quotes occurs only as the key. */
static int line_term(const char *line, const char *key,
                     char out[COUNTER_TERM_LEN + 1]) {
  const char *p = strstr(line, key), *q;
  if (!p)
    return -1;
  p += strlen(key);
  q = strchr(p, '"');
  if (!q || (q != p && q - p != COUNTER_TERM_LEN))
    return -1;
  memcpy(out, p, (size_t)(q - p));
  out[q - p] = '\0';
  return q == p || counter_term_valid(out) ? 0 : -1;
}

/*
 * The write the counter held after the log's last line: that line's own
 * write if accepted, else the write it read (its base). The empty counter
 * for an empty log. Caller holds store.lock and has cut any torn tail.
 * 0, -1 on I/O error, -2 when the last line is not one of ours.
 */
static int log_last_write(const struct candidate *c, struct counter_state *s) {
  char buf[1024], *line;
  struct stat st;
  size_t chunk;
  uint64_t value;
  int accepted;
  memset(s, 0, sizeof *s);
  if (fstat(c->log_fd, &st) != 0)
    return -1;
  if (st.st_size == 0)
    return 0;
  chunk = st.st_size > (off_t)sizeof buf - 1 ? sizeof buf - 1
                                             : (size_t)st.st_size;
  if (pread(c->log_fd, buf, chunk, st.st_size - (off_t)chunk) !=
      (ssize_t)chunk)
    return -1;
  buf[chunk] = '\0';
  buf[chunk - 1] = '\0'; /* the newline */
  line = strrchr(buf, '\n');
  if (line)
    line++;
  else if (chunk == (size_t)st.st_size)
    line = buf;
  else
    goto bad;
  accepted = strstr(line, "\"accepted\":true") != NULL;
  if (line_u64(line, "\"value\":", &value) != 0 || value == 0)
    goto bad;
  if (accepted) {
    s->value = value;
    if (line_u64(line, "\"token\":", &s->token) != 0 ||
        line_term(line, "\"term\":\"", s->term) != 0 || !s->term[0])
      goto bad;
  } else {
    s->value = value - 1;
    if (line_u64(line, "\"base_token\":", &s->token) != 0 ||
        line_term(line, "\"base_term\":\"", s->term) != 0)
      goto bad;
  }
  return 0;
bad:
  fprintf(stderr, "fenced_counter %s: %s/writes.jsonl: the last line is not "
                  "a write record; refusing to write\n",
          c->id, c->store);
  return -2;
}

static int same_write(const struct counter_state *a,
                      const struct counter_state *b) {
  return a->value == b->value && a->token == b->token &&
         strcmp(a->term, b->term) == 0;
}

/* Append a line and make it durable. 0 or -1 (errno). */
static int log_append(struct candidate *c, const char *line, int len) {
  if (len < 0 || (size_t)len >= 512) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (write_all(c->log_fd, line, (size_t)len) != 0 ||
      fdatasync(c->log_fd) != 0)
    return -1;
  return 0;
}

/*
 * Bring the log level with the counter. They differ only when a writer died
 * after saving the counter and before logging that write (the counter is
 * then exactly one write ahead): log that write for it, marked "torn", so
 * that the log names every write even when the next writer dies the same
 * way. Anything else means the store was changed behind the writers' backs.
 * Caller holds store.lock. 0, -1 (I/O), -2 (the store is inconsistent).
 */
static int log_catch_up(struct candidate *c, const struct counter_state *held) {
  struct counter_state logged;
  char line[512];
  int rc = log_last_write(c, &logged);
  if (rc != 0)
    return rc;
  if (same_write(held, &logged))
    return 0;
  if (held->value != logged.value + 1) {
    fprintf(stderr, "fenced_counter %s: %s/counter holds value %llu but "
                    "writes.jsonl ends at value %llu: the store was changed "
                    "behind its writers' backs; refusing to write\n",
            c->id, c->store, (unsigned long long)held->value,
            (unsigned long long)logged.value);
    return -2;
  }
  rc = snprintf(line, sizeof line,
                "{\"token\":%llu,\"holder\":\"%s\",\"value\":%llu,"
                "\"accepted\":true,\"boot_ns\":%lld,\"term\":\"%s\","
                "\"pid\":%ld,\"base_token\":%llu,\"base_term\":\"%s\","
                "\"fence\":%llu,\"torn\":true,\"found_by\":%ld}\n",
                (unsigned long long)held->token, held->holder,
                (unsigned long long)held->value, (long long)tn_now(),
                held->term, held->pid, (unsigned long long)logged.token,
                logged.term, (unsigned long long)held->token, c->pid);
  if (log_append(c, line, rc) != 0) {
    fprintf(stderr, "fenced_counter %s: cannot append to %s/writes.jsonl: "
                    "%s\n",
            c->id, c->store, strerror(errno));
    return -1;
  }
  say(c, "logged write %llu of %s (pid %ld) as torn: it died after saving "
         "the counter, before logging",
      (unsigned long long)held->value, held->holder, held->pid);
  return 0;
}

/* One write attempt, decided and logged under the store lock. Returns 1
 * accepted, 0 refused by the fence, -1 on error, -2 when the store cannot
 * be used at all. */
static int store_write(struct candidate *c, uint64_t token) {
  char line[512];
  struct counter_state base, next;
  uint64_t fence_high = token;
  int rc, accepted, len;
  if (store_lock(c) != 0)
    return -1;
  if (!c->swept)
    sweep_leftovers(c);
  if (log_cut_torn_tail(c) != 0) {
    fprintf(stderr, "fenced_counter %s: %s/writes.jsonl: %s\n", c->id,
            c->store, strerror(errno));
    store_unlock(c);
    return -1;
  }
  rc = read_counter(c, &base);
  if (rc == 0)
    rc = log_catch_up(c, &base);
  if (rc < 0) {
    store_unlock(c);
    return rc;
  }
  if (base.value == UINT64_MAX) {
    fprintf(stderr, "fenced_counter %s: %s/counter: at its maximum\n", c->id,
            c->store);
    store_unlock(c);
    return -2;
  }
  if (token != c->term_token)
    new_term(c, token);
  rc = tn_fence_admit(c->fence, "counter", token);
  accepted = rc == 0;
  if (rc == TN_EFENCED)
    rc = tn_fence_highest(c->fence, "counter", &fence_high);
  if (rc != 0) {
    fprintf(stderr, "fenced_counter %s: fence: %s\n", c->id,
            tn_fence_last_error());
    store_unlock(c);
    return -1;
  }
  if (accepted) {
    memset(&next, 0, sizeof next);
    next.value = base.value + 1;
    next.token = token;
    memcpy(next.term, c->term_nonce, sizeof next.term);
    next.pid = c->pid;
    snprintf(next.holder, sizeof next.holder, "%s", c->id);
    if (write_counter(c, &next) != 0) {
      fprintf(stderr, "fenced_counter %s: cannot write %s/counter: %s\n",
              c->id, c->store, strerror(errno));
      store_unlock(c);
      return -1;
    }
  }
  len = snprintf(line, sizeof line,
                 "{\"token\":%llu,\"holder\":\"%s\",\"value\":%llu,"
                 "\"accepted\":%s,\"boot_ns\":%lld,\"term\":\"%s\","
                 "\"pid\":%ld,\"base_token\":%llu,\"base_term\":\"%s\","
                 "\"fence\":%llu}\n",
                 (unsigned long long)token, c->id,
                 (unsigned long long)(base.value + 1),
                 accepted ? "true" : "false", (long long)tn_now(),
                 c->term_nonce, c->pid, (unsigned long long)base.token,
                 base.term, (unsigned long long)fence_high);
  if (log_append(c, line, len) != 0) {
    fprintf(stderr, "fenced_counter %s: cannot append to %s/writes.jsonl: "
                    "%s\n",
            c->id, c->store, strerror(errno));
    store_unlock(c);
    return -1;
  }
  store_unlock(c);
  return accepted;
}

static void on_elected(uint64_t token, void *arg) {
  struct candidate *c = arg;
  c->token = token;
  new_term(c, token);
  say(c, "elected, token %llu", (unsigned long long)token);
}

static int lead(tn_lease *l, void *arg) {
  struct candidate *c = arg;
  uint64_t token;
  int rc = tn_guard_begin(l, c->work + WRITE_SLACK, &token);
  if (rc != 0) {
    c->guard_refusals++;
    say(c, "guard refused: the term cannot outlast the write");
    return 0;
  }
  nap(c->work); /* computing the new value: a stall here outlives the check */
  rc = store_write(c, token);
  if (rc == 1) {
    c->accepted++;
  } else if (rc == 0) {
    c->refused++;
    say(c, "write with token %llu REFUSED by the fence (a newer leader wrote)",
        (unsigned long long)token);
  } else {
    say(c, "store error");
  }
  if (tn_guard_end(l) == TN_ELOST && rc == 1)
    say(c, "term ended during a write that the fence still accepted (no "
           "newer token had written yet)");
  if (rc == -2) {
    c->fatal = 1;
    return 1; /* the store is unusable: stop leading */
  }
  nap(c->interval);
  return 0;
}

static void on_step_down(tn_stepdown_reason reason, void *arg) {
  struct candidate *c = arg;
  char why[384];
  int code = the_leader
                 ? tn_lease_last_error(tn_leader_lease(the_leader), why,
                                       sizeof why)
                 : 0;
  /* the backend's own words: which file, and what was wrong with it */
  say(c, "stepped down (%s) after token %llu%s%s",
      tn_stepdown_reason_name(reason), (unsigned long long)c->token,
      code ? ": " : "", code ? why : "");
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: fenced_counter --authority URI --lease NAME --id ID "
          "--store DIR\n"
          "                      [--ttl 1s] [--work 10ms] [--interval 5ms] "
          "[--for TIME]\n"
          "                      [--events FILE] [--t0 SECONDS] [--quiet]\n"
          "A leader candidate that increments a counter in a fenced store.\n"
          "  --ttl       lease duration, 10ms..24h\n"
          "  --work      computing time of each write (must fit in a term)\n"
          "  --interval  pause between writes\n"
          "  --for       stop after TIME (boot time); default: until "
          "SIGINT/SIGTERM\n"
          "  --t0        boot time in seconds that the timeline counts from, "
          "0..now\n"
          "  --store     a directory; created if missing, but only inside an "
          "existing one\n"
          "Exit: 0 done, 1 runtime or store failure, 2 bad arguments.\n");
}

static int parse_time(const char *opt, const char *text, tn_nanos *out) {
  tn_parse_error e;
  if (tn_duration_parse(text, out, &e) != 0) {
    fprintf(stderr, "fenced_counter: %s \"%s\": %s at offset %zu\n", opt,
            text, e.reason, e.pos);
    return -1;
  }
  return 0;
}

static int parse_t0(const char *text, tn_nanos now, tn_nanos *out) {
  char *end;
  double s;
  errno = 0;
  s = strtod(text, &end);
  if (end == text || *end != '\0' || errno == ERANGE || !isfinite(s) ||
      s < 0 || s > tn_nanos_to_seconds(now)) {
    fprintf(stderr, "fenced_counter: --t0 \"%s\": expected seconds of boot "
                    "time, a finite number from 0 to now (%.3f)\n",
            text, tn_nanos_to_seconds(now));
    return -1;
  }
  *out = (tn_nanos)(s * 1e9);
  if (*out > now)
    *out = now;
  return 0;
}

static int lease_name_valid(const char *s) {
  size_t n = strlen(s), i;
  if (n == 0 || n > TN_LEASE_NAME_MAX)
    return 0;
  for (i = 0; i < n; i++)
    if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
          s[i] == '-'))
      return 0;
  return 1;
}

/* The store directory exists (*missing = 0), or its parent does
 * (*missing = 1: make_store makes it). Touches nothing. 0, or the exit code. */
static int check_store(const char *store, int *missing) {
  char parent[PATH_MAX];
  struct stat st;
  char *slash;
  size_t n;
  *missing = 0;
  if (stat(store, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      fprintf(stderr, "fenced_counter: --store %s: not a directory\n", store);
      return 2;
    }
    return 0;
  }
  if (errno != ENOENT) {
    fprintf(stderr, "fenced_counter: --store %s: %s\n", store,
            strerror(errno));
    return 2;
  }
  snprintf(parent, sizeof parent, "%s", store);
  n = strlen(parent);
  while (n > 1 && parent[n - 1] == '/')
    parent[--n] = '\0';
  slash = strrchr(parent, '/');
  if (!slash)
    strcpy(parent, ".");
  else if (slash == parent)
    parent[1] = '\0';
  else
    *slash = '\0';
  if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "fenced_counter: --store %s: the parent directory %s "
                    "does not exist (the store is created only inside an "
                    "existing directory)\n",
            store, parent);
    return 2;
  }
  *missing = 1;
  return 0;
}

static int make_store(struct candidate *c, const char *store) {
  if (mkdir(store, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "fenced_counter: --store %s: cannot create: %s\n", store,
            strerror(errno));
    return 1;
  }
  say(c, "created the store directory %s", store);
  return 0;
}

/* Stop the run after d of boot time (CLOCK_BOOTTIME, like every deadline
 * here; alarm(2) would round to seconds). */
static int arm_run_timer(tn_nanos d) {
  struct sigevent sev;
  struct itimerspec its;
  timer_t timer;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGALRM;
  if (timer_create(CLOCK_BOOTTIME, &sev, &timer) != 0)
    return -1;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(d / TN_SEC);
  its.it_value.tv_nsec = (long)(d % TN_SEC);
  return timer_settime(timer, 0, &its, NULL);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"authority", required_argument, NULL, 'a'},
      {"lease", required_argument, NULL, 'l'},
      {"id", required_argument, NULL, 'i'},
      {"store", required_argument, NULL, 's'},
      {"ttl", required_argument, NULL, 't'},
      {"work", required_argument, NULL, 'w'},
      {"interval", required_argument, NULL, 'I'},
      {"for", required_argument, NULL, 'f'},
      {"events", required_argument, NULL, 'e'},
      {"t0", required_argument, NULL, '0'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  const char *uri = NULL, *name = NULL, *events = NULL, *store = NULL;
  struct candidate c;
  tn_lease_options lo;
  tn_leader_callbacks cb = {on_elected, lead, on_step_down};
  tn_authority *auth = NULL;
  tn_runtime *rt = NULL;
  tn_runtime_config rc_cfg;
  tn_nanos run_for = 0, margin;
  char path[PATH_MAX + 32], ttl_text[32];
  struct sigaction sa;
  int opt, rc, store_missing;

  memset(&c, 0, sizeof c);
  c.work = 10 * TN_MSEC;
  c.interval = 5 * TN_MSEC;
  c.t0 = tn_now();
  c.pid = (long)getpid();
  tn_lease_options_init(&lo);
  lo.ttl = TN_SEC;
  while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case 'a': uri = optarg; break;
    case 'l': name = optarg; break;
    case 'i': c.id = optarg; break;
    case 's': store = optarg; break;
    case 'e': events = optarg; break;
    case 'q': c.quiet = 1; break;
    case 't':
      if (parse_time("--ttl", optarg, &lo.ttl))
        return 2;
      /* tn_lease_open's bounds; 0 would silently mean its default */
      if (lo.ttl < 10 * TN_MSEC || lo.ttl > 24 * TN_HOUR) {
        fprintf(stderr, "fenced_counter: --ttl \"%s\": must be from 10ms to "
                        "24h\n", optarg);
        return 2;
      }
      break;
    case 'w':
      if (parse_time("--work", optarg, &c.work))
        return 2;
      break;
    case 'I':
      if (parse_time("--interval", optarg, &c.interval))
        return 2;
      break;
    case 'f':
      if (parse_time("--for", optarg, &run_for))
        return 2;
      if (run_for <= 0) {
        fprintf(stderr, "fenced_counter: --for \"%s\": must be positive "
                        "(leave --for out to run until SIGINT/SIGTERM)\n",
                optarg);
        return 2;
      }
      break;
    case '0':
      if (parse_t0(optarg, c.t0, &c.t0))
        return 2;
      break;
    case 'h': usage(stdout); return 0;
    case 'V':
      printf("fenced_counter (tenure) %s\n", tn_version_string());
      return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "fenced_counter: unexpected argument \"%s\"\n",
            argv[optind]);
    usage(stderr);
    return 2;
  }
  if (!uri || !name || !c.id || !store) {
    fprintf(stderr, "fenced_counter: --authority, --lease, --id and --store "
                    "are required\n");
    usage(stderr);
    return 2;
  }
  if (!lease_name_valid(name)) {
    fprintf(stderr, "fenced_counter: --lease \"%s\": use 1-%d of "
                    "[A-Za-z0-9._-]\n", name, TN_LEASE_NAME_MAX);
    return 2;
  }
  if (!counter_holder_valid(c.id, strlen(c.id))) {
    fprintf(stderr, "fenced_counter: --id \"%s\": use 1-%d printable ASCII "
                    "characters, no quotes or backslashes\n",
            c.id, TN_HOLDER_MAX);
    return 2;
  }
  /* The guard admits a write only with work + slack left before the
   * deadline, which is at most ttl - margin (lease.h's default margin):
   * a longer --work could never write. */
  margin = lo.ttl / 20 > 5 * TN_MSEC ? lo.ttl / 20 : 5 * TN_MSEC;
  tn_duration_format(lo.ttl, ttl_text, sizeof ttl_text);
  if (c.work >= lo.ttl - margin - WRITE_SLACK) {
    fprintf(stderr, "fenced_counter: --work: a write must fit in a term: "
                    "need work + 20ms < ttl - margin (ttl %s, margin %.3gms)\n",
            ttl_text, tn_nanos_to_millis(margin));
    return 2;
  }
  if (store[0] == '\0' || strlen(store) >= PATH_MAX - 64) {
    fprintf(stderr, "fenced_counter: --store: empty or too long\n");
    return 2;
  }
  if (events) {
    int fd = open(events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      fprintf(stderr, "fenced_counter: --events %s: %s\n", events,
              strerror(errno));
      return 2;
    }
    close(fd);
  }
  if ((rc = check_store(store, &store_missing)) != 0)
    return rc;
  /* The authority refuses a bad URI before the store is touched. */
  rc = tn_authority_open(uri, &auth);
  if (rc != 0) {
    fprintf(stderr, "fenced_counter: --authority: %s\n",
            tn_authority_last_error());
    return rc == TN_EINVAL ? 2 : 1;
  }
  if (store_missing && (rc = make_store(&c, store)) != 0)
    return rc;
  strcpy(c.store, store);
  snprintf(path, sizeof path, "%s/fence.tn", store);
  if (tn_fence_open(path, &c.fence) != 0) {
    fprintf(stderr, "fenced_counter: %s\n", tn_fence_last_error());
    return 1;
  }
  snprintf(path, sizeof path, "%s/store.lock", store);
  c.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (c.lock_fd < 0) {
    fprintf(stderr, "fenced_counter: %s: %s\n", path, strerror(errno));
    return 1;
  }
  snprintf(path, sizeof path, "%s/writes.jsonl", store);
  c.log_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (c.log_fd < 0) {
    fprintf(stderr, "fenced_counter: %s: %s\n", path, strerror(errno));
    return 1;
  }
  /* Remove dead writers' leftovers now if nobody is writing; else the
   * first write does it, under the lock it needs anyway. */
  if (ofd_lock(c.lock_fd, F_WRLCK, 0) == 0) {
    sweep_leftovers(&c);
    store_unlock(&c);
  }

  /* The pause monitor records what this candidate suffered. */
  memset(&rc_cfg, 0, sizeof rc_cfg);
  rc_cfg.pausemon.events_path = events;
  rc_cfg.no_control_socket = 1;
  rc = tn_runtime_start(&rc_cfg, &rt);
  if (rc != 0) {
    fprintf(stderr, "fenced_counter: cannot start the runtime%s%s: %s\n",
            events ? " with --events " : "", events ? events : "",
            tn_strerror(rc));
    return 1;
  }

  rc = tn_leader_open(auth, name, c.id, &lo, &cb, &c, &the_leader);
  if (rc != 0) {
    fprintf(stderr, "fenced_counter: %s\n", tn_authority_last_error());
    return 2;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  if (run_for > 0 && arm_run_timer(run_for) != 0) {
    fprintf(stderr, "fenced_counter: --for: cannot arm a timer: %s\n",
            strerror(errno));
    return 1;
  }
  say(&c, "candidate for \"%s\" (ttl %s)", name, ttl_text);
  rc = tn_leader_run(the_leader);
  if (rc != 0)
    fprintf(stderr, "fenced_counter %s: %s\n", c.id, tn_authority_last_error());
  say(&c, "done: %lu writes accepted, %lu refused by the fence, %lu guard "
          "refusals",
      c.accepted, c.refused, c.guard_refusals);
  tn_leader_close(the_leader);
  tn_runtime_stop(rt);
  tn_authority_close(auth);
  tn_fence_close(c.fence);
  close(c.lock_fd);
  close(c.log_fd);
  return rc == 0 && !c.fatal ? 0 : 1;
}
