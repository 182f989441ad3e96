/* Unit tests: the control socket (ctl.c) and its protocol (ctl_proto.c). */
#define _GNU_SOURCE
#include "cu_main.h"

#include "ctl_proto.h"
#include <tenure/clock.h>
#include <tenure/ctl.h>
#include <tenure/error.h>

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp_root[64];   /* mkdtemp'd; removed by the cleanup */
static char run_dir[128];   /* $TENURE_RUN_DIR for the server tests */

/* --- helpers ------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int suite_init(void) {
  strcpy(tmp_root, "/tmp/tn-ctl-test-XXXXXX");
  if (mkdtemp(tmp_root) == NULL)
    return 1;
  snprintf(run_dir, sizeof run_dir, "%s/run", tmp_root);
  if (mkdir(run_dir, 0700) != 0)
    return 1;
  return setenv("TENURE_RUN_DIR", run_dir, 1);
}

static int suite_cleanup(void) {
  nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * TN_MSEC};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static tn_nanos ms_since(tn_nanos start) {
  return (tn_now() - start) / TN_MSEC;
}

/* A bound on how long something took, in ms: far beyond any descheduling
 * on a loaded 2-core machine and far below what a hang or a missed wake-up
 * would take, so it says only "it did not wait for that". Waits for
 * something to happen "eventually" use WAIT_MS, longer still. */
#define PROMPT_MS 5000
#define WAIT_MS 10000

static void make_path(char *buf, size_t len, const char *name) {
  int n = snprintf(buf, len, "%s/%s", run_dir, name);
  CU_ASSERT_FATAL(n > 0 && (size_t)n < len);
}

static int raw_connect(const char *path) {
  struct sockaddr_un addr;
  struct timeval tv = {5, 0};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int send_str(int fd, const char *s) { return send_all(fd, s, strlen(s)); }

/* Read up to len bytes, stopping at EOF or when timeout_ms passes. */
static size_t read_n(int fd, char *buf, size_t len, int timeout_ms) {
  tn_nanos deadline = tn_now() + timeout_ms * TN_MSEC;
  size_t got = 0;
  while (got < len) {
    struct pollfd p = {fd, POLLIN, 0};
    tn_nanos left = deadline - tn_now();
    ssize_t n;
    if (left <= 0)
      break;
    if (poll(&p, 1, (int)(left / TN_MSEC) + 1) <= 0)
      continue;
    n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
    if (n > 0)
      got += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
      break;
  }
  return got;
}

static void expect_bytes(int fd, const char *want, size_t len) {
  char buf[1024];
  size_t got;
  CU_ASSERT_FATAL(len <= sizeof buf);
  got = read_n(fd, buf, len, 5000);
  CU_ASSERT_EQUAL(got, len);
  CU_ASSERT(memcmp(buf, want, got < len ? got : len) == 0);
  if (got != len || memcmp(buf, want, len) != 0)
    fprintf(stderr, "\nwanted \"%.*s\", got \"%.*s\"\n", (int)len, want,
            (int)got, buf);
}

static void expect_str(int fd, const char *want) {
  expect_bytes(fd, want, strlen(want));
}

/* Nothing more arrives within ms (the server sent no stray bytes). */
static int quiet_for(int fd, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, ms) == 0;
}

/* Read and drop everything until end of stream. Returns 1 if it ended
 * within timeout_ms; *total gets the byte count. */
static int drain_to_eof(int fd, int timeout_ms, size_t *total) {
  static char sink[65536];
  tn_nanos deadline = tn_now() + timeout_ms * TN_MSEC;
  *total = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    tn_nanos left = deadline - tn_now();
    ssize_t n;
    if (left <= 0)
      return 0;
    if (poll(&p, 1, (int)(left / TN_MSEC) + 1) <= 0)
      continue;
    n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0)
      *total += (size_t)n;
    else if (n == 0 || errno == ECONNRESET)
      return 1;
    else if (errno != EAGAIN && errno != EINTR)
      return 0;
  }
}

/* --- handlers ------------------------------------------------------------ */

static atomic_int handler_sleep_ms;
static atomic_size_t big_size;
static atomic_int huge_over_rc, huge_fit_rc;

static int h_echo(const char *args, tn_ctl_out *out, void *arg) {
  (void)arg;
  return tn_ctl_out_write(out, args, strlen(args));
}

static int h_status(const char *args, tn_ctl_out *out, void *arg) {
  (void)args;
  (void)arg;
  return tn_ctl_out_printf(out, "{\"ok\":%s}", "true");
}

/* big_size bytes of a pattern a reader can check */
static int h_big(const char *args, tn_ctl_out *out, void *arg) {
  size_t n = atomic_load(&big_size), off, i;
  char chunk[4096];
  (void)args;
  (void)arg;
  for (off = 0; off < n; off += sizeof chunk) {
    size_t len = n - off < sizeof chunk ? n - off : sizeof chunk;
    int rc;
    for (i = 0; i < len; i++)
      chunk[i] = (char)('a' + (off + i) % 26);
    if ((rc = tn_ctl_out_write(out, chunk, len)) != 0)
      return rc;
  }
  return 0;
}

static int h_nosup(const char *args, tn_ctl_out *out, void *arg) {
  (void)args;
  (void)out;
  (void)arg;
  return TN_ENOTSUP;
}

static int h_busy(const char *args, tn_ctl_out *out, void *arg) {
  (void)args;
  (void)out;
  (void)arg;
  return TN_EBUSY;
}

/* writes, then fails: the partial payload must not leak into the reply */
static int h_half(const char *args, tn_ctl_out *out, void *arg) {
  (void)args;
  (void)arg;
  tn_ctl_out_write(out, "partial", 7);
  return TN_EINVAL;
}

/* Sleeps handler_sleep_ms, re-read every millisecond: lowering it ends
 * the sleep. */
static int h_sleep(const char *args, tn_ctl_out *out, void *arg) {
  tn_nanos start = tn_now();
  (void)args;
  (void)arg;
  while (ms_since(start) < atomic_load(&handler_sleep_ms))
    sleep_ms(1);
  return tn_ctl_out_write(out, "awake", 5);
}

/* the payload cap is checked before anything is copied or allocated */
static int h_huge(const char *args, tn_ctl_out *out, void *arg) {
  static const char byte = 'x';
  (void)args;
  (void)arg;
  atomic_store(&huge_over_rc, tn_ctl_out_write(out, &byte, TN_CTL_MAX_REPLY + 1));
  atomic_store(&huge_fit_rc, tn_ctl_out_write(out, &byte, 1));
  return atomic_load(&huge_over_rc);
}

/* printf output longer than any first allocation */
static int h_long(const char *args, tn_ctl_out *out, void *arg) {
  int i, rc = 0;
  (void)args;
  (void)arg;
  for (i = 0; i < 3 && rc == 0; i++)
    rc = tn_ctl_out_printf(out, "%d:%0*d|", i, 1000, i);
  return rc;
}

static tn_ctl_server *server_up(const char *name, tn_nanos idle,
                                unsigned max_clients) {
  static const struct {
    const char *word;
    tn_ctl_handler fn;
  } cmds[] = {{"echo", h_echo},   {"status", h_status}, {"big", h_big},
              {"nosup", h_nosup}, {"busy", h_busy},     {"half", h_half},
              {"sleep", h_sleep}, {"huge", h_huge},     {"long", h_long}};
  char path[108];
  tn_ctl_config cfg = {path, idle, max_clients};
  tn_ctl_server *s = NULL;
  size_t i;
  make_path(path, sizeof path, name);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_new(&cfg, &s), 0);
  for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    CU_ASSERT_EQUAL_FATAL(tn_ctl_server_register(s, cmds[i].word, cmds[i].fn, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_start(s), 0);
  return s;
}

static int call(const tn_ctl_server *s, const char *line, char **payload,
                size_t *len, char *errbuf, size_t errlen) {
  return tn_ctl_call(tn_ctl_server_path(s), line, payload, len, errbuf, errlen,
                     5 * TN_SEC);
}

/* Leave a socket file behind with nobody listening on it. */
static void make_stale_socket(const char *path) {
  struct sockaddr_un addr;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  CU_ASSERT_FATAL(fd >= 0);
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  CU_ASSERT_EQUAL_FATAL(listen(fd, 1), 0);
  close(fd);
}

/* --- protocol: pure functions -------------------------------------------- */

static void check_line(const char *line, size_t len, tn__ctl_line_kind kind,
                       const char *word, const char *args) {
  tn__ctl_line l;
  tn__ctl_parse_line(line, len, &l);
  CU_ASSERT_EQUAL(l.kind, kind);
  if (l.kind != kind)
    fprintf(stderr, "\nline \"%.*s\": kind %d, want %d\n", (int)len, line,
            l.kind, kind);
  CU_ASSERT(l.word >= line && l.word + l.word_len <= line + len);
  CU_ASSERT(l.args >= line && l.args + l.args_len <= line + len);
  if (word) {
    CU_ASSERT_EQUAL(l.word_len, strlen(word));
    CU_ASSERT(memcmp(l.word, word, l.word_len) == 0);
  }
  if (args) {
    CU_ASSERT_EQUAL(l.args_len, strlen(args));
    CU_ASSERT(memcmp(l.args, args, l.args_len) == 0);
  }
}

