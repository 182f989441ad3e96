/*
 * A replay driver for libFuzzer targets, for builds without libFuzzer.
 *
 *   fuzz_<name> [CORPUS_DIR] [ITERATIONS]
 *
 * Runs every file in CORPUS_DIR through LLVMFuzzerTestOneInput, then
 * ITERATIONS (default 20000) inputs made by mutating corpus entries with a
 * fixed-seed generator: byte flips, insertions, deletions, truncations,
 * splices and repeated bytes. Deterministic, so a failure reproduces; the
 * crashing input is written to ./fuzz-crash-input before each call is made
 * only when TN_FUZZ_SAVE is set.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 4096
#define MAX_SEEDS 512

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static unsigned char *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static size_t nseeds;

static void run_one(const unsigned char *buf, size_t len) {
  /* Copy into an exact-size heap block so ASan catches overreads. */
  unsigned char *copy = malloc(len ? len : 1);
  if (!copy)
    abort();
  memcpy(copy, buf, len);
  if (getenv("TN_FUZZ_SAVE")) {
    FILE *f = fopen("fuzz-crash-input", "wb");
    if (f) {
      fwrite(copy, 1, len, f);
      fclose(f);
    }
  }
  LLVMFuzzerTestOneInput(copy, len);
  free(copy);
}

static void load_corpus(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  if (!d) {
    fprintf(stderr, "fuzz: no corpus at %s, mutating from nothing\n", dir);
    return;
  }
  while ((e = readdir(d)) != NULL && nseeds < MAX_SEEDS) {
    char path[4096];
    FILE *f;
    unsigned char *buf;
    size_t n;
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    f = fopen(path, "rb");
    if (!f)
      continue;
    buf = malloc(FUZZ_MAX_INPUT);
    if (!buf)
      abort();
    n = fread(buf, 1, FUZZ_MAX_INPUT, f);
    fclose(f);
    seeds[nseeds] = buf;
    seed_len[nseeds++] = n;
    run_one(buf, n);
  }
  closedir(d);
}

static size_t mutate(unsigned char *buf, size_t len) {
  int rounds = 1 + (int)(next_rand() % 4);
  while (rounds--) {
    size_t pos = len ? next_rand() % len : 0;
    switch (next_rand() % 7) {
    case 0: /* flip a bit */
      if (len)
        buf[pos] ^= (unsigned char)(1u << (next_rand() % 8));
      break;
    case 1: /* random byte */
      if (len)
        buf[pos] = (unsigned char)next_rand();
      break;
    case 2: /* insert a byte */
      if (len < FUZZ_MAX_INPUT) {
        memmove(buf + pos + 1, buf + pos, len - pos);
        buf[pos] = (unsigned char)"0123456789.:,-smunh \n\0\xff"[next_rand() % 24];
        len++;
      }
      break;
    case 3: /* delete a byte */
      if (len) {
        memmove(buf + pos, buf + pos + 1, len - pos - 1);
        len--;
      }
      break;
    case 4: /* truncate */
      len = pos;
      break;
    case 5: /* splice in another seed */
      if (nseeds) {
        size_t k = next_rand() % nseeds, take = seed_len[k];
        if (pos + take > FUZZ_MAX_INPUT)
          take = FUZZ_MAX_INPUT - pos;
        memcpy(buf + pos, seeds[k], take);
        if (pos + take > len)
          len = pos + take;
      }
      break;
    default: /* repeat a byte many times (long numbers, long lines) */
      if (len) {
        size_t reps = next_rand() % 300;
        unsigned char c = buf[pos];
        if (len + reps > FUZZ_MAX_INPUT)
          reps = FUZZ_MAX_INPUT - len;
        memmove(buf + pos + reps, buf + pos, len - pos);
        memset(buf + pos, c, reps);
        len += reps;
      }
      break;
    }
  }
  return len;
}

int main(int argc, char **argv) {
  long iterations = argc > 2 ? atol(argv[2]) : 20000;
  unsigned char *buf = malloc(FUZZ_MAX_INPUT);
  long i;
  if (!buf)
    return 2;
  if (argc > 1)
    load_corpus(argv[1]);
  for (i = 0; i < iterations; i++) {
    size_t len = 0;
    if (nseeds) {
      size_t k = next_rand() % nseeds;
      memcpy(buf, seeds[k], seed_len[k]);
      len = seed_len[k];
    }
    len = mutate(buf, len);
    run_one(buf, len);
  }
  printf("fuzz: %zu corpus inputs and %ld mutations ran clean\n", nseeds,
         iterations);
  for (i = 0; i < (long)nseeds; i++)
    free(seeds[i]);
  free(buf);
  return 0;
}
