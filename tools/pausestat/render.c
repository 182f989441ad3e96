/*
 * Rendering: the text report and the --json object.
 *
 * The text report has the layout of pausemeter's summary (one row per
 * cause: count, total, p50, p99, p99.9, max), then one line per status
 * section pausestat knows (sampler, clock, gc). A section it does not know,
 * or a known one whose shape is not what it expects, is printed generically
 * as "key: value" lines, nested keys joined with '.', so that a newer
 * runtime (collections, gate, leases) is shown rather than refused.
 *
 * The --json object passes the status object's members through unchanged
 * and adds pausestat's own: "source", "events_file" and "compare". Field
 * names are stable and documented in pausestat(1) and docs/telemetry.md.
 *
 * Every string that came from outside is printed through pst_put_safe, so
 * it cannot send control sequences to a terminal.
 */
#define _GNU_SOURCE
#include "pausestat.h"

#include <inttypes.h>
#include <string.h>
#include <tenure/error.h>
#include <tenure/pausemon.h>

/* At most this many lines for one generically printed section. */
#define GENERIC_MAX_LINES 200

typedef struct pst_row {
  uint64_t count;
  tn_nanos total, p50, p99, p999, max;
} pst_row;

void pst_fmt_ms(tn_nanos d, char *buf, size_t len) {
  snprintf(buf, len, "%.3fms", tn_nanos_to_millis(d));
}

static void fmt_signed_ms(tn_nanos d, char *buf, size_t len) {
  snprintf(buf, len, "%+.3fms", tn_nanos_to_millis(d));
}

static void fmt_boot(tn_nanos t, char *buf, size_t len) {
  snprintf(buf, len, "%s%lld.%09llds", t < 0 ? "-" : "",
           (long long)((t < 0 ? -t : t) / TN_SEC),
           (long long)((t < 0 ? -t : t) % TN_SEC));
}

static int get_i64(const json_t *obj, const char *key, int64_t *out) {
  const json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v))
    return -1;
  *out = (int64_t)json_integer_value(v);
  return 0;
}

static int row_from_json(const json_t *o, pst_row *r) {
  int64_t count;
  if (!json_is_object(o) || get_i64(o, "count", &count) ||
      get_i64(o, "total_ns", &r->total) || get_i64(o, "p50_ns", &r->p50) ||
      get_i64(o, "p99_ns", &r->p99) || get_i64(o, "p999_ns", &r->p999) ||
      get_i64(o, "max_ns", &r->max) || count < 0)
    return -1;
  r->count = (uint64_t)count;
  return 0;
}

static void row_from_hist(const tn_histogram *h, pst_row *r) {
  r->count = tn_histogram_count(h);
  r->total = tn_histogram_sum(h);
  r->p50 = tn_histogram_percentile(h, 50.0);
  r->p99 = tn_histogram_percentile(h, 99.0);
  r->p999 = tn_histogram_percentile(h, 99.9);
  r->max = tn_histogram_max(h);
}

/* --- text: generic sections --------------------------------------------- */

static void put_scalar(FILE *out, const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    pst_put_safe(out, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    fprintf(out, "%lld", (long long)json_integer_value(v));
    break;
  case JSON_REAL:
    fprintf(out, "%g", json_real_value(v));
    break;
  case JSON_TRUE:
    fputs("true", out);
    break;
  case JSON_FALSE:
    fputs("false", out);
    break;
  case JSON_NULL:
    fputs("null", out);
    break;
  case JSON_OBJECT:
    fputs("{}", out);
    break;
  case JSON_ARRAY:
    fputs("[]", out);
    break;
  }
}

static int is_empty_container(const json_t *v) {
  return (json_is_object(v) && json_object_size(v) == 0) ||
         (json_is_array(v) && json_array_size(v) == 0);
}