#define LINE(s) s, sizeof s - 1

static void test_parse_line(void) {
  check_line(LINE("status"), TN__CTL_LINE_COMMAND, "status", "");
  check_line(LINE("events 42"), TN__CTL_LINE_COMMAND, "events", "42");
  check_line(LINE("collect-unplanned"), TN__CTL_LINE_COMMAND,
             "collect-unplanned", "");
  /* one space separates; the rest, spaces included, is the handler's */
  check_line(LINE("events  42 x"), TN__CTL_LINE_COMMAND, "events", " 42 x");
  check_line(LINE("status "), TN__CTL_LINE_COMMAND, "status", "");
  check_line(LINE("status\r"), TN__CTL_LINE_COMMAND, "status", "");
  check_line(LINE("echo \xc3\xa9t\xc3\xa9"), TN__CTL_LINE_MALFORMED, NULL,
             NULL);
  check_line(LINE(""), TN__CTL_LINE_EMPTY, NULL, NULL);
  check_line(LINE("\r"), TN__CTL_LINE_EMPTY, NULL, NULL);
  check_line(NULL, 0, TN__CTL_LINE_EMPTY, NULL, NULL);
  check_line(LINE(" status"), TN__CTL_LINE_MALFORMED, NULL, NULL);
  check_line(LINE(" "), TN__CTL_LINE_MALFORMED, NULL, NULL);
  check_line(LINE("sta\0tus"), TN__CTL_LINE_MALFORMED, NULL, NULL);
  check_line(LINE("echo a\0b"), TN__CTL_LINE_MALFORMED, NULL, NULL);
  check_line(LINE("status\t"), TN__CTL_LINE_MALFORMED, NULL, NULL);
  check_line(LINE("echo \x7f"), TN__CTL_LINE_MALFORMED, NULL, NULL);
  check_line(LINE("status\r\r"), TN__CTL_LINE_MALFORMED, NULL, NULL);
  check_line(LINE("Status"), TN__CTL_LINE_BAD_WORD, "Status", NULL);
  check_line(LINE("st@tus 1"), TN__CTL_LINE_BAD_WORD, "st@tus", "1");
  check_line(LINE("events_since 1"), TN__CTL_LINE_BAD_WORD, "events_since",
             NULL);
  check_line(LINE("\xc3\xa9"), TN__CTL_LINE_MALFORMED, NULL, NULL);
}

static void check_reply_ok(const char *line, size_t len, size_t want) {
  tn__ctl_reply r = {0, 12345, NULL, 0};
  CU_ASSERT_EQUAL(tn__ctl_parse_reply(line, len, &r), 0);
  CU_ASSERT_EQUAL(r.is_ok, 1);
  CU_ASSERT_EQUAL(r.length, want);
}

static void check_reply_bad(const char *line, size_t len) {
  tn__ctl_reply r = {7, 12345, NULL, 0};
  int rc = tn__ctl_parse_reply(line, len, &r);
  CU_ASSERT_EQUAL(rc, TN_EPROTO);
  if (rc != TN_EPROTO)
    fprintf(stderr, "\naccepted reply \"%.*s\"\n", (int)len, line);
  CU_ASSERT(r.is_ok == 7 && r.length == 12345); /* untouched */
}

static void test_parse_reply(void) {
  char line[64];
  tn__ctl_reply r;
  check_reply_ok(LINE("ok 0"), 0);
  check_reply_ok(LINE("ok 12"), 12);
  snprintf(line, sizeof line, "ok %zu", TN_CTL_MAX_REPLY);
  check_reply_ok(line, strlen(line), TN_CTL_MAX_REPLY);
  snprintf(line, sizeof line, "ok %zu", TN_CTL_MAX_REPLY + 1);
  check_reply_bad(line, strlen(line));
  check_reply_bad(LINE("ok 99999999999999999999999999999999999999"));
  check_reply_bad(LINE("ok 18446744073709551616"));
  check_reply_bad(LINE("ok 012"));
  check_reply_bad(LINE("ok 00"));
  check_reply_bad(LINE("ok "));
  check_reply_bad(LINE("ok"));
  check_reply_bad(LINE("ok -1"));
  check_reply_bad(LINE("ok +1"));
  check_reply_bad(LINE("ok 1 "));
  check_reply_bad(LINE("ok  1"));
  check_reply_bad(LINE("ok 1\r"));
  check_reply_bad(LINE("ok 1\0"));
  check_reply_bad(LINE("OK 1"));
  check_reply_bad(LINE("okay 1"));
  check_reply_bad(LINE("error"));
  check_reply_bad(LINE("error "));
  check_reply_bad(LINE("error bad\tthing"));
  check_reply_bad(LINE("error a\0b"));
  check_reply_bad(LINE("error \xc3\xa9"));
  check_reply_bad(LINE(""));
  check_reply_bad(NULL, 0);
  CU_ASSERT_EQUAL(tn__ctl_parse_reply(LINE("error line too long"), &r), 0);
  CU_ASSERT_EQUAL(r.is_ok, 0);
  CU_ASSERT_EQUAL(r.reason_len, 13);
  CU_ASSERT(memcmp(r.reason, "line too long", 13) == 0);
}

static void test_format_ok(void) {
  static const size_t sizes[] = {0, 1, 9, 10, 12345, TN_CTL_MAX_REPLY,
                                 SIZE_MAX};
  char buf[TN__CTL_HEADER_ROOM], want[64];
  size_t i, n;
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    n = tn__ctl_format_ok(buf, sizes[i]);
    snprintf(want, sizeof want, "ok %zu\n", sizes[i]);
    CU_ASSERT_EQUAL(n, strlen(want));
    CU_ASSERT(memcmp(buf, want, n) == 0);
    if (sizes[i] <= TN_CTL_MAX_REPLY)
      check_reply_ok(buf, n - 1, sizes[i]);
  }
}

static void test_format_error(void) {
  char buf[TN__CTL_MAX_ERROR_LINE], reason[400];
  tn__ctl_reply r;
  size_t n;

  n = tn__ctl_format_error(buf, LINE("line too long"));
  CU_ASSERT_EQUAL(n, 20);
  CU_ASSERT(memcmp(buf, "error line too long\n", 20) == 0);

  /* a reason cannot break the framing: no newline, no control bytes */
  n = tn__ctl_format_error(buf, LINE("a\nok 5\nhello\0\xff"));
  CU_ASSERT_EQUAL(n, 6 + 14 + 1);
  CU_ASSERT(memcmp(buf, "error a?ok 5?hello??\n", n) == 0);
  CU_ASSERT_EQUAL(tn__ctl_parse_reply(buf, n - 1, &r), 0);

  n = tn__ctl_format_error(buf, "", 0);
  CU_ASSERT(memcmp(buf, "error unknown error\n", n) == 0);

  memset(reason, 'r', sizeof reason);
  n = tn__ctl_format_error(buf, reason, sizeof reason);
  CU_ASSERT_EQUAL(n, TN__CTL_MAX_ERROR_LINE);
  CU_ASSERT_EQUAL(buf[n - 1], '\n');
  CU_ASSERT(n - 1 <= TN__CTL_MAX_HEADER);
  CU_ASSERT_EQUAL(tn__ctl_parse_reply(buf, n - 1, &r), 0);
  CU_ASSERT_EQUAL(r.reason_len, TN__CTL_MAX_REASON);

  n = tn__ctl_format_unknown(buf, LINE("bogus"));
  CU_ASSERT(n == 28 && memcmp(buf, "error unknown command bogus\n", n) == 0);
  n = tn__ctl_format_unknown(buf, reason, 200);
  CU_ASSERT_EQUAL(n, 6 + 16 + TN__CTL_MAX_ECHO + 1);
  n = tn__ctl_format_unknown(buf, LINE("St\xc3\xa9"));
  CU_ASSERT(memcmp(buf, "error unknown command St??\n", n) == 0);
}

static void test_reason_codes(void) {
  static const int codes[] = {
#define CODE(name, value, msg) TN_##name,
      TN_ERRNO_MAP(CODE)
#undef CODE
  };
  size_t i;
  CU_ASSERT_STRING_EQUAL(tn__ctl_reason(TN_ENOTSUP), "unsupported");
  CU_ASSERT_STRING_EQUAL(tn__ctl_reason(TN_EINVAL), "bad argument");
  CU_ASSERT_STRING_EQUAL(tn__ctl_reason(TN_EBUSY), "resource busy");
  CU_ASSERT_EQUAL(tn__ctl_reason_code(LINE("permission denied")), TN_EPERM);
  CU_ASSERT_EQUAL(tn__ctl_reason_code(LINE("too many clients")), TN_EBUSY);
  CU_ASSERT_EQUAL(tn__ctl_reason_code(LINE("unsupported")), TN_ENOTSUP);
  CU_ASSERT_EQUAL(tn__ctl_reason_code(LINE("line too long")), TN_EINVAL);
  CU_ASSERT_EQUAL(tn__ctl_reason_code(LINE("unknown command x")), TN_EINVAL);
  CU_ASSERT_EQUAL(tn__ctl_reason_code(LINE("permission denied!")), TN_EINVAL);
  CU_ASSERT_EQUAL(tn__ctl_reason_code(LINE("permission")), TN_EINVAL);
  /* every code a handler returns reaches the client as itself */
  for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *reason = tn__ctl_reason(codes[i]);
    CU_ASSERT_EQUAL(tn__ctl_reason_code(reason, strlen(reason)), codes[i]);
  }
}

