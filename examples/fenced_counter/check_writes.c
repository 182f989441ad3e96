/*
 * check_writes: the safety checker for a fenced store's writes.jsonl.
 *
 *   check_writes [--quiet] WRITES.jsonl [COUNTER_FILE]
 *
 * The log is in decision order (each line is appended under the store's
 * lock), so it is checked line by line while the checker replays the
 * counter: the write it holds (value, token, term) after each line.
 *   S2  accepted tokens never decrease; the fence refuses only tokens lower
 *       than the highest it holds, and what it holds never goes down;
 *       one token, one term: two different terms (or holder ids) under an
 *       equal token, accepted or refused, are a violation (a token was
 *       handed out twice, so the fence could not tell the holders apart);
 *   no lost increment: every attempt read the write the replay says the
 *       counter held (base_token/base_term, value - 1), and the counter
 *       file, if given, holds the last one (or, see below, one more).
 * Writers killed at any instant leave traces that are not violations, and
 * are counted instead:
 *   torn write         a write saved in the counter but not logged (the
 *                      writer died in between): logged by the next writer
 *                      with "torn":true, or, at the end, the counter file
 *                      one write ahead of the log; it must obey S2 like any
 *                      accepted write and is replayed as one
 *   admission without a write  a refusal reports a fence token that no
 *                      logged or torn write had: its writer died after the
 *                      admit, before saving
 *   torn log line      the last line lacks its newline and is not a whole
 *                      record (the writer died inside the append; the next
 *                      writer cuts such a line, so only the last can be)
 * Nothing else is excused: an attempt that read anything but the write the
 * replay says the counter held is a lost or doubled increment.
 * Prints the figures and "safety: N violations"; exits 0 with none, 1 with
 * any, 2 when the input cannot be read or is not a write log (naming the
 * file, line and field).
 */
#define _GNU_SOURCE
#include "counter_file.h"

#include <jansson.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/include/tenure/version.h" /* TN_VERSION_STRING only */

static long violations;

