/*
 * Reading JSON lines: pause events (pausemeter --events, the `events`
 * command) and injected stalls (pausesim --log).
 *
 * Every line is untrusted. A line is accepted only when it is one JSON
 * object whose required fields are present with the right types and sane
 * values; otherwise it is named on stderr with its line number and skipped,
 * and the rest of the input still counts. Unknown fields are ignored, so a
 * newer writer that adds fields is still read.
 *
 * Whole-input checks tell a damaged JSON-lines file from something that is
 * not one at all: the first non-blank byte must be '{' and the first
 * non-blank line must hold no NUL byte, and at least one line must be valid.
 *
 * The trick for --watch: only complete lines are consumed and the byte
 * offset of the next one is kept, so re-reading a growing file parses (and
 * reports) each line exactly once, and a line still being written is left
 * for the next refresh.
 */
#define _GNU_SOURCE
#include "pausestat.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tenure/error.h>

void pst_put_safe(FILE *out, const char *s, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f)
      fputc(c, out);
    else
      fprintf(out, "\\x%02x", c);
  }
}

void pst_jsonl_init(pst_jsonl *r, const char *label, pst_line_kind kind) {
  memset(r, 0, sizeof *r);
  r->label = label;
  r->kind = kind;
}

void pst_jsonl_reset(pst_jsonl *r) {
  const char *label = r->label;
  pst_line_kind kind = r->kind;
  pst_jsonl_init(r, label, kind);
}

/* --- lists ------------------------------------------------------------- */

static int grow(void **v, size_t *cap, size_t n, size_t elem) {
  size_t ncap;
  void *nv;
  if (n < *cap)
    return 0;
  ncap = *cap ? *cap * 2 : 64;
  if (ncap > SIZE_MAX / elem)
    return TN_ENOMEM;
  nv = realloc(*v, ncap * elem);
  if (nv == NULL)
    return TN_ENOMEM;
  *v = nv;
  *cap = ncap;
  return 0;
}

int pst_event_push(pst_event_list *l, const pst_event *ev) {
  if (grow((void **)&l->v, &l->cap, l->n, sizeof *l->v) != 0)
    return TN_ENOMEM;
  l->v[l->n++] = *ev;
  return 0;
}

int pst_stall_push(pst_stall_list *l, const pst_stall *st) {
  if (grow((void **)&l->v, &l->cap, l->n, sizeof *l->v) != 0)
    return TN_ENOMEM;
  l->v[l->n++] = *st;
  return 0;
}

void pst_event_list_free(pst_event_list *l) {
  free(l->v);
  memset(l, 0, sizeof *l);
}

void pst_stall_list_free(pst_stall_list *l) {
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* --- one object -------------------------------------------------------- */

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a fraction";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "unknown";
}

/* An integer field in [lo, hi]. required: missing is an error. */
static int get_int(const json_t *obj, const char *key, int required,
                   int64_t lo, int64_t hi, int64_t *out, char *why,
                   size_t whylen) {
  const json_t *v = json_object_get(obj, key);
  json_int_t x;
  if (v == NULL) {
    if (!required)
      return 0;
    snprintf(why, whylen, "field \"%s\" is missing", key);
    return -1;
  }
  if (!json_is_integer(v)) {
    snprintf(why, whylen, "field \"%s\" is %s, not an integer", key,
             type_name(v));
    return -1;
  }
  x = json_integer_value(v);
  if (x < lo) {
    snprintf(why, whylen, "field \"%s\" is %s (%lld)", key,
             x < 0 ? "negative" : "too small", (long long)x);
    return -1;
  }
  if (x > hi) {
    snprintf(why, whylen, "field \"%s\" is too large (%lld)", key,
             (long long)x);
    return -1;
  }
  if (out)
    *out = (int64_t)x;
  return 0;
}

static int get_bool(const json_t *obj, const char *key, int *out, char *why,
                    size_t whylen) {
  const json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_boolean(v)) {
    snprintf(why, whylen, "field \"%s\" is %s, not a boolean", key,
             type_name(v));
    return -1;
  }
  if (out)
    *out = json_is_true(v);
  return 0;
}

