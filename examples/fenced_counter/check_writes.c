/*
 * check_writes: the safety checker for a fenced store's writes.jsonl.
 *
 *   check_writes [--quiet] WRITES.jsonl [COUNTER_FILE]
 *
 * The log is in decision order (each line is appended under the store's
 * lock), so it can be checked line by line:
 *   S2  accepted tokens never decrease;
 *       a refused write's token is lower than one already accepted (the
 *       fence refuses only stale writes);
 *   no lost increment: accepted values are 1, 2, 3, ... in order (each
 *       accepted write built on the previous one), no value accepted twice,
 *       and the counter file, if given, holds the number of accepted writes.
 * Prints the figures and "safety: N violations"; exits 0 with none, 1 with
 * any, 2 when the input cannot be read.
 */
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quiet;
static long violations;

static void violation(long line, const char *fmt, long long a, long long b) {
  violations++;
  if (violations <= 20) {
    fprintf(stderr, "VIOLATION line %ld: ", line);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
  }
}

int main(int argc, char **argv) {
  const char *path = NULL, *counter_path = NULL;
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0, attempts = 0, accepted = 0, refused = 0, terms = 0;
  long long highest = 0, expect_value = 1;
  int i;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quiet") == 0)
      quiet = 1;
    else if (!path)
      path = argv[i];
    else if (!counter_path)
      counter_path = argv[i];
    else {
      fprintf(stderr, "usage: check_writes [--quiet] WRITES.jsonl [COUNTER]\n");
      return 2;
    }
  }
  if (!path) {
    fprintf(stderr, "usage: check_writes [--quiet] WRITES.jsonl [COUNTER]\n");
    return 2;
  }
  f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "check_writes: %s: cannot open\n", path);
    return 2;
  }
  while (getline(&line, &cap, f) > 0) {
    json_error_t err;
    json_t *o;
    json_int_t token, value;
    int ok, acc;
    lineno++;
    o = json_loads(line, 0, &err);
    ok = o && json_is_object(o) &&
         json_is_integer(json_object_get(o, "token")) &&
         json_is_string(json_object_get(o, "holder")) &&
         json_is_integer(json_object_get(o, "value")) &&
         json_is_boolean(json_object_get(o, "accepted")) &&
         json_is_integer(json_object_get(o, "boot_ns"));
    if (!ok) {
      fprintf(stderr, "check_writes: %s:%ld: not a write record\n", path,
              lineno);
      json_decref(o);
      free(line);
      fclose(f);
      return 2;
    }
    token = json_integer_value(json_object_get(o, "token"));
    value = json_integer_value(json_object_get(o, "value"));
    acc = json_is_true(json_object_get(o, "accepted"));
    json_decref(o);
    attempts++;
    if (acc) {
      accepted++;
      if (token < highest)
        violation(lineno, "accepted token %lld after token %lld",
                  (long long)token, highest);
      if (token > highest) {
        terms++;
        highest = token;
      }
      if (value != expect_value)
        violation(lineno, "accepted value %lld, expected %lld (an increment "
                          "was lost or applied twice)",
                  (long long)value, expect_value);
      expect_value = value + 1;
    } else {
      refused++;
      if (token >= highest)
        violation(lineno, "token %lld refused although the highest accepted "
                          "was %lld",
                  (long long)token, highest);
    }
  }
  free(line);
  fclose(f);
  if (counter_path) {
    FILE *c = fopen(counter_path, "r");
    long long v = -1;
    if (c == NULL && accepted == 0)
      v = 0;
    else if (!c || fscanf(c, "%lld", &v) != 1) {
      fprintf(stderr, "check_writes: %s: cannot read the counter\n",
              counter_path);
      if (c)
        fclose(c);
      return 2;
    }
    if (c)
      fclose(c);
    if (v != accepted)
      violation(0, "counter holds %lld but %lld writes were accepted", v,
                (long long)accepted);
  }
  if (!quiet)
    printf("writes: %ld attempts, %ld accepted over %ld terms (highest token "
           "%lld)\n",
           attempts, accepted, terms, highest);
  printf("stale writes refused: %ld\n", refused);
  printf("safety: %ld violations\n", violations);
  return violations ? 1 : 0;
}