static void violation(long line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void violation(long line, const char *fmt, ...) {
  va_list ap;
  violations++;
  if (violations > 20)
    return;
  if (line > 0)
    fprintf(stderr, "VIOLATION line %ld: ", line);
  else
    fprintf(stderr, "VIOLATION counter: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* --- token -> the term that first used it ---------------------------- */

struct token_owner {
  uint64_t token; /* 0: empty slot */
  char term[COUNTER_TERM_LEN + 1];
  char holder[COUNTER_HOLDER_MAX + 1];
  long line;
  char other_term[COUNTER_TERM_LEN + 1]; /* a second term, reported once */
  char other_holder[COUNTER_HOLDER_MAX + 1];
};

static struct token_owner *owners;
static size_t owners_cap, owners_len;

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static struct token_owner *owner_slot(uint64_t token) {
  size_t i = (size_t)mix(token) & (owners_cap - 1);
  while (owners[i].token != 0 && owners[i].token != token)
    i = (i + 1) & (owners_cap - 1);
  return &owners[i];
}

static int owners_grow(void) {
  struct token_owner *old = owners;
  size_t old_cap = owners_cap, i;
  owners_cap = old_cap ? old_cap * 2 : 1024;
  owners = calloc(owners_cap, sizeof *owners);
  if (!owners)
    return -1;
  for (i = 0; i < old_cap; i++)
    if (old[i].token != 0)
      *owner_slot(old[i].token) = old[i];
  free(old);
  return 0;
}

/*
 * Token `token` was used by term/holder at line. The first user owns it; another term,
 * or another holder id, is a violation (reported once per second term).
 * 0, or -1 out of memory.
 */
static int claim_token(uint64_t token, const char *term, const char *holder,
                       long line) {
  struct token_owner *o;
  if ((owners_len + 1) * 2 > owners_cap && owners_grow() != 0)
    return -1;
  o = owner_slot(token);
  if (o->token == 0) {
    o->token = token;
    snprintf(o->term, sizeof o->term, "%s", term);
    snprintf(o->holder, sizeof o->holder, "%s", holder);
    o->line = line;
    owners_len++;
    return 0;
  }
  if (strcmp(o->term, term) == 0 &&
      (!holder[0] || !o->holder[0] || strcmp(o->holder, holder) == 0)) {
    if (!o->holder[0])
      snprintf(o->holder, sizeof o->holder, "%s", holder);
    return 0;
  }
  if (strcmp(o->other_term, term) == 0 && strcmp(o->other_holder, holder) == 0)
    return 0;
  snprintf(o->other_term, sizeof o->other_term, "%s", term);
  snprintf(o->other_holder, sizeof o->other_holder, "%s", holder);
  violation(line,
            "token %llu used by two holders: \"%s\" (term %s, line %ld) and "
            "\"%s\" (term %s): a token was handed out twice, so the fence "
            "could not tell them apart",
            (unsigned long long)token, o->holder[0] ? o->holder : "?",
            o->term, o->line, holder[0] ? holder : "?", term);
  return 0;
}

/* --- pids seen, to count writer processes ---------------------------- */

static uint64_t *pids;
static size_t pids_cap, pids_len;

static int pid_seen(uint64_t pid) {
  size_t i;
  if ((pids_len + 1) * 2 > pids_cap) {
    uint64_t *old = pids;
    size_t old_cap = pids_cap, j;
    pids_cap = old_cap ? old_cap * 2 : 256;
    pids = calloc(pids_cap, sizeof *pids);
    if (!pids)
      return -1;
    for (j = 0; j < old_cap; j++)
      if (old[j] != 0) {
        i = (size_t)mix(old[j]) & (pids_cap - 1);
        while (pids[i] != 0)
          i = (i + 1) & (pids_cap - 1);
        pids[i] = old[j];
      }
    free(old);
  }
  i = (size_t)mix(pid) & (pids_cap - 1);
  while (pids[i] != 0 && pids[i] != pid)
    i = (i + 1) & (pids_cap - 1);
  if (pids[i] == 0) {
    pids[i] = pid;
    pids_len++;
  }
  return 0;
}

/* --- one record ------------------------------------------------------- */

struct record {
  uint64_t token, value, pid, base_token, fence;
  int accepted, torn;
  char holder[COUNTER_HOLDER_MAX + 1];
  char term[COUNTER_TERM_LEN + 1];
  char base_term[COUNTER_TERM_LEN + 1];
};

static int get_u64(json_t *o, const char *key, uint64_t min, uint64_t *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      (uint64_t)json_integer_value(v) < min)
    return -1;
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

/* 0, or -1 with *bad naming the field. */
static int parse_record(json_t *o, struct record *r, const char **bad) {
  json_t *v;
  const char *s;
  uint64_t boot_ns;
  memset(r, 0, sizeof *r);
  if (!json_is_object(o)) {
    *bad = "not a JSON object";
    return -1;
  }
  if (get_u64(o, "token", 1, &r->token) != 0) {
    *bad = "\"token\" (an integer >= 1)";
    return -1;
  }
  if (get_u64(o, "value", 1, &r->value) != 0) {
    *bad = "\"value\" (an integer >= 1)";
    return -1;
  }
  if (get_u64(o, "boot_ns", 0, &boot_ns) != 0) {
    *bad = "\"boot_ns\" (an integer >= 0)";
    return -1;
  }
  if (get_u64(o, "pid", 1, &r->pid) != 0) {
    *bad = "\"pid\" (an integer >= 1)";
    return -1;
  }
  if (get_u64(o, "base_token", 0, &r->base_token) != 0) {
    *bad = "\"base_token\" (an integer >= 0)";
    return -1;
  }
  if (get_u64(o, "fence", 1, &r->fence) != 0) {
    *bad = "\"fence\" (an integer >= 1)";
    return -1;
  }
  v = json_object_get(o, "accepted");
  if (!json_is_boolean(v)) {
    *bad = "\"accepted\" (true or false)";
    return -1;
  }
  r->accepted = json_is_true(v);
  v = json_object_get(o, "torn");
  if (v && (!json_is_boolean(v) || (json_is_true(v) && !r->accepted))) {
    *bad = "\"torn\" (true, on an accepted write, or false)";
    return -1;
  }
  r->torn = v && json_is_true(v);
  v = json_object_get(o, "holder");
  s = json_string_value(v);
  if (!s || !counter_holder_valid(s, json_string_length(v))) {
    *bad = "\"holder\" (1-63 printable ASCII, no quotes or backslashes)";
    return -1;
  }
  strcpy(r->holder, s);
  s = json_string_value(json_object_get(o, "term"));
  if (!s || strlen(s) != COUNTER_TERM_LEN || !counter_term_valid(s)) {
    *bad = "\"term\" (16 lower-case hex digits)";
    return -1;
  }
  strcpy(r->term, s);
  s = json_string_value(json_object_get(o, "base_term"));
  if (!s || (r->base_token == 0 && s[0] != '\0') ||
      (r->base_token != 0 &&
       (strlen(s) != COUNTER_TERM_LEN || !counter_term_valid(s)))) {
    *bad = "\"base_term\" (16 hex digits, or \"\" when base_token is 0)";
    return -1;
  }
  strcpy(r->base_term, s);
  return 0;
}

/* --- the replay --------------------------------------------------------- */

struct replay {
  struct counter_state held; /* the write the counter holds (value 0: none) */
  uint64_t highest;          /* the highest token the fence admitted */
  long attempts, accepted, refused, terms, torn_logged, torn_end,
      unsaved_admissions, torn_lines;
  uint64_t last_term_token;
  char last_term[COUNTER_TERM_LEN + 1];
};

/* A write (logged or torn) with token/term took the counter to value. */
static int apply_write(struct replay *rp, uint64_t value, uint64_t token,
                       const char *term, const char *holder, long line,
                       const char *what) {
  if (token < rp->highest)
    violation(line, "%s with token %llu accepted after token %llu (the fence "
                    "let an older token through)",
              what, (unsigned long long)token,
              (unsigned long long)rp->highest);
  if (token > rp->highest)
    rp->highest = token;
  if (token != rp->last_term_token || strcmp(term, rp->last_term) != 0) {
    rp->terms++;
    rp->last_term_token = token;
    snprintf(rp->last_term, sizeof rp->last_term, "%s", term);
  }
  if (claim_token(token, term, holder, line) != 0)
    return -1;
  rp->held.value = value;
  rp->held.token = token;
  snprintf(rp->held.term, sizeof rp->held.term, "%s", term);
  snprintf(rp->held.holder, sizeof rp->held.holder, "%s", holder);
  return 0;
}

static int same_write(const struct counter_state *a, uint64_t value,
                      uint64_t token, const char *term) {
  return a->value == value && a->token == token && strcmp(a->term, term) == 0;
}

static int replay_record(struct replay *rp, const struct record *r,
                         long line) {
  uint64_t base_value = r->value - 1;
  if (pid_seen(r->pid) != 0)
    return -1;
  /* The attempt must have read the write the replay says the counter held.
   * (Writers log a dead writer's unlogged write, as torn, before their own:
   * so this holds under kill -9 at any instant too.) */
  if (!same_write(&rp->held, base_value, r->base_token, r->base_term)) {
    violation(line,
              "value %llu built on counter value %llu (token %llu, term %s), "
              "but the store last held value %llu (token %llu, term %s): an "
              "increment was lost or applied twice",
              (unsigned long long)r->value, (unsigned long long)base_value,
              (unsigned long long)r->base_token,
              r->base_term[0] ? r->base_term : "none",
              (unsigned long long)rp->held.value,
              (unsigned long long)rp->held.token,
              rp->held.term[0] ? rp->held.term : "none");
    /* go on from what the writer saw, so one fault is reported once */
    rp->held.value = base_value;
    rp->held.token = r->base_token;
    strcpy(rp->held.term, r->base_term);
  }
  if (r->torn) {
    rp->torn_logged++;
    return apply_write(rp, r->value, r->token, r->term, r->holder, line,
                       "a torn write (saved, not logged by its writer)");
  }
  rp->attempts++;
  if (r->accepted) {
    rp->accepted++;
    return apply_write(rp, r->value, r->token, r->term, r->holder, line,
                       "a write");
  }
  rp->refused++;
  if (claim_token(r->token, r->term, r->holder, line) != 0)
    return -1;
  if (r->token >= r->fence)
    violation(line, "token %llu refused although the fence held only %llu "
                    "(the fence refuses only older tokens)",
              (unsigned long long)r->token, (unsigned long long)r->fence);
  if (r->fence < rp->highest)
    violation(line, "the fence held %llu after token %llu was accepted (it "
                    "went backwards)",
              (unsigned long long)r->fence, (unsigned long long)rp->highest);
  else if (r->fence > rp->highest) {
    rp->unsaved_admissions++;
    rp->highest = r->fence;
  }
  return 0;
}

/* The counter file against the replay's end. 0, or 2 (unreadable). */
static int check_counter(struct replay *rp, const char *path) {
  char buf[COUNTER_LINE_MAX + 2];
  struct counter_state c;
  const char *why;
  size_t n;
  FILE *f = fopen(path, "r");
  memset(&c, 0, sizeof c);
  if (!f && errno != ENOENT) {
    fprintf(stderr, "check_writes: %s: cannot open: %s\n", path,
            strerror(errno));
    return 2;
  }
  if (f) {
    n = fread(buf, 1, sizeof buf, f);
    if (ferror(f)) {
      fprintf(stderr, "check_writes: %s: cannot read\n", path);
      fclose(f);
      return 2;
    }
    fclose(f);
    if (counter_parse(buf, n, &c, &why) != 0) {
      fprintf(stderr, "check_writes: %s: not a counter file: %s\n", path,
              why);
      return 2;
    }
  }
  if (same_write(&rp->held, c.value, c.token, c.term))
    return 0;
  if (rp->held.value != UINT64_MAX && c.value == rp->held.value + 1) {
    rp->torn_end++;
    if (apply_write(rp, c.value, c.token, c.term, c.holder, 0,
                    "the counter's torn write (saved, not logged)") != 0)
      return 2;
    return 0;
  }
  if (c.value == 0)
    violation(0, "%s is missing, but the log says the counter reached %llu",
              path, (unsigned long long)rp->held.value);
  else
    violation(0, "holds value %llu (token %llu, term %s), but the log ends "
                 "at value %llu (token %llu, term %s)",
              (unsigned long long)c.value, (unsigned long long)c.token, c.term,
              (unsigned long long)rp->held.value,
              (unsigned long long)rp->held.token,
              rp->held.term[0] ? rp->held.term : "none");
  return 0;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: check_writes [--quiet] WRITES.jsonl [COUNTER]\n"
          "Check a fenced_counter store's write log (and its counter file) "
          "for safety\nviolations; count the traces of killed writers.\n"
          "  -q, --quiet    print only the counts\n"
          "  -h, --help     this text\n"
          "  -V, --version  the version\n"
          "Exit: 0 no violations, 1 violations, 2 unreadable input or bad "
          "arguments.\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"version", no_argument, NULL, 'V'},
                                       {NULL, 0, NULL, 0}};
  const char *path, *counter_path = NULL;
  struct replay rp;
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long lineno = 0;
  int opt, quiet = 0, rc = 0;

  while ((opt = getopt_long(argc, argv, "qhV", opts, NULL)) != -1) {
    switch (opt) {
    case 'q': quiet = 1; break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("check_writes (tenure) %s\n", TN_VERSION_STRING); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (argc - optind < 1 || argc - optind > 2) {
    fprintf(stderr, "check_writes: %s\n",
            argc - optind < 1 ? "missing WRITES.jsonl" : "too many arguments");
    usage(stderr);
    return 2;
  }
  path = argv[optind];
  if (argc - optind == 2)
    counter_path = argv[optind + 1];

  f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "check_writes: %s: cannot open: %s\n", path,
            strerror(errno));
    return 2;
  }
  memset(&rp, 0, sizeof rp);
  while ((len = getline(&line, &cap, f)) > 0) {
    json_error_t err;
    struct record r;
    const char *bad = NULL;
    int whole = line[len - 1] == '\n';
    json_t *o;
    lineno++;
    o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &err);
    if (!o && !whole) {
      /* getline stops short of a newline only at the end of the file: the
       * last line, cut short by its writer's death */
      rp.torn_lines++;
      break;
    }
    if (!o || parse_record(o, &r, &bad) != 0) {
      fprintf(stderr, "check_writes: %s:%ld: not a write record: %s\n", path,
              lineno, o ? bad : err.text);
      json_decref(o);
      rc = 2;
      break;
    }
    json_decref(o);
    if (replay_record(&rp, &r, lineno) != 0) {
      fprintf(stderr, "check_writes: out of memory\n");
      rc = 2;
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    fprintf(stderr, "check_writes: %s: read error\n", path);
    rc = 2;
  }
  free(line);
  fclose(f);
  if (rc == 0 && counter_path)
    rc = check_counter(&rp, counter_path);
  free(owners);
  free(pids);
  if (rc != 0)
    return rc;
  if (!quiet) {
    printf("writes: %ld attempts, %ld accepted over %ld terms (highest token "
           "%llu)\n",
           rp.attempts, rp.accepted, rp.terms,
           (unsigned long long)rp.highest);
    printf("writers: %zu processes\n", pids_len);
  }
  printf("stale writes refused: %ld\n", rp.refused);
  printf("torn writes: %ld (saved, not logged: the writer died in between; "
         "%ld logged by the next writer, %ld at the end)\n",
         rp.torn_logged + rp.torn_end, rp.torn_logged, rp.torn_end);
  if (!quiet) {
    printf("admissions without a write: %ld (the fence took a token, the "
           "writer died before saving)\n",
           rp.unsaved_admissions);
    printf("torn log lines: %ld (a writer died while appending)\n",
           rp.torn_lines);
  }
  printf("safety: %ld violations\n", violations);
  return violations ? 1 : 0;
}
