/*
 * Unit tests: the fence (lease/src/fence.c, fence_format.c), trying to break
 * S2 (a lower token is never admitted after a higher one, across threads,
 * handles and processes) and S4 (admitted tokens survive crashes; corrupt
 * state is refused, named, and left untouched; failed writes lose nothing).
 *
 * Concurrency tests record, for every admit, when it was called and when it
 * returned (boot time, shared by all processes) and check the answers
 * against real-time order: if admit A returned before admit B was called,
 * the fence decided A first, so B may be accepted only with a token >= A's.
 * A refusal must be explained by some higher token whose admit had started
 * before the refusal returned. A fence that skipped the lock or decided from
 * a stale copy would break one of the two.
 */
#define _GNU_SOURCE
#include "cu_main.h"

#include "crc32c.h"
#include "fence_format.h"
#include "fence_testing.h"

#include <tenure/clock.h>
#include <tenure/error.h>
#include <tenure/fence.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[128];

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static int suite_init(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/tn-fence-XXXXXX",
           base && *base ? base : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int suite_cleanup(void) {
  return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/name, with any state, temp and lock file of that name removed. */
static void fresh(char *path, size_t n, const char *name) {
  char side[512];
  snprintf(path, n, "%s/%s", tmpdir, name);
  unlink(path);
  snprintf(side, sizeof side, "%s.tmp", path);
  unlink(side);
  snprintf(side, sizeof side, "%s.lock", path);
  unlink(side);
}

static int exists(const char *path, const char *suffix) {
  char p[512];
  struct stat sb;
  snprintf(p, sizeof p, "%s%s", path, suffix);
  return lstat(p, &sb) == 0;
}

static size_t read_bytes(const char *path, unsigned char *buf, size_t cap) {
  int fd = open(path, O_RDONLY);
  ssize_t n;
  CU_ASSERT_FATAL(fd >= 0);
  n = read(fd, buf, cap);
  close(fd);
  CU_ASSERT_FATAL(n >= 0 && (size_t)n < cap);
  return (size_t)n;
}

static void write_bytes(const char *path, const void *buf, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_FATAL(write(fd, buf, len) == (ssize_t)len);
  close(fd);
}

static uint64_t highest_of(tn_fence *f, const char *resource) {
  uint64_t t = 999999;
  CU_ASSERT_EQUAL(tn_fence_highest(f, resource, &t), 0);
  return t;
}

static int mentions(const char *needle) {
  const char *msg = tn_fence_last_error();
  if (strstr(msg, needle) == NULL) {
    fprintf(stderr, "\nmessage \"%s\" does not mention \"%s\"\n", msg, needle);
    return 0;
  }
  return 1;
}

/* A valid state with two resources, made by the code under test. */
static size_t make_sample(char *path, size_t n, unsigned char *bytes,
                          size_t cap) {
  tn_fence *f;
  fresh(path, n, "sample");
  CU_ASSERT_FATAL(tn_fence_open(path, &f) == 0);
  CU_ASSERT_FATAL(tn_fence_admit(f, "orders", 41) == 0);
  CU_ASSERT_FATAL(tn_fence_admit(f, "accounts/eu-1", 7) == 0);
  tn_fence_close(f);
  return read_bytes(path, bytes, cap);
}

/* --- admission -------------------------------------------------------- */

static void test_admit_sequence(void) {
  char path[256];
  tn_fence *f;
  fresh(path, sizeof path, "seq");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(highest_of(f, "r"), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 5), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 5), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 6), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 4), TN_EFENCED);
  CU_ASSERT(mentions("lower than the highest admitted, 6"));
  CU_ASSERT(mentions(path));
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 5), TN_EFENCED);
  CU_ASSERT_EQUAL(highest_of(f, "r"), 6);
  /* other resources are independent, in both directions */
  CU_ASSERT_EQUAL(tn_fence_admit(f, "s", 1), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "t", 1000), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 7), 0);
  CU_ASSERT_EQUAL(highest_of(f, "s"), 1);
  CU_ASSERT_EQUAL(highest_of(f, "t"), 1000);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "t", UINT64_MAX), 0);
  tn_fence_close(f);

  /* the state survives close and reopen */
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(highest_of(f, "r"), 7);
  CU_ASSERT_EQUAL(highest_of(f, "s"), 1);
  CU_ASSERT_EQUAL(highest_of(f, "t"), UINT64_MAX);
  CU_ASSERT_EQUAL(highest_of(f, "never"), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 6), TN_EFENCED);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 7), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "t", UINT64_MAX - 1), TN_EFENCED);
  tn_fence_close(f);
}

static void test_open_creates_valid_empty_state(void) {
  char path[256];
  unsigned char bytes[256];
  tn__fence_state st;
  tn_fence *f;
  size_t count = 99;
  fresh(path, sizeof path, "created");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_STRING_EQUAL(tn_fence_last_error(), "");
  CU_ASSERT(exists(path, ".lock"));
  CU_ASSERT(!exists(path, ".tmp"));
  CU_ASSERT_EQUAL(read_bytes(path, bytes, sizeof bytes), TN__FENCE_HEADER_SIZE);
  tn__fence_state_init(&st);
  CU_ASSERT_EQUAL(tn__fence_parse(bytes, TN__FENCE_HEADER_SIZE, &st, NULL, 0),
                  0);
  CU_ASSERT_EQUAL(st.count, 0);
  tn__fence_state_free(&st);
  CU_ASSERT_EQUAL(tn_fence_list(f, NULL, 0, &count), 0);
  CU_ASSERT_EQUAL(count, 0);
  tn_fence_close(f);
}