/* A short lowercase word: [a-z][a-z0-9_-]*, shorter than cap. */
static int get_word(const json_t *obj, const char *key, int required,
                    char *out, size_t cap, char *why, size_t whylen) {
  const json_t *v = json_object_get(obj, key);
  const char *s;
  size_t n, i;
  if (v == NULL) {
    if (!required)
      return 0;
    snprintf(why, whylen, "field \"%s\" is missing", key);
    return -1;
  }
  if (!json_is_string(v)) {
    snprintf(why, whylen, "field \"%s\" is %s, not a string", key,
             type_name(v));
    return -1;
  }
  s = json_string_value(v);
  n = json_string_length(v);
  if (n == 0 || n >= cap || !(s[0] >= 'a' && s[0] <= 'z')) {
    snprintf(why, whylen, "field \"%s\" is not a name", key);
    return -1;
  }
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      snprintf(why, whylen, "field \"%s\" is not a name", key);
      return -1;
    }
  }
  memcpy(out, s, n);
  out[n] = '\0';
  return 0;
}

int pst_event_from_json(const json_t *v, pst_event *out, char *why,
                        size_t whylen) {
  static const char *const details[] = {"runq_wait_ns", "steal_ns",
                                        "suspended_ns"};
  pst_event ev;
  int64_t x;
  size_t i;
  const json_t *wall;

  if (!json_is_object(v)) {
    snprintf(why, whylen, "not a JSON object (%s)", type_name(v));
    return -1;
  }
  memset(&ev, 0, sizeof ev);
  if (get_int(v, "seq", 1, 1, INT64_MAX, &x, why, whylen))
    return -1;
  ev.seq = (uint64_t)x;
  if (get_word(v, "cause", 1, ev.cause, sizeof ev.cause, why, whylen))
    return -1;
  if (get_int(v, "start_boot_ns", 1, 0, PST_MAX_NS, &ev.start, why, whylen) ||
      get_int(v, "duration_ns", 1, 0, PST_MAX_NS, &ev.duration, why, whylen))
    return -1;
  if (get_bool(v, "planned", &ev.planned, why, whylen) ||
      get_bool(v, "sigcont", NULL, why, whylen))
    return -1;
  for (i = 0; i < sizeof details / sizeof details[0]; i++)
    if (get_int(v, details[i], 0, 0, PST_MAX_NS, NULL, why, whylen))
      return -1;
  wall = json_object_get(v, "start_wall");
  if (wall != NULL && !json_is_string(wall)) {
    snprintf(why, whylen, "field \"start_wall\" is %s, not a string",
             type_name(wall));
    return -1;
  }
  *out = ev;
  return 0;
}

int pst_stall_from_json(const json_t *v, pst_stall *out, char *why,
                        size_t whylen) {
  pst_stall st;
  int64_t x;

  if (!json_is_object(v)) {
    snprintf(why, whylen, "not a JSON object (%s)", type_name(v));
    return -1;
  }
  memset(&st, 0, sizeof st);
  if (get_int(v, "seq", 1, 1, INT64_MAX, &x, why, whylen))
    return -1;
  st.seq = (uint64_t)x;
  if (get_int(v, "pid", 1, 0, INT32_MAX, &st.pid, why, whylen) ||
      get_word(v, "mode", 1, st.mode, sizeof st.mode, why, whylen) ||
      get_int(v, "start_boot_ns", 1, 0, PST_MAX_NS, &st.start, why, whylen) ||
      get_int(v, "duration_ns", 1, 0, PST_MAX_NS, &st.duration, why,
              whylen) ||
      get_int(v, "requested_ns", 1, 0, PST_MAX_NS, &st.requested, why,
              whylen))
    return -1;
  *out = st;
  return 0;
}

/* --- lines ------------------------------------------------------------- */

