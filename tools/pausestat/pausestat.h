/*
 * pausestat internals shared by main.c (options, the refresh loop),
 * jsonl.c (reading JSON lines: pause events and pausesim logs), source.c
 * (what a refresh reads: a control socket or an events file), compare.c
 * (injected stalls against detected events) and render.c (text and --json).
 *
 * Everything runs on pausestat's one thread. Input from outside (files,
 * socket replies) is untrusted: a bad line is reported with its line number
 * and skipped, never guessed at.
 */
#ifndef PAUSESTAT_PAUSESTAT_H
#define PAUSESTAT_PAUSESTAT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <tenure/clock.h>
#include <tenure/histogram.h>

#define PST_EXIT_FAIL 1
#define PST_EXIT_USAGE 2

/* Any *_ns value we accept is at most this (about 146 years), so the sum of
 * a start and a duration always fits in tn_nanos. Larger is malformed. */
#define PST_MAX_NS ((tn_nanos)1 << 62)
/* A longer line is malformed (and not parsed). */
#define PST_MAX_LINE (64 * 1024)
/* Per input, the first this many bad lines are named on stderr; the rest
 * are counted and summed up in one more line. */
#define PST_MAX_LINE_REPORTS 20
/* A cause name: [a-z][a-z0-9_-]*, shorter than this. */
#define PST_CAUSE_LEN 32

/* Outcomes other than success (0) of reading a source. */
enum {
  PST_ERR_FATAL = -1, /* reported; exit 1 */
  PST_ERR_GONE = -2,  /* the target went away (socket gone/refused, file
                         removed); reported by the caller */
  PST_ERR_BUSY = -3   /* no answer in time: the target may be stalled */
};

/* --- jsonl.c: JSON lines ------------------------------------------------ */

/* One detected pause event (docs/telemetry.md, "Pause events"). */
typedef struct pst_event {
  uint64_t seq;
  char cause[PST_CAUSE_LEN];
  tn_nanos start, duration;
  int planned;
} pst_event;

/* One injected stall (pausesim's log, docs/man/pausesim.1, LOG FORMAT). */
typedef struct pst_stall {
  uint64_t seq;
  int64_t pid;
  char mode[16];
  tn_nanos start, duration, requested;
} pst_stall;

typedef struct pst_event_list {
  pst_event *v;
  size_t n, cap;
} pst_event_list;

typedef struct pst_stall_list {
  pst_stall *v;
  size_t n, cap;
} pst_stall_list;

typedef enum pst_line_kind { PST_LINE_EVENT, PST_LINE_STALL } pst_line_kind;

/*
 * Incremental reader of one JSON-lines input. It consumes whole lines only,
 * so a file that grows (pausemeter appending, pausesim logging) is read like
 * tail: each line is parsed, and reported if bad, exactly once.
 * label names the input in messages ("events.jsonl", "SOCK events reply").
 */
typedef struct pst_jsonl {
  const char *label;
  pst_line_kind kind;
  uint64_t lineno;     /* lines consumed so far */
  uint64_t nonblank;   /* of which not blank */
  uint64_t valid;      /* of which accepted */
  uint64_t malformed;  /* of which reported and skipped */
  uint64_t summarized; /* malformed count at the last summary line */
  int checked_start;   /* the first non-blank byte has been looked at */
  /* file state (pst_jsonl_read_file) */
  off_t offset;        /* bytes consumed: always at a line boundary */
  dev_t dev;
  ino_t ino;
  int have_file;
} pst_jsonl;

void pst_jsonl_init(pst_jsonl *r, const char *label, pst_line_kind kind);
/* Forget everything read (the file was truncated or replaced). */
void pst_jsonl_reset(pst_jsonl *r);

/*
 * Feed bytes: every complete line is parsed and appended to events or
 * stalls (by r->kind; the other may be NULL). With final != 0 a last line
 * without '\n' is taken too (a truncated line is then reported as such);
 * otherwise it is left, and the return value says how many bytes were
 * consumed so that the caller can offer the rest again later.
 * Returns the bytes consumed, or PST_ERR_FATAL when the input is not JSON
 * lines at all (first non-blank byte not '{', or a NUL in the first line),
 * already reported. Out of memory is fatal too.
 */
ssize_t pst_jsonl_feed(pst_jsonl *r, const char *buf, size_t len, int final,
                       pst_event_list *events, pst_stall_list *stalls);

/*
 * Read the new part of a file, from r->offset. If the file shrank or was
 * replaced (another inode), sets *restarted, clears the lists and reads it
 * from the start. final as in pst_jsonl_feed. Returns 0, PST_ERR_GONE if the
 * file no longer exists (after a first successful read), or PST_ERR_FATAL
 * (reported: missing at the first read, unreadable, not JSON lines).
 */
int pst_jsonl_read_file(pst_jsonl *r, const char *path, int final,
                        int *restarted, pst_event_list *events,
                        pst_stall_list *stalls);

/* After the last feed or read: print the "N more malformed lines" summary
 * if some were not named, and fail (PST_ERR_FATAL, reported) when there were
 * non-blank lines but none valid. Returns 0 otherwise. */
