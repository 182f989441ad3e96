/*
 * Telemetry text: Prometheus exposition and the status JSON, for the pause
 * monitor, the collector governor and the request gate.
 *
 * Histograms are exported with fixed `le` buckets (1 ms .. 10 s) computed
 * from the HDR histogram of each cause, so the exposition is cheap to scrape
 * and stable across processes, while percentiles in the status object come
 * from the full-resolution histogram. Everything is read from snapshots and
 * atomics: neither the sampler nor the governor is ever blocked by a scrape.
 *
 * Collections are counted by the governor when one runs (it tells its own
 * from others' exactly), else by the monitor's windows, and always timed by
 * the monitor's windows (exact, from the collector's hook).
 */
#include <tenure/error.h>
#include <tenure/telemetry.h>
#include <tenure/version.h>

#include <string.h>
#include <unistd.h>

static const double le_seconds[] = TN_TELEMETRY_BUCKETS;
#define NBUCKETS (sizeof le_seconds / sizeof le_seconds[0])

/* label may be NULL: a histogram without labels. */
static void write_histogram(FILE *out, const char *name, const char *label,
                            const char *value, const tn_histogram *h) {
  char sel[160] = "", comma[160] = "";
  size_t i;
  if (label) {
    snprintf(sel, sizeof sel, "{%s=\"%s\"}", label, value);
    snprintf(comma, sizeof comma, "%s=\"%s\",", label, value);
  }
  for (i = 0; i < NBUCKETS; i++) {
    tn_nanos le = (tn_nanos)(le_seconds[i] * 1e9 + 0.5);
    fprintf(out, "%s_bucket{%sle=\"%g\"} %llu\n", name, comma, le_seconds[i],
            (unsigned long long)tn_histogram_count_le(h, le));
  }
  fprintf(out, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, comma,
          (unsigned long long)tn_histogram_count(h));
  fprintf(out, "%s_sum%s %.9f\n", name, sel,
          tn_nanos_to_seconds(tn_histogram_sum(h)));
  fprintf(out, "%s_count%s %llu\n", name, sel,
          (unsigned long long)tn_histogram_count(h));
}

static int write_pausemon_metrics(FILE *out, const tn_pausemon *m) {
  tn_histogram *snap;
  tn_pausemon_stats st;
  int c;
  if (tn_histogram_new(&snap) != 0)
    return TN_ENOMEM;
  tn_pausemon_stats_get(m, &st);

  fprintf(out, "# HELP tenure_pause_seconds Pauses the process suffered, by "
               "cause.\n# TYPE tenure_pause_seconds histogram\n");
  for (c = 0; c < TN_CAUSE_COUNT; c++) {
    tn_pausemon_snapshot_cause(m, (tn_pause_cause)c, snap);
    write_histogram(out, "tenure_pause_seconds", "cause",
                    tn_pause_cause_name((tn_pause_cause)c), snap);
  }
  fprintf(out, "# HELP tenure_pauses_total Pause events, by cause.\n"
               "# TYPE tenure_pauses_total counter\n");
  for (c = 0; c < TN_CAUSE_COUNT; c++)
    fprintf(out, "tenure_pauses_total{cause=\"%s\"} %llu\n",
            tn_pause_cause_name((tn_pause_cause)c),
            (unsigned long long)st.cause[c].count);
  fprintf(out,
          "# HELP tenure_clock_wall_jumps_total Steps of the wall clock "
          "against boot time.\n# TYPE tenure_clock_wall_jumps_total counter\n"
          "tenure_clock_wall_jumps_total %llu\n",
          (unsigned long long)st.wall_jumps);
  if (st.maxerror >= 0)
    fprintf(out,
            "# HELP tenure_clock_maxerror_seconds The kernel's NTP estimate "
            "of the wall clock's maximum error.\n"
            "# TYPE tenure_clock_maxerror_seconds gauge\n"
            "tenure_clock_maxerror_seconds %.6f\n",
            tn_nanos_to_seconds(st.maxerror));
  fprintf(out,
          "# HELP tenure_sampler_interval_seconds The pause sampler's "
          "interval.\n# TYPE tenure_sampler_interval_seconds gauge\n"
          "tenure_sampler_interval_seconds %.6f\n"
          "# HELP tenure_sampler_cpu_seconds_total CPU time used by the "
          "pause sampler thread.\n"
          "# TYPE tenure_sampler_cpu_seconds_total counter\n"
          "tenure_sampler_cpu_seconds_total %.9f\n",
          tn_nanos_to_seconds(st.interval),
          tn_nanos_to_seconds(st.sampler_cpu));
  tn_histogram_free(snap);
  return 0;
}