/* Leaves of v as "  path: value" lines; path is built in a buffer. */
static void put_leaves(FILE *out, char *path, size_t at, size_t cap,
                       const json_t *v, unsigned *lines) {
  if (*lines >= GENERIC_MAX_LINES)
    return;
  if (json_is_object(v) && !is_empty_container(v)) {
    const char *key;
    json_t *child;
    json_object_foreach((json_t *)v, key, child) {
      int n = snprintf(path + at, cap - at, "%s%s", at ? "." : "", key);
      size_t next = n < 0 ? at : at + (size_t)n;
      put_leaves(out, path, next < cap ? next : cap - 1, cap, child, lines);
      path[at] = '\0';
    }
    return;
  }
  if (json_is_array(v) && !is_empty_container(v)) {
    size_t i;
    json_t *child;
    json_array_foreach((json_t *)v, i, child) {
      int n = snprintf(path + at, cap - at, "[%zu]", i);
      size_t next = n < 0 ? at : at + (size_t)n;
      put_leaves(out, path, next < cap ? next : cap - 1, cap, child, lines);
      path[at] = '\0';
    }
    return;
  }
  (*lines)++;
  if (*lines == GENERIC_MAX_LINES) {
    fputs("  ... (more not shown; see --json)\n", out);
    return;
  }
  fputs("  ", out);
  pst_put_safe(out, path, strlen(path));
  fputs(": ", out);
  put_scalar(out, v);
  fputc('\n', out);
}

static void put_generic(FILE *out, const char *key, const json_t *v) {
  char path[512];
  unsigned lines = 0;
  pst_put_safe(out, key, strlen(key));
  if (!json_is_object(v) && !json_is_array(v)) {
    fputs(": ", out);
    put_scalar(out, v);
    fputc('\n', out);
    return;
  }
  if (is_empty_container(v)) {
    fputs(": ", out);
    put_scalar(out, v);
    fputc('\n', out);
    return;
  }
  fputs(":\n", out);
  path[0] = '\0';
  put_leaves(out, path, 0, sizeof path, v, &lines);
}

/* --- text: known parts ---------------------------------------------------- */

/* The cause column is 8 wide as in pausemeter, wider for longer names. */
static void table_head(FILE *out, int width) {
  fprintf(out, "%-*s %7s %14s %12s %12s %12s %12s\n", width, "cause",
          "count", "total", "p50", "p99", "p99.9", "max");
}

static int cause_width(int width, const char *name) {
  size_t n = strlen(name);
  return n > (size_t)width && n < 64 ? (int)n : width;
}

static void table_row(FILE *out, int width, const char *cause,
                      const pst_row *r) {
  char a[32], b[32], c[32], d[32], e[32];
  pst_fmt_ms(r->total, a, sizeof a);
  pst_fmt_ms(r->p50, b, sizeof b);
  pst_fmt_ms(r->p99, c, sizeof c);
  pst_fmt_ms(r->p999, d, sizeof d);
  pst_fmt_ms(r->max, e, sizeof e);
  pst_put_safe(out, cause, strlen(cause));
  fprintf(out, "%*s %7llu %14s %12s %12s %12s %12s\n",
          strlen(cause) < (size_t)width ? (int)(width - strlen(cause)) : 0,
          "",
          (unsigned long long)r->count, a, b, c, d, e);
}

static int is_known_cause(const char *name) {
  tn_pause_cause c;
  return tn_pause_cause_parse(name, &c) == 0;
}

static void text_pauses(FILE *out, json_t *pauses) {
  const char *key;
  json_t *v;
  pst_row r;
  int c, width = 8;

  if (pauses == NULL) {
    fputs("pauses: none reported (no pause monitor runs there)\n", out);
    return;
  }
  if (!json_is_object(pauses)) {
    put_generic(out, "pauses", pauses);
    return;
  }
  json_object_foreach(pauses, key, v) {
    if (row_from_json(v, &r) == 0)
      width = cause_width(width, key);
  }
  table_head(out, width);
  for (c = 0; c < TN_CAUSE_COUNT; c++) {
    const char *name = tn_pause_cause_name((tn_pause_cause)c);
    v = json_object_get(pauses, name);
    if (v != NULL && row_from_json(v, &r) == 0)
      table_row(out, width, name, &r);
  }
  json_object_foreach(pauses, key, v) {
    if (!is_known_cause(key) && row_from_json(v, &r) == 0)
      table_row(out, width, key, &r);
  }
  /* Anything else in the section, shown as it is. */
  json_object_foreach(pauses, key, v) {
    if (row_from_json(v, &r) != 0) {
      char name[300];
      snprintf(name, sizeof name, "pauses.%s", key);
      put_generic(out, name, v);
    }
  }
}

