/*
 * The fenced counter's state file (STORE/counter), shared by fenced_counter
 * (which writes it) and check_writes (which reads it).
 *
 * The file names the write it holds, not only the value, so that a write
 * that reached the counter but not writes.jsonl (its writer was killed in
 * between) can be recognised as that write, rather than taken for a lost or
 * doubled increment. One line, fields in this order, nothing else:
 *
 *   value=V token=T term=NONCE pid=P holder=ID\n
 *
 *   V      the counter, >= 1; it is also the write's sequence number in the
 *          store (the V-th accepted write)
 *   T      the fencing token that write was admitted with, >= 1 (any
 *          uint64: tokens may be wall-clock based and large)
 *   NONCE  16 lower-case hex digits, random per term of the writer: two
 *          terms that were handed one token have different nonces
 *   P      the writer's pid (for people; nothing depends on it)
 *   ID     the holder id, 1..63 printable ASCII without '"' or '\\'
 *          (the rest of the line, so it may contain spaces)
 *
 * A missing file is the empty counter (value 0). The file is replaced whole
 * (write to counter.PID.tmp, fsync, rename, fsync the directory), so a
 * reader sees one complete line or the previous one. Anything else is
 * refused: the parser never guesses.
 */
#ifndef FENCED_COUNTER_COUNTER_FILE_H
#define FENCED_COUNTER_COUNTER_FILE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNTER_TERM_LEN 16
#define COUNTER_HOLDER_MAX 63
#define COUNTER_LINE_MAX 256

struct counter_state {
  uint64_t value; /* 0: the empty counter (no file) */
  uint64_t token;
  char term[COUNTER_TERM_LEN + 1];
  long pid;
  char holder[COUNTER_HOLDER_MAX + 1];
};

static inline int counter_term_valid(const char *t) {
  size_t i;
  for (i = 0; i < COUNTER_TERM_LEN; i++)
    if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
      return 0;
  return t[COUNTER_TERM_LEN] == '\0';
}

static inline int counter_holder_valid(const char *h, size_t n) {
  size_t i;
  if (n == 0 || n > COUNTER_HOLDER_MAX)
    return 0;
  for (i = 0; i < n; i++)
    if (h[i] < 0x20 || h[i] > 0x7e || h[i] == '"' || h[i] == '\\')
      return 0;
  return 1;
}

/* "key=" then a decimal uint64 without sign or spaces, then sep. */
static inline const char *counter_field_u64(const char *p, const char *key,
                                            char sep, uint64_t *out) {
  size_t k = strlen(key);
  char *end;
  unsigned long long v;
  if (strncmp(p, key, k) != 0 || p[k] != '=')
    return NULL;
  p += k + 1;
  if (*p < '0' || *p > '9')
    return NULL;
  errno = 0;
  v = strtoull(p, &end, 10);
  if (errno == ERANGE || *end != sep)
    return NULL;
  *out = (uint64_t)v;
  return end + 1;
}

/* Parse the file's n bytes. 0, or -1 with *why set to a static reason. */
static inline int counter_parse(const char *buf, size_t n,
                                struct counter_state *out, const char **why) {
  char line[COUNTER_LINE_MAX + 1];
  const char *p, *nl;
  uint64_t pid;
  memset(out, 0, sizeof *out);
  *why = "not one line of \"value=V token=T term=NONCE pid=P holder=ID\"";
  if (n == 0 || n > COUNTER_LINE_MAX || buf[n - 1] != '\n' ||
      memchr(buf, '\0', n) != NULL)
    return -1;
  memcpy(line, buf, n);
  line[n] = '\0';
  nl = strchr(line, '\n');
  if (nl != line + n - 1)
    return -1;
  if (!(p = counter_field_u64(line, "value", ' ', &out->value)) ||
      !(p = counter_field_u64(p, "token", ' ', &out->token)))
    return -1;
  if (out->value == 0 || out->token == 0) {
    *why = "value and token must be >= 1";
    return -1;
  }
  if (strncmp(p, "term=", 5) != 0 || strlen(p) < 5 + COUNTER_TERM_LEN + 1 ||
      p[5 + COUNTER_TERM_LEN] != ' ')
    return -1;
  memcpy(out->term, p + 5, COUNTER_TERM_LEN);
  out->term[COUNTER_TERM_LEN] = '\0';
  if (!counter_term_valid(out->term)) {
    *why = "term is not 16 lower-case hex digits";
    return -1;
  }
  p += 5 + COUNTER_TERM_LEN + 1;
  if (!(p = counter_field_u64(p, "pid", ' ', &pid)))
    return -1;
  if (pid == 0 || pid > 0x7fffffff) {
    *why = "pid out of range";
    return -1;
  }
  out->pid = (long)pid;
  if (strncmp(p, "holder=", 7) != 0)
    return -1;
  p += 7;
  if (!counter_holder_valid(p, (size_t)(nl - p))) {
    *why = "holder is not 1-63 printable ASCII without quotes or backslashes";
    return -1;
  }
  memcpy(out->holder, p, (size_t)(nl - p));
  out->holder[nl - p] = '\0';
  return 0;
}

/* The file's text for s (value >= 1); the length, as snprintf. */
static inline int counter_format(const struct counter_state *s, char *buf,
                                 size_t cap) {
  return snprintf(buf, cap, "value=%llu token=%llu term=%s pid=%ld holder=%s\n",
                  (unsigned long long)s->value, (unsigned long long)s->token,
                  s->term, s->pid, s->holder);
}

#endif
