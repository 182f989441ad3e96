/*
 * it_tenurectl_fence PATH [RESOURCE TOKEN]...: builds a fence state for
 * tenurectl's tests through the fence API itself (so the file is exactly
 * what a real store writes). Opens PATH, creating it empty, and admits each
 * pair in order, printing "admitted R T" or "fenced R T". Exits 0 when every
 * call returned 0 or TN_EFENCED, 1 otherwise.
 */
#include <tenure/error.h>
#include <tenure/fence.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  tn_fence *f;
  int i, rc;

  if (argc < 2 || argc % 2 != 0) {
    fprintf(stderr, "usage: %s PATH [RESOURCE TOKEN]...\n", argv[0]);
    return 2;
  }
  if ((rc = tn_fence_open(argv[1], &f)) != 0) {
    fprintf(stderr, "open: %s\n", tn_fence_last_error());
    return 1;
  }
  for (i = 2; i < argc; i += 2) {
    unsigned long long token = strtoull(argv[i + 1], NULL, 10);
    rc = tn_fence_admit(f, argv[i], (uint64_t)token);
    if (rc == 0) {
      printf("admitted %s %llu\n", argv[i], token);
    } else if (rc == TN_EFENCED) {
      printf("fenced %s %llu\n", argv[i], token);
    } else {
      fprintf(stderr, "admit %s %llu: %s\n", argv[i], token,
              tn_fence_last_error());
      tn_fence_close(f);
      return 1;
    }
  }
  tn_fence_close(f);
  return 0;
}