/* --- run directory ------------------------------------------------------- */

static void test_run_dir_env_wins(void) {
  char want[256], got[256];
  struct stat st;
  mode_t old;
  snprintf(want, sizeof want, "%s/envdir", tmp_root);
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in("/run", want, "/xdg", got, sizeof got, 0), 0);
  CU_ASSERT_STRING_EQUAL(got, want);
  CU_ASSERT(stat(want, &st) != 0); /* create == 0 creates nothing */

  old = umask(0); /* the mode must not depend on the umask */
  CU_ASSERT_EQUAL(setenv("TENURE_RUN_DIR", want, 1), 0);
  CU_ASSERT_EQUAL(tn_ctl_run_dir(got, sizeof got, 1), 0);
  umask(old);
  CU_ASSERT_STRING_EQUAL(got, want);
  CU_ASSERT_EQUAL_FATAL(stat(want, &st), 0);
  CU_ASSERT(S_ISDIR(st.st_mode));
  CU_ASSERT_EQUAL(st.st_mode & 07777, 0700);
  setenv("TENURE_RUN_DIR", run_dir, 1);

  /* an explicit directory that cannot be made is an error, not a fallback */
  snprintf(want, sizeof want, "%s/missing/deeper", tmp_root);
  CU_ASSERT(tn__ctl_run_dir_in("/run", want, NULL, got, sizeof got, 1) < 0);
}

static void test_run_dir_order(void) {
  char sys[256], xdg[256], want[300], got[300], tmp_want[64];
  struct stat st;
  FILE *f;
  mode_t old;

  snprintf(sys, sizeof sys, "%s/sys", tmp_root);
  snprintf(xdg, sizeof xdg, "%s/xdg", tmp_root);
  snprintf(tmp_want, sizeof tmp_want, "/tmp/tenure-%lu",
           (unsigned long)geteuid());
  CU_ASSERT_EQUAL_FATAL(mkdir(sys, 0755), 0);
  CU_ASSERT_EQUAL_FATAL(mkdir(xdg, 0700), 0);

  /* the system directory first, when it can be created */
  snprintf(want, sizeof want, "%s/tenure", sys);
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in(sys, NULL, xdg, got, sizeof got, 0), 0);
  CU_ASSERT_STRING_EQUAL(got, want);
  CU_ASSERT(stat(want, &st) != 0);
  /* an empty $TENURE_RUN_DIR counts as unset */
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in(sys, "", xdg, got, sizeof got, 0), 0);
  CU_ASSERT_STRING_EQUAL(got, want);

  /* no system directory: $XDG_RUNTIME_DIR/tenure, created 0700 */
  snprintf(want, sizeof want, "%s/tenure", xdg);
  old = umask(0);
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in("/nonexistent-tn", NULL, xdg, got,
                                     sizeof got, 1), 0);
  umask(old);
  CU_ASSERT_STRING_EQUAL(got, want);
  CU_ASSERT_EQUAL_FATAL(stat(want, &st), 0);
  CU_ASSERT_EQUAL(st.st_mode & 07777, 0700);

  /* a system "tenure" that is not a directory is skipped */
  snprintf(want, sizeof want, "%s/tenure", sys);
  f = fopen(want, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fclose(f);
  snprintf(want, sizeof want, "%s/tenure", xdg);
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in(sys, NULL, xdg, got, sizeof got, 0), 0);
  CU_ASSERT_STRING_EQUAL(got, want);

  /* neither: /tmp/tenure-<uid>; a relative $XDG_RUNTIME_DIR is ignored */
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in("/nonexistent-tn", NULL, NULL, got,
                                     sizeof got, 0), 0);
  CU_ASSERT_STRING_EQUAL(got, tmp_want);
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in("/nonexistent-tn", NULL, "relative/xdg",
                                     got, sizeof got, 0), 0);
  CU_ASSERT_STRING_EQUAL(got, tmp_want);
}

static void test_run_dir_default(void) {
  char saved[256], got[256];
  struct stat st;
  snprintf(saved, sizeof saved, "%s", getenv("TENURE_RUN_DIR"));
  unsetenv("TENURE_RUN_DIR");
  CU_ASSERT_EQUAL(tn_ctl_run_dir(got, sizeof got, 0), 0);
  setenv("TENURE_RUN_DIR", saved, 1);
  CU_ASSERT_EQUAL(got[0], '/');
  if (geteuid() == 0 && stat("/run", &st) == 0 && S_ISDIR(st.st_mode))
    CU_ASSERT_STRING_EQUAL(got, "/run/tenure");
}

/* Someone else's, or a world-readable, /tmp/tenure-<uid> is refused. Runs
 * only when that directory does not exist yet, and removes it after. */
static void test_run_dir_tmp_must_be_private(void) {
  char dir[64], got[256];
  struct stat st;
  snprintf(dir, sizeof dir, "/tmp/tenure-%lu", (unsigned long)geteuid());
  if (lstat(dir, &st) == 0) {
    printf("skipped: %s exists ", dir);
    CU_PASS("skipped");
    return;
  }
  CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
  CU_ASSERT_EQUAL(chmod(dir, 0755), 0);
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in("/nonexistent-tn", NULL, NULL, got,
                                     sizeof got, 1), TN_EPERM);
  CU_ASSERT_EQUAL(chmod(dir, 0700), 0);
  CU_ASSERT_EQUAL(tn__ctl_run_dir_in("/nonexistent-tn", NULL, NULL, got,
                                     sizeof got, 1), 0);
  CU_ASSERT_STRING_EQUAL(got, dir);
  rmdir(dir);
}

static void test_socket_path(void) {
  char got[256], want[256];
  snprintf(want, sizeof want, "%s/4242.sock", run_dir);
  CU_ASSERT_EQUAL(tn_ctl_socket_path(4242, got, sizeof got), 0);
  CU_ASSERT_STRING_EQUAL(got, want);
  CU_ASSERT_EQUAL(tn_ctl_socket_path(4242, got, strlen(want)), TN_ERANGE);
  CU_ASSERT_EQUAL(tn_ctl_socket_path(4242, got, strlen(want) + 1), 0);
  CU_ASSERT_EQUAL(tn_ctl_run_dir(got, strlen(run_dir), 0), TN_ERANGE);
  CU_ASSERT_EQUAL(tn_ctl_run_dir(got, strlen(run_dir) + 1, 0), 0);
  CU_ASSERT_STRING_EQUAL(got, run_dir);
}

/* --- server --------------------------------------------------------------- */

static void test_lifecycle(void) {
  tn_ctl_server *s = NULL;
  char want[256];
  struct stat st;
  mode_t old;
  char *payload = NULL;

  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_new(NULL, &s), 0);
  snprintf(want, sizeof want, "%s/%ld.sock", run_dir, (long)getpid());
  CU_ASSERT_STRING_EQUAL(tn_ctl_server_path(s), want);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "status", h_status, NULL), 0);
  old = umask(0); /* 0600 must not come from the umask */
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_start(s), 0);
  umask(old);
  CU_ASSERT_EQUAL(tn_ctl_server_start(s), TN_EBUSY);
  CU_ASSERT_EQUAL_FATAL(lstat(want, &st), 0);
  CU_ASSERT(S_ISSOCK(st.st_mode));
  CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
  CU_ASSERT_EQUAL(tn_ctl_call(want, "status", &payload, NULL, NULL, 0, 0), 0);
  CU_ASSERT_STRING_EQUAL(payload, "{\"ok\":true}");
  free(payload);

  tn_ctl_server_stop(s);
  CU_ASSERT(lstat(want, &st) != 0 && errno == ENOENT);
  tn_ctl_server_stop(s); /* idempotent */
  CU_ASSERT_EQUAL(tn_ctl_call(want, "status", NULL, NULL, NULL, 0, 0),
                  TN_ENOENT);

  /* and it starts again; a umask that takes the owner's write bit does not
   * leave the socket unusable */
  old = umask(0277);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_start(s), 0);
  umask(old);
  CU_ASSERT_EQUAL_FATAL(lstat(want, &st), 0);
  CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
  CU_ASSERT_EQUAL(tn_ctl_call(want, "status", NULL, NULL, NULL, 0, 0), 0);
  tn_ctl_server_free(s);
  CU_ASSERT(lstat(want, &st) != 0 && errno == ENOENT);
  tn_ctl_server_free(NULL);
}

