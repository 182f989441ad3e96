/*
 * Sources: what one refresh of pausestat reads.
 *
 * A control socket (--pid, --socket) answers `status` with the status
 * object, kept as parsed JSON so that sections pausestat does not know yet
 * are still shown; with --compare it is also asked for `events SINCE`, the
 * events after the last one already fetched, so a long --watch keeps every
 * event even though the process's ring holds only the last 1024.
 *
 * An events file (--events) is read like tail: each refresh parses only the
 * lines appended since the last one, into one histogram per cause (the
 * project's tn_histogram, so percentiles are exact to 0.1 % as in the status
 * object). A truncated or replaced file starts the count again.
 *
 * Invariant: on any failure the previous state is kept whole, so --watch
 * can show the last good figures.
 */
#define _GNU_SOURCE
#include "pausestat.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/ctl.h>
#include <tenure/error.h>
#include <tenure/pausemon.h>

#define CALL_TIMEOUT (5 * TN_SEC)

static int cause_add(pst_source *s, const char *name) {
  pst_cause_hist *c;
  if (s->ncauses == sizeof s->causes / sizeof s->causes[0])
    return TN_ERANGE;
  c = &s->causes[s->ncauses];
  if (tn_histogram_new(&c->h) != 0)
    return TN_ENOMEM;
  snprintf(c->name, sizeof c->name, "%s", name);
  s->ncauses++;
  return 0;
}

int pst_source_init(pst_source *s, pst_source_kind kind, const char *path) {
  int c;
  memset(s, 0, sizeof *s);
  s->kind = kind;
  s->path = path;
  s->not_before = INT64_MIN;
  pst_jsonl_init(&s->reader, path, PST_LINE_EVENT);
  for (c = 0; c < TN_CAUSE_COUNT; c++)
    if (cause_add(s, tn_pause_cause_name((tn_pause_cause)c)) != 0)
      return TN_ENOMEM;
  return 0;
}

void pst_source_free(pst_source *s) {
  size_t i;
  for (i = 0; i < s->ncauses; i++)
    tn_histogram_free(s->causes[i].h);
  pst_event_list_free(&s->events);
  json_decref(s->status);
  memset(s, 0, sizeof *s);
}

static void forget_events(pst_source *s) {
  size_t i;
  for (i = 0; i < s->ncauses; i++)
    tn_histogram_reset(s->causes[i].h);
  s->events.n = 0;
  s->overflow_causes = 0;
  s->first_start = s->last_end = 0;
  s->last_seq = 0;
  s->not_before = INT64_MIN;
}

/* Record events [from, n) into the per-cause histograms. */
static void record_from(pst_source *s, size_t from) {
  size_t i, c;
  for (i = from; i < s->events.n; i++) {
    const pst_event *ev = &s->events.v[i];
    tn_nanos end = ev->start + ev->duration;
    for (c = 0; c < s->ncauses; c++)
      if (strcmp(s->causes[c].name, ev->cause) == 0)
        break;
    if (c == s->ncauses && cause_add(s, ev->cause) != 0) {
      s->overflow_causes++;
    } else {
      tn_histogram_record(s->causes[c].h, ev->duration);
    }
    if (i == 0) { /* the first event since the start or a restart */
      s->first_start = ev->start;
      s->last_end = end;
    }
    if (ev->start < s->first_start)
      s->first_start = ev->start;
    if (end > s->last_end)
      s->last_end = end;
  }
}

static int refresh_file(pst_source *s) {
  size_t before = s->events.n;
  int restarted, rc;
  rc = pst_jsonl_read_file(&s->reader, s->path, s->final, &restarted,
                           &s->events, NULL);
  if (rc != 0)
    return rc;
  if (restarted) {
    size_t c;
    fprintf(stderr, "pausestat: %s was truncated or replaced; counting "
                    "from its start again\n",
            s->path);
    /* read_file emptied the list and refilled it from the start */
    for (c = 0; c < s->ncauses; c++)
      tn_histogram_reset(s->causes[c].h);
    s->overflow_causes = 0;
    s->first_start = s->last_end = 0;
    before = 0;
  }
  record_from(s, before);
  return pst_jsonl_finish(&s->reader);
}

/* Map a failed call to an outcome and a message. */
static int call_failed(const pst_source *s, const char *what, int rc,
                       const char *reason, char *msg, size_t msglen) {
  switch (rc) {
  case TN_ENOENT:
    snprintf(msg, msglen, "%s: no such socket (the process has exited, or "
                          "runs no tenure runtime)",
             s->path);
    return PST_ERR_GONE;
  case TN_EUNAVAILABLE:
    snprintf(msg, msglen, "%s: nobody is listening (the process has "
                          "exited)",
             s->path);
    return PST_ERR_GONE;
  case TN_ETIMEDOUT:
    snprintf(msg, msglen, "%s: no answer to \"%s\" within %llds (is the "
                          "process stopped?)",
             s->path, what, (long long)(CALL_TIMEOUT / TN_SEC));
    return PST_ERR_BUSY;
  case TN_EPERM:
    fprintf(stderr, "pausestat: %s: permission denied (the control socket "
                    "answers only its owner's uid)\n",
            s->path);
    return PST_ERR_FATAL;
  case TN_EPROTO:
    fprintf(stderr, "pausestat: %s: malformed reply to \"%s\"\n", s->path,
            what);
    return PST_ERR_FATAL;
  default:
    if (reason && reason[0]) {
      fprintf(stderr, "pausestat: %s: \"%s\" failed: error ", s->path, what);
      pst_put_safe(stderr, reason, strlen(reason));
      fputc('\n', stderr);
    } else {
      fprintf(stderr, "pausestat: %s: \"%s\" failed: %s\n", s->path, what,
              tn_strerror(rc));
    }
    return PST_ERR_FATAL;
  }
}

