/* Unit tests: clocks, the wall interval and the clock watch (clock.c). */
#include "cu_main.h"

#include "clock_testing.h"
#include <string.h>
#include <tenure/clock.h>
#include <tenure/error.h>
#include <time.h>

static void test_now_is_monotonic(void) {
  tn_nanos prev = tn_now();
  int i;
  for (i = 0; i < 100000; i++) {
    tn_nanos t = tn_now();
    CU_ASSERT_FATAL(t >= prev);
    prev = t;
  }
}

static void test_boottime_at_least_monotonic(void) {
  int i;
  for (i = 0; i < 1000; i++) {
    tn_nanos mono = tn_now_monotonic();
    tn_nanos boot = tn_now(); /* read second: can only be larger */
    CU_ASSERT(boot >= mono);
  }
}

static void test_now_is_boottime(void) {
  struct timespec a, b;
  tn_nanos t;
  clock_gettime(CLOCK_BOOTTIME, &a);
  t = tn_now();
  clock_gettime(CLOCK_BOOTTIME, &b);
  CU_ASSERT(t >= (tn_nanos)a.tv_sec * TN_SEC + a.tv_nsec);
  CU_ASSERT(t <= (tn_nanos)b.tv_sec * TN_SEC + b.tv_nsec);
}

static void test_wall_interval_orders(void) {
  tn_wall_interval iv;
  tn_walltime before = tn_wall_now();
  int rc = tn_wall_interval_now(&iv);
  tn_walltime after = tn_wall_now();
  CU_ASSERT(rc == 0 || rc == TN_EUNSYNCED);
  CU_ASSERT(iv.maxerror >= 0);
  CU_ASSERT(iv.earliest.ns <= iv.latest.ns);
  /* the true time when it was read lies inside [earliest, latest] */
  CU_ASSERT(iv.earliest.ns <= after.ns);
  CU_ASSERT(iv.latest.ns >= before.ns);
}

static void test_wall_interval_swapped(void) {
  tn__manual_clock m = {.boot = 5 * TN_SEC, .mono = 5 * TN_SEC,
                        .wall = 1000 * TN_SEC, .maxerror = 3 * TN_MSEC,
                        .synced = 1};
  tn__clock_source src;
  tn_wall_interval iv;
  tn__manual_clock_source(&src, &m);
  tn__clock_swap(&src);
  CU_ASSERT_EQUAL(tn_wall_interval_now(&iv), 0);
  CU_ASSERT_EQUAL(iv.earliest.ns, 1000 * TN_SEC - 3 * TN_MSEC);
  CU_ASSERT_EQUAL(iv.latest.ns, 1000 * TN_SEC + 3 * TN_MSEC);
  m.synced = 0;
  CU_ASSERT_EQUAL(tn_wall_interval_now(&iv), TN_EUNSYNCED);
  tn__clock_swap(NULL);
}

static void test_swap_controls_now(void) {
  tn__manual_clock m = {.boot = 42, .mono = 7, .wall = 99};
  tn__clock_source src;
  tn__manual_clock_source(&src, &m);
  tn__clock_swap(&src);
  CU_ASSERT_EQUAL(tn_now(), 42);
  m.boot += 10 * TN_SEC; /* a ten-second stall, instantly */
  CU_ASSERT_EQUAL(tn_now(), 42 + 10 * TN_SEC);
  CU_ASSERT_EQUAL(tn_now_monotonic(), 7);
  CU_ASSERT_EQUAL(tn_wall_now().ns, 99);
  tn__clock_swap(NULL);
  CU_ASSERT(tn_now() != 42 + 10 * TN_SEC);
}

static void test_clockwatch_quiet(void) {
  tn__manual_clock m = {.boot = TN_SEC, .mono = TN_SEC, .wall = 100 * TN_SEC};
  tn__clock_source src;
  tn_clockwatch w;
  tn_clockwatch_report r;
  int i;
  tn__manual_clock_source(&src, &m);
  tn__clock_swap(&src);
  tn_clockwatch_init(&w, 50 * TN_MSEC);
  /* time passes evenly, wall slews 400 ppm: nothing to report, ever */
  for (i = 0; i < 10000; i++) {
    m.boot += TN_MSEC;
    m.mono += TN_MSEC;
    m.wall += TN_MSEC + 400;
    CU_ASSERT_EQUAL(tn_clockwatch_poll(&w, &r), 0);
  }
  tn__clock_swap(NULL);
}