static void test_register(void) {
  tn_ctl_server *s = NULL;
  char path[108], longword[TN_CTL_MAX_LINE + 1];
  tn_ctl_config cfg = {path, 0, 0};
  make_path(path, sizeof path, "register.sock");
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_new(&cfg, &s), 0);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "", h_echo, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "Echo", h_echo, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "ec ho", h_echo, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "echo ", h_echo, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "echo\r", h_echo, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "echo_1", h_echo, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "echo", NULL, NULL), TN_EINVAL);
  memset(longword, 'a', TN_CTL_MAX_LINE);
  longword[TN_CTL_MAX_LINE] = '\0';
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, longword, h_echo, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "collect-unplanned", h_echo, NULL), 0);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "echo", h_echo, NULL), 0);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "echo", h_status, NULL), TN_EEXIST);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_start(s), 0);
  CU_ASSERT_EQUAL(tn_ctl_server_register(s, "late", h_echo, NULL), TN_EBUSY);
  tn_ctl_server_free(s);

  path[0] = '\0';
  CU_ASSERT_EQUAL(tn_ctl_server_new(&cfg, &s), TN_EINVAL);
  memset(longword, 'p', sizeof path); /* one more than sun_path holds */
  longword[0] = '/';
  longword[sizeof path] = '\0';
  cfg.path = longword;
  CU_ASSERT_EQUAL(tn_ctl_server_new(&cfg, &s), TN_ERANGE);
  CU_ASSERT_PTR_NULL(s);
  longword[sizeof path - 1] = '\0';
  CU_ASSERT_EQUAL(tn_ctl_server_new(&cfg, &s), 0);
  tn_ctl_server_free(s);
}

static void test_ok_replies(void) {
  tn_ctl_server *s = server_up("ok.sock", 0, 0);
  char *payload = NULL;
  size_t len = 0;
  int fd = raw_connect(tn_ctl_server_path(s));
  CU_ASSERT_FATAL(fd >= 0);

  CU_ASSERT_EQUAL(send_str(fd, "echo hello\n"), 0);
  expect_str(fd, "ok 5\nhello");
  CU_ASSERT_EQUAL(send_str(fd, "status\n"), 0);
  expect_str(fd, "ok 11\n{\"ok\":true}");
  CU_ASSERT_EQUAL(send_str(fd, "echo\n"), 0);
  expect_str(fd, "ok 0\n");
  CU_ASSERT_EQUAL(send_str(fd, "echo  two  spaces \r\n"), 0);
  expect_str(fd, "ok 13\n two  spaces ");
  CU_ASSERT(quiet_for(fd, 50));
  close(fd);

  CU_ASSERT_EQUAL(call(s, "echo a b c", &payload, &len, NULL, 0), 0);
  CU_ASSERT_EQUAL(len, 5);
  CU_ASSERT_STRING_EQUAL(payload, "a b c");
  free(payload);
  CU_ASSERT_EQUAL(call(s, "echo", &payload, &len, NULL, 0), 0);
  CU_ASSERT_EQUAL(len, 0);
  CU_ASSERT_STRING_EQUAL(payload, "");
  free(payload);
  CU_ASSERT_EQUAL(call(s, "long", &payload, &len, NULL, 0), 0);
  CU_ASSERT_EQUAL(len, 3 * 1003);
  CU_ASSERT(payload && strncmp(payload, "0:000", 5) == 0 &&
            strncmp(payload + 1003, "1:000", 5) == 0 &&
            payload[len - 1] == '|');
  free(payload);
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), 0);
  tn_ctl_server_free(s);
}

static void test_big_reply(void) {
  tn_ctl_server *s = server_up("big.sock", 0, 0);
  char *payload = NULL;
  size_t len = 0, i, bad = 0;
  atomic_store(&big_size, (size_t)3 << 20);
  CU_ASSERT_EQUAL(call(s, "big", &payload, &len, NULL, 0), 0);
  CU_ASSERT_EQUAL_FATAL(len, (size_t)3 << 20);
  for (i = 0; i < len; i++)
    bad += payload[i] != (char)('a' + i % 26);
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(payload[len], '\0');
  free(payload);
  tn_ctl_server_free(s);
}

static void test_pipelined(void) {
  tn_ctl_server *s = server_up("pipe.sock", 0, 0);
  int fd = raw_connect(tn_ctl_server_path(s));
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(send_str(fd, "echo a\necho bc\nbogus\nstatus\n\necho d\n"), 0);
  expect_str(fd, "ok 1\naok 2\nbcerror unknown command bogus\n"
                 "ok 11\n{\"ok\":true}error empty request\nok 1\nd");
  CU_ASSERT(quiet_for(fd, 50));
  /* a line split across writes */
  CU_ASSERT_EQUAL(send_str(fd, "ec"), 0);
  sleep_ms(30);
  CU_ASSERT_EQUAL(send_str(fd, "ho split\n"), 0);
  expect_str(fd, "ok 5\nsplit");
  close(fd);
  tn_ctl_server_free(s);
}

static void test_malformed_lines(void) {
  tn_ctl_server *s = server_up("bad.sock", 0, 0);
  char line[TN_CTL_MAX_LINE + 64], want[TN_CTL_MAX_LINE + 16];
  int fd = raw_connect(tn_ctl_server_path(s));
  CU_ASSERT_FATAL(fd >= 0);

  CU_ASSERT_EQUAL(send_str(fd, "\n"), 0);
  expect_str(fd, "error empty request\n");
  CU_ASSERT_EQUAL(send_str(fd, "bogus\n"), 0);
  expect_str(fd, "error unknown command bogus\n");
  CU_ASSERT_EQUAL(send_str(fd, "Bo\x1b[2Jgus x\n"), 0);
  expect_str(fd, "error malformed request\n");
  CU_ASSERT_EQUAL(send_str(fd, "B\xc3\xa9gus x\n"), 0);
  expect_str(fd, "error malformed request\n");
  CU_ASSERT_EQUAL(send_all(fd, "echo a\0b\n", 9), 0);
  expect_str(fd, "error malformed request\n");
  CU_ASSERT_EQUAL(send_str(fd, " status\n"), 0);
  expect_str(fd, "error malformed request\n");
  memset(line, 'z', 100);
  memcpy(line + 100, "\n", 2);
  CU_ASSERT_EQUAL(send_str(fd, line), 0);
  expect_str(fd, "error unknown command zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n");

  /* the longest line: TN_CTL_MAX_LINE bytes with its '\n' */
  memcpy(line, "echo ", 5);
  memset(line + 5, 'x', TN_CTL_MAX_LINE - 6);
  line[TN_CTL_MAX_LINE - 1] = '\n';
  line[TN_CTL_MAX_LINE] = '\0';
  CU_ASSERT_EQUAL(send_str(fd, line), 0);
  snprintf(want, sizeof want, "ok %d\n%.*s", TN_CTL_MAX_LINE - 6,
           TN_CTL_MAX_LINE - 6, line + 5);
  expect_str(fd, want);
  /* one byte more is too long; the rest of it is dropped, not executed */
  memcpy(line, "echo ", 5);
  memset(line + 5, 'x', TN_CTL_MAX_LINE - 5);
  memcpy(line + TN_CTL_MAX_LINE, "status\n", 8);
  CU_ASSERT_EQUAL(send_str(fd, line), 0);
  expect_str(fd, "error line too long\n");
  CU_ASSERT(quiet_for(fd, 50));
  CU_ASSERT_EQUAL(send_str(fd, "echo still here\n"), 0);
  expect_str(fd, "ok 10\nstill here");
  close(fd);
  tn_ctl_server_free(s);
}

static void test_handler_errors(void) {
  tn_ctl_server *s = server_up("err.sock", 0, 0);
  char errbuf[64], small[5];
  char *payload = (char *)"untouched";
  size_t len = 99;
  int fd = raw_connect(tn_ctl_server_path(s));
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(send_str(fd, "nosup\nhalf\nbusy\necho ok\n"), 0);
  expect_str(fd, "error unsupported\nerror bad argument\n"
                 "error resource busy\nok 2\nok");
  close(fd);

  CU_ASSERT_EQUAL(call(s, "nosup", &payload, &len, errbuf, sizeof errbuf),
                  TN_ENOTSUP);
  CU_ASSERT_PTR_NULL(payload);
  CU_ASSERT_EQUAL(len, 0);
  CU_ASSERT_STRING_EQUAL(errbuf, "unsupported");
  CU_ASSERT_EQUAL(call(s, "half", NULL, NULL, errbuf, sizeof errbuf),
                  TN_EINVAL);
  CU_ASSERT_STRING_EQUAL(errbuf, "bad argument");
  CU_ASSERT_EQUAL(call(s, "busy", NULL, NULL, errbuf, sizeof errbuf), TN_EBUSY);
  CU_ASSERT_EQUAL(call(s, "nope", NULL, NULL, errbuf, sizeof errbuf), TN_EINVAL);
  CU_ASSERT_STRING_EQUAL(errbuf, "unknown command nope");
  CU_ASSERT_EQUAL(call(s, "nope", NULL, NULL, small, sizeof small), TN_EINVAL);
  CU_ASSERT_STRING_EQUAL(small, "unkn");
  CU_ASSERT_EQUAL(call(s, "", NULL, NULL, errbuf, sizeof errbuf), TN_EINVAL);
  CU_ASSERT_STRING_EQUAL(errbuf, "empty request");
  /* success clears errbuf */
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, errbuf, sizeof errbuf), 0);
  CU_ASSERT_STRING_EQUAL(errbuf, "");

  /* the payload cap refuses before copying; a byte under it is fine */
  CU_ASSERT_EQUAL(call(s, "huge", NULL, NULL, errbuf, sizeof errbuf),
                  TN_ENOMEM);
  CU_ASSERT_EQUAL(atomic_load(&huge_over_rc), TN_ENOMEM);
  CU_ASSERT_EQUAL(atomic_load(&huge_fit_rc), 0);
  CU_ASSERT_STRING_EQUAL(errbuf, "out of memory");
  tn_ctl_server_free(s);
}