static ino_t inode_of(const char *path) {
  struct stat sb;
  CU_ASSERT_FATAL(stat(path, &sb) == 0);
  return sb.st_ino;
}

static void test_only_a_rise_rewrites(void) {
  char path[256];
  tn_fence *f;
  ino_t before;
  fresh(path, sizeof path, "rewrite");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 5), 0);
  before = inode_of(path);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 5), 0); /* equal: nothing written */
  CU_ASSERT_EQUAL(inode_of(path), before);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 3), TN_EFENCED);
  CU_ASSERT_EQUAL(inode_of(path), before);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 6), 0); /* replaced by rename */
  CU_ASSERT_NOT_EQUAL(inode_of(path), before);
  CU_ASSERT(!exists(path, ".tmp"));
  tn_fence_close(f);
}

static void test_list(void) {
  static const char *names[] = {"zeta", "alpha", "m/1", "m/0", "B", "a.b_c-d"};
  static const char *sorted[] = {"B", "a.b_c-d", "alpha", "m/0", "m/1", "zeta"};
  tn_fence_entry out[8];
  char path[256];
  tn_fence *f;
  size_t count, i;
  fresh(path, sizeof path, "list");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  for (i = 0; i < 6; i++)
    CU_ASSERT_EQUAL(tn_fence_admit(f, names[i], 100 + i), 0);
  CU_ASSERT_EQUAL(tn_fence_list(f, out, 8, &count), 0);
  CU_ASSERT_EQUAL_FATAL(count, 6);
  for (i = 0; i < 6; i++) {
    size_t k;
    CU_ASSERT_STRING_EQUAL(out[i].resource, sorted[i]);
    for (k = 0; k < 6 && strcmp(names[k], sorted[i]) != 0; k++)
      ;
    CU_ASSERT_EQUAL(out[i].token, 100 + k);
  }
  memset(out, 0xAA, sizeof out);
  CU_ASSERT_EQUAL(tn_fence_list(f, out, 2, &count), 0);
  CU_ASSERT_EQUAL(count, 6); /* how many exist, more than fit */
  CU_ASSERT_STRING_EQUAL(out[1].resource, "a.b_c-d");
  CU_ASSERT_EQUAL(((unsigned char *)&out[2])[0], 0xAA); /* no overrun */
  CU_ASSERT_EQUAL(tn_fence_list(f, NULL, 0, &count), 0);
  CU_ASSERT_EQUAL(count, 6);
  tn_fence_close(f);
}

static void test_bad_arguments(void) {
  char path[256], sub[300];
  char longest[64], too_long[65];
  uint64_t t;
  size_t count;
  tn_fence *f;
  fresh(path, sizeof path, "args");
  memset(longest, 'x', 63);
  longest[63] = '\0';
  memset(too_long, 'x', 64);
  too_long[64] = '\0';

  CU_ASSERT_EQUAL(tn_fence_open(NULL, &f), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_open("", &f), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_open(path, NULL), TN_EINVAL);
  snprintf(sub, sizeof sub, "%s/", tmpdir);
  CU_ASSERT_EQUAL(tn_fence_open(sub, &f), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_open_readonly(NULL, &f), TN_EINVAL);

  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(NULL, "r", 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_admit(f, NULL, 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 0), TN_EINVAL);
  CU_ASSERT(mentions("token 0"));
  CU_ASSERT_EQUAL(tn_fence_admit(f, "", 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_admit(f, too_long, 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "a b", 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "a:b", 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "caf\xc3\xa9", 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "a\nb", 1), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_highest(f, "r", NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_highest(NULL, "r", &t), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_highest(f, "bad name", &t), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_list(f, NULL, 0, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_list(f, NULL, 3, &count), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_fence_list(NULL, NULL, 0, &count), TN_EINVAL);
  /* none of that wrote anything */
  CU_ASSERT_EQUAL(tn_fence_list(f, NULL, 0, &count), 0);
  CU_ASSERT_EQUAL(count, 0);
  /* the edges of the name rules are accepted */
  CU_ASSERT_EQUAL(tn_fence_admit(f, longest, 1), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "A-Z_a-z.0-9/x", 1), 0);
  CU_ASSERT_EQUAL(highest_of(f, longest), 1);
  tn_fence_close(f);
  tn_fence_close(NULL);
}

static void test_open_errors(void) {
  char path[300];
  unsigned char bytes[16];
  tn_fence *f = (tn_fence *)&f;
  /* missing directory */
  snprintf(path, sizeof path, "%s/no-such-dir/fence", tmpdir);
  CU_ASSERT_EQUAL(tn_fence_open(path, &f), TN_ENOENT);
  CU_ASSERT_PTR_NULL(f);
  CU_ASSERT(mentions("no-such-dir"));
  /* a directory at the path: refused, left alone, no lock file beside it */
  snprintf(path, sizeof path, "%s/a-directory", tmpdir);
  CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
  CU_ASSERT_EQUAL(tn_fence_open(path, &f), TN_EINVAL);
  CU_ASSERT(mentions(path));
  CU_ASSERT(mentions("directory"));
  CU_ASSERT(!exists(path, ".lock"));
  CU_ASSERT_EQUAL(tn_fence_open_readonly(path, &f), TN_EINVAL);
  CU_ASSERT_EQUAL(rmdir(path), 0); /* still an empty directory */
  /* a FIFO at the path must not hang the open */
  snprintf(path, sizeof path, "%s/a-fifo", tmpdir);
  CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0644), 0);
  CU_ASSERT_EQUAL(tn_fence_open(path, &f), TN_EINVAL);
  CU_ASSERT(mentions("not a regular file"));
  unlink(path);
  /* the path runs through a regular file */
  snprintf(path, sizeof path, "%s/plain", tmpdir);
  write_bytes(path, "x", 1);
  snprintf(path, sizeof path, "%s/plain/fence", tmpdir);
  CU_ASSERT_EQUAL(tn_fence_open(path, &f), TN_ENOENT);
  snprintf(path, sizeof path, "%s/plain", tmpdir);
  CU_ASSERT_EQUAL(read_bytes(path, bytes, sizeof bytes), 1);
  unlink(path);
}

