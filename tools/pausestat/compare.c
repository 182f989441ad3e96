/*
 * --compare: how well did the pause monitor see the stalls pausesim made?
 *
 * Both sides are intervals on CLOCK_BOOTTIME of the same machine: an
 * injected stall [start, start + duration] from pausesim's log, a detected
 * event [start, start + duration] from the monitor. A pair is a candidate
 * when the intervals overlap by more than zero. Pairs are taken greedily,
 * largest overlap first (ties: the smaller duration difference, then the
 * earlier stall), and each stall and each event is used at most once, so a
 * detected event never explains two stalls.
 *
 * Figures (docs/man/pausestat.1 defines them for users):
 *   recall     matched stalls longer than the threshold / stalls longer
 *              than the threshold (stalls at or under it are not expected
 *              to be seen, but may still match);
 *   precision  matched events / events overlapping the compared span,
 *              [first stall start - 1 s, last stall end + 1 s];
 *   error      detected - injected duration of each match; p50 and p99 by
 *              nearest rank on the signed errors, p99 and max of |error|.
 *
 * Candidates are found with a sorted event list and a binary search bounded
 * by the longest event, so the work is near-linear for real logs.
 */
#include "pausestat.h"

#include <stdlib.h>
#include <string.h>
#include <tenure/error.h>

#define SPAN_MARGIN TN_SEC