static int json_i64(const json_t *obj, const char *key, int64_t *out) {
  const json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v))
    return -1;
  *out = (int64_t)json_integer_value(v);
  return 0;
}

static int fetch_events(pst_source *s, char *msg, size_t msglen) {
  char line[64], reason[128], label[4200];
  char *payload = NULL;
  size_t len = 0, i;
  pst_event_list fresh = {0};
  pst_jsonl reader;
  ssize_t used;
  int rc;

  snprintf(line, sizeof line, "events %" PRIu64, s->last_seq);
  rc = tn_ctl_call(s->path, line, &payload, &len, reason, sizeof reason,
                   CALL_TIMEOUT);
  if (rc != 0)
    return call_failed(s, line, rc, reason, msg, msglen);
  snprintf(label, sizeof label, "%s events reply", s->path);
  pst_jsonl_init(&reader, label, PST_LINE_EVENT);
  used = pst_jsonl_feed(&reader, payload, len, 1, &fresh, NULL);
  free(payload);
  if (used < 0) {
    pst_event_list_free(&fresh);
    return PST_ERR_FATAL;
  }
  if (reader.malformed > PST_MAX_LINE_REPORTS)
    fprintf(stderr, "pausestat: %s: %llu malformed lines in all\n", label,
            (unsigned long long)reader.malformed);
  /* Keep only what is new, in seq order as the server sends it. */
  for (i = 0; i < fresh.n; i++) {
    const pst_event *ev = &fresh.v[i];
    if (ev->seq <= s->last_seq)
      continue;
    if (s->last_seq == 0 && s->events.n == 0 && ev->seq > 1) {
      /* The ring had already dropped the oldest events: stalls before this
       * one cannot be compared. */
      s->not_before = ev->start;
      fprintf(stderr, "pausestat: %s: events 1 to %" PRIu64 " are no longer "
                      "held by the process; injected stalls before them are "
                      "not compared\n",
              s->path, ev->seq - 1);
    } else if (s->last_seq > 0 && ev->seq > s->last_seq + 1) {
      fprintf(stderr, "pausestat: %s: events %" PRIu64 " to %" PRIu64
                      " were dropped from the process's ring before they "
                      "were read (refresh more often)\n",
              s->path, s->last_seq + 1, ev->seq - 1);
    }
    if (pst_event_push(&s->events, ev) != 0) {
      pst_event_list_free(&fresh);
      fprintf(stderr, "pausestat: out of memory\n");
      return PST_ERR_FATAL;
    }
    s->last_seq = ev->seq;
  }
  pst_event_list_free(&fresh);
  return 0;
}

static int refresh_socket(pst_source *s, char *msg, size_t msglen) {
  char reason[128];
  char *payload = NULL;
  size_t len = 0;
  json_error_t jerr;
  json_t *status;
  int64_t pid = 0, epoch = 0;
  int rc;

  rc = tn_ctl_call(s->path, "status", &payload, &len, reason, sizeof reason,
                   CALL_TIMEOUT);
  if (rc != 0)
    return call_failed(s, "status", rc, reason, msg, msglen);
  status = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
  free(payload);
  if (!json_is_object(status)) {
    fprintf(stderr, "pausestat: %s: the status reply is not a JSON object",
            s->path);
    if (status == NULL) {
      fputs(" (", stderr);
      pst_put_safe(stderr, jerr.text, strlen(jerr.text));
      fputc(')', stderr);
    }
    fputc('\n', stderr);
    json_decref(status);
    return PST_ERR_FATAL;
  }
  /* A different process on the same path, or one that started over: its
   * events are not the ones we have. */
  if (json_i64(status, "pid", &pid) == 0 && s->status_pid != 0 &&
      pid != s->status_pid)
    forget_events(s);
  else if (json_i64(status, "pause_epoch", &epoch) == 0 && epoch >= 0 &&
           (uint64_t)epoch < s->last_seq)
    forget_events(s);
  s->status_pid = (long)pid;
  json_decref(s->status);
  s->status = status;
  if (s->want_events)
    return fetch_events(s, msg, msglen);
  return 0;
}

int pst_source_refresh(pst_source *s, char *msg, size_t msglen) {
  msg[0] = '\0';
  if (s->kind == PST_SRC_EVENTS) {
    int rc = refresh_file(s);
    if (rc == PST_ERR_GONE)
      snprintf(msg, msglen, "%s: the file was removed", s->path);
    return rc;
  }
  return refresh_socket(s, msg, msglen);
}

tn_nanos pst_source_threshold(const pst_source *s) {
  int64_t t;
  if (s->status == NULL)
    return 0;
  if (json_i64(json_object_get(s->status, "sampler"), "threshold_ns", &t) ==
          0 &&
      t > 0 && t <= PST_MAX_NS)
    return t;
  return 0;
}