static void test_readonly(void) {
  char path[256];
  tn_fence *rw, *ro;
  tn_fence_entry e[2];
  size_t count;
  fresh(path, sizeof path, "ro");
  CU_ASSERT_EQUAL(tn_fence_open_readonly(path, &ro), TN_ENOENT);
  CU_ASSERT(mentions(path));
  CU_ASSERT(!exists(path, ""));
  CU_ASSERT(!exists(path, ".lock"));
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &rw), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(rw, "r", 3), 0);
  CU_ASSERT_EQUAL_FATAL(tn_fence_open_readonly(path, &ro), 0);
  CU_ASSERT_EQUAL(highest_of(ro, "r"), 3);
  CU_ASSERT_EQUAL(tn_fence_admit(ro, "r", 4), TN_EPERM);
  CU_ASSERT_EQUAL(tn_fence_admit(rw, "r", 9), 0);
  CU_ASSERT_EQUAL(highest_of(ro, "r"), 9); /* re-read every call */
  CU_ASSERT_EQUAL(tn_fence_list(ro, e, 2, &count), 0);
  CU_ASSERT_EQUAL(count, 1);
  CU_ASSERT_STRING_EQUAL(e[0].resource, "r");
  CU_ASSERT_EQUAL(e[0].token, 9);
  tn_fence_close(ro);
  tn_fence_close(rw);
}

static void test_resource_limit(void) {
  tn__fence_state st;
  unsigned char *bytes;
  char path[256], name[16];
  size_t len, i;
  tn_fence *f;
  tn__fence_state_init(&st);
  for (i = 0; i < TN_FENCE_RESOURCES_MAX; i++) {
    snprintf(name, sizeof name, "r%05zu", i);
    CU_ASSERT_EQUAL_FATAL(tn__fence_put(&st, name, i + 1), 0);
  }
  CU_ASSERT_EQUAL(tn__fence_put(&st, "one-more", 1), TN_ERANGE);
  CU_ASSERT_EQUAL(tn__fence_put(&st, "r00000", 5), 0); /* existing: fine */
  len = tn__fence_encoded_size(&st);
  bytes = malloc(len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  tn__fence_encode(&st, bytes);
  fresh(path, sizeof path, "full");
  write_bytes(path, bytes, len);
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "one-more", 1), TN_ERANGE);
  CU_ASSERT(mentions("no room"));
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r65535", 70000), 0);
  CU_ASSERT_EQUAL(highest_of(f, "r65535"), 70000);
  CU_ASSERT_EQUAL(highest_of(f, "r00000"), 5);
  tn_fence_close(f);
  /* one entry more than the limit is refused as a file, unread */
  bytes[12] = 1, bytes[13] = 0, bytes[14] = 1, bytes[15] = 0; /* 65537 */
  CU_ASSERT_EQUAL(tn__fence_parse(bytes, len, &st, NULL, 0), TN_ECORRUPT);
  tn__fence_state_free(&st);
  free(bytes);
}

/* --- corrupt state ---------------------------------------------------- */

/* Write bytes at path, try both opens, expect refusal with code and a
 * message naming the path; the file must be byte-for-byte unchanged and no
 * temp file made. Returns 1 when all of that held. */
static int refused(const char *path, const unsigned char *bytes, size_t len,
                   int code) {
  unsigned char after[8192];
  tn_fence *f = NULL;
  int ok = 1, rc;
  write_bytes(path, bytes, len);
  rc = tn_fence_open(path, &f);
  if (rc != code || f != NULL ||
      strstr(tn_fence_last_error(), path) == NULL) {
    fprintf(stderr, "\nopen of a %zu-byte bad file: %s, \"%s\"\n", len,
            tn_err_name(rc), tn_fence_last_error());
    ok = 0;
    tn_fence_close(f);
  }
  if (tn_fence_open_readonly(path, &f) != code)
    ok = 0;
  if (read_bytes(path, after, sizeof after) != len ||
      memcmp(after, bytes, len) != 0 || exists(path, ".tmp"))
    ok = 0;
  return ok;
}

static void test_corrupt_every_byte_flipped(void) {
  static const unsigned char flips[] = {0x01, 0x80, 0xff};
  unsigned char good[512], bad[512];
  char path[256];
  size_t len = make_sample(path, sizeof path, good, sizeof good), i, k;
  CU_ASSERT_EQUAL_FATAL(len, TN__FENCE_HEADER_SIZE + 2 * TN__FENCE_ENTRY_SIZE);
  for (i = 0; i < len; i++)
    for (k = 0; k < sizeof flips; k++) {
      memcpy(bad, good, len);
      bad[i] ^= flips[k];
      if (!refused(path, bad, len, TN_ECORRUPT)) {
        fprintf(stderr, "byte %zu ^ 0x%02x was not refused cleanly\n", i,
                flips[k]);
        CU_FAIL("a flipped byte was not refused cleanly");
      }
    }
}