static void test_call_errors(void) {
  char path[256], longline[TN_CTL_MAX_LINE + 1], *payload = NULL;
  make_path(path, sizeof path, "nobody-here.sock");
  CU_ASSERT_EQUAL(tn_ctl_call(path, "status", &payload, NULL, NULL, 0, 0),
                  TN_ENOENT);
  CU_ASSERT_PTR_NULL(payload);
  CU_ASSERT_EQUAL(tn_ctl_call("/nonexistent-tn/x.sock", "status", NULL, NULL,
                              NULL, 0, 0), TN_ENOENT);
  make_path(path, sizeof path, "stale-call.sock");
  make_stale_socket(path);
  CU_ASSERT_EQUAL(tn_ctl_call(path, "status", NULL, NULL, NULL, 0, 0),
                  TN_EUNAVAILABLE);
  /* requests that would not be one line are refused before sending */
  CU_ASSERT_EQUAL(tn_ctl_call(path, "status\nnosup", NULL, NULL, NULL, 0, 0),
                  TN_EINVAL);
  memset(longline, 'a', TN_CTL_MAX_LINE);
  longline[TN_CTL_MAX_LINE - 1] = '\0';
  CU_ASSERT_EQUAL(tn_ctl_call(path, longline, NULL, NULL, NULL, 0, 0),
                  TN_EUNAVAILABLE); /* 255 bytes is a legal line */
  longline[TN_CTL_MAX_LINE - 1] = 'a';
  longline[TN_CTL_MAX_LINE] = '\0';
  CU_ASSERT_EQUAL(tn_ctl_call(path, longline, NULL, NULL, NULL, 0, 0),
                  TN_EINVAL);
  CU_ASSERT_EQUAL(tn_ctl_call(NULL, "status", NULL, NULL, NULL, 0, 0),
                  TN_EINVAL);
  memset(path, 'p', 200);
  path[0] = '/';
  path[200] = '\0';
  CU_ASSERT_EQUAL(tn_ctl_call(path, "status", NULL, NULL, NULL, 0, 0),
                  TN_ERANGE);
}

static void test_client_timeout(void) {
  tn_ctl_server *s = server_up("slow.sock", 0, 0);
  tn_nanos start;
  int rc;
  /* The handler sleeps until released below, so no reply exists to be
   * read, however late this thread is scheduled: only the timeout can end
   * the call. */
  atomic_store(&handler_sleep_ms, 60 * 1000);
  start = tn_now();
  rc = tn_ctl_call(tn_ctl_server_path(s), "sleep", NULL, NULL, NULL, 0,
                   100 * TN_MSEC);
  CU_ASSERT_EQUAL(rc, TN_ETIMEDOUT);
  /* not before its timeout (1 ms for the rounding of the reading) ... */
  CU_ASSERT(ms_since(start) >= 100 - 1);
  /* ... and at it, not when the handler finishes (60 s) */
  CU_ASSERT(ms_since(start) < 100 + PROMPT_MS);
  atomic_store(&handler_sleep_ms, 0);
  /* the server is fine afterwards */
  CU_ASSERT_EQUAL(call(s, "sleep", NULL, NULL, NULL, 0), 0);
  tn_ctl_server_free(s);
}

static void test_stale_socket_replaced(void) {
  char path[108];
  tn_ctl_server *s;
  make_path(path, sizeof path, "stale.sock");
  make_stale_socket(path);
  CU_ASSERT_EQUAL(tn_ctl_call(path, "status", NULL, NULL, NULL, 0, 0),
                  TN_EUNAVAILABLE);
  s = server_up("stale.sock", 0, 0);
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), 0);
  tn_ctl_server_free(s);
}

static void test_live_socket_busy(void) {
  tn_ctl_server *a = server_up("live.sock", 0, 0), *b = NULL;
  tn_ctl_config cfg = {tn_ctl_server_path(a), 0, 0};
  struct stat before, after;
  CU_ASSERT_EQUAL_FATAL(lstat(tn_ctl_server_path(a), &before), 0);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_new(&cfg, &b), 0);
  CU_ASSERT_EQUAL(tn_ctl_server_start(b), TN_EBUSY);
  tn_ctl_server_free(b);
  /* the failed start left the live server's socket alone */
  CU_ASSERT_EQUAL_FATAL(lstat(tn_ctl_server_path(a), &after), 0);
  CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
  CU_ASSERT_EQUAL(call(a, "status", NULL, NULL, NULL, 0), 0);
  tn_ctl_server_free(a);
}

/* A server whose socket file was replaced by a successor's must not remove
 * the successor's file when it stops. */
static void test_stop_spares_successor(void) {
  tn_ctl_server *old = server_up("successor.sock", 0, 0), *successor;
  char path[108];
  struct stat st;
  snprintf(path, sizeof path, "%s", tn_ctl_server_path(old));
  CU_ASSERT_EQUAL(unlink(path), 0);
  successor = server_up("successor.sock", 0, 0);
  tn_ctl_server_free(old);
  CU_ASSERT_EQUAL(lstat(path, &st), 0);
  CU_ASSERT_EQUAL(call(successor, "status", NULL, NULL, NULL, 0), 0);
  tn_ctl_server_free(successor);
  CU_ASSERT(lstat(path, &st) != 0); /* its own stop does remove it */
}

static void test_not_a_socket(void) {
  char path[108];
  tn_ctl_config cfg = {path, 0, 0};
  tn_ctl_server *s = NULL;
  struct stat st;
  FILE *f;
  make_path(path, sizeof path, "plain-file");
  f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("keep me", f);
  fclose(f);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_new(&cfg, &s), 0);
  CU_ASSERT_EQUAL(tn_ctl_server_start(s), TN_EEXIST);
  tn_ctl_server_free(s);
  CU_ASSERT_EQUAL(lstat(path, &st), 0);
  CU_ASSERT(S_ISREG(st.st_mode) && st.st_size == 7);
}

static void test_stalled_clients(void) {
  tn_ctl_server *s = server_up("stall.sock", 0, 0);
  int silent = raw_connect(tn_ctl_server_path(s));
  int half = raw_connect(tn_ctl_server_path(s));
  int deaf = raw_connect(tn_ctl_server_path(s));
  tn_nanos start;
  int i;
  CU_ASSERT_FATAL(silent >= 0 && half >= 0 && deaf >= 0);
  atomic_store(&big_size, (size_t)4 << 20);
  CU_ASSERT_EQUAL(send_str(half, "ech"), 0);
  /* asks for more than the kernel buffers, and never reads */
  CU_ASSERT_EQUAL(send_str(deaf, "big\nbig\nbig\n"), 0);
  sleep_ms(50);
  for (i = 0; i < 5; i++) {
    char *payload = NULL;
    start = tn_now();
    CU_ASSERT_EQUAL(tn_ctl_call(tn_ctl_server_path(s), "echo hi", &payload,
                                NULL, NULL, 0, WAIT_MS * TN_MSEC), 0);
    /* a server that waited on a stalled client would wait forever: this
     * bounds the call only by what no descheduling reaches */
    CU_ASSERT(ms_since(start) < PROMPT_MS);
    CU_ASSERT(payload && strcmp(payload, "hi") == 0);
    free(payload);
  }
  /* the half line completes and is served */
  CU_ASSERT_EQUAL(send_str(half, "o late\n"), 0);
  expect_str(half, "ok 4\nlate");
  close(silent);
  close(half);
  close(deaf);
  tn_ctl_server_free(s);
}

/* Wait until the server has closed fd, without reading from it: a closed
 * peer shows as POLLHUP/POLLRDHUP even with unread bytes queued. */
