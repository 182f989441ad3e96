/*
 * Unit tests: the embedded file authority (lease/backends/file.c), through
 * the public API: terms and tokens, expiry, forced release, boot ids, and
 * every way the file can be damaged (S2, S4).
 */
#define _GNU_SOURCE
#include "cu_main.h"

#include "crc32c.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tenure/error.h>
#include <tenure/lease.h>
#include <time.h>
#include <unistd.h>

#define HEADER 256
#define SLOT 256
#define ENTRY 512

static char dir[64], path[128], uri[160];

static int setup(void) {
  strcpy(dir, "/tmp/tenure-filebk-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof path, "%s/leases.tn", dir);
  snprintf(uri, sizeof uri, "file://%s", path);
  return 0;
}

static int cleanup(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void fresh(void) { unlink(path); }

/* The first token of the file a test made: a new file's tokens start
 * above a base taken from the clock when it is created, so tests compare
 * with this one, never with 1. */
static uint64_t t1;

static tn_authority *open_auth(void) {
  tn_authority *a = NULL;
  int rc = tn_authority_open(uri, &a);
  if (rc != 0)
    fprintf(stderr, "\nopen: %s\n", tn_authority_last_error());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  return a;
}

static tn_lease *lease_for(tn_authority *a, const char *holder,
                           tn_nanos ttl) {
  tn_lease_options o;
  tn_lease *l = NULL;
  tn_lease_options_init(&o);
  o.ttl = ttl;
  o.margin = 5 * TN_MSEC;
  o.renew_every = ttl / 3;
  CU_ASSERT_EQUAL_FATAL(tn_lease_open(a, "primary", holder, &o, &l), 0);
  return l;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* Waits in these tests are bounded by long timeouts, and a bound on how
 * long one took is PROMPT: far beyond any descheduling on a loaded
 * machine, far below the timeout, so it says only "woken by the event, not
 * by its timeout". */
#define PROMPT (5 * TN_SEC)
#define LONG (20 * TN_SEC)

static size_t read_file(unsigned char *buf, size_t max) {
  int fd = open(path, O_RDONLY);
  ssize_t n = read(fd, buf, max);
  close(fd);
  return n > 0 ? (size_t)n : 0;
}

static void write_file(const unsigned char *buf, size_t len) {
  int fd = open(path, O_WRONLY | O_TRUNC);
  CU_ASSERT_EQUAL(write(fd, buf, len), (ssize_t)len);
  close(fd);
}

static void reseal(unsigned char *p) {
  uint32_t c = tn__crc32c(0, p, 252);
  p[252] = (unsigned char)c;
  p[253] = (unsigned char)(c >> 8);
  p[254] = (unsigned char)(c >> 16);
  p[255] = (unsigned char)(c >> 24);
}

static void expect_refused(int want, const char *why_part) {
  tn_authority *a = NULL;
  unsigned char before[8192], after[8192];
  size_t nb = read_file(before, sizeof before), na;
  int rc = tn_authority_open(uri, &a);
  CU_ASSERT_EQUAL(rc, want);
  if (rc == 0)
    tn_authority_close(a);
  CU_ASSERT_PTR_NOT_NULL(strstr(tn_authority_last_error(), path));
  if (why_part && !strstr(tn_authority_last_error(), why_part))
    fprintf(stderr, "\nmessage: %s\n", tn_authority_last_error());
  CU_ASSERT(why_part == NULL ||
            strstr(tn_authority_last_error(), why_part) != NULL);
  /* refusing never touches the file */
  na = read_file(after, sizeof after);
  CU_ASSERT_EQUAL(na, nb);
  CU_ASSERT(memcmp(before, after, nb) == 0);
}

/* --- terms and tokens ------------------------------------------------------ */

static void test_terms_and_tokens(void) {
  tn_authority *a;
  tn_lease *la, *lb;
  tn_lease_info info;
  tn_lease_info all[4];
  size_t n;
  tn_nanos before, after;
  fresh();
  a = open_auth();
  la = lease_for(a, "node-a", TN_SEC);
  lb = lease_for(a, "node-b", TN_SEC);
  CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), TN_ENOENT);
  before = tn_now();
  CU_ASSERT_EQUAL(tn_lease_try_acquire(la), 0);
  t1 = tn_lease_token(la); /* the new file's base + 1 */
  CU_ASSERT(t1 >= 1);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(lb), TN_EBUSY);
  CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), 0);
  after = tn_now();
  CU_ASSERT_STRING_EQUAL(info.holder, "node-a");
  CU_ASSERT_EQUAL(info.token, t1);
  CU_ASSERT(info.held);
  /* the stored term is the ttl from the grant: at most a full ttl left,
   * and no less than the ttl minus the time these calls took (however
   * long the scheduler made that) */
  CU_ASSERT(info.remaining <= TN_SEC);
  CU_ASSERT(info.remaining >= TN_SEC - (after - before));
  /* the holder's deadline is the stored expiry minus the margin */
  CU_ASSERT(tn_lease_remaining(la) <= info.remaining - 5 * TN_MSEC + TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_renew(la), 0);
  CU_ASSERT_EQUAL(tn_lease_token(la), t1);
  CU_ASSERT_EQUAL(tn_lease_release(la), 0);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(lb), 0);
  CU_ASSERT_EQUAL(tn_lease_token(lb), t1 + 1);
  CU_ASSERT_EQUAL(tn_lease_renew(la), TN_ELOST); /* not ours */
  CU_ASSERT_EQUAL(tn_lease_release(lb), 0);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(la), 0);
  CU_ASSERT_EQUAL(tn_lease_token(la), t1 + 2);
  CU_ASSERT_EQUAL(tn_authority_list(a, all, 4, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_STRING_EQUAL(all[0].name, "primary");
  CU_ASSERT_EQUAL(all[0].token, t1 + 2);
  tn_lease_close(la);
  tn_lease_close(lb);
  tn_authority_close(a);
  /* tokens survive closing and reopening */
  a = open_auth();
  CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), 0);
  CU_ASSERT_EQUAL(info.token, t1 + 2);
  tn_authority_close(a);
}