static void test_corrupt_truncated_at_every_length(void) {
  unsigned char good[512];
  char path[256];
  size_t len = make_sample(path, sizeof path, good, sizeof good), cut;
  for (cut = 0; cut < len; cut++)
    if (!refused(path, good, cut, TN_ECORRUPT)) {
      fprintf(stderr, "truncated at %zu not refused cleanly\n", cut);
      CU_FAIL("a truncated file was not refused cleanly");
    }
  refused(path, good, 0, TN_ECORRUPT);
  CU_ASSERT(mentions("empty"));
  refused(path, good, len - 1, TN_ECORRUPT);
  CU_ASSERT(mentions("truncated"));
}

static void test_corrupt_trailing_garbage(void) {
  unsigned char good[512], bad[1024];
  char path[256];
  size_t len = make_sample(path, sizeof path, good, sizeof good), extra;
  for (extra = 1; extra <= 2 * TN__FENCE_ENTRY_SIZE + 1; extra++) {
    memcpy(bad, good, len);
    memset(bad + len, extra % 2 ? 0 : 'A', extra);
    if (!refused(path, bad, len + extra, TN_ECORRUPT)) {
      fprintf(stderr, "%zu appended bytes not refused cleanly\n", extra);
      CU_FAIL("appended bytes were not refused cleanly");
    }
  }
  /* a whole well-formed extra entry, with the count raised to match: only
   * the CRC can tell */
  memcpy(bad, good, len);
  memcpy(bad + len, good + TN__FENCE_HEADER_SIZE, TN__FENCE_ENTRY_SIZE);
  bad[len + 1] = 'z';
  bad[12] = 3;
  CU_ASSERT(refused(path, bad, len + TN__FENCE_ENTRY_SIZE, TN_ECORRUPT));
  CU_ASSERT(mentions("checksum"));
}

/* Re-seal buf with a correct CRC, so that only the structural check can
 * catch what was changed. */
static void reseal(unsigned char *buf, size_t len) {
  uint32_t crc = tn__crc32c(0, buf, TN__FENCE_CRC_OFFSET);
  crc = tn__crc32c(crc, buf + TN__FENCE_HEADER_SIZE,
                   len - TN__FENCE_HEADER_SIZE);
  buf[16] = (unsigned char)crc;
  buf[17] = (unsigned char)(crc >> 8);
  buf[18] = (unsigned char)(crc >> 16);
  buf[19] = (unsigned char)(crc >> 24);
}

static void expect_reason(const unsigned char *bytes, size_t len,
                          const char *reason) {
  tn__fence_state st;
  char why[256] = "";
  int rc;
  tn__fence_state_init(&st);
  rc = tn__fence_parse(bytes, len, &st, why, sizeof why);
  CU_ASSERT_EQUAL(rc, TN_ECORRUPT);
  CU_ASSERT_EQUAL(st.count, 0);
  if (strstr(why, reason) == NULL)
    fprintf(stderr, "\nreason \"%s\" lacks \"%s\"\n", why, reason);
  CU_ASSERT_PTR_NOT_NULL(strstr(why, reason));
  tn__fence_state_free(&st);
}

static void test_corrupt_reasons(void) {
  unsigned char good[512], bad[512];
  char path[256];
  /* entries: 0 = "accounts/eu-1" (offset 20), 1 = "orders" (offset 92) */
  size_t len = make_sample(path, sizeof path, good, sizeof good);
  const size_t e0 = TN__FENCE_HEADER_SIZE, e1 = e0 + TN__FENCE_ENTRY_SIZE;

  expect_reason(good, 0, "empty");
  expect_reason((const unsigned char *)"hello", 5, "magic");
  expect_reason(good, 19, "truncated");
  expect_reason(good, len - 8, "truncated");
#define MUTATE(stmt, reason)                                                   \
  do {                                                                         \
    memcpy(bad, good, len);                                                    \
    stmt;                                                                      \
    expect_reason(bad, len, reason);                                           \
  } while (0)
  MUTATE(bad[0] = 'X', "magic");
  MUTATE(bad[8] = 2, "version 2");
  MUTATE(bad[12] = 1, "trailing");
  MUTATE(bad[12] = 3, "truncated");
  MUTATE(bad[15] = 0x80, "exceeds the limit");
  MUTATE(bad[19] ^= 1, "checksum");
  MUTATE(bad[e1 + 70] ^= 1, "checksum");
  /* structurally wrong but correctly sealed */
  MUTATE((bad[e0] = 0, reseal(bad, len)), "length 0");
  MUTATE((bad[e0] = 64, reseal(bad, len)), "length 64");
  MUTATE((bad[e0 + 1] = ' ', reseal(bad, len)), "byte 0x20");
  MUTATE((bad[e0 + 1 + 13] = 'x', reseal(bad, len)), "padding");
  MUTATE((bad[e0] = 12, reseal(bad, len)), "padding"); /* "accounts/eu-" + '1' */
  MUTATE((memset(bad + e0 + 64, 0, 8), reseal(bad, len)), "token 0");
  MUTATE((memcpy(bad + e1, good + e0, 64), reseal(bad, len)), "duplicate");
  MUTATE((memcpy(bad + e0, good + e1, 72), memcpy(bad + e1, good + e0, 72),
          reseal(bad, len)),
         "out of order");
#undef MUTATE
  /* and through the file: the message names the file and the fault */
  memcpy(bad, good, len);
  bad[e0] = 0;
  reseal(bad, len);
  CU_ASSERT(refused(path, bad, len, TN_ECORRUPT));
  CU_ASSERT(mentions(path));
  CU_ASSERT(mentions("length 0"));
}

