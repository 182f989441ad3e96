/*
 * Unit tests: the Prometheus exposition and the status object
 * (telemetry.c), from a monitor fed known events under a swapped clock.
 * The exposition is also checked by promtool, the Prometheus project's own
 * linter (Debian package prometheus).
 */
#define _GNU_SOURCE
#include "cu_main.h"

#include "clock_testing.h"
#include "pausemon_internal.h"

#include <gc/gc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <tenure/telemetry.h>

static tn__manual_clock mc;
static tn__clock_source src;

/* A monitor that saw stopped stalls of 2, 7, 30, 300 ms and 3 s and one
 * 20 ms collection. */
static tn_pausemon *fed_monitor(void) {
  static const tn_nanos stalls[] = {2 * TN_MSEC, 7 * TN_MSEC, 30 * TN_MSEC,
                                    300 * TN_MSEC, 3 * TN_SEC};
  tn_pausemon_config cfg;
  tn_pausemon *m = NULL;
  size_t i;
  memset(&cfg, 0, sizeof cfg);
  cfg.threshold = TN_MSEC + 1;
  cfg.interval = 200 * TN_USEC;
  memset(&mc, 0, sizeof mc);
  mc.boot = 500 * TN_SEC;
  mc.mono = 400 * TN_SEC;
  mc.wall = 1795685431LL * TN_SEC;
  tn__manual_clock_source(&src, &mc);
  tn__clock_swap(&src);
  if (tn_pausemon_open(&cfg, &m) != 0)
    return NULL;
  tn__pausemon_sampler_init(m);
  for (i = 0; i < sizeof stalls / sizeof stalls[0]; i++) {
    /* wake late by the stall minus the half interval the estimate adds */
    tn_nanos d = tn__pausemon_next_wake(m) + stalls[i] - 100 * TN_USEC -
                 mc.boot;
    mc.boot += d;
    mc.mono += d;
    mc.wall += d;
    tn__pausemon_note_sigcont();
    tn__pausemon_step(m);
  }
  mc.boot += 10;
  tn__pausemon_gc_event(GC_EVENT_PRE_STOP_WORLD);
  mc.boot += 20 * TN_MSEC;
  tn__pausemon_gc_event(GC_EVENT_POST_START_WORLD);
  mc.boot += 10;
  mc.mono += 20 * TN_MSEC + 20;
  mc.wall += 20 * TN_MSEC + 20;
  tn__pausemon_step(m);
  return m;
}

static char *render(int (*fn)(FILE *, const tn_telemetry_sources *),
                    tn_pausemon *m) {
  tn_telemetry_sources s = {m};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CU_ASSERT_EQUAL(fn(f, &s), 0);
  fclose(f);
  return text;
}

static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  const char *p = text;
  while ((p = strstr(p, line)) != NULL) {
    if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
      return 1;
    p += n;
  }
  return 0;
}

static void test_prometheus_values(void) {
  tn_pausemon *m = fed_monitor();
  char *text;
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  text = render(tn_telemetry_write_prometheus, m);
  CU_ASSERT(has_line(text, "# TYPE tenure_pause_seconds histogram"));
  CU_ASSERT(has_line(text, "# TYPE tenure_pauses_total counter"));
  CU_ASSERT(has_line(text, "tenure_pauses_total{cause=\"stopped\"} 5"));
  CU_ASSERT(has_line(text, "tenure_pauses_total{cause=\"gc\"} 1"));
  CU_ASSERT(has_line(text, "tenure_pauses_total{cause=\"unknown\"} 0"));
  /* cumulative buckets: 2 ms is above le=0.001, within 0.0025 */
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"0.001\"} 0"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"0.0025\"} 1"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"0.01\"} 2"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"0.05\"} 3"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"0.5\"} 4"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"2.5\"} 4"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"5\"} 5"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"stopped\",le=\"+Inf\"} 5"));
  CU_ASSERT(has_line(text, "tenure_pause_seconds_count{cause=\"stopped\"} 5"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_sum{cause=\"stopped\"} 3.339000000"));
  CU_ASSERT(has_line(text,
                     "tenure_pause_seconds_bucket{cause=\"gc\",le=\"0.025\"} 1"));
  CU_ASSERT(has_line(text, "tenure_sampler_interval_seconds 0.000200"));
  CU_ASSERT(has_line(text, "tenure_clock_wall_jumps_total 0"));
  free(text);
  tn_pausemon_close(m);
  tn__clock_swap(NULL);
}

static void test_promtool_accepts(void) {
  tn_pausemon *m = fed_monitor();
  char *text;
  FILE *p;
  int status;
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  text = render(tn_telemetry_write_prometheus, m);
  tn_pausemon_close(m);
  tn__clock_swap(NULL);
  p = popen("promtool check metrics", "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  fputs(text, p);
  status = pclose(p);
  if (status != 0)
    fprintf(stderr, "\npromtool rejected:\n%s\n", text);
  CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(text);
}

static void test_status_json(void) {
  tn_pausemon *m = fed_monitor();
  char *text;
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  text = render(tn_telemetry_write_status, m);
  CU_ASSERT_EQUAL(text[0], '{');
  CU_ASSERT_EQUAL(text[strlen(text) - 1], '\n');
  CU_ASSERT_EQUAL(strchr(text, '\n'), text + strlen(text) - 1); /* one line */
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"pause_epoch\":6,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"interval_ns\":200000,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"stopped\":{\"count\":5,\"total_ns\":3339000000,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"gc\":{\"count\":1,\"total_ns\":20000000,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"max_ns\":3000000000}"));
  free(text);
  tn_pausemon_close(m);
  tn__clock_swap(NULL);
}

static void test_event_json(void) {
  tn_pause_event ev;
  char buf[512];
  memset(&ev, 0, sizeof ev);
  ev.seq = 42;
  ev.cause = TN_CAUSE_CPU;
  ev.start = 123456789;
  ev.duration = 7000000;
  ev.start_wall.ns = 1795685431LL * TN_SEC + 5;
  ev.runq_wait = 4000000;
  ev.steal = 10000000;
  CU_ASSERT(tn_pause_event_to_json(&ev, buf, sizeof buf) > 0);
  CU_ASSERT_STRING_EQUAL(
      buf, "{\"seq\":42,\"cause\":\"cpu\",\"start_boot_ns\":123456789,"
           "\"start_wall\":\"2026-11-26T09:30:31.000000005Z\","
           "\"duration_ns\":7000000,\"planned\":false,"
           "\"runq_wait_ns\":4000000,\"steal_ns\":10000000,"
           "\"suspended_ns\":0,\"sigcont\":false}");
}

static const tn_cu_test tests[] = {
    {"exposition values", test_prometheus_values},
    {"promtool check metrics accepts it", test_promtool_accepts},
    {"status object", test_status_json},
    {"event JSON", test_event_json},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {{"telemetry", tests, NULL, NULL},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