static void test_expiry_and_wakeup(void) {
  tn_authority *a;
  tn_lease *la, *lb;
  tn_nanos t0, waited;
  int status;
  fresh();
  a = open_auth();
  la = lease_for(a, "node-a", 100 * TN_MSEC);
  /* B's term is long: its renewal below cannot miss it however late it
   * runs, and only a release can end it within PROMPT */
  lb = lease_for(a, "node-b", 10 * TN_SEC);
  /* B waits; A's term expires without renewal; B is woken at the expiry */
  t0 = tn_now(); /* before A's grant, so A's expiry is >= t0 + 100 ms */
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(la), 0);
  t1 = tn_lease_token(la);
  CU_ASSERT_EQUAL(tn_lease_acquire(lb, LONG), 0);
  waited = tn_now() - t0;
  /* not before A's term ended: exact, the authority compares expiries */
  CU_ASSERT(waited >= 100 * TN_MSEC);
  /* woken by the expiry, not by its own 20 s timeout */
  CU_ASSERT(waited < 100 * TN_MSEC + PROMPT);
  CU_ASSERT_EQUAL(tn_lease_token(lb), t1 + 1);
  CU_ASSERT_EQUAL(tn_lease_renew(la), TN_ESTALE); /* past its deadline */
  /* a release wakes a waiter, long before the term would have ended */
  CU_ASSERT_EQUAL(tn_lease_renew(lb), 0);
  {
    tn_lease *lc = lease_for(a, "node-c", 10 * TN_SEC);
    pid_t pid = fork();
    if (pid == 0) {
      sleep_ms(100);
      _exit(tn_lease_release(lb) == 0 ? 0 : 1);
    }
    t0 = tn_now();
    CU_ASSERT_EQUAL(tn_lease_acquire(lc, LONG), 0);
    waited = tn_now() - t0;
    /* woken by the release: B's term had 10 s to run, C's timeout 20 s */
    CU_ASSERT(waited < 100 * TN_MSEC + PROMPT);
    CU_ASSERT_EQUAL(tn_lease_token(lc), t1 + 2);
    tn_lease_close(lc);
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* released */
  }
  CU_ASSERT_EQUAL(tn_lease_acquire(la, 50 * TN_MSEC), TN_ETIMEDOUT);
  tn_lease_close(la);
  tn_lease_close(lb);
  tn_authority_close(a);
}