static void test_corrupt_after_open(void) {
  unsigned char good[512], bytes[512];
  char path[256];
  size_t len = make_sample(path, sizeof path, good, sizeof good), count;
  tn_fence *f;
  uint64_t t;
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  memcpy(bytes, good, len);
  bytes[50] ^= 0x10;
  write_bytes(path, bytes, len);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "orders", 100), TN_ECORRUPT);
  CU_ASSERT(mentions(path));
  CU_ASSERT(mentions("checksum"));
  CU_ASSERT_EQUAL(tn_fence_highest(f, "orders", &t), TN_ECORRUPT);
  CU_ASSERT_EQUAL(tn_fence_list(f, NULL, 0, &count), TN_ECORRUPT);
  CU_ASSERT_EQUAL(read_bytes(path, bytes + 256, 256), len);
  CU_ASSERT(memcmp(bytes + 256, bytes, len) == 0); /* never "repaired" */
  CU_ASSERT(!exists(path, ".tmp"));
  /* once the operator restores it, the fence carries on from it */
  write_bytes(path, good, len);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "orders", 40), TN_EFENCED);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "orders", 42), 0);
  tn_fence_close(f);
}

static void test_state_file_disappears(void) {
  char path[256];
  tn_fence *f;
  fresh(path, sizeof path, "vanish");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 10), 0);
  CU_ASSERT_EQUAL(unlink(path), 0);
  /* starting again from nothing would admit token 1: refuse instead */
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 1), TN_ENOENT);
  CU_ASSERT(mentions("disappeared"));
  CU_ASSERT(!exists(path, ""));
  tn_fence_close(f);
}

/* --- injected write failures ------------------------------------------ */

static void test_fault_injection(void) {
  static const struct {
    int step;
    const char *what;
  } steps[] = {{TN__FENCE_STEP_WRITE, "write"},
               {TN__FENCE_STEP_FSYNC, "fsync"},
               {TN__FENCE_STEP_RENAME, "rename"}};
  unsigned char before[512], after[512];
  char path[256];
  size_t i, len;
  tn_fence *f;
  fresh(path, sizeof path, "faults");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 10), 0);
  for (i = 0; i < 3; i++) {
    uint64_t next = 11 + i;
    len = read_bytes(path, before, sizeof before);
    tn__fence_fail_next(steps[i].step);
    CU_ASSERT_EQUAL(tn_fence_admit(f, "r", next), TN_EIO);
    CU_ASSERT(mentions(steps[i].what));
    CU_ASSERT(mentions("previous state is unchanged"));
    CU_ASSERT_EQUAL(read_bytes(path, after, sizeof after), len);
    CU_ASSERT(memcmp(before, after, len) == 0);
    CU_ASSERT(!exists(path, ".tmp"));
    CU_ASSERT_EQUAL(highest_of(f, "r"), next - 1);
    /* a new resource is not half-added either */
    tn__fence_fail_next(steps[i].step);
    CU_ASSERT_EQUAL(tn_fence_admit(f, "fresh", 1), TN_EIO);
    CU_ASSERT_EQUAL(highest_of(f, "fresh"), 0);
    /* and the next admit works */
    CU_ASSERT_EQUAL(tn_fence_admit(f, "r", next), 0);
    CU_ASSERT_EQUAL(highest_of(f, "r"), next);
    CU_ASSERT(!exists(path, ".tmp"));
  }
  /* the directory fsync fails after the rename: the caller is told, the
   * token is in place (it can only have gone up), and the next admit first
   * makes the directory durable */
  tn__fence_fail_next(TN__FENCE_STEP_DIRSYNC);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 20), TN_EIO);
  CU_ASSERT(mentions("directory fsync"));
  CU_ASSERT_EQUAL(highest_of(f, "r"), 20);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 19), TN_EFENCED);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 20), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 21), 0);
  tn_fence_close(f);

  /* creating a new state file fails: nothing is left at all */
  fresh(path, sizeof path, "faults-new");
  tn__fence_fail_next(TN__FENCE_STEP_FSYNC);
  f = NULL;
  CU_ASSERT_EQUAL(tn_fence_open(path, &f), TN_EIO);
  CU_ASSERT_PTR_NULL(f);
  CU_ASSERT(!exists(path, ""));
  CU_ASSERT(!exists(path, ".tmp"));
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 1), 0);
  tn_fence_close(f);
}

static void test_stale_temp_file_is_harmless(void) {
  char path[256], tmp[300];
  tn_fence *f;
  fresh(path, sizeof path, "stale");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  write_bytes(tmp, "left by a crash", 15);
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(f, "r", 3), 0);
  CU_ASSERT(!exists(path, ".tmp"));
  write_bytes(tmp, "again", 5);
  tn_fence_close(f);
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(highest_of(f, "r"), 3);
  tn_fence_close(f);
}

/* --- concurrency: threads, handles, processes ----------------------- */

typedef struct admit_record {
  uint64_t token;
  tn_nanos called;
  tn_nanos returned;
  int32_t rc;
  int32_t who;
} admit_record;