static int text_sampler(FILE *out, const json_t *sampler, const json_t *st) {
  int64_t interval, threshold, started, wakeups, cpu, now;
  char a[32], b[32];
  if (get_i64(sampler, "interval_ns", &interval) ||
      get_i64(sampler, "threshold_ns", &threshold) ||
      get_i64(sampler, "started_boot_ns", &started) ||
      get_i64(sampler, "wakeups", &wakeups) ||
      get_i64(sampler, "cpu_ns", &cpu))
    return -1;
  pst_fmt_ms(interval, a, sizeof a);
  pst_fmt_ms(threshold, b, sizeof b);
  fprintf(out, "sampler: interval %s, threshold %s, %lld wake-ups", a, b,
          (long long)wakeups);
  if (get_i64(st, "boot_ns", &now) == 0 && now > started && started > 0)
    fprintf(out, ", CPU %.3f%% over %.1fs",
            100.0 * (double)cpu / (double)(now - started),
            tn_nanos_to_seconds(now - started));
  fputc('\n', out);
  return 0;
}

static int text_clock(FILE *out, const json_t *clock) {
  int64_t jumps, maxerror;
  const json_t *synced = json_object_get(clock, "synced");
  char a[32];
  if (get_i64(clock, "wall_jumps", &jumps) ||
      get_i64(clock, "maxerror_ns", &maxerror) || !json_is_boolean(synced))
    return -1;
  if (maxerror >= TN_SEC)
    snprintf(a, sizeof a, "%.3fs", tn_nanos_to_seconds(maxerror));
  else if (maxerror >= 0)
    pst_fmt_ms(maxerror, a, sizeof a);
  else
    snprintf(a, sizeof a, "unknown");
  fprintf(out, "clock: %lld wall-clock jump%s, maxerror %s, %s\n",
          (long long)jumps, jumps == 1 ? "" : "s", a,
          json_is_true(synced) ? "synced" : "NOT synced");
  return 0;
}

static int text_gc(FILE *out, const json_t *gc) {
  int64_t windows;
  if (get_i64(gc, "stw_windows", &windows))
    return -1;
  fprintf(out, "gc: %lld stop-the-world window%s\n", (long long)windows,
          windows == 1 ? "" : "s");
  return 0;
}

static const char *const known_keys[] = {"pid",   "version", "boot_ns",
                                          "pause_epoch", "pauses",
                                          "sampler", "clock", "gc"};