static void test_force_release(void) {
  tn_authority *a;
  tn_lease *la;
  uint64_t tok;
  fresh();
  a = open_auth();
  la = lease_for(a, "node-a", TN_SEC);
  CU_ASSERT_EQUAL(tn_authority_force_release(a, "primary"), TN_ENOENT);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(la), 0);
  CU_ASSERT_EQUAL(tn_authority_force_release(a, "primary"), 0);
  /* the holder finds out at its next renewal; guards refuse from then */
  CU_ASSERT_EQUAL(tn_lease_renew(la), TN_ELOST);
  CU_ASSERT_EQUAL(tn_guard_begin(la, 0, &tok), TN_ESTALE);
  CU_ASSERT_EQUAL(tn_authority_force_release(a, "no-such"), TN_ENOENT);
  tn_lease_close(la);
  tn_authority_close(a);
}

/* A copy from another boot is void, but its token still counts. */
static void test_other_boot_voids_but_keeps_token(void) {
  tn_authority *a;
  tn_lease *la, *lb;
  unsigned char buf[4096];
  size_t n;
  int s;
  fresh();
  a = open_auth();
  la = lease_for(a, "node-a", 60 * TN_SEC);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(la), 0);
  t1 = tn_lease_token(la);
  CU_ASSERT_EQUAL_FATAL(tn_lease_release(la), 0);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(la), 0); /* t1 + 1, 60 s */
  tn_lease_close(la);
  tn_authority_close(a);
  n = read_file(buf, sizeof buf);
  CU_ASSERT_EQUAL_FATAL(n, HEADER + ENTRY);
  for (s = 0; s < 2; s++) {
    unsigned char *p = buf + HEADER + s * SLOT;
    p[32] = p[32] == 'f' ? 'e' : 'f'; /* boot id of another boot */
    reseal(p);
  }
  write_file(buf, n);
  a = open_auth();
  lb = lease_for(a, "node-b", TN_SEC);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(lb), 0); /* the old hold is void */
  CU_ASSERT_EQUAL(tn_lease_token(lb), t1 + 2);       /* the counter is not */
  tn_lease_close(lb);
  tn_authority_close(a);
}

/* --- damage ------------------------------------------------------------------ */

static void make_two_terms(void) {
  tn_authority *a;
  tn_lease *l;
  fresh();
  a = open_auth();
  l = lease_for(a, "node-a", TN_SEC);
  tn_lease_try_acquire(l);
  t1 = tn_lease_token(l);
  tn_lease_renew(l);
  tn_lease_release(l);
  tn_lease_try_acquire(l);
  tn_lease_renew(l);
  tn_lease_close(l);
  tn_authority_close(a);
}

static void test_header_damage_refused(void) {
  unsigned char good[4096], bad[4096];
  size_t n, i;
  make_two_terms();
  n = read_file(good, sizeof good);
  /* every single byte of the header */
  for (i = 0; i < HEADER; i++) {
    memcpy(bad, good, n);
    bad[i] ^= 0x40;
    write_file(bad, n);
    expect_refused(TN_ECORRUPT, NULL);
  }
  write_file(good, n);
}

static void test_one_copy_damaged_is_survivable(void) {
  unsigned char good[4096], bad[4096];
  tn_authority *a;
  tn_lease_info info;
  size_t n, i;
  int s;
  make_two_terms();
  n = read_file(good, sizeof good);
  for (s = 0; s < 2; s++) {
    for (i = 0; i < SLOT; i += 7) {
      memcpy(bad, good, n);
      bad[HEADER + s * SLOT + i] ^= 0x01;
      write_file(bad, n);
      /* a torn write damages one copy: the other one carries the entry,
       * and the token never goes back */
      a = open_auth();
      CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), 0);
      CU_ASSERT_EQUAL(info.token, t1 + 1);
      tn_authority_close(a);
    }
  }
  /* both copies damaged: refused */
  memcpy(bad, good, n);
  bad[HEADER + 100] ^= 1;
  bad[HEADER + SLOT + 100] ^= 1;
  write_file(bad, n);
  expect_refused(TN_ECORRUPT, "both copies");
  write_file(good, n);
}