static uint64_t next_rand(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* n admits on "shared". Tokens come from one issuer, as from an authority:
 * each is drawn (rising by a random step) and then presented, sometimes
 * after a short sleep, so a holder overtaken between the two is fenced.
 * Each writer's own tokens increase. */
static void admit_run(tn_fence *f, int who, int n, admit_record *rec,
                      _Atomic uint64_t *issuer) {
  uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(who + 1);
  int i;
  for (i = 0; i < n; i++) {
    uint64_t step = 1 + next_rand(&seed) % 4;
    uint64_t token = atomic_fetch_add(issuer, step) + step;
    if (next_rand(&seed) % 4 == 0) { /* a short pause, as a holder's */
      struct timespec pause = {0, (long)(next_rand(&seed) % 300000)};
      nanosleep(&pause, NULL);
    }
    rec[i].token = token;
    rec[i].who = who;
    rec[i].called = tn_now();
    rec[i].rc = tn_fence_admit(f, "shared", token);
    rec[i].returned = tn_now();
  }
}

/* The real-time check described at the top of the file. Returns the number
 * of violations, and the largest accepted token in *max_accepted. */
static int check_history(const admit_record *rec, size_t n,
                         uint64_t *max_accepted, int *writers) {
  size_t a, b;
  int bad = 0, seen[64] = {0}, i;
  *max_accepted = 0;
  *writers = 0;
  for (b = 0; b < n; b++) {
    if (rec[b].rc == 0) {
      if (rec[b].token > *max_accepted)
        *max_accepted = rec[b].token;
      if (rec[b].who >= 0 && rec[b].who < 64)
        seen[rec[b].who] = 1;
      for (a = 0; a < n; a++)
        if (rec[a].rc == 0 && rec[a].returned < rec[b].called &&
            rec[a].token > rec[b].token) {
          if (bad++ < 5)
            fprintf(stderr,
                    "\nviolation: %d accepted %llu after %d's %llu had been "
                    "accepted\n",
                    rec[b].who, (unsigned long long)rec[b].token, rec[a].who,
                    (unsigned long long)rec[a].token);
          break;
        }
    } else if (rec[b].rc == TN_EFENCED) {
      int justified = 0;
      for (a = 0; a < n && !justified; a++)
        justified = rec[a].rc == 0 && rec[a].token > rec[b].token &&
                    rec[a].called < rec[b].returned;
      if (!justified && bad++ < 5)
        fprintf(stderr, "\nviolation: %d's %llu refused with nothing higher\n",
                rec[b].who, (unsigned long long)rec[b].token);
    } else {
      if (bad++ < 5)
        fprintf(stderr, "\nadmit failed: %s\n", tn_err_name(rec[b].rc));
    }
  }
  for (i = 0; i < 64; i++)
    *writers += seen[i];
  return bad;
}

#define THREADS 4
#define THREAD_ADMITS 300

typedef struct thread_arg {
  pthread_barrier_t *start;
  tn_fence *f;
  const char *path; /* open an own handle when set */
  int who;
  admit_record *rec;
} thread_arg;

static void *thread_main(void *p) {
  static _Atomic uint64_t issuer;
  thread_arg *t = p;
  tn_fence *f = t->f;
  int i;
  int opened = t->path == NULL || tn_fence_open(t->path, &f) == 0;
  pthread_barrier_wait(t->start); /* start together, so they really race */
  if (!opened) {
    for (i = 0; i < THREAD_ADMITS; i++)
      t->rec[i].rc = TN_EIO; /* reported by check_history */
    return NULL;
  }
  admit_run(f, t->who, THREAD_ADMITS, t->rec, &issuer);
  if (t->path)
    tn_fence_close(f);
  return NULL;
}

static void run_threads(int own_handles) {
  static admit_record rec[THREADS * THREAD_ADMITS];
  pthread_t th[THREADS];
  pthread_barrier_t start;
  thread_arg args[THREADS];
  char path[256];
  uint64_t max_accepted;
  size_t refusals = 0, i;
  int writers;
  tn_fence *f;
  fresh(path, sizeof path, own_handles ? "handles" : "threads");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  memset(rec, 0, sizeof rec);
  pthread_barrier_init(&start, NULL, THREADS);
  for (i = 0; i < THREADS; i++) {
    args[i].start = &start;
    args[i].f = f;
    args[i].path = own_handles ? path : NULL;
    args[i].who = (int)i;
    args[i].rec = rec + i * THREAD_ADMITS;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, thread_main, &args[i]),
                          0);
  }
  for (i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&start);
  CU_ASSERT_EQUAL(check_history(rec, THREADS * THREAD_ADMITS, &max_accepted,
                                &writers),
                  0);
  for (i = 0; i < THREADS * THREAD_ADMITS; i++)
    refusals += rec[i].rc == TN_EFENCED;
  printf("(%zu refused, %d writers accepted) ", refusals, writers);
  CU_ASSERT(refusals > 0); /* they really raced */
  CU_ASSERT(writers >= 2);
  CU_ASSERT_EQUAL(highest_of(f, "shared"), max_accepted);
  tn_fence_close(f);
}

static void test_threads_one_handle(void) { run_threads(0); }
static void test_threads_own_handles(void) { run_threads(1); }

#define CHILDREN 4
#define CHILD_ADMITS 500