static void report(pst_jsonl *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report(pst_jsonl *r, const char *fmt, ...) {
  char why[512];
  va_list ap;
  r->malformed++;
  if (r->malformed > PST_MAX_LINE_REPORTS)
    return;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  fprintf(stderr, "pausestat: %s:%llu: ", r->label,
          (unsigned long long)r->lineno);
  pst_put_safe(stderr, why, strlen(why));
  fputs(" (skipped)\n", stderr);
}

static int is_blank(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return 0;
  return 1;
}

/*
 * One line (without its '\n'; at most PST_MAX_LINE bytes of it, too_long
 * says there was more). Returns 0 (accepted, skipped or blank), or
 * PST_ERR_FATAL.
 */
static int take_line(pst_jsonl *r, const char *line, size_t len,
                     int terminated, int too_long, pst_event_list *events,
                     pst_stall_list *stalls) {
  json_error_t jerr;
  json_t *v;
  char why[256];
  int rc;

  if (!too_long && is_blank(line, len))
    return 0;
  r->nonblank++;
  if (!r->checked_start) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
      i++;
    r->checked_start = 1;
    if (i == len || line[i] != '{') {
      unsigned char c = i < len ? (unsigned char)line[i] : ' ';
      if (c >= 0x20 && c < 0x7f)
        fprintf(stderr,
                "pausestat: %s: not a JSON-lines file (line %llu starts "
                "with '%c', not '{')\n",
                r->label, (unsigned long long)r->lineno, c);
      else
        fprintf(stderr,
                "pausestat: %s: not a JSON-lines file (binary: line %llu "
                "starts with byte 0x%02x)\n",
                r->label, (unsigned long long)r->lineno, c);
      return PST_ERR_FATAL;
    }
    if (memchr(line, '\0', len) != NULL) {
      fprintf(stderr,
              "pausestat: %s: not a JSON-lines file (binary: NUL bytes in "
              "line %llu)\n",
              r->label, (unsigned long long)r->lineno);
      return PST_ERR_FATAL;
    }
  }
  if (too_long) {
    report(r, "line longer than %d bytes", PST_MAX_LINE);
    return 0;
  }
  if (memchr(line, '\0', len) != NULL) {
    report(r, "a NUL byte in the line");
    return 0;
  }
  v = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
  if (v == NULL) {
    if (!terminated)
      report(r, "truncated: no newline at the end of the input, and not a "
                "whole JSON object (%s)",
             jerr.text);
    else
      report(r, "not valid JSON: %s (column %d)", jerr.text, jerr.column);
    return 0;
  }
  if (r->kind == PST_LINE_EVENT && json_is_object(v) &&
      json_is_string(json_object_get(v, "kind"))) {
    /* The same sink also carries the collector governor's objects
     * ({"kind":"drain"}, {"kind":"collection"}): not pause events, not
     * malformed either. Pause events have no "kind". */
    json_decref(v);
    r->valid++;
    return 0;
  }
  if (r->kind == PST_LINE_STALL && json_is_object(v) &&
      json_object_get(v, "begin_boot_ns") != NULL) {
    /* pausesim writes a begin record before each stall's signal (for
     * pausesim --recover); the stall itself is the line that follows. */
    json_decref(v);
    r->valid++;
    return 0;
  }
  if (r->kind == PST_LINE_EVENT) {
    pst_event ev;
    rc = pst_event_from_json(v, &ev, why, sizeof why);
    if (rc == 0 && events != NULL && pst_event_push(events, &ev) != 0)
      goto nomem;
  } else {
    pst_stall st;
    rc = pst_stall_from_json(v, &st, why, sizeof why);
    if (rc == 0 && stalls != NULL && pst_stall_push(stalls, &st) != 0)
      goto nomem;
  }
  json_decref(v);
  if (rc != 0)
    report(r, "%s", why);
  else
    r->valid++;
  return 0;
nomem:
  json_decref(v);
  fprintf(stderr, "pausestat: %s: out of memory\n", r->label);
  return PST_ERR_FATAL;
}

ssize_t pst_jsonl_feed(pst_jsonl *r, const char *buf, size_t len, int final,
                       pst_event_list *events, pst_stall_list *stalls) {
  size_t pos = 0;
  while (pos < len) {
    const char *start = buf + pos;
    const char *nl = memchr(start, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - start) : len - pos;
    int too_long = n > PST_MAX_LINE;
    if (nl == NULL && !final)
      break;
    r->lineno++;
    if (take_line(r, start, too_long ? PST_MAX_LINE : n, nl != NULL,
                  too_long, events, stalls) != 0)
      return PST_ERR_FATAL;
    pos += n + (nl != NULL);
  }
  return (ssize_t)pos;
}