static void test_truncation_refused(void) {
  unsigned char good[4096];
  size_t n, len;
  make_two_terms();
  n = read_file(good, sizeof good);
  for (len = 0; len < n; len += 13) {
    write_file(good, len);
    expect_refused(TN_ECORRUPT, "truncated");
  }
  /* trailing garbage is not a whole entry either */
  {
    unsigned char more[4096];
    memcpy(more, good, n);
    memset(more + n, 'x', 10);
    write_file(more, n + 10);
    expect_refused(TN_ECORRUPT, NULL);
  }
  write_file(good, n);
}

static void test_not_a_lease_file(void) {
  const char *text = "this is not a lease table, it is a text file that "
                     "happens to be long enough to hold a header of two "
                     "hundred and fifty six bytes, so that only the magic "
                     "can tell it apart from a real one ........................"
                     ".........................................................";
  fresh();
  {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT(write(fd, text, 256) == 256);
    close(fd);
  }
  expect_refused(TN_ECORRUPT, "magic");
}

static void test_other_time_namespace_refused(void) {
  unsigned char buf[4096];
  size_t n;
  make_two_terms();
  n = read_file(buf, sizeof buf);
  buf[16] ^= 0x10; /* the creator's boot-time offset */
  reseal(buf);
  write_file(buf, n);
  expect_refused(TN_ECORRUPT, "namespace");
}

static void test_bad_uris(void) {
  tn_authority *a;
  CU_ASSERT_EQUAL(tn_authority_open("file://relative/x.tn", &a), TN_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(tn_authority_last_error(), "absolute"));
  CU_ASSERT_EQUAL(tn_authority_open("ftp://host/x", &a), TN_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(tn_authority_last_error(), "unknown scheme"));
  CU_ASSERT_EQUAL(tn_authority_open("leases.tn", &a), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_authority_open("file:///nonexistent-dir/x.tn", &a),
                  TN_ENOENT);
  CU_ASSERT_PTR_NOT_NULL(strstr(tn_authority_last_error(), "/nonexistent-dir"));
}

static const tn_cu_test tests[] = {
    {"terms and tokens", test_terms_and_tokens},
    {"expiry, wake-up on expiry and release", test_expiry_and_wakeup},
    {"forced release", test_force_release},
    {"another boot voids holds, keeps tokens",
     test_other_boot_voids_but_keeps_token},
    {"every header byte damaged: refused", test_header_damage_refused},
    {"one copy damaged: survives; both: refused",
     test_one_copy_damaged_is_survivable},
    {"truncated or extended: refused", test_truncation_refused},
    {"not a lease file: refused", test_not_a_lease_file},
    {"other time namespace: refused", test_other_time_namespace_refused},
    {"bad URIs", test_bad_uris},
    {NULL, NULL}};


/* --- attacks on the file (added with the token base and inode check) ----- */

#include <tenure/lease_file.h>

static uint64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A new file's tokens start above the wall clock's microseconds, so a
 * file recreated at the path never repeats a token of the one before. */
static void test_token_base_across_files(void) {
  tn_authority *a;
  tn_lease *l;
  uint64_t before = wall_us(), first, again;
  fresh();
  a = open_auth();
  l = lease_for(a, "node-a", TN_SEC);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  first = tn_lease_token(l);
  CU_ASSERT(first > before); /* base = latest bound >= the reading */
  tn_lease_close(l);
  tn_authority_close(a);
  fresh(); /* deleted: nobody kept the old file */
  a = open_auth();
  l = lease_for(a, "node-b", TN_SEC);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  again = tn_lease_token(l);
  CU_ASSERT(again > first);
  tn_lease_close(l);
  tn_authority_close(a);
}

