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
#include <tenure/gate.h>
#include <tenure/gcgov.h>
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

static char *render_all(int (*fn)(FILE *, const tn_telemetry_sources *),
                        const tn_telemetry_sources *s) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CU_ASSERT_EQUAL(fn(f, s), 0);
  fclose(f);
  return text;
}

static char *render(int (*fn)(FILE *, const tn_telemetry_sources *),
                    tn_pausemon *m) {
  tn_telemetry_sources s = {m, NULL, NULL};
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

static int occurrences(const char *text, const char *needle) {
  int n = 0;
  while ((text = strstr(text, needle)) != NULL) {
    n++;
    text += strlen(needle);
  }
  return n;
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
  /* without a governor, collections are counted from the monitor's
   * stop-the-world windows, every one of them */
  CU_ASSERT(has_line(text, "# TYPE tenure_gc_collections_total counter"));
  CU_ASSERT(has_line(text, "tenure_gc_collections_total{kind=\"planned\"} 0"));
  CU_ASSERT(has_line(text, "tenure_gc_collections_total{kind=\"unplanned\"} 1"));
  CU_ASSERT(has_line(text, "# TYPE tenure_gc_pause_seconds histogram"));
  CU_ASSERT(has_line(
      text, "tenure_gc_pause_seconds_bucket{kind=\"unplanned\",le=\"0.01\"} 0"));
  CU_ASSERT(has_line(
      text, "tenure_gc_pause_seconds_bucket{kind=\"unplanned\",le=\"0.025\"} 1"));
  CU_ASSERT(has_line(text, "tenure_gc_pause_seconds_count{kind=\"planned\"} 0"));
  CU_ASSERT(has_line(text,
                     "tenure_gc_pause_seconds_sum{kind=\"unplanned\"} 0.020000000"));
  /* no governor, no gate: none of theirs */
  CU_ASSERT_PTR_NULL(strstr(text, "tenure_gc_heap_bytes"));
  CU_ASSERT_PTR_NULL(strstr(text, "tenure_gate_"));
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
  /* every stop-the-world window, by kind */
  CU_ASSERT_PTR_NOT_NULL(strstr(
      text, "\"gc\":{\"stw_windows\":1,\"planned\":{\"count\":0,\"total_ns\":0,"));
  CU_ASSERT_PTR_NOT_NULL(
      strstr(text, "\"unplanned\":{\"count\":1,\"total_ns\":20000000,"));
  CU_ASSERT_PTR_NULL(strstr(text, "\"collections\":"));
  CU_ASSERT_PTR_NULL(strstr(text, "\"gate\":"));
  free(text);
  tn_pausemon_close(m);
  tn__clock_swap(NULL);
}

/* A governor with a gate that ran one planned and one unplanned collection
 * (real collector, real clock), next to the fed monitor. */
struct with_governor {
  tn_pausemon *m;
  tn_gcgov *g;
  tn_gate *gate;
  tn_telemetry_sources src;
};

static int governed(struct with_governor *w) {
  tn_gcgov_config c;
  memset(w, 0, sizeof *w);
  w->m = fed_monitor();
  tn__clock_swap(NULL); /* the governor sleeps for real */
  if (w->m == NULL || tn_gate_new(&w->gate) != 0)
    return -1;
  memset(&c, 0, sizeof c);
  c.gate = w->gate;
  if (tn_gcgov_open(&c, &w->g) != 0 || tn_gcgov_start(w->g) != 0)
    return -1;
  if (tn_gcgov_collect(w->g, TN_GC_PLANNED, 10 * TN_SEC, NULL) != 0 ||
      tn_gcgov_collect(w->g, TN_GC_UNPLANNED, 10 * TN_SEC, NULL) != 0)
    return -1;
  tn_gcgov_stop(w->g); /* the figures stay readable */
  w->src.pausemon = w->m;
  w->src.gcgov = w->g;
  w->src.gate = w->gate;
  return 0;
}

static void ungoverned(struct with_governor *w) {
  tn_gcgov_close(w->g);
  tn_gate_free(w->gate);
  tn_pausemon_close(w->m);
}

static void test_prometheus_collections_and_gate(void) {
  struct with_governor w;
  char *text;
  FILE *p;
  int status;
  CU_ASSERT_EQUAL_FATAL(governed(&w), 0);
  text = render_all(tn_telemetry_write_prometheus, &w.src);
  /* counted by the governor */
  CU_ASSERT(has_line(text, "tenure_gc_collections_total{kind=\"planned\"} 1"));
  CU_ASSERT(has_line(text, "tenure_gc_collections_total{kind=\"unplanned\"} 1"));
  /* timed by the monitor (this one saw only its fed window) */
  CU_ASSERT(has_line(text, "tenure_gc_pause_seconds_count{kind=\"unplanned\"} 1"));
  CU_ASSERT(has_line(text, "# TYPE tenure_gc_heap_bytes gauge"));
  CU_ASSERT(has_line(text, "# TYPE tenure_gc_bytes_since_collection gauge"));
  CU_ASSERT(has_line(text, "# TYPE tenure_alloc_rate_bytes_per_second gauge"));
  CU_ASSERT(has_line(text, "# TYPE tenure_malloc_allocated_bytes gauge"));
  CU_ASSERT(has_line(text, "tenure_gate_inflight 0"));
  CU_ASSERT(has_line(text, "tenure_gate_draining 0"));
  CU_ASSERT(has_line(text, "tenure_gate_shed_total 0"));
  CU_ASSERT(has_line(text, "# TYPE tenure_gate_drain_seconds histogram"));
  CU_ASSERT(has_line(text, "tenure_gate_drain_seconds_bucket{le=\"+Inf\"} 1"));
  CU_ASSERT(has_line(text, "tenure_gate_drain_seconds_count 1"));
  CU_ASSERT(has_line(text, "tenure_gate_drain_timeouts_total 0"));
  /* each family once (promtool below also refuses a second TYPE line) */
  CU_ASSERT_EQUAL(occurrences(text, "# TYPE tenure_gc_collections_total "), 1);
  CU_ASSERT_EQUAL(occurrences(text, "# TYPE tenure_gc_pause_seconds "), 1);
  ungoverned(&w);
  p = popen("promtool check metrics", "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  fputs(text, p);
  status = pclose(p);
  if (status != 0)
    fprintf(stderr, "\npromtool rejected:\n%s\n", text);
  CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(text);
}

static void test_status_collections_and_gate(void) {
  struct with_governor w;
  char *text;
  CU_ASSERT_EQUAL_FATAL(governed(&w), 0);
  text = render_all(tn_telemetry_write_status, &w.src);
  ungoverned(&w);
  CU_ASSERT_EQUAL(strchr(text, '\n'), text + strlen(text) - 1); /* one line */
  CU_ASSERT_PTR_NOT_NULL(strstr(text, ",\"collections\":{\"running\":false,"
                                      "\"planned\":1,\"unplanned\":1,"
                                      "\"backstop\":0,\"requested\":1,"
                                      "\"foreign\":0,\"deferred\":0,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"drains\":1,\"drain_timeouts\":0,"
                                      "\"last_id\":2,\"pending_id\":0,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"malloc\":{\"allocated_bytes\":"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, ",\"gate\":{\"inflight\":0,"
                                      "\"draining\":false,\"shed\":0,"
                                      "\"drain_timeouts\":0,"
                                      "\"drains\":{\"count\":1,"));
  CU_ASSERT_EQUAL(text[strlen(text) - 2], '}');
  free(text);
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
    {"collections and gate in the exposition (promtool)",
     test_prometheus_collections_and_gate},
    {"collections and gate in the status object",
     test_status_collections_and_gate},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {{"telemetry", tests, NULL, NULL},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