/* Collections: counted by the governor when one runs (it tells its own
 * collections from others exactly), else by the pause monitor's windows;
 * timed by the pause monitor's windows (exact, from the collector's hook). */
static int write_gc_metrics(FILE *out, const tn_telemetry_sources *src) {
  uint64_t count[TN_GC_KIND_COUNT] = {0, 0};
  int k;
  if (src->gcgov) {
    tn_gcgov_stats gs;
    tn_gcgov_stats_get(src->gcgov, &gs);
    count[TN_GC_PLANNED] = gs.planned;
    count[TN_GC_UNPLANNED] = gs.unplanned;
  } else if (src->pausemon) {
    tn_pausemon_stats st;
    tn_pausemon_stats_get(src->pausemon, &st);
    for (k = 0; k < TN_GC_KIND_COUNT; k++)
      count[k] = st.gc[k].count;
  } else {
    return 0;
  }
  fprintf(out, "# HELP tenure_gc_collections_total Garbage collections, "
               "planned (announced and drained) or not.\n"
               "# TYPE tenure_gc_collections_total counter\n");
  for (k = 0; k < TN_GC_KIND_COUNT; k++)
    fprintf(out, "tenure_gc_collections_total{kind=\"%s\"} %llu\n",
            tn_gc_kind_name((tn_gc_kind)k), (unsigned long long)count[k]);
  if (src->pausemon) {
    tn_histogram *snap;
    if (tn_histogram_new(&snap) != 0)
      return TN_ENOMEM;
    fprintf(out, "# HELP tenure_gc_pause_seconds Stop-the-world windows of "
                 "the collector, by kind.\n"
                 "# TYPE tenure_gc_pause_seconds histogram\n");
    for (k = 0; k < TN_GC_KIND_COUNT; k++) {
      tn_pausemon_snapshot_gc(src->pausemon, (tn_gc_kind)k, snap);
      write_histogram(out, "tenure_gc_pause_seconds", "kind",
                      tn_gc_kind_name((tn_gc_kind)k), snap);
    }
    tn_histogram_free(snap);
  }
  if (src->gcgov) {
    tn_gcgov_stats gs;
    tn_gcgov_stats_get(src->gcgov, &gs);
    fprintf(out,
            "# HELP tenure_gc_heap_bytes The collector's heap size (without "
            "memory returned to the system).\n"
            "# TYPE tenure_gc_heap_bytes gauge\n"
            "tenure_gc_heap_bytes %llu\n"
            "# HELP tenure_gc_bytes_since_collection Bytes allocated from "
            "the collected heap since the last collection.\n"
            "# TYPE tenure_gc_bytes_since_collection gauge\n"
            "tenure_gc_bytes_since_collection %llu\n"
            "# HELP tenure_alloc_rate_bytes_per_second Allocation rate of "
            "the collected heap (EWMA).\n"
            "# TYPE tenure_alloc_rate_bytes_per_second gauge\n"
            "tenure_alloc_rate_bytes_per_second %lld\n",
            (unsigned long long)gs.heap_bytes,
            (unsigned long long)gs.bytes_since_gc, (long long)gs.alloc_rate);
    if (gs.malloc_refreshed != 0)
      fprintf(out,
              "# HELP tenure_malloc_allocated_bytes Bytes allocated with "
              "malloc (jemalloc stats.allocated, refreshed every 100 ms).\n"
              "# TYPE tenure_malloc_allocated_bytes gauge\n"
              "tenure_malloc_allocated_bytes %llu\n",
              (unsigned long long)gs.malloc_allocated);
  }
  return 0;
}