static void test_clockwatch_wall_jump(void) {
  tn__manual_clock m = {.boot = TN_SEC, .mono = TN_SEC, .wall = 100 * TN_SEC};
  tn__clock_source src;
  tn_clockwatch w;
  tn_clockwatch_report r;
  tn__manual_clock_source(&src, &m);
  tn__clock_swap(&src);
  tn_clockwatch_init(&w, 50 * TN_MSEC);
  m.boot += TN_MSEC;
  m.mono += TN_MSEC;
  m.wall -= 3600 * TN_SEC; /* someone set the clock back an hour */
  CU_ASSERT_EQUAL(tn_clockwatch_poll(&w, &r), 1);
  CU_ASSERT_EQUAL(r.wall_jump, -3600 * TN_SEC - TN_MSEC);
  CU_ASSERT_EQUAL(r.suspended, 0);
  /* the new offset is the baseline: the next poll is quiet */
  m.boot += TN_MSEC;
  m.mono += TN_MSEC;
  m.wall += TN_MSEC;
  CU_ASSERT_EQUAL(tn_clockwatch_poll(&w, &r), 0);
  /* just under the threshold is not a jump */
  m.wall += 49 * TN_MSEC;
  CU_ASSERT_EQUAL(tn_clockwatch_poll(&w, &r), 0);
  m.wall += 51 * TN_MSEC;
  CU_ASSERT_EQUAL(tn_clockwatch_poll(&w, &r), 1);
  CU_ASSERT_EQUAL(r.wall_jump, 51 * TN_MSEC);
  tn__clock_swap(NULL);
}

static void test_clockwatch_suspend(void) {
  tn__manual_clock m = {.boot = TN_SEC, .mono = TN_SEC, .wall = 100 * TN_SEC};
  tn__clock_source src;
  tn_clockwatch w;
  tn_clockwatch_report r;
  tn__manual_clock_source(&src, &m);
  tn__clock_swap(&src);
  tn_clockwatch_init(&w, 50 * TN_MSEC);
  /* laptop lid closed for 30 s: boot and wall advance, monotonic does not */
  m.boot += 30 * TN_SEC;
  m.wall += 30 * TN_SEC;
  CU_ASSERT_EQUAL(tn_clockwatch_poll(&w, &r), 1);
  CU_ASSERT_EQUAL(r.suspended, 30 * TN_SEC);
  CU_ASSERT_EQUAL(r.wall_jump, 0);
  CU_ASSERT_EQUAL(r.boot_now, 31 * TN_SEC);
  /* a SIGSTOP-like stall moves all clocks alike: not a suspend */
  m.boot += 10 * TN_SEC;
  m.mono += 10 * TN_SEC;
  m.wall += 10 * TN_SEC;
  CU_ASSERT_EQUAL(tn_clockwatch_poll(&w, &r), 0);
  tn__clock_swap(NULL);
}

static void test_clockwatch_real_clock_quiet(void) {
  tn_clockwatch w;
  tn_clockwatch_report r;
  int i, seen = 0;
  tn_clockwatch_init(&w, 0);
  CU_ASSERT_EQUAL(w.jump_threshold, 50 * TN_MSEC);
  for (i = 0; i < 10000; i++)
    seen += tn_clockwatch_poll(&w, &r);
  CU_ASSERT_EQUAL(seen, 0);
}

static void test_walltime_format(void) {
  char buf[64];
  tn_walltime t = {1795685431LL * TN_SEC + 123456789};
  int n = tn_walltime_format(t, buf, sizeof buf);
  CU_ASSERT_EQUAL(n, 30);
  CU_ASSERT_STRING_EQUAL(buf, "2026-11-26T09:30:31.123456789Z");
  t.ns = 0;
  tn_walltime_format(t, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "1970-01-01T00:00:00.000000000Z");
}

static void test_boot_id(void) {
  char id[37], again[37];
  CU_ASSERT_EQUAL_FATAL(tn_boot_id(id), 0);
  CU_ASSERT_EQUAL(strlen(id), 36);
  CU_ASSERT_EQUAL(id[8], '-');
  CU_ASSERT_EQUAL(tn_boot_id(again), 0);
  CU_ASSERT_STRING_EQUAL(id, again);
}

static void test_add_saturates(void) {
  CU_ASSERT_EQUAL(tn_nanos_add_sat(TN_NANOS_MAX - 1, 5), TN_NANOS_MAX);
  CU_ASSERT_EQUAL(tn_nanos_add_sat(INT64_MIN + 1, -5), INT64_MIN);
  CU_ASSERT_EQUAL(tn_nanos_add_sat(3, 4), 7);
}

static const tn_cu_test real_tests[] = {
    {"tn_now never goes back", test_now_is_monotonic},
    {"BOOTTIME >= MONOTONIC", test_boottime_at_least_monotonic},
    {"tn_now reads CLOCK_BOOTTIME", test_now_is_boottime},
    {"wall interval is ordered", test_wall_interval_orders},
    {"clock watch quiet on the real clock", test_clockwatch_real_clock_quiet},
    {"walltime RFC 3339", test_walltime_format},
    {"boot id", test_boot_id},
    {"saturating add", test_add_saturates},
    {NULL, NULL}};

static const tn_cu_test swapped_tests[] = {
    {"swap controls tn_now", test_swap_controls_now},
    {"wall interval from ntp state", test_wall_interval_swapped},
    {"clock watch: no false events", test_clockwatch_quiet},
    {"clock watch: wall jump", test_clockwatch_wall_jump},
    {"clock watch: suspend", test_clockwatch_suspend},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {
    {"clock (real)", real_tests, NULL, NULL},
    {"clock (swapped)", swapped_tests, NULL, NULL},
    {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