static int by_event_start(const void *a, const void *b) {
  const pst_event *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int by_stall_start(const void *a, const void *b) {
  const pst_stall *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static tn_nanos abs_nanos(tn_nanos d) { return d < 0 ? -d : d; }

static int by_best_candidate(const void *a, const void *b) {
  const pst_match *x = a, *y = b;
  tn_nanos ex = abs_nanos(x->error), ey = abs_nanos(y->error);
  if (x->overlap != y->overlap)
    return x->overlap > y->overlap ? -1 : 1;
  if (ex != ey)
    return ex < ey ? -1 : 1;
  if (x->stall != y->stall)
    return x->stall < y->stall ? -1 : 1;
  return x->event < y->event ? -1 : x->event > y->event;
}

static int by_stall_index(const void *a, const void *b) {
  const pst_match *x = a, *y = b;
  return x->stall < y->stall ? -1 : x->stall > y->stall;
}

static int by_nanos(const void *a, const void *b) {
  tn_nanos x = *(const tn_nanos *)a, y = *(const tn_nanos *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank: the ceil(p/100 * n)-th smallest of n sorted values. */
static tn_nanos rank(const tn_nanos *sorted, size_t n, double p) {
  double r = p / 100.0 * (double)n;
  size_t k = (size_t)r;
  if ((double)k < r)
    k++;
  if (k < 1)
    k = 1;
  if (k > n)
    k = n;
  return sorted[k - 1];
}

/* qsort, which must not be handed a NULL base even for no elements. */
static void sort(void *base, size_t n, size_t size,
                 int (*cmp)(const void *, const void *)) {
  if (n > 1)
    qsort(base, n, size, cmp);
}

static int overlaps(tn_nanos a0, tn_nanos a1, tn_nanos b0, tn_nanos b1) {
  return a0 < b1 && b0 < a1;
}

void pst_compare_free(pst_compare *c) {
  free(c->matches);
  free(c->unmatched_stalls);
  free(c->unmatched_events);
  memset(c, 0, sizeof *c);
}

int pst_compare_run(pst_stall_list *stalls, pst_event_list *events,
                    tn_nanos threshold, tn_nanos tolerance,
                    tn_nanos not_before, pst_compare *out) {
  pst_match *cand = NULL, *m;
  size_t ncand = 0, capcand = 0, i, j, n;
  tn_nanos longest = 0, *errs = NULL;
  unsigned char *stall_used = NULL, *event_used = NULL, *compared = NULL;
  int rc = TN_ENOMEM;

  pst_compare_free(out);
  out->threshold = threshold;
  out->tolerance = tolerance;
  out->not_before = not_before;
  sort(stalls->v, stalls->n, sizeof *stalls->v, by_stall_start);
  sort(events->v, events->n, sizeof *events->v, by_event_start);

  stall_used = calloc(stalls->n + 1, 1);
  compared = calloc(stalls->n + 1, 1);
  event_used = calloc(events->n + 1, 1);
  if (!stall_used || !event_used || !compared)
    goto done;
  for (j = 0; j < events->n; j++)
    if (events->v[j].duration > longest)
      longest = events->v[j].duration;

  for (i = 0; i < stalls->n; i++) {
    const pst_stall *s = &stalls->v[i];
    tn_nanos s_end = s->start + s->duration;
    size_t lo = 0, hi = events->n;
    if (s_end < not_before) {
      out->not_compared++;
      continue;
    }
    compared[i] = 1;
    out->injected++;
    if (s->duration > threshold)
      out->injected_above++;
    if (!out->have_span || s->start < out->span_start)
      out->span_start = s->start;
    if (!out->have_span || s_end > out->span_end)
      out->span_end = s_end;
    out->have_span = 1;
    /* events[lo..] start at or after s_end: they cannot overlap */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (events->v[mid].start < s_end)
        lo = mid + 1;
      else
        hi = mid;
    }
    for (j = lo; j-- > 0;) {
      const pst_event *e = &events->v[j];
      tn_nanos e_end = e->start + e->duration, ov0, ov1;
      if (e->start + longest <= s->start)
        break;
      if (!overlaps(s->start, s_end, e->start, e_end))
        continue;
      if (ncand == capcand) {
        size_t ncap = capcand ? capcand * 2 : 64;
        pst_match *nc = realloc(cand, ncap * sizeof *cand);
        if (nc == NULL)
          goto done;
        cand = nc;
        capcand = ncap;
      }
      ov0 = s->start > e->start ? s->start : e->start;
      ov1 = s_end < e_end ? s_end : e_end;
      cand[ncand].stall = i;
      cand[ncand].event = j;
      cand[ncand].overlap = ov1 - ov0;
      cand[ncand].error = e->duration - s->duration;
      ncand++;
    }
  }
  if (out->have_span) {
    out->span_start -= SPAN_MARGIN;
    out->span_end += SPAN_MARGIN;
  }

  sort(cand, ncand, sizeof *cand, by_best_candidate);
  out->matches = malloc((ncand + 1) * sizeof *out->matches);
  if (out->matches == NULL)
    goto done;
  for (n = 0; n < ncand; n++) {
    m = &cand[n];
    if (stall_used[m->stall] || event_used[m->event])
      continue;
    stall_used[m->stall] = 1;
    event_used[m->event] = 1;
    out->matches[out->nmatches++] = *m;
  }
  sort(out->matches, out->nmatches, sizeof *out->matches, by_stall_index);

  out->unmatched_stalls = malloc((stalls->n + 1) * sizeof(size_t));
  out->unmatched_events = malloc((events->n + 1) * sizeof(size_t));
  errs = malloc((out->nmatches + 1) * sizeof *errs);
  if (!out->unmatched_stalls || !out->unmatched_events || !errs)
    goto done;
  for (i = 0; i < stalls->n; i++) {
    if (!compared[i])
      continue;
    if (stall_used[i]) {
      out->matched++;
      if (stalls->v[i].duration > threshold)
        out->matched_above++;
    } else {
      out->unmatched_stalls[out->nunmatched_stalls++] = i;
    }
  }
  for (j = 0; out->have_span && j < events->n; j++) {
    const pst_event *e = &events->v[j];
    if (!overlaps(out->span_start, out->span_end, e->start,
                  e->start + e->duration) &&
        !event_used[j])
      continue;
    out->detected++;
    if (!event_used[j])
      out->unmatched_events[out->nunmatched_events++] = j;
  }

  out->nerrors = out->nmatches;
  for (n = 0; n < out->nmatches; n++) {
    errs[n] = out->matches[n].error;
    if (abs_nanos(errs[n]) > tolerance)
      out->over_tolerance++;
  }
  if (out->nerrors > 0) {
    sort(errs, out->nerrors, sizeof *errs, by_nanos);
    out->err_p50 = rank(errs, out->nerrors, 50);
    out->err_p99 = rank(errs, out->nerrors, 99);
    for (n = 0; n < out->nerrors; n++)
      errs[n] = abs_nanos(errs[n]);
    sort(errs, out->nerrors, sizeof *errs, by_nanos);
    out->err_p99_abs = rank(errs, out->nerrors, 99);
    out->err_max_abs = errs[out->nerrors - 1];
  }
  out->pass = out->matched_above == out->injected_above;
  rc = 0;
done:
  free(cand);
  free(errs);
  free(stall_used);
  free(event_used);
  free(compared);
  return rc;
}