static int write_gate_metrics(FILE *out, const tn_telemetry_sources *src) {
  const tn_gate *gate = src->gate;
  tn_gcgov_stats gs;
  if (gate == NULL)
    return 0;
  fprintf(out,
          "# HELP tenure_gate_inflight Admitted requests not yet done.\n"
          "# TYPE tenure_gate_inflight gauge\n"
          "tenure_gate_inflight %lld\n"
          "# HELP tenure_gate_draining 1 while the gate refuses requests "
          "(draining or closed for a collection).\n"
          "# TYPE tenure_gate_draining gauge\n"
          "tenure_gate_draining %d\n"
          "# HELP tenure_gate_shed_total Requests refused while draining.\n"
          "# TYPE tenure_gate_shed_total counter\n"
          "tenure_gate_shed_total %llu\n",
          (long long)tn_gate_inflight(gate), tn_gate_draining(gate) ? 1 : 0,
          (unsigned long long)tn_gate_shed(gate));
  if (src->gcgov) {
    tn_histogram *snap;
    tn_gcgov_stats_get(src->gcgov, &gs);
    if (!gs.has_gate)
      return 0;
    if (tn_histogram_new(&snap) != 0)
      return TN_ENOMEM;
    tn_gcgov_snapshot_drain(src->gcgov, snap);
    fprintf(out, "# HELP tenure_gate_drain_seconds Time the gate took to "
                 "drain before a planned collection.\n"
                 "# TYPE tenure_gate_drain_seconds histogram\n");
    write_histogram(out, "tenure_gate_drain_seconds", NULL, NULL, snap);
    tn_histogram_free(snap);
    fprintf(out,
            "# HELP tenure_gate_drain_timeouts_total Drains that gave up "
            "with requests in flight (the collection went ahead).\n"
            "# TYPE tenure_gate_drain_timeouts_total counter\n"
            "tenure_gate_drain_timeouts_total %llu\n",
            (unsigned long long)gs.drain_timeouts);
  }
  return 0;
}

int tn_telemetry_write_prometheus(FILE *out, const tn_telemetry_sources *src) {
  int rc = 0;
  if (src->pausemon)
    rc = write_pausemon_metrics(out, src->pausemon);
  if (rc == 0)
    rc = write_gc_metrics(out, src);
  if (rc == 0)
    rc = write_gate_metrics(out, src);
  if (rc == 0 && ferror(out))
    rc = TN_EIO;
  return rc;
}

static void write_summary(FILE *out, const tn_pause_summary *s) {
  fprintf(out,
          "{\"count\":%llu,\"total_ns\":%lld,\"p50_ns\":%lld,\"p99_ns\":%lld,"
          "\"p999_ns\":%lld,\"max_ns\":%lld}",
          (unsigned long long)s->count, (long long)s->total, (long long)s->p50,
          (long long)s->p99, (long long)s->p999, (long long)s->max);
}

static void write_gcgov_status(FILE *out, const tn_gcgov *g) {
  tn_gcgov_stats gs;
  tn_gcgov_stats_get(g, &gs);
  fprintf(out,
          ",\"collections\":{\"running\":%s,\"planned\":%llu,"
          "\"unplanned\":%llu,\"backstop\":%llu,\"requested\":%llu,"
          "\"foreign\":%llu,\"deferred\":%llu,\"deferred_ns\":%lld,"
          "\"drains\":%llu,\"drain_timeouts\":%llu,\"last_id\":%llu,"
          "\"pending_id\":%llu,\"last_boot_ns\":%lld,\"last_planned\":%s,"
          "\"last_pause_ns\":%lld,\"expected_pause_ns\":%lld,"
          "\"expected_drain_ns\":%lld,\"pause_per_mib_ns\":%lld,"
          "\"samples\":%llu,\"sleep_interrupts\":%llu,"
          "\"sample_interval_ns\":%lld,\"lead_time_ns\":%lld,"
          "\"drain_timeout_ns\":%lld,\"max_defer_ns\":%lld,"
          "\"collect_at_bytes\":%llu,\"hard_limit_bytes\":%llu,"
          "\"heap_bytes\":%llu,\"free_bytes\":%llu,\"unmapped_bytes\":%llu,"
          "\"bytes_since_gc\":%llu,\"total_bytes\":%llu,"
          "\"live_bytes\":%llu,\"alloc_rate_bytes_per_second\":%lld,"
          "\"predicted_ns\":%lld,\"malloc\":{\"allocated_bytes\":%llu,"
          "\"refreshed_boot_ns\":%lld,\"tracked_threads\":%llu,"
          "\"tracked_allocated_bytes\":%llu}}",
          gs.running ? "true" : "false", (unsigned long long)gs.planned,
          (unsigned long long)gs.unplanned, (unsigned long long)gs.backstop,
          (unsigned long long)gs.requested, (unsigned long long)gs.foreign,
          (unsigned long long)gs.deferred, (long long)gs.deferred_total,
          (unsigned long long)gs.drains, (unsigned long long)gs.drain_timeouts,
          (unsigned long long)gs.last_id, (unsigned long long)gs.pending_id,
          (long long)gs.last_collection, gs.last_planned ? "true" : "false",
          (long long)gs.last_pause, (long long)gs.expected_pause,
          (long long)gs.expected_drain, (long long)gs.pause_per_mib,
          (unsigned long long)gs.samples,
          (unsigned long long)gs.sleep_interrupts,
          (long long)gs.sample_interval, (long long)gs.lead_time,
          (long long)gs.drain_timeout, (long long)gs.max_defer,
          (unsigned long long)gs.collect_at_bytes,
          (unsigned long long)gs.hard_limit_bytes,
          (unsigned long long)gs.heap_bytes, (unsigned long long)gs.free_bytes,
          (unsigned long long)gs.unmapped_bytes,
          (unsigned long long)gs.bytes_since_gc,
          (unsigned long long)gs.total_bytes,
          (unsigned long long)gs.live_bytes, (long long)gs.alloc_rate,
          (long long)gs.predicted, (unsigned long long)gs.malloc_allocated,
          (long long)gs.malloc_refreshed,
          (unsigned long long)gs.malloc_tracked_threads,
          (unsigned long long)gs.malloc_tracked_allocated);
}