static void test_processes(void) {
  size_t n = CHILDREN * CHILD_ADMITS, i, refusals = 0;
  /* the records, then the token issuer and a count of children ready */
  admit_record *rec = mmap(NULL, (n + 1) * sizeof *rec, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  _Atomic uint64_t *issuer = (_Atomic uint64_t *)(void *)(rec + n);
  _Atomic int *ready = (_Atomic int *)(void *)(issuer + 1);
  pid_t pids[CHILDREN];
  char path[256];
  uint64_t max_accepted;
  int writers, c, status;
  tn_fence *f;
  CU_ASSERT_FATAL(rec != MAP_FAILED);
  memset(rec, 0, (n + 1) * sizeof *rec);
  atomic_init(issuer, 0);
  atomic_init(ready, 0);
  fresh(path, sizeof path, "procs");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  tn_fence_close(f); /* children open their own; a handle must not cross fork */
  for (c = 0; c < CHILDREN; c++) {
    pids[c] = fork();
    CU_ASSERT_FATAL(pids[c] >= 0);
    if (pids[c] == 0) {
      tn_fence *mine;
      int opened = tn_fence_open(path, &mine) == 0;
      atomic_fetch_add(ready, 1);
      while (atomic_load(ready) < CHILDREN) /* start together */
        sched_yield();
      if (!opened)
        _exit(3);
      admit_run(mine, c, CHILD_ADMITS, rec + (size_t)c * CHILD_ADMITS, issuer);
      tn_fence_close(mine);
      _exit(0);
    }
  }
  for (c = 0; c < CHILDREN; c++) {
    CU_ASSERT_EQUAL(waitpid(pids[c], &status, 0), pids[c]);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  CU_ASSERT_EQUAL(check_history(rec, n, &max_accepted, &writers), 0);
  for (i = 0; i < n; i++)
    refusals += rec[i].rc == TN_EFENCED;
  printf("(%zu refused, %d writers accepted) ", refusals, writers);
  CU_ASSERT(refusals > 0);
  CU_ASSERT(writers >= 2);
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT_EQUAL(highest_of(f, "shared"), max_accepted);
  tn_fence_close(f);
  munmap(rec, (n + 1) * sizeof *rec);
}

/* Another process holds the lock and, while holding it, writes a higher
 * token. An admit that was waiting for the lock must decide on that newer
 * state, not on anything it read before it got the lock. */
typedef struct waiter {
  tn_fence *f;
  atomic_int done;
  int rc;
} waiter;

static void *waiter_main(void *p) {
  waiter *w = p;
  w->rc = tn_fence_admit(w->f, "r", 50);
  atomic_store(&w->done, 1);
  return NULL;
}

static void test_admit_rereads_under_lock(void) {
  char path[256], lock_path[300], tmp[300];
  unsigned char bytes[512];
  struct timespec wait = {0, 100 * 1000 * 1000};
  struct flock fl;
  tn__fence_state st;
  pthread_t th;
  waiter w;
  int lfd;
  fresh(path, sizeof path, "locked");
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &w.f), 0);
  CU_ASSERT_EQUAL(tn_fence_admit(w.f, "r", 10), 0);
  snprintf(lock_path, sizeof lock_path, "%s.lock", path);
  lfd = open(lock_path, O_RDWR);
  CU_ASSERT_FATAL(lfd >= 0);
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  CU_ASSERT_EQUAL_FATAL(fcntl(lfd, F_OFD_SETLKW, &fl), 0);

  atomic_init(&w.done, 0);
  w.rc = 1;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, waiter_main, &w), 0);
  nanosleep(&wait, NULL);
  CU_ASSERT_EQUAL(atomic_load(&w.done), 0); /* admit waits for the lock */

  /* as another writer would: r = 100, replaced by rename */
  tn__fence_state_init(&st);
  CU_ASSERT_EQUAL(tn__fence_put(&st, "r", 100), 0);
  tn__fence_encode(&st, bytes);
  snprintf(tmp, sizeof tmp, "%s.other", path);
  write_bytes(tmp, bytes, tn__fence_encoded_size(&st));
  CU_ASSERT_EQUAL(rename(tmp, path), 0);
  tn__fence_state_free(&st);

  fl.l_type = F_UNLCK;
  CU_ASSERT_EQUAL(fcntl(lfd, F_OFD_SETLK, &fl), 0);
  pthread_join(th, NULL);
  CU_ASSERT_EQUAL(w.rc, TN_EFENCED);
  CU_ASSERT_EQUAL(highest_of(w.f, "r"), 100);
  close(lfd);
  tn_fence_close(w.f);
}

/* --- crashes ---------------------------------------------------------- */

static void test_killed_after_admit(void) {
  char path[256];
  int pipefd[2], status;
  uint64_t reported = 0;
  tn_fence *f;
  pid_t pid;
  fresh(path, sizeof path, "killed");
  CU_ASSERT_EQUAL_FATAL(pipe(pipefd), 0);
  pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0) {
    uint64_t n = 77;
    close(pipefd[0]);
    if (tn_fence_open(path, &f) != 0 || tn_fence_admit(f, "r", n) != 0)
      _exit(3);
    if (write(pipefd[1], &n, sizeof n) != sizeof n)
      _exit(4);
    for (;;)
      pause();
  }
  close(pipefd[1]);
  CU_ASSERT_EQUAL(read(pipefd[0], &reported, sizeof reported),
                  (ssize_t)sizeof reported);
  close(pipefd[0]);
  kill(pid, SIGKILL);
  CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
  CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CU_ASSERT_EQUAL_FATAL(reported, 77);
  CU_ASSERT_EQUAL_FATAL(tn_fence_open(path, &f), 0);
  CU_ASSERT(highest_of(f, "r") >= reported);
  tn_fence_close(f);
}

