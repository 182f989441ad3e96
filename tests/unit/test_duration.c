/* Unit tests: parsing and formatting durations (clock.c). */
#include "cu_main.h"

#include <string.h>
#include <tenure/clock.h>
#include <tenure/error.h>

static tn_nanos parse_ok(const char *s) {
  tn_nanos d = -1;
  tn_parse_error e = {0, NULL};
  int rc = tn_duration_parse(s, &d, &e);
  if (rc != 0)
    fprintf(stderr, "\nparse(\"%s\") failed at %zu: %s\n", s, e.pos, e.reason);
  CU_ASSERT_EQUAL(rc, 0);
  return d;
}

static void test_valid(void) {
  CU_ASSERT_EQUAL(parse_ok("250ms"), 250 * TN_MSEC);
  CU_ASSERT_EQUAL(parse_ok("1.5s"), 1500 * TN_MSEC);
  CU_ASSERT_EQUAL(parse_ok("100us"), 100 * TN_USEC);
  CU_ASSERT_EQUAL(parse_ok("100\xc2\xb5s"), 100 * TN_USEC);
  CU_ASSERT_EQUAL(parse_ok("2m"), 120 * TN_SEC);
  CU_ASSERT_EQUAL(parse_ok("1h"), 3600 * TN_SEC);
  CU_ASSERT_EQUAL(parse_ok("7ns"), 7);
  CU_ASSERT_EQUAL(parse_ok("0s"), 0);
  CU_ASSERT_EQUAL(parse_ok("1h30m"), 90 * TN_MIN);
  CU_ASSERT_EQUAL(parse_ok("1m0.5s"), 60500 * TN_MSEC);
  CU_ASSERT_EQUAL(parse_ok(".5s"), 500 * TN_MSEC);
  CU_ASSERT_EQUAL(parse_ok("1.s"), TN_SEC);
  /* exact decimal conversion, no floating point error */
  CU_ASSERT_EQUAL(parse_ok("1.1s"), 1100000000);
  CU_ASSERT_EQUAL(parse_ok("0.000000001s"), 1);
  CU_ASSERT_EQUAL(parse_ok("0.0000000019s"), 1); /* below 1 ns truncates */
  CU_ASSERT_EQUAL(parse_ok("1.234567ms"), 1234567);
  CU_ASSERT_EQUAL(parse_ok("9223372036854775807ns"), TN_NANOS_MAX);
}

static void expect_error(const char *s, int code, size_t pos,
                         const char *reason_part) {
  tn_nanos d = 12345;
  tn_parse_error e = {999, NULL};
  int rc = tn_duration_parse(s, &d, &e);
  CU_ASSERT_EQUAL(rc, code);
  CU_ASSERT_EQUAL(d, 12345); /* untouched on failure */
  CU_ASSERT_EQUAL(e.pos, pos);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e.reason);
  if (strstr(e.reason, reason_part) == NULL || e.pos != pos)
    fprintf(stderr, "\n\"%s\": pos %zu reason \"%s\"\n", s, e.pos, e.reason);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.reason, reason_part));
}

static void test_malformed(void) {
  expect_error("", TN_EINVAL, 0, "empty");
  expect_error("250", TN_EINVAL, 3, "missing unit");
  expect_error("250xs", TN_EINVAL, 3, "unknown unit");
  expect_error("ms", TN_EINVAL, 0, "expected a number");
  expect_error("-5ms", TN_EINVAL, 0, "negative");
  expect_error("5ms-", TN_EINVAL, 3, "negative");
  expect_error(" 5ms", TN_EINVAL, 0, "expected a digit");
  expect_error("5 ms", TN_EINVAL, 1, "unknown unit");
  expect_error("1.5.s", TN_EINVAL, 3, "unknown unit");
  expect_error("1s2", TN_EINVAL, 3, "missing unit");
  expect_error("10sec", TN_EINVAL, 3, "expected a number");
  expect_error(".s", TN_EINVAL, 1, "expected a number");
}

static void test_overflow(void) {
  expect_error("9223372036854775808ns", TN_ERANGE, 0, "too large");
  expect_error("99999999999999999999999s", TN_ERANGE, 0, "number too large");
  expect_error("3000000h", TN_ERANGE, 0, "too large");
  expect_error("1s9223372036854775807ns", TN_ERANGE, 2, "too large");
}

static void test_null_args(void) {
  tn_nanos d;
  CU_ASSERT_EQUAL(tn_duration_parse(NULL, &d, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_duration_parse("1s", NULL, NULL), TN_EINVAL);
  CU_ASSERT_EQUAL(tn_duration_parse("bad", &d, NULL), TN_EINVAL);
}

static void expect_format(tn_nanos d, const char *want) {
  char buf[64];
  int n = tn_duration_format(d, buf, sizeof buf);
  CU_ASSERT_EQUAL(n, (int)strlen(want));
  CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_format(void) {
  expect_format(0, "0s");
  expect_format(250 * TN_MSEC, "250ms");
  expect_format(1500 * TN_MSEC, "1.5s");
  expect_format(100 * TN_USEC, "100us");
  expect_format(2 * TN_MIN, "2m");
  expect_format(3 * TN_HOUR, "3h");
  expect_format(90 * TN_SEC, "90s");
  expect_format(1234567, "1.234567ms");
  expect_format(TN_SEC + 1, "1.000000001s");
  expect_format(999, "999ns");
  expect_format(-5 * TN_MSEC, "-5ms");
}

static void test_format_truncates_safely(void) {
  char small[4];
  int n = tn_duration_format(1500 * TN_MSEC, small, sizeof small);
  CU_ASSERT_EQUAL(n, 4);
  CU_ASSERT_STRING_EQUAL(small, "1.5");
}

static void test_round_trip(void) {
  /* every formatted non-negative duration parses back to itself */
  uint64_t x = 0x9E3779B97F4A7C15ull;
  int i;
  for (i = 0; i < 100000; i++) {
    char buf[64];
    tn_nanos d, back = -1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    d = (tn_nanos)(x >> (1 + (i % 63)));
    tn_duration_format(d, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(tn_duration_parse(buf, &back, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(back, d);
  }
}

static const tn_cu_test duration_tests[] = {
    {"valid durations", test_valid},
    {"malformed durations name the position", test_malformed},
    {"overflow is TN_ERANGE", test_overflow},
    {"null arguments", test_null_args},
    {"format", test_format},
    {"format into a short buffer", test_format_truncates_safely},
    {"format then parse gives the same value", test_round_trip},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {{"duration", duration_tests, NULL, NULL},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