/*
 * Read one line from f into buf (cap bytes; the rest of a longer line is
 * read and dropped). Returns the bytes taken from the file, 0 at EOF, and
 * sets *len, *terminated, *too_long.
 */
static size_t read_line(FILE *f, char *buf, size_t cap, size_t *len,
                        int *terminated, int *too_long) {
  size_t taken = 0, n = 0;
  int c;
  *terminated = 0;
  *too_long = 0;
  while ((c = getc_unlocked(f)) != EOF) {
    taken++;
    if (c == '\n') {
      *terminated = 1;
      break;
    }
    if (n < cap)
      buf[n++] = (char)c;
    else
      *too_long = 1;
  }
  *len = n;
  return taken;
}

int pst_jsonl_read_file(pst_jsonl *r, const char *path, int final,
                        int *restarted, pst_event_list *events,
                        pst_stall_list *stalls) {
  struct stat st;
  FILE *f;
  char *line;
  int rc = 0;

  *restarted = 0;
  f = fopen(path, "re");
  if (f == NULL) {
    if (errno == ENOENT && r->have_file)
      return PST_ERR_GONE;
    fprintf(stderr, "pausestat: %s: %s\n", path, strerror(errno));
    return PST_ERR_FATAL;
  }
  if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pausestat: %s: %s\n", path,
            S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
    fclose(f);
    return PST_ERR_FATAL;
  }
  if (r->have_file && (st.st_dev != r->dev || st.st_ino != r->ino ||
                       (S_ISREG(st.st_mode) && st.st_size < r->offset))) {
    pst_jsonl_reset(r);
    if (events)
      events->n = 0;
    if (stalls)
      stalls->n = 0;
    *restarted = 1;
  }
  r->have_file = 1;
  r->dev = st.st_dev;
  r->ino = st.st_ino;
  if (r->offset > 0 && fseeko(f, r->offset, SEEK_SET) != 0) {
    fprintf(stderr, "pausestat: %s: %s\n", path, strerror(errno));
    fclose(f);
    return PST_ERR_FATAL;
  }
  line = malloc(PST_MAX_LINE + 1);
  if (line == NULL) {
    fclose(f);
    fprintf(stderr, "pausestat: %s: out of memory\n", path);
    return PST_ERR_FATAL;
  }
  for (;;) {
    size_t len, taken;
    int terminated, too_long;
    taken = read_line(f, line, PST_MAX_LINE, &len, &terminated, &too_long);
    if (taken == 0)
      break;
    if (!terminated && !final)
      break; /* still being written: next time */
    r->lineno++;
    if (take_line(r, line, len, terminated, too_long, events, stalls) != 0) {
      rc = PST_ERR_FATAL;
      break;
    }
    r->offset += (off_t)taken;
  }
  if (rc == 0 && ferror(f)) {
    fprintf(stderr, "pausestat: %s: read error: %s\n", path, strerror(errno));
    rc = PST_ERR_FATAL;
  }
  free(line);
  fclose(f);
  return rc;
}

int pst_jsonl_finish(pst_jsonl *r) {
  static const char *const what[] = {"pause event", "injected stall"};
  if (r->malformed > PST_MAX_LINE_REPORTS && r->malformed != r->summarized) {
    r->summarized = r->malformed;
    fprintf(stderr, "pausestat: %s: %llu malformed lines in all, %d named "
                    "above (all skipped)\n",
            r->label, (unsigned long long)r->malformed, PST_MAX_LINE_REPORTS);
  }
  if (r->nonblank > 0 && r->valid == 0) {
    fprintf(stderr,
            "pausestat: %s: not a JSON-lines file of %ss (none of its %llu "
            "lines is one)\n",
            r->label, what[r->kind], (unsigned long long)r->nonblank);
    return PST_ERR_FATAL;
  }
  return 0;
}