#define KILL_ROUNDS 120

static void test_killed_at_random_points(void) {
  /* shared with the children: the last token whose admit returned 0 */
  _Atomic uint64_t *reported = mmap(NULL, 2 * sizeof *reported,
                                    PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  uint64_t seed = 0xD1B54A32D192ED03ull, last_a = 0, last_b = 0;
  char path[256];
  int round, killed_mid_write = 0, status;
  tn_fence *f;
  CU_ASSERT_FATAL(reported != MAP_FAILED);
  fresh(path, sizeof path, "crashes");
  for (round = 0; round < KILL_ROUNDS; round++) {
    struct timespec delay = {0, (long)(next_rand(&seed) % 4000) * 1000};
    uint64_t a, b;
    pid_t pid;
    atomic_store(&reported[0], 0);
    atomic_store(&reported[1], 0);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
      tn_fence *mine;
      uint64_t t = last_a + 1;
      if (tn_fence_open(path, &mine) != 0)
        _exit(3);
      for (;; t++) {
        if (tn_fence_admit(mine, "a", t) == 0)
          atomic_store(&reported[0], t);
        if (tn_fence_admit(mine, "b", 2 * t) == 0)
          atomic_store(&reported[1], 2 * t);
      }
    }
    /* Most kills land 0-4 ms after the fork, wherever the child is. A
     * loaded machine may not run the child at all in that time, so every
     * eighth round first waits for it to have admitted once (however late
     * it is scheduled): the random kill then lands mid-stream, and the
     * check below that work was done cannot depend on scheduling. */
    if (round % 8 == 0) {
      struct timespec tick = {0, 100 * 1000};
      tn_nanos until = tn_now() + 20 * TN_SEC;
      while (atomic_load(&reported[0]) == 0 && tn_now() < until)
        nanosleep(&tick, NULL);
    }
    nanosleep(&delay, NULL);
    kill(pid, SIGKILL);
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    killed_mid_write += exists(path, ".tmp");
    /* the file always opens: never torn, never corrupt */
    f = NULL;
    if (tn_fence_open(path, &f) != 0) {
      fprintf(stderr, "\nround %d: %s\n", round, tn_fence_last_error());
      CU_FAIL_FATAL("the state did not open after a kill");
    }
    a = highest_of(f, "a");
    b = highest_of(f, "b");
    tn_fence_close(f);
    /* everything admitted is there, and nothing went backwards */
    CU_ASSERT(a >= atomic_load(&reported[0]));
    CU_ASSERT(b >= atomic_load(&reported[1]));
    CU_ASSERT(a >= last_a);
    CU_ASSERT(b >= last_b);
    last_a = a;
    last_b = b;
  }
  CU_ASSERT(last_a > 0); /* the children did get work done */
  printf("(%d of %d kills left a temp file) ", killed_mid_write, KILL_ROUNDS);
  munmap(reported, 2 * sizeof *reported);
}

static const tn_cu_test admit_tests[] = {
    {"5,5,6 admitted, 4 refused, resources independent, survives reopen",
     test_admit_sequence},
    {"open creates a valid empty state and a lock file",
     test_open_creates_valid_empty_state},
    {"only a rising token rewrites the file", test_only_a_rise_rewrites},
    {"list: sorted, counts beyond max", test_list},
    {"bad arguments", test_bad_arguments},
    {"open: missing directory, directory, FIFO at the path", test_open_errors},
    {"read-only handle creates nothing and cannot admit", test_readonly},
    {"at most TN_FENCE_RESOURCES_MAX resources", test_resource_limit},
    {NULL, NULL}};

static const tn_cu_test corrupt_tests[] = {
    {"every byte flipped is refused, file untouched",
     test_corrupt_every_byte_flipped},
    {"truncated at every length is refused",
     test_corrupt_truncated_at_every_length},
    {"trailing bytes are refused", test_corrupt_trailing_garbage},
    {"each fault is named", test_corrupt_reasons},
    {"corruption after open: refused, never repaired", test_corrupt_after_open},
    {"a vanished state file is not recreated by admit",
     test_state_file_disappears},
    {NULL, NULL}};

static const tn_cu_test fault_tests[] = {
    {"failed write, fsync, rename: old state intact, no temp, next works",
     test_fault_injection},
    {"a stale temp file from a crash is harmless",
     test_stale_temp_file_is_harmless},
    {NULL, NULL}};

static const tn_cu_test concurrency_tests[] = {
    {"4 threads, one handle: real-time order holds", test_threads_one_handle},
    {"4 threads, own handles: real-time order holds",
     test_threads_own_handles},
    {"4 processes x 500 admits: real-time order holds", test_processes},
    {"admit re-reads the state once it holds the lock",
     test_admit_rereads_under_lock},
    {NULL, NULL}};

static const tn_cu_test crash_tests[] = {
    {"SIGKILL after admit returned: the token is there",
     test_killed_after_admit},
    {"SIGKILL at random points: always opens, never goes back",
     test_killed_at_random_points},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {
    {"fence admit", admit_tests, suite_init, suite_cleanup},
    {"fence corrupt state", corrupt_tests, suite_init, suite_cleanup},
    {"fence write faults", fault_tests, suite_init, suite_cleanup},
    {"fence concurrency", concurrency_tests, suite_init, suite_cleanup},
    {"fence crashes", crash_tests, suite_init, suite_cleanup},
    {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
