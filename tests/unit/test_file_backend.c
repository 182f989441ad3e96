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
  fresh();
  a = open_auth();
  la = lease_for(a, "node-a", TN_SEC);
  lb = lease_for(a, "node-b", TN_SEC);
  CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), TN_ENOENT);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(la), 0);
  CU_ASSERT_EQUAL(tn_lease_token(la), 1);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(lb), TN_EBUSY);
  CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), 0);
  CU_ASSERT_STRING_EQUAL(info.holder, "node-a");
  CU_ASSERT_EQUAL(info.token, 1);
  CU_ASSERT(info.held);
  CU_ASSERT(info.remaining > 900 * TN_MSEC && info.remaining <= TN_SEC);
  /* the holder's deadline is the stored expiry minus the margin */
  CU_ASSERT(tn_lease_remaining(la) <= info.remaining - 5 * TN_MSEC + TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_renew(la), 0);
  CU_ASSERT_EQUAL(tn_lease_token(la), 1);
  CU_ASSERT_EQUAL(tn_lease_release(la), 0);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(lb), 0);
  CU_ASSERT_EQUAL(tn_lease_token(lb), 2);
  CU_ASSERT_EQUAL(tn_lease_renew(la), TN_ELOST); /* not ours */
  CU_ASSERT_EQUAL(tn_lease_release(lb), 0);
  CU_ASSERT_EQUAL(tn_lease_try_acquire(la), 0);
  CU_ASSERT_EQUAL(tn_lease_token(la), 3);
  CU_ASSERT_EQUAL(tn_authority_list(a, all, 4, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_STRING_EQUAL(all[0].name, "primary");
  CU_ASSERT_EQUAL(all[0].token, 3);
  tn_lease_close(la);
  tn_lease_close(lb);
  tn_authority_close(a);
  /* tokens survive closing and reopening */
  a = open_auth();
  CU_ASSERT_EQUAL(tn_authority_observe(a, "primary", &info), 0);
  CU_ASSERT_EQUAL(info.token, 3);
  tn_authority_close(a);
}

static void test_expiry_and_wakeup(void) {
  tn_authority *a;
  tn_lease *la, *lb;
  tn_nanos t0, waited;
  fresh();
  a = open_auth();
  la = lease_for(a, "node-a", 100 * TN_MSEC);
  lb = lease_for(a, "node-b", 100 * TN_MSEC);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(la), 0);
  /* B waits; A's term expires without renewal; B is woken at the expiry */
  t0 = tn_now();
  CU_ASSERT_EQUAL(tn_lease_acquire(lb, 2 * TN_SEC), 0);
  waited = tn_now() - t0;
  CU_ASSERT(waited >= 90 * TN_MSEC);
  CU_ASSERT(waited < 100 * TN_MSEC + 30 * TN_MSEC);
  CU_ASSERT_EQUAL(tn_lease_token(lb), 2);
  CU_ASSERT_EQUAL(tn_lease_renew(la), TN_ESTALE); /* past its deadline */
  /* a release wakes a waiter within the poll bound */
  CU_ASSERT_EQUAL(tn_lease_renew(lb), 0);
  {
    tn_lease *lc = lease_for(a, "node-c", 10 * TN_SEC);
    pid_t pid = fork();
    if (pid == 0) {
      sleep_ms(100);
      _exit(tn_lease_release(lb) == 0 ? 0 : 1);
    }
    t0 = tn_now();
    CU_ASSERT_EQUAL(tn_lease_acquire(lc, 5 * TN_SEC), 0);
    waited = tn_now() - t0;
    CU_ASSERT(waited < 100 * TN_MSEC + 30 * TN_MSEC);
    CU_ASSERT_EQUAL(tn_lease_token(lc), 3);
    tn_lease_close(lc);
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
  CU_ASSERT_EQUAL_FATAL(tn_lease_release(la), 0);
  CU_ASSERT_EQUAL_FATAL(tn_lease_try_acquire(la), 0); /* token 2, 60 s */
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
  CU_ASSERT_EQUAL(tn_lease_token(lb), 3);       /* the counter is not */
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
      CU_ASSERT_EQUAL(info.token, 2);
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

static const tn_cu_suite suites[] = {{"file authority", tests, setup, cleanup},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