int pst_jsonl_finish(pst_jsonl *r);

/* Validate one parsed JSON value as an event or a stall. Returns 0, or -1
 * with a reason in why. Exposed for the socket's `events` reply. */
int pst_event_from_json(const json_t *v, pst_event *out, char *why,
                        size_t whylen);
int pst_stall_from_json(const json_t *v, pst_stall *out, char *why,
                        size_t whylen);

int pst_event_push(pst_event_list *l, const pst_event *ev);
int pst_stall_push(pst_stall_list *l, const pst_stall *st);
void pst_event_list_free(pst_event_list *l);
void pst_stall_list_free(pst_stall_list *l);

/* Print bytes to out with anything not printable ASCII as \xNN, so that
 * untrusted text cannot drive the terminal. */
void pst_put_safe(FILE *out, const char *s, size_t len);

/* --- compare.c ----------------------------------------------------------- */

typedef struct pst_match {
  size_t stall;  /* index into the stall list */
  size_t event;  /* index into the event list */
  tn_nanos overlap;
  tn_nanos error; /* detected - injected duration */
} pst_match;

typedef struct pst_compare {
  tn_nanos threshold, tolerance;
  tn_nanos not_before;     /* stalls ending before this were not compared
                              (the socket's event ring had dropped them);
                              INT64_MIN when all were */
  size_t not_compared;
  size_t injected, injected_above;
  size_t detected;         /* events overlapping [span_start, span_end] */
  size_t matched, matched_above;
  int have_span;
  tn_nanos span_start, span_end;
  /* duration errors of the matches, nearest-rank percentiles */
  size_t nerrors;
  tn_nanos err_p50, err_p99, err_p99_abs, err_max_abs;
  size_t over_tolerance;
  pst_match *matches; /* sorted by stall start */
  size_t nmatches;
  size_t *unmatched_stalls, nunmatched_stalls;
  size_t *unmatched_events, nunmatched_events;
  int pass; /* every compared stall above threshold was matched */
} pst_compare;

/*
 * Match stalls to events by overlap on CLOCK_BOOTTIME and fill *out (which
 * the caller zeroes once and frees with pst_compare_free). Sorts both lists
 * by start. Returns 0 or TN_ENOMEM.
 */
int pst_compare_run(pst_stall_list *stalls, pst_event_list *events,
                    tn_nanos threshold, tn_nanos tolerance,
                    tn_nanos not_before, pst_compare *out);
void pst_compare_free(pst_compare *c);

/* --- source.c: what one refresh reads ----------------------------------- */

/* Per-cause histograms built from events (the --events source). Known
 * causes come first in their usual order, then others as first seen. */
typedef struct pst_cause_hist {
  char name[PST_CAUSE_LEN];
  tn_histogram *h;
} pst_cause_hist;

typedef enum pst_source_kind { PST_SRC_SOCKET, PST_SRC_EVENTS } pst_source_kind;

typedef struct pst_source {
  pst_source_kind kind;
  const char *path;   /* socket path or events file */
  long pid;           /* --pid, or 0 */
  int want_events;    /* fetch events from the socket (--compare) */
  int final;          /* take unterminated last lines (no --watch) */
  /* socket */
  json_t *status;     /* the last status object */
  long status_pid;    /* its pid, to notice a new process on the path */
  uint64_t last_seq;  /* events fetched up to here */
  tn_nanos not_before;/* see pst_compare.not_before */
  /* events (both kinds; for a socket only with want_events) */
  pst_event_list events;
  pst_jsonl reader;   /* the events file */
  pst_cause_hist causes[16];
  size_t ncauses;
  uint64_t overflow_causes; /* events of causes beyond the table */
  tn_nanos first_start, last_end;
} pst_source;

/* Prepare (allocates the known causes' histograms). Returns 0 or TN_ENOMEM. */
int pst_source_init(pst_source *s, pst_source_kind kind, const char *path);
void pst_source_free(pst_source *s);

/*
 * One refresh: socket: status (and the new events if want_events); file:
 * the lines appended since the last refresh. Returns 0, PST_ERR_GONE,
 * PST_ERR_BUSY (timeout; socket only) or PST_ERR_FATAL. Messages for GONE
 * and BUSY go into msg; fatal ones are printed.
 */
int pst_source_refresh(pst_source *s, char *msg, size_t msglen);

/* The detector threshold the status object reports, or 0 if none. */
tn_nanos pst_source_threshold(const pst_source *s);

/* --- render.c ------------------------------------------------------------ */

typedef struct pst_view {
  const pst_source *src;
  const pst_compare *cmp;       /* NULL without --compare */
  const pst_stall_list *stalls; /* with cmp */
  const pst_event_list *events; /* with cmp */
  const char *injected_path;
} pst_view;

void pst_render_text(FILE *out, const pst_view *v);
/* One JSON object and a newline. Returns 0 or TN_ENOMEM. */
int pst_render_json(FILE *out, const pst_view *v);

/* "12.345ms" */
void pst_fmt_ms(tn_nanos d, char *buf, size_t len);

#endif
