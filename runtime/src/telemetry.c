/*
 * Telemetry text: Prometheus exposition and the status JSON.
 *
 * Histograms are exported with fixed `le` buckets (1 ms .. 10 s) computed
 * from the HDR histogram of each cause, so the exposition is cheap to scrape
 * and stable across processes, while percentiles in the status object come
 * from the full-resolution histogram. Everything is read from snapshots: the
 * sampler is never blocked by a scrape.
 */
#include <tenure/error.h>
#include <tenure/telemetry.h>
#include <tenure/version.h>

#include <unistd.h>

static const double le_seconds[] = TN_TELEMETRY_BUCKETS;
#define NBUCKETS (sizeof le_seconds / sizeof le_seconds[0])

static void write_histogram(FILE *out, const char *name, const char *label,
                            const char *value, const tn_histogram *h) {
  size_t i;
  for (i = 0; i < NBUCKETS; i++) {
    tn_nanos le = (tn_nanos)(le_seconds[i] * 1e9 + 0.5);
    fprintf(out, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label, value,
            le_seconds[i],
            (unsigned long long)tn_histogram_count_le(h, le));
  }
  fprintf(out, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", name, label, value,
          (unsigned long long)tn_histogram_count(h));
  fprintf(out, "%s_sum{%s=\"%s\"} %.9f\n", name, label, value,
          tn_nanos_to_seconds(tn_histogram_sum(h)));
  fprintf(out, "%s_count{%s=\"%s\"} %llu\n", name, label, value,
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

int tn_telemetry_write_prometheus(FILE *out, const tn_telemetry_sources *src) {
  int rc = 0;
  if (src->pausemon)
    rc = write_pausemon_metrics(out, src->pausemon);
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
            "\"maxerror_ns\":%lld,\"synced\":%s},\"gc\":{\"stw_windows\":%llu},"
            "\"pauses\":{",
            (long long)st.interval, (long long)st.threshold,
            (long long)st.started, (unsigned long long)st.wakeups,
            (long long)st.sampler_cpu, (unsigned long long)st.epoch,
            (unsigned long long)st.wall_jumps, (long long)st.maxerror,
            st.clock_synced ? "true" : "false",
            (unsigned long long)st.gc_windows);
    for (c = 0; c < TN_CAUSE_COUNT; c++) {
      fprintf(out, "%s\"%s\":", c ? "," : "",
              tn_pause_cause_name((tn_pause_cause)c));
      write_summary(out, &st.cause[c]);
    }
    fputc('}', out);
  }
  fputs("}\n", out);
  return ferror(out) ? TN_EIO : 0;
}