static int closed_by_peer(int fd, int timeout_ms) {
  tn_nanos deadline = tn_now() + timeout_ms * TN_MSEC;
  for (;;) {
    struct pollfd p = {fd, POLLRDHUP, 0};
    tn_nanos left = deadline - tn_now();
    if (left <= 0)
      return 0;
    if (poll(&p, 1, (int)(left / TN_MSEC) + 1) > 0 &&
        (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
      return 1;
  }
}

static void test_idle_clients_dropped(void) {
  tn_ctl_server *s = server_up("idle.sock", 300 * TN_MSEC, 0);
  tn_nanos start = tn_now(); /* before the connects: the server's idle
                                clock starts after it */
  int silent = raw_connect(tn_ctl_server_path(s));
  int deaf = raw_connect(tn_ctl_server_path(s));
  size_t full = ((size_t)4 << 20) + strlen("ok 4194304\n"), total = 0;
  CU_ASSERT_FATAL(silent >= 0 && deaf >= 0);
  atomic_store(&big_size, (size_t)4 << 20);
  CU_ASSERT_EQUAL(send_str(deaf, "big\n"), 0);
  /* a client that sends nothing is closed once client_idle passes, not
   * before (1 ms for the rounding of the reading) */
  CU_ASSERT(drain_to_eof(silent, WAIT_MS, &total));
  CU_ASSERT_EQUAL(total, 0);
  CU_ASSERT(ms_since(start) >= 300 - 1);
  /* a client that does not take its reply is dropped, not waited for:
   * the server closes it with most of the reply unsent (the socket buffers
   * hold far less than 4 MiB). Waited for without reading, so that a late
   * scheduled server cannot be unblocked by this test taking the bytes. */
  CU_ASSERT(closed_by_peer(deaf, WAIT_MS));
  CU_ASSERT(drain_to_eof(deaf, WAIT_MS, &total));
  CU_ASSERT(total < full);
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), 0);
  close(silent);
  close(deaf);
  tn_ctl_server_free(s);
}

static void test_flood_without_newline(void) {
  tn_ctl_server *s = server_up("flood.sock", 0, 0);
  size_t flood = (size_t)1 << 20;
  char *junk = malloc(flood);
  int fd = raw_connect(tn_ctl_server_path(s));
  CU_ASSERT_FATAL(fd >= 0 && junk != NULL);
  memset(junk, 'x', flood);
  /* blocks unless the server keeps reading and dropping */
  CU_ASSERT_EQUAL(send_all(fd, junk, flood), 0);
  CU_ASSERT_EQUAL(send_str(fd, "\necho ok\n"), 0);
  expect_str(fd, "error line too long\nok 2\nok");
  CU_ASSERT(quiet_for(fd, 50));
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), 0);
  free(junk);
  close(fd);
  tn_ctl_server_free(s);
}

static void test_max_clients(void) {
  tn_ctl_server *s = server_up("max.sock", 0, 2);
  int a = raw_connect(tn_ctl_server_path(s));
  int b = raw_connect(tn_ctl_server_path(s));
  int c, rc = -1;
  char reply[64];
  size_t n;
  CU_ASSERT_FATAL(a >= 0 && b >= 0);
  CU_ASSERT_EQUAL(send_str(a, "echo a\n"), 0);
  expect_str(a, "ok 1\na");
  CU_ASSERT_EQUAL(send_str(b, "echo b\n"), 0);
  expect_str(b, "ok 1\nb");
  /* An idle client would be evicted for a newcomer: make both slots busy
   * with replies larger than the socket buffers, which are going out well
   * within the request deadline (2 s; the steps below take milliseconds). */
  atomic_store(&big_size, (size_t)4 << 20);
  CU_ASSERT_EQUAL(send_str(a, "big\n"), 0);
  CU_ASSERT_EQUAL(send_str(b, "big\n"), 0);
  /* busy once the server has begun each reply: the first bytes are here
   * (waited for, not slept for: a loaded machine may run the server late) */
  {
    struct pollfd pa = {a, POLLIN, 0}, pb = {b, POLLIN, 0};
    CU_ASSERT(poll(&pa, 1, WAIT_MS) == 1);
    CU_ASSERT(poll(&pb, 1, WAIT_MS) == 1);
  }

  c = raw_connect(tn_ctl_server_path(s));
  CU_ASSERT_FATAL(c >= 0);
  n = read_n(c, reply, sizeof reply, 3000);
  CU_ASSERT_EQUAL(n, strlen("error too many clients\n"));
  CU_ASSERT(memcmp(reply, "error too many clients\n", n) == 0);
  close(c);
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), TN_EBUSY);

  /* the ones already in are still served, and a freed slot is reused */
  {
    size_t want = strlen("ok 4194304\n") + ((size_t)4 << 20);
    char *all = malloc(want);
    CU_ASSERT_FATAL(all != NULL);
    CU_ASSERT_EQUAL(read_n(a, all, want, 5000), want);
    CU_ASSERT(memcmp(all, "ok 4194304\n", 11) == 0);
    free(all);
  }
  CU_ASSERT_EQUAL(send_str(a, "echo still\n"), 0);
  expect_str(a, "ok 5\nstill");
  close(b);
  /* the server frees b's slot when it notices the close */
  {
    tn_nanos start = tn_now();
    for (;;) {
      rc = call(s, "status", NULL, NULL, NULL, 0);
      if (rc == 0 || ms_since(start) >= WAIT_MS)
        break;
      sleep_ms(10);
    }
  }
  CU_ASSERT_EQUAL(rc, 0);
  close(a);
  tn_ctl_server_free(s);
}

static void test_peer_hangs_up_mid_reply(void) {
  tn_ctl_server *s = server_up("hangup.sock", 0, 0);
  int i;
  atomic_store(&big_size, (size_t)4 << 20);
  for (i = 0; i < 3; i++) {
    int fd = raw_connect(tn_ctl_server_path(s));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(send_str(fd, "big\n"), 0);
    sleep_ms(20);
    close(fd); /* the server's next send hits EPIPE, not SIGPIPE */
  }
  sleep_ms(50);
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), 0);
  tn_ctl_server_free(s);
}

static void test_stop_is_prompt(void) {
  tn_ctl_server *s = server_up("stop.sock", 0, 0);
  int fds[3], i;
  tn_nanos start;
  size_t total;
  for (i = 0; i < 3; i++) {
    fds[i] = raw_connect(tn_ctl_server_path(s));
    CU_ASSERT_FATAL(fds[i] >= 0);
  }
  CU_ASSERT_EQUAL(send_str(fds[1], "echo x\n"), 0);
  expect_str(fds[1], "ok 1\nx");
  CU_ASSERT_EQUAL(send_str(fds[2], "half a li"), 0);
  sleep_ms(20);
  start = tn_now();
  tn_ctl_server_stop(s);
  /* it does not wait for the clients (that would be forever) */
  CU_ASSERT(ms_since(start) < PROMPT_MS);
  for (i = 0; i < 3; i++) {
    CU_ASSERT(drain_to_eof(fds[i], 1000, &total));
    close(fds[i]);
  }
  tn_ctl_server_free(s);
}

/* A fake server that answers any request with canned bytes, to check that
 * the client refuses what a real server would never send. */
typedef struct fake_server {
  int listen_fd;
  const char *reply;
  size_t reply_len;
} fake_server;

static void *fake_main(void *arg) {
  fake_server *f = arg;
  char buf[TN_CTL_MAX_LINE];
  int fd = accept(f->listen_fd, NULL, NULL);
  if (fd < 0)
    return NULL;
  read_n(fd, buf, 1, WAIT_MS);
  if (f->reply_len > 0)
    send_all(fd, f->reply, f->reply_len);
  sleep_ms(20);
  close(fd);
  return NULL;
}

static int fake_call(const char *reply, size_t reply_len, char *errbuf,
                     size_t errlen) {
  char path[108];
  struct sockaddr_un addr;
  fake_server f;
  pthread_t t;
  char *payload = NULL;
  int rc;
  make_path(path, sizeof path, "fake.sock");
  unlink(path);
  f.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, path);
  CU_ASSERT_FATAL(f.listen_fd >= 0);
  CU_ASSERT_EQUAL_FATAL(bind(f.listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
  CU_ASSERT_EQUAL_FATAL(listen(f.listen_fd, 1), 0);
  f.reply = reply;
  f.reply_len = reply_len;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, fake_main, &f), 0);
  rc = tn_ctl_call(path, "status", &payload, NULL, errbuf, errlen,
                   WAIT_MS * TN_MSEC);
  pthread_join(t, NULL);
  close(f.listen_fd);
  unlink(path);
  CU_ASSERT((rc == 0) == (payload != NULL));
  free(payload);
  return rc;
}

typedef struct slammer {
  int listen_fd;
  atomic_int done;
} slammer;

static void *slam_main(void *arg) {
  slammer *sl = arg;
  while (!atomic_load(&sl->done)) {
    struct pollfd p = {sl->listen_fd, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      int fd = accept(sl->listen_fd, NULL, NULL);
      if (fd >= 0)
        close(fd);
    }
  }
  return NULL;
}

/* A server that closes every connection at once: now and then the close
 * wins the race with the client's send, which then meets EPIPE. With
 * SIGPIPE at its default action that must still not end the process. */
static void test_client_hung_up_on(void) {
  char path[108];
  struct sockaddr_un addr;
  slammer sl;
  pthread_t t;
  int i, unavailable = 0;
  make_path(path, sizeof path, "slam.sock");
  sl.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  atomic_store(&sl.done, 0);
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, path);
  CU_ASSERT_FATAL(sl.listen_fd >= 0);
  CU_ASSERT_EQUAL_FATAL(bind(sl.listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
  CU_ASSERT_EQUAL_FATAL(listen(sl.listen_fd, 64), 0);
  CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, slam_main, &sl), 0);
  for (i = 0; i < 2000; i++)
    unavailable += tn_ctl_call(path, "status", NULL, NULL, NULL, 0,
                               WAIT_MS * TN_MSEC) == TN_EUNAVAILABLE;
  atomic_store(&sl.done, 1);
  pthread_join(t, NULL);
  close(sl.listen_fd);
  unlink(path);
  CU_ASSERT_EQUAL(unavailable, 2000);
}