static int is_known_key(const char *key) {
  size_t i;
  for (i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
    if (strcmp(key, known_keys[i]) == 0)
      return 1;
  return 0;
}

static void text_status(FILE *out, const pst_source *src) {
  const json_t *st = src->status, *v;
  const char *key;
  int64_t pid, epoch;

  fputs("pausestat: ", out);
  if (get_i64(st, "pid", &pid) == 0)
    fprintf(out, "pid %lld", (long long)pid);
  else
    fputs("unknown pid", out);
  v = json_object_get(st, "version");
  if (json_is_string(v)) {
    fputs(", tenure ", out);
    pst_put_safe(out, json_string_value(v), json_string_length(v));
  }
  fprintf(out, ", socket %s", src->path);
  if (get_i64(st, "pause_epoch", &epoch) == 0)
    fprintf(out, ": %lld pause event%s", (long long)epoch,
            epoch == 1 ? "" : "s");
  fputc('\n', out);

  text_pauses(out, json_object_get(st, "pauses"));
  if ((v = json_object_get(st, "sampler")) && text_sampler(out, v, st) != 0)
    put_generic(out, "sampler", v);
  if ((v = json_object_get(st, "clock")) && text_clock(out, v) != 0)
    put_generic(out, "clock", v);
  if ((v = json_object_get(st, "gc")) && text_gc(out, v) != 0)
    put_generic(out, "gc", v);
  /* Known scalars of the wrong type, and every section not known yet. */
  if ((v = json_object_get(st, "pid")) && !json_is_integer(v))
    put_generic(out, "pid", v);
  if ((v = json_object_get(st, "version")) && !json_is_string(v))
    put_generic(out, "version", v);
  if ((v = json_object_get(st, "pause_epoch")) && !json_is_integer(v))
    put_generic(out, "pause_epoch", v);
  json_object_foreach((json_t *)st, key, v) {
    if (!is_known_key(key))
      put_generic(out, key, v);
  }
}

static void text_events_file(FILE *out, const pst_source *src) {
  const pst_jsonl *r = &src->reader;
  size_t c;
  int width = 8;
  char a[40], b[40];

  fprintf(out, "pausestat: %s: %llu event%s", src->path,
          (unsigned long long)r->valid, r->valid == 1 ? "" : "s");
  if (r->malformed)
    fprintf(out, " (%llu malformed line%s skipped)",
            (unsigned long long)r->malformed, r->malformed == 1 ? "" : "s");
  if (src->events.n > 0) {
    fmt_boot(src->first_start, a, sizeof a);
    fmt_boot(src->last_end, b, sizeof b);
    fprintf(out, ", boot time %s to %s", a, b);
  }
  fputc('\n', out);
  for (c = 0; c < src->ncauses; c++)
    width = cause_width(width, src->causes[c].name);
  table_head(out, width);
  for (c = 0; c < src->ncauses; c++) {
    pst_row row;
    /* The known causes always have a row; others only once seen. */
    row_from_hist(src->causes[c].h, &row);
    table_row(out, width, src->causes[c].name, &row);
  }
  if (src->overflow_causes)
    fprintf(out, "(%llu events of further causes are not in the table)\n",
            (unsigned long long)src->overflow_causes);
}

static void text_compare(FILE *out, const pst_view *v) {
  const pst_compare *c = v->cmp;
  char a[40], b[40], d[40], e[40];
  size_t i;

  pst_fmt_ms(c->threshold, a, sizeof a);
  pst_fmt_ms(c->tolerance, b, sizeof b);
  fprintf(out, "\ncompare with %s (threshold %s, tolerance %s):\n",
          v->injected_path, a, b);
  fprintf(out, "  injected   %zu stall%s, %zu longer than the threshold\n",
          c->injected, c->injected == 1 ? "" : "s", c->injected_above);
  if (c->not_compared)
    fprintf(out, "  not compared: %zu older stall%s (the process no longer "
                 "holds the events of that time)\n",
            c->not_compared, c->not_compared == 1 ? "" : "s");
  if (c->have_span) {
    fmt_boot(c->span_start, a, sizeof a);
    fmt_boot(c->span_end, b, sizeof b);
    fprintf(out, "  detected   %zu event%s from boot time %s to %s\n",
            c->detected, c->detected == 1 ? "" : "s", a, b);
  } else {
    fprintf(out, "  detected   (no stalls, so no span to compare)\n");
  }
  fprintf(out, "  matched    %zu stall%s\n", c->matched,
          c->matched == 1 ? "" : "s");
  if (c->injected_above)
    fprintf(out, "  recall     %.3f (%zu of %zu stalls longer than the "
                 "threshold)\n",
            (double)c->matched_above / (double)c->injected_above,
            c->matched_above, c->injected_above);
  else
    fprintf(out, "  recall     n/a (no stall longer than the threshold)\n");
  if (c->detected)
    fprintf(out, "  precision  %.3f (%zu of %zu events matched)\n",
            (double)c->matched / (double)c->detected, c->matched,
            c->detected);
  else
    fprintf(out, "  precision  n/a (no event in the span)\n");
  if (c->nerrors) {
    fmt_signed_ms(c->err_p50, a, sizeof a);
    fmt_signed_ms(c->err_p99, b, sizeof b);
    pst_fmt_ms(c->err_p99_abs, d, sizeof d);
    pst_fmt_ms(c->err_max_abs, e, sizeof e);
    fprintf(out, "  error      p50 %s, p99 %s, p99 |error| %s, max |error| "
                 "%s (detected - injected)\n",
            a, b, d, e);
    pst_fmt_ms(c->tolerance, a, sizeof a);
    fprintf(out, "  over tolerance: %zu of %zu matches off by more than %s\n",
            c->over_tolerance, c->nerrors, a);
  }
  for (i = 0; i < c->nunmatched_stalls; i++) {
    const pst_stall *s = &v->stalls->v[c->unmatched_stalls[i]];
    fmt_boot(s->start, a, sizeof a);
    pst_fmt_ms(s->duration, b, sizeof b);
    fprintf(out, "  unmatched injected stall #%" PRIu64 ": start %s, %s%s\n",
            s->seq, a, b,
            s->duration > c->threshold ? "" : " (not over the threshold)");
  }
  for (i = 0; i < c->nunmatched_events; i++) {
    const pst_event *ev = &v->events->v[c->unmatched_events[i]];
    fmt_boot(ev->start, a, sizeof a);
    pst_fmt_ms(ev->duration, b, sizeof b);
    fprintf(out, "  unmatched detected event #%" PRIu64 " (%s): start %s, "
                 "%s\n",
            ev->seq, ev->cause, a, b);
  }
  pst_fmt_ms(c->threshold, a, sizeof a);
  if (c->pass)
    fprintf(out, "  result: PASS, every injected stall longer than %s was "
                 "detected\n",
            a);
  else
    fprintf(out, "  result: FAIL, %zu of %zu injected stalls longer than %s "
                 "not detected\n",
            c->injected_above - c->matched_above, c->injected_above, a);
}

void pst_render_text(FILE *out, const pst_view *v) {
  if (v->src->kind == PST_SRC_SOCKET)
    text_status(out, v->src);
  else
    text_events_file(out, v->src);
  if (v->cmp)
    text_compare(out, v);
}

/* --- JSON ----------------------------------------------------------------- */

/* json_object_set_new that remembers a failure. */
static void put(json_t *obj, const char *key, json_t *value, int *ok) {
  if (value == NULL || json_object_set_new(obj, key, value) != 0)
    *ok = 0;
}

static json_t *json_row(const pst_row *r, int *ok) {
  json_t *o = json_object();
  if (o == NULL) {
    *ok = 0;
    return NULL;
  }
  put(o, "count", json_integer((json_int_t)r->count), ok);
  put(o, "total_ns", json_integer(r->total), ok);
  put(o, "p50_ns", json_integer(r->p50), ok);
  put(o, "p99_ns", json_integer(r->p99), ok);
  put(o, "p999_ns", json_integer(r->p999), ok);
  put(o, "max_ns", json_integer(r->max), ok);
  return o;
}

/* A path from the command line as a JSON string; bytes that are not
 * UTF-8 become '?' rather than failing the whole object. */
static json_t *json_path(const char *path) {
  json_t *s = json_string(path);
  char buf[4096];
  size_t i;
  if (s != NULL)
    return s;
  for (i = 0; path[i] && i < sizeof buf - 1; i++)
    buf[i] = (unsigned char)path[i] < 0x80 ? path[i] : '?';
  buf[i] = '\0';
  return json_string(buf);
}

static json_t *json_ratio(size_t num, size_t den) {
  return den ? json_real((double)num / (double)den) : json_null();
}

static json_t *json_compare(const pst_view *v, int *ok) {
  const pst_compare *c = v->cmp;
  json_t *o = json_object(), *arr;
  size_t i;
  if (o == NULL) {
    *ok = 0;
    return NULL;
  }
  put(o, "injected_file", json_path(v->injected_path), ok);
  put(o, "threshold_ns", json_integer(c->threshold), ok);
  put(o, "tolerance_ns", json_integer(c->tolerance), ok);
  put(o, "span_start_boot_ns",
      c->have_span ? json_integer(c->span_start) : json_null(), ok);
  put(o, "span_end_boot_ns",
      c->have_span ? json_integer(c->span_end) : json_null(), ok);
  put(o, "injected", json_integer((json_int_t)c->injected), ok);
  put(o, "injected_above_threshold",
      json_integer((json_int_t)c->injected_above), ok);
  put(o, "not_compared", json_integer((json_int_t)c->not_compared), ok);
  put(o, "detected", json_integer((json_int_t)c->detected), ok);
  put(o, "matched", json_integer((json_int_t)c->matched), ok);
  put(o, "matched_above_threshold",
      json_integer((json_int_t)c->matched_above), ok);
  put(o, "recall", json_ratio(c->matched_above, c->injected_above), ok);
  put(o, "precision", json_ratio(c->matched, c->detected), ok);
  put(o, "errors", json_integer((json_int_t)c->nerrors), ok);
  put(o, "error_p50_ns", c->nerrors ? json_integer(c->err_p50) : json_null(),
      ok);
  put(o, "error_p99_ns", c->nerrors ? json_integer(c->err_p99) : json_null(),
      ok);
  put(o, "error_p99_abs_ns",
      c->nerrors ? json_integer(c->err_p99_abs) : json_null(), ok);
  put(o, "error_max_abs_ns",
      c->nerrors ? json_integer(c->err_max_abs) : json_null(), ok);
  put(o, "over_tolerance", json_integer((json_int_t)c->over_tolerance), ok);

  arr = json_array();
  for (i = 0; arr && i < c->nmatches; i++) {
    const pst_match *m = &c->matches[i];
    const pst_stall *s = &v->stalls->v[m->stall];
    const pst_event *e = &v->events->v[m->event];
    json_t *x = json_pack("{sI sI sI sI ss sI sI}", "injected_seq",
                          (json_int_t)s->seq, "injected_start_boot_ns",
                          (json_int_t)s->start, "injected_ns",
                          (json_int_t)s->duration, "detected_seq",
                          (json_int_t)e->seq, "detected_cause", e->cause,
                          "detected_ns", (json_int_t)e->duration, "error_ns",
                          (json_int_t)m->error);
    if (x == NULL || json_array_append_new(arr, x) != 0)
      *ok = 0;
  }
  put(o, "matches", arr, ok);

  arr = json_array();
  for (i = 0; arr && i < c->nunmatched_stalls; i++) {
    const pst_stall *s = &v->stalls->v[c->unmatched_stalls[i]];
    json_t *x = json_pack("{sI sI sI sb}", "seq", (json_int_t)s->seq,
                          "start_boot_ns", (json_int_t)s->start,
                          "duration_ns", (json_int_t)s->duration,
                          "above_threshold", s->duration > c->threshold);
    if (x == NULL || json_array_append_new(arr, x) != 0)
      *ok = 0;
  }
  put(o, "unmatched_injected", arr, ok);

  arr = json_array();
  for (i = 0; arr && i < c->nunmatched_events; i++) {
    const pst_event *e = &v->events->v[c->unmatched_events[i]];
    json_t *x = json_pack("{sI ss sI sI}", "seq", (json_int_t)e->seq,
                          "cause", e->cause, "start_boot_ns",
                          (json_int_t)e->start, "duration_ns",
                          (json_int_t)e->duration);
    if (x == NULL || json_array_append_new(arr, x) != 0)
      *ok = 0;
  }
  put(o, "unmatched_detected", arr, ok);
  put(o, "pass", json_boolean(c->pass), ok);
  return o;
}

static int is_own_key(const char *key) {
  return strcmp(key, "source") == 0 || strcmp(key, "events_file") == 0 ||
         strcmp(key, "compare") == 0;
}

int pst_render_json(FILE *out, const pst_view *v) {
  const pst_source *src = v->src;
  json_t *root = json_object(), *source = json_object();
  int ok = root != NULL && source != NULL;

  if (ok) {
    put(source, "kind",
        json_string(src->kind == PST_SRC_SOCKET ? "socket" : "events"), &ok);
    put(source, "path", json_path(src->path), &ok);
    if (src->pid > 0)
      put(source, "pid", json_integer(src->pid), &ok);
    put(root, "source", source, &ok);
    source = NULL;
  }
  if (ok && src->kind == PST_SRC_SOCKET) {
    const char *key;
    json_t *value;
    json_object_foreach(src->status, key, value) {
      if (!is_own_key(key) && json_object_set(root, key, value) != 0)
        ok = 0;
    }
  } else if (ok) {
    const pst_jsonl *r = &src->reader;
    json_t *file = json_object(), *pauses = json_object();
    size_t c;
    if (file == NULL || pauses == NULL)
      ok = 0;
    if (ok) {
      put(file, "lines", json_integer((json_int_t)r->lineno), &ok);
      put(file, "events", json_integer((json_int_t)r->valid), &ok);
      put(file, "malformed", json_integer((json_int_t)r->malformed), &ok);
      put(file, "first_start_boot_ns",
          src->events.n ? json_integer(src->first_start) : json_null(), &ok);
      put(file, "last_end_boot_ns",
          src->events.n ? json_integer(src->last_end) : json_null(), &ok);
      put(file, "other_causes",
          json_integer((json_int_t)src->overflow_causes), &ok);
      for (c = 0; c < src->ncauses; c++) {
        pst_row row;
        row_from_hist(src->causes[c].h, &row);
        put(pauses, src->causes[c].name, json_row(&row, &ok), &ok);
      }
    }
    put(root, "events_file", file, &ok);
    put(root, "pauses", pauses, &ok);
  }
  if (ok && v->cmp)
    put(root, "compare", json_compare(v, &ok), &ok);
  json_decref(source);
  if (ok && json_dumpf(root, out, JSON_COMPACT | JSON_REAL_PRECISION(6)) != 0)
    ok = 0;
  json_decref(root);
  if (!ok)
    return TN_ENOMEM;
  fputc('\n', out);
  return 0;
}