/* A version-1 file (no token base) still opens; its tokens continue. */
static void test_version1_still_opens(void) {
  unsigned char buf[4096];
  size_t n;
  tn_authority *a;
  tn_lease *l;
  tn_lease_info info;
  uint64_t tok;
  make_two_terms();
  n = read_file(buf, sizeof buf);
  CU_ASSERT_EQUAL_FATAL(n, HEADER + ENTRY);
  CU_ASSERT_EQUAL(buf[8], 2);
  a = open_auth();
  CU_ASSERT_EQUAL_FATAL(tn_authority_observe(a, "primary", &info), 0);
  tok = info.token;
  tn_authority_close(a);
  /* rewrite as the previous version wrote it: version 1, no base, and the
   * record's tokens small */
  buf[8] = 1;
  memset(buf + 24, 0, 8);
  reseal(buf);
  {
    int s;
    for (s = 0; s < 2; s++) {
      unsigned char *p = buf + HEADER + s * SLOT;
      uint64_t t = 0;
      int i;
      if (p[0] == 0 && p[8] == 0)
        continue;
      for (i = 7; i >= 0; i--)
        t = (t << 8) | p[8 + i];
      t -= tok - 2; /* 2 terms: tokens 1 and 2 */
      for (i = 0; i < 8; i++)
        p[8 + i] = (unsigned char)(t >> (8 * i));
      reseal(p);
    }
  }
  write_file(buf, n);
  a = open_auth();
  CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), 0);
  CU_ASSERT_EQUAL(info.token, 2);
  l = lease_for(a, "node-b", TN_SEC);
  sleep_ms(1100); /* the last term (1 s) is over */
  CU_ASSERT_EQUAL(tn_lease_try_acquire(l), 0);
  CU_ASSERT_EQUAL(tn_lease_token(l), 3);
  tn_lease_close(l);
  tn_authority_close(a);
}

/* Deleted or moved over under the holder: the next renewal ends the term
 * with TN_EREPLACED, guards refuse, the words name the file, and the next
 * campaign runs on the new file with a higher token. */
static void test_replaced_under_holder(void) {
  int how;
  for (how = 0; how < 2; how++) {
    tn_authority *a;
    tn_lease *l;
    uint64_t tok, t2;
    char why[512];
    fresh();
    a = open_auth();
    l = lease_for(a, "node-a", TN_SEC);
    CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
    tok = tn_lease_token(l);
    CU_ASSERT_EQUAL(tn_lease_renew(l), 0);
    if (how == 0) {
      unlink(path);
    } else {
      char other[200];
      tn_authority *b;
      snprintf(other, sizeof other, "file://%s/other.tn", dir);
      CU_ASSERT_EQUAL_FATAL(tn_authority_open(other, &b), 0);
      tn_authority_close(b);
      snprintf(other, sizeof other, "%s/other.tn", dir);
      CU_ASSERT_EQUAL_FATAL(rename(other, path), 0);
    }
    CU_ASSERT_EQUAL(tn_lease_renew(l), TN_EREPLACED);
    CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &t2), TN_ESTALE);
    CU_ASSERT_EQUAL(tn_lease_last_error(l, why, sizeof why), TN_EREPLACED);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "authority replaced"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, path));
    CU_ASSERT_EQUAL(tn_lease_try_acquire(l), 0);
    CU_ASSERT(tn_lease_token(l) > tok);
    CU_ASSERT_EQUAL(tn_lease_renew(l), 0);
    CU_ASSERT_EQUAL(tn_lease_last_error(l, why, sizeof why), 0);
    tn_lease_close(l);
    tn_authority_close(a);
  }
}

/* One copy of the holder's record damaged under it: TN_ECORRUPT, the term
 * ends, the words say so. */
static void test_record_damaged_under_holder(void) {
  unsigned char buf[4096];
  tn_authority *a;
  tn_lease *l;
  uint64_t t2;
  char why[512];
  size_t n;
  fresh();
  a = open_auth();
  l = lease_for(a, "node-a", TN_SEC);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(l), 0);
  CU_ASSERT_EQUAL(tn_lease_renew(l), 0);
  n = read_file(buf, sizeof buf);
  buf[HEADER + SLOT + 150] ^= 0x5a;
  {
    int fd = open(path, O_WRONLY);
    CU_ASSERT_EQUAL(pwrite(fd, buf, n, 0), (ssize_t)n);
    close(fd);
  }
  CU_ASSERT_EQUAL(tn_lease_renew(l), TN_ECORRUPT);
  CU_ASSERT_EQUAL(tn_guard_begin(l, 0, &t2), TN_ESTALE);
  tn_lease_last_error(l, why, sizeof why);
  CU_ASSERT_PTR_NOT_NULL(strstr(why, "damaged under its holder"));
  tn_lease_close(l);
  tn_authority_close(a);
}