static void test_client_is_strict(void) {
  char errbuf[64], longhead[400];
  CU_ASSERT_EQUAL(fake_call(LINE("ok 5\nhello"), NULL, 0), 0);
  CU_ASSERT_EQUAL(fake_call(LINE("ok 5\nhel"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("ok 3\nabcdef"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("ok 05\nhello"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("ok 5"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("ok 70000000\n"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("hello\n"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("error \x01\n"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("error x\nextra"), NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call("", 0, NULL, 0), TN_EUNAVAILABLE);
  memset(longhead, 'e', sizeof longhead);
  CU_ASSERT_EQUAL(fake_call(longhead, sizeof longhead, NULL, 0), TN_EPROTO);
  CU_ASSERT_EQUAL(fake_call(LINE("error too many clients\n"), errbuf,
                            sizeof errbuf), TN_EBUSY);
  CU_ASSERT_STRING_EQUAL(errbuf, "too many clients");
  CU_ASSERT_EQUAL(fake_call(LINE("error permission denied\n"), errbuf,
                            sizeof errbuf), TN_EPERM);
}

/* Child side of the foreign-uid test; only async-signal-safe calls and
 * tn_ctl_call, then _exit with a code naming the step that failed. */
static void foreign_child(const char *path) {
  static const char want[] = "error permission denied\n";
  char buf[64], errbuf[64];
  size_t n;
  int fd;
  if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0 ||
      getuid() != 65534)
    _exit(2);
  fd = raw_connect(path);
  if (fd < 0)
    _exit(3);
  (void)send(fd, "status\n", 7, MSG_NOSIGNAL);
  n = read_n(fd, buf, sizeof buf, 3000);
  close(fd);
  if (n != sizeof want - 1 || memcmp(buf, want, n) != 0)
    _exit(4);
  if (tn_ctl_call(path, "status", NULL, NULL, errbuf, sizeof errbuf,
                  2 * TN_SEC) != TN_EPERM ||
      strcmp(errbuf, "permission denied") != 0)
    _exit(5);
  _exit(0);
}

static void test_foreign_uid_refused(void) {
  tn_ctl_server *s;
  struct stat dir_st, root_st;
  pid_t pid;
  int status = -1;
  if (geteuid() != 0) {
    printf("skipped: needs root to become another uid ");
    CU_PASS("skipped: not root");
    return;
  }
  s = server_up("foreign.sock", 0, 0);
  CU_ASSERT_EQUAL_FATAL(stat(run_dir, &dir_st), 0);
  CU_ASSERT_EQUAL_FATAL(stat(tmp_root, &root_st), 0);
  /* let the other uid reach the socket: only the peer check stops it */
  CU_ASSERT_EQUAL(chmod(tmp_root, 0711), 0);
  CU_ASSERT_EQUAL(chmod(run_dir, 0711), 0);
  CU_ASSERT_EQUAL(chmod(tn_ctl_server_path(s), 0666), 0);
  fflush(NULL);
  pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0)
    foreign_child(tn_ctl_server_path(s));
  CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
  CU_ASSERT(WIFEXITED(status));
  CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fprintf(stderr, "\nforeign child: status 0x%x\n", status);
  chmod(run_dir, dir_st.st_mode & 07777);
  chmod(tmp_root, root_st.st_mode & 07777);
  /* the owner is still served */
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), 0);
  tn_ctl_server_free(s);
}

static const tn_cu_test proto_tests[] = {
    {"request lines are classified", test_parse_line},
    {"reply headers are parsed strictly", test_parse_reply},
    {"ok header formats and parses back", test_format_ok},
    {"error lines are sanitized and cut", test_format_error},
    {"error reasons map to codes and back", test_reason_codes},
    {NULL, NULL}};

static const tn_cu_test run_dir_tests[] = {
    {"TENURE_RUN_DIR wins and is created 0700", test_run_dir_env_wins},
    {"/run, then XDG_RUNTIME_DIR, then /tmp", test_run_dir_order},
    {"the default with nothing set", test_run_dir_default},
    {"/tmp/tenure-<uid> must be private", test_run_dir_tmp_must_be_private},
    {"socket path and short buffers", test_socket_path},
    {NULL, NULL}};

static const tn_cu_test server_tests[] = {
    {"start, serve, stop, socket 0600 and removed", test_lifecycle},
    {"register validates words", test_register},
    {"ok replies carry exact payload bytes", test_ok_replies},
    {"a 3 MiB reply arrives intact", test_big_reply},
    {"several commands on one connection", test_pipelined},
    {"malformed lines leave the connection usable", test_malformed_lines},
    {"handler errors map to reasons and codes", test_handler_errors},
    {"client: missing, stale, bad requests", test_call_errors},
    {"client: times out on a slow handler", test_client_timeout},
    {"client: refuses malformed replies", test_client_is_strict},
    {"client: a server hanging up is no SIGPIPE", test_client_hung_up_on},
    {"stale socket file is replaced", test_stale_socket_replaced},
    {"live server makes a second start TN_EBUSY", test_live_socket_busy},
    {"stop spares a successor's socket", test_stop_spares_successor},
    {"a file that is not a socket is kept", test_not_a_socket},
    {"stalled clients do not delay others", test_stalled_clients},
    {"idle and non-reading clients are dropped", test_idle_clients_dropped},
    {"a flood without newlines is discarded", test_flood_without_newline},
    {"max_clients turns extra connections away", test_max_clients},
    {"a peer hanging up mid-reply is no SIGPIPE", test_peer_hangs_up_mid_reply},
    {"stop is prompt with clients connected", test_stop_is_prompt},
    {"another uid is refused", test_foreign_uid_refused},
    {NULL, NULL}};

/* --- slots cannot be held by going slowly ---------------------------------- */

#define TRICKLERS 16 /* the default max_clients: every slot */

typedef struct trickle_conn {
  int fd;              /* -1 once the server has closed it */
  tn_nanos first_sent; /* read just before its first byte was sent */
  tn_nanos closed_at;
  char got[128];
  size_t got_len;
} trickle_conn;

typedef struct trickle {
  trickle_conn conn[TRICKLERS];
  atomic_int open;
  atomic_int stop;
} trickle;

/* Take whatever the server sent; 1 when it has closed the connection. */
static int trickle_read(trickle_conn *tc) {
  for (;;) {
    char buf[256];
    ssize_t n = recv(tc->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      size_t room = sizeof tc->got - tc->got_len;
      size_t take = (size_t)n < room ? (size_t)n : room;
      memcpy(tc->got + tc->got_len, buf, take);
      tc->got_len += take;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return 0;
    return 1; /* end of stream, or reset */
  }
}

/* One byte of "status" every 100 ms to every open connection, never a
 * newline: each byte is progress, so the idle timeout never fires. */
static void *trickle_main(void *arg) {
  static const char word[] = "status";
  trickle *t = arg;
  size_t k = 1;
  while (!atomic_load(&t->stop)) {
    size_t i;
    for (i = 0; i < TRICKLERS; i++) {
      trickle_conn *tc = &t->conn[i];
      if (tc->fd < 0)
        continue;
      if (trickle_read(tc)) {
        tc->closed_at = tn_now();
        close(tc->fd);
        tc->fd = -1;
        atomic_fetch_sub(&t->open, 1);
        continue;
      }
      /* EPIPE once the server is gone: the next turn reads its reason */
      (void)!send(tc->fd, &word[k % (sizeof word - 1)], 1,
                  MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    k++;
    sleep_ms(100);
  }
  return NULL;
}

/*
 * The starvation fault: every slot held by a client trickling a line that
 * never ends. A real status must still be answered, and each trickler must
 * be dropped, told why, no sooner than the request deadline after its first
 * byte. Every bound below is an upper bound with seconds of slack for a
 * loaded 2-core machine (scheduling delays only make things later, and
 * "later" stays inside them); the lower bound comes from the server's own
 * clock, which starts after our first send.
 */
static void test_tricklers_cannot_starve(void) {
  static const char timed_out[] = "error request timed out\n";
  static const char evicted[] = "error evicted: too many clients\n";
  const tn_nanos slack = 8 * TN_SEC;
  tn_ctl_server *s = server_up("trickle.sock", 0, 0); /* 16 slots, 10 s idle */
  trickle *t = calloc(1, sizeof *t);
  char *payload = NULL;
  pthread_t thread;
  tn_nanos start, waited;
  int i, n_timed_out = 0, n_evicted = 0, rc;

  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  for (i = 0; i < TRICKLERS; i++) {
    trickle_conn *tc = &t->conn[i];
    tc->fd = raw_connect(tn_ctl_server_path(s));
    CU_ASSERT_FATAL(tc->fd >= 0);
    tc->first_sent = tn_now();
    CU_ASSERT_EQUAL(send_str(tc->fd, "s"), 0);
  }
  atomic_store(&t->open, TRICKLERS);
  CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, trickle_main, t), 0);
  /* all 16 slots are now held, every trickler inside its deadline */
  sleep_ms(1000);

  start = tn_now();
  rc = tn_ctl_call(tn_ctl_server_path(s), "status", &payload, NULL, NULL, 0,
                   TN_CTL_REQUEST_DEADLINE + slack);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc != 0)
    fprintf(stderr, "\nstatus among tricklers: %s after %lld ms\n",
            tn_err_name(rc), (long long)ms_since(start));
  CU_ASSERT(payload != NULL && strcmp(payload, "{\"ok\":true}") == 0);
  free(payload);

  /* and the tricklers do not keep their slots */
  start = tn_now();
  waited = TN_CTL_REQUEST_DEADLINE + slack;
  while (atomic_load(&t->open) > 0 && tn_now() - start < waited)
    sleep_ms(50);
  CU_ASSERT_EQUAL(atomic_load(&t->open), 0);
  atomic_store(&t->stop, 1);
  pthread_join(thread, NULL);

  for (i = 0; i < TRICKLERS; i++) {
    trickle_conn *tc = &t->conn[i];
    int is_timeout = tc->got_len == sizeof timed_out - 1 &&
                     memcmp(tc->got, timed_out, tc->got_len) == 0;
    int is_evicted = tc->got_len == sizeof evicted - 1 &&
                     memcmp(tc->got, evicted, tc->got_len) == 0;
    CU_ASSERT(tc->fd < 0);
    CU_ASSERT(is_timeout || is_evicted);
    if (!is_timeout && !is_evicted)
      fprintf(stderr, "\ntrickler %d got \"%.*s\"\n", i, (int)tc->got_len,
              tc->got);
    if (is_timeout) {
      n_timed_out++;
      CU_ASSERT(tc->closed_at - tc->first_sent >= TN_CTL_REQUEST_DEADLINE);
    }
    n_evicted += is_evicted;
    if (tc->fd >= 0)
      close(tc->fd);
  }
  CU_ASSERT(n_timed_out >= 1);
  CU_ASSERT_EQUAL(n_timed_out + n_evicted, TRICKLERS);
  /* the server is fine afterwards, the idle timeout was not needed */
  CU_ASSERT_EQUAL(call(s, "status", NULL, NULL, NULL, 0), 0);
  free(t);
  tn_ctl_server_free(s);
}

/* Full of idle clients: a newcomer evicts the one idle longest, which is
 * told why; the newcomer is served. */
static void test_newcomer_evicts_oldest_idle(void) {
  tn_ctl_server *s = server_up("evict.sock", 0, 2);
  int a = raw_connect(tn_ctl_server_path(s));
  int b, rc = -1;
  size_t total;
  char *payload = NULL;
  CU_ASSERT_FATAL(a >= 0);
  CU_ASSERT_EQUAL(send_str(a, "echo a\n"), 0);
  expect_str(a, "ok 1\na");
  sleep_ms(20); /* a is idle since before b arrives */
  b = raw_connect(tn_ctl_server_path(s));
  CU_ASSERT_FATAL(b >= 0);
  CU_ASSERT_EQUAL(send_str(b, "echo b\n"), 0);
  expect_str(b, "ok 1\nb");
  rc = call(s, "echo new", &payload, NULL, NULL, 0);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(payload && strcmp(payload, "new") == 0);
  free(payload);
  expect_str(a, "error evicted: too many clients\n");
  CU_ASSERT(drain_to_eof(a, 3000, &total));
  /* b was younger and is still served */
  CU_ASSERT_EQUAL(send_str(b, "echo still\n"), 0);
  expect_str(b, "ok 5\nstill");
  close(a);
  close(b);
  tn_ctl_server_free(s);
}

/* Bytes outside printable ASCII make a line malformed, in the word or in
 * the arguments; the connection stays usable. */
static void test_non_ascii_is_malformed(void) {
  static const char *const lines[] = {
      "status \xff\n", "\x80\n", "echo caf\xc3\xa9\n", "stat\x01us\n",
      "echo \x7f\n",   "\xc3\xa9tat\n"};
  tn_ctl_server *s = server_up("ascii.sock", 0, 0);
  int fd = raw_connect(tn_ctl_server_path(s));
  char errbuf[64];
  size_t i;
  CU_ASSERT_FATAL(fd >= 0);
  for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    CU_ASSERT_EQUAL(send_str(fd, lines[i]), 0);
    expect_str(fd, "error malformed request\n");
  }
  CU_ASSERT_EQUAL(send_str(fd, "echo fine\n"), 0);
  expect_str(fd, "ok 4\nfine");
  close(fd);
  CU_ASSERT_EQUAL(call(s, "echo \xe9", NULL, NULL, errbuf, sizeof errbuf),
                  TN_EINVAL);
  CU_ASSERT_STRING_EQUAL(errbuf, "malformed request");
  tn_ctl_server_free(s);
}

/* The protocol's commands refuse arguments they do not take, naming the
 * command and the argument, whatever the handler would do with them. */
static void test_protocol_arguments(void) {
  static const char *const no_args[] = {"status", "metrics", "collect",
                                        "collect-unplanned"};
  static const struct {
    const char *line, *reply;
  } cases[] = {
      {"status extra",
       "error bad argument to status: \"extra\" (it takes no argument)\n"},
      {"metrics 1",
       "error bad argument to metrics: \"1\" (it takes no argument)\n"},
      {"collect now",
       "error bad argument to collect: \"now\" (it takes no argument)\n"},
      {"collect-unplanned x", "error bad argument to collect-unplanned: "
                              "\"x\" (it takes no argument)\n"},
      {"events abc", "error bad argument to events: \"abc\" (want "
                     "SINCE_SEQ, a decimal number below 2^64)\n"},
      {"events 1 2", "error bad argument to events: \"1 2\" (want "
                     "SINCE_SEQ, a decimal number below 2^64)\n"},
      {"events -1", "error bad argument to events: \"-1\" (want "
                    "SINCE_SEQ, a decimal number below 2^64)\n"},
      {"events 18446744073709551616",
       "error bad argument to events: \"18446744073709551616\" (want "
       "SINCE_SEQ, a decimal number below 2^64)\n"},
      {"events 18446744073709551615", "ok 20\n18446744073709551615"},
      {"events 42", "ok 2\n42"},
      {"events", "ok 0\n"},
      {"status", "ok 0\n"},
      {"status ", "ok 0\n"}, /* one space and nothing: no argument */
      {"status aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
       "error bad argument to status: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."
       "\" (it takes no argument)\n"},
      /* a handler's own refusal names the command and argument too */
      {"half x", "error bad argument to half: \"x\"\n"},
      {"half", "error bad argument\n"},
  };
  char path[108], errbuf[160];
  tn_ctl_config cfg = {path, 0, 0};
  tn_ctl_server *s = NULL;
  size_t i;
  int fd;
  make_path(path, sizeof path, "args.sock");
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_new(&cfg, &s), 0);
  for (i = 0; i < sizeof no_args / sizeof no_args[0]; i++)
    CU_ASSERT_EQUAL_FATAL(tn_ctl_server_register(s, no_args[i], h_echo, NULL),
                          0);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_register(s, "events", h_echo, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_register(s, "half", h_half, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tn_ctl_server_start(s), 0);
  fd = raw_connect(path);
  CU_ASSERT_FATAL(fd >= 0);
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CU_ASSERT_EQUAL(send_str(fd, cases[i].line), 0);
    CU_ASSERT_EQUAL(send_str(fd, "\n"), 0);
    expect_str(fd, cases[i].reply);
  }
  close(fd);
  CU_ASSERT_EQUAL(tn_ctl_call(path, "status extra", NULL, NULL, errbuf,
                              sizeof errbuf, 5 * TN_SEC), TN_EINVAL);
  CU_ASSERT_STRING_EQUAL(errbuf, "bad argument to status: \"extra\" (it "
                                 "takes no argument)");
  tn_ctl_server_free(s);
}

static const tn_cu_test slot_tests[] = {
    {"16 trickling clients cannot starve status", test_tricklers_cannot_starve},
    {"a newcomer evicts the oldest idle client", test_newcomer_evicts_oldest_idle},
    {"bytes outside printable ASCII are malformed", test_non_ascii_is_malformed},
    {"commands refuse arguments they do not take", test_protocol_arguments},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {
    {"ctl_proto", proto_tests, NULL, NULL},
    {"ctl_run_dir", run_dir_tests, suite_init, suite_cleanup},
    {"ctl_server", server_tests, suite_init, suite_cleanup},
    {"ctl_slots", slot_tests, suite_init, suite_cleanup},
    {NULL, NULL, NULL, NULL}};

/* SIGPIPE keeps its default action: a send without MSG_NOSIGNAL to a
 * vanished peer kills this runner, and the test fails. */
int main(void) { return tn_cu_run(suites); }