static void write_gate_status(FILE *out, const tn_gate *gate,
                              const tn_gcgov *g) {
  fprintf(out, ",\"gate\":{\"inflight\":%lld,\"draining\":%s,\"shed\":%llu",
          (long long)tn_gate_inflight(gate),
          tn_gate_draining(gate) ? "true" : "false",
          (unsigned long long)tn_gate_shed(gate));
  if (g) {
    tn_gcgov_stats gs;
    tn_histogram *snap = NULL;
    tn_pause_summary sum;
    tn_gcgov_stats_get(g, &gs);
    memset(&sum, 0, sizeof sum);
    if (gs.has_gate && tn_histogram_new(&snap) == 0) {
      tn_gcgov_snapshot_drain(g, snap);
      sum.count = tn_histogram_count(snap);
      sum.total = tn_histogram_sum(snap);
      if (sum.count) {
        sum.p50 = tn_histogram_percentile(snap, 50);
        sum.p99 = tn_histogram_percentile(snap, 99);
        sum.p999 = tn_histogram_percentile(snap, 99.9);
        sum.max = tn_histogram_max(snap);
      }
      tn_histogram_free(snap);
      fprintf(out, ",\"drain_timeouts\":%llu,\"drains\":",
              (unsigned long long)gs.drain_timeouts);
      write_summary(out, &sum);
    }
  }
  fputc('}', out);
}

int tn_telemetry_write_status(FILE *out, const tn_telemetry_sources *src) {
  fprintf(out, "{\"pid\":%ld,\"version\":\"%s\",\"boot_ns\":%lld",
          (long)getpid(), tn_version_string(), (long long)tn_now());
  if (src->pausemon) {
    tn_pausemon_stats st;
    int c;
    tn_pausemon_stats_get(src->pausemon, &st);
    fprintf(out,
            ",\"sampler\":{\"interval_ns\":%lld,\"threshold_ns\":%lld,"
            "\"started_boot_ns\":%lld,\"wakeups\":%llu,\"cpu_ns\":%lld},"
            "\"pause_epoch\":%llu,\"clock\":{\"wall_jumps\":%llu,"
            "\"maxerror_ns\":%lld,\"synced\":%s},\"gc\":{\"stw_windows\":%llu",
            (long long)st.interval, (long long)st.threshold,
            (long long)st.started, (unsigned long long)st.wakeups,
            (long long)st.sampler_cpu, (unsigned long long)st.epoch,
            (unsigned long long)st.wall_jumps, (long long)st.maxerror,
            st.clock_synced ? "true" : "false",
            (unsigned long long)st.gc_windows);
    for (c = 0; c < TN_GC_KIND_COUNT; c++) {
      fprintf(out, ",\"%s\":", tn_gc_kind_name((tn_gc_kind)c));
      write_summary(out, &st.gc[c]);
    }
    fputs("},\"pauses\":{", out);
    for (c = 0; c < TN_CAUSE_COUNT; c++) {
      fprintf(out, "%s\"%s\":", c ? "," : "",
              tn_pause_cause_name((tn_pause_cause)c));
      write_summary(out, &st.cause[c]);
    }
    fputc('}', out);
  }
  if (src->gcgov)
    write_gcgov_status(out, src->gcgov);
  if (src->gate)
    write_gate_status(out, src->gate, src->gcgov);
  fputs("}\n", out);
  return ferror(out) ? TN_EIO : 0;
}