static void test_readonly_and_fifo(void) {
  tn_authority *a;
  char fifo[200], furi[220];
  struct stat st;
  fresh();
  CU_ASSERT_EQUAL(tn_authority_open_readonly(uri, &a), TN_ENOENT);
  CU_ASSERT(stat(path, &st) != 0); /* created nothing */
  make_two_terms();
  CU_ASSERT_EQUAL_FATAL(tn_authority_open_readonly(uri, &a), 0);
  CU_ASSERT_EQUAL(tn_authority_force_release(a, "primary"), TN_EPERM);
  tn_authority_close(a);
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  snprintf(furi, sizeof furi, "file://%s", fifo);
  CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0644), 0);
  CU_ASSERT_EQUAL(tn_authority_open_readonly(furi, &a), TN_ENOTSUP);
  CU_ASSERT_PTR_NOT_NULL(strstr(tn_authority_last_error(),
                                "not a regular file"));
  CU_ASSERT_EQUAL(tn_authority_open(furi, &a), TN_ENOTSUP);
  unlink(fifo);
}

/* A torn tail: refused by the authority, reported by check, cut by
 * repair; the next new lease starts above every old token. */
static void test_torn_tail_check_and_repair(void) {
  tn_lease_file_report r;
  tn_authority *a;
  tn_lease *l;
  tn_lease_info info;
  uint64_t old;
  int fd;
  make_two_terms();
  a = open_auth();
  CU_ASSERT_EQUAL_FATAL(tn_authority_observe(a, "primary", &info), 0);
  old = info.token;
  tn_authority_close(a);
  fd = open(path, O_WRONLY | O_APPEND);
  CU_ASSERT_EQUAL(write(fd, "partial entry", 13), 13);
  close(fd);
  CU_ASSERT_EQUAL(tn_authority_open(uri, &a), TN_ECORRUPT);
  CU_ASSERT_EQUAL(tn_lease_file_check(path, &r), 0);
  CU_ASSERT_EQUAL(r.torn_bytes, 13);
  CU_ASSERT_EQUAL(r.leases, 1);
  CU_ASSERT_EQUAL(r.max_token, old);
  CU_ASSERT_EQUAL(tn_lease_file_repair(path, &r), 0);
  CU_ASSERT(r.repaired);
  CU_ASSERT_EQUAL(tn_lease_file_check(path, &r), 0);
  CU_ASSERT_EQUAL(r.torn_bytes, 0);
  CU_ASSERT_EQUAL(tn_lease_file_repair(path, &r), 0);
  CU_ASSERT(!r.repaired); /* nothing to do */
  a = open_auth();
  l = lease_for(a, "node-b", TN_SEC);
  sleep_ms(1100);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(l), 0);
  CU_ASSERT(tn_lease_token(l) > old);
  tn_lease_close(l);
  tn_authority_close(a);
  /* a damaged whole entry is not repaired: it is not a torn tail */
  {
    unsigned char buf[4096];
    size_t n = read_file(buf, sizeof buf);
    buf[HEADER + 100] ^= 1;
    buf[HEADER + SLOT + 100] ^= 1;
    write_file(buf, n);
    CU_ASSERT_EQUAL(tn_lease_file_repair(path, &r), TN_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(tn_authority_last_error(), "both copies"));
  }
}

static void test_new_stepdown_reasons(void) {
  CU_ASSERT_STRING_EQUAL(
      tn_stepdown_reason_name(TN_STEPDOWN_AUTHORITY_REPLACED),
      "authority-replaced");
  CU_ASSERT_STRING_EQUAL(
      tn_stepdown_reason_name(TN_STEPDOWN_AUTHORITY_REFUSED),
      "authority-refused");
  CU_ASSERT_STRING_EQUAL(tn_strerror(TN_ENOSPC), "no space left on device");
}

static const tn_cu_test attack_tests[] = {
    {"token base: a recreated file never repeats tokens",
     test_token_base_across_files},
    {"version 1 files still open, tokens continue", test_version1_still_opens},
    {"deleted or moved over under the holder: replaced",
     test_replaced_under_holder},
    {"record damaged under the holder: refused, said",
     test_record_damaged_under_holder},
    {"read-only open; a FIFO is not a regular file", test_readonly_and_fifo},
    {"torn tail: check reports, repair trims", test_torn_tail_check_and_repair},
    {"step-down reasons and codes", test_new_stepdown_reasons},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {{"file authority", tests, setup, cleanup},
                                     {"file authority under attack",
                                      attack_tests, setup, cleanup},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
