/*
 * Shared by the etcd integration programs: checks that count failures
 * instead of aborting, and the endpoints of the etcd that
 * tests/integration/engines/etcd.sh started (its DIR/endpoints file).
 */
#ifndef TENURE_IT_ETCD_H
#define TENURE_IT_ETCD_H

#include <tenure/error.h>
#include <tenure/lease.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int it_failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      it_failures++;                                                           \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, " [last error: %s]\n", tn_authority_last_error());       \
    }                                                                          \
  } while (0)

#define CHECK_RC(call, want)                                                   \
  do {                                                                         \
    int rc_ = (call);                                                          \
    CHECK(rc_ == (want), "%s returned %s, want %s", #call, tn_err_name(rc_),   \
          tn_err_name(want));                                                  \
  } while (0)

/* "127.0.0.1:P[,...]" from the fixture's endpoints file. */
static inline void it_read_endpoints(const char *path, char *out, size_t n) {
  FILE *f = fopen(path, "r");
  if (f == NULL || fgets(out, (int)n, f) == NULL) {
    fprintf(stderr, "cannot read the etcd endpoints from %s: is the "
                    "etcd fixture (tests/integration/engines/etcd.sh) up?\n",
            path);
    exit(2);
  }
  fclose(f);
  out[strcspn(out, "\r\n")] = '\0';
}

static inline tn_authority *it_open(const char *uri) {
  tn_authority *a = NULL;
  if (tn_authority_open(uri, &a) != 0) {
    fprintf(stderr, "open %s: %s\n", uri, tn_authority_last_error());
    exit(2);
  }
  return a;
}

static inline tn_lease *it_lease(tn_authority *a, const char *name,
                                 const char *holder, tn_nanos ttl) {
  tn_lease_options o;
  tn_lease *l = NULL;
  tn_lease_options_init(&o);
  o.ttl = ttl;
  if (tn_lease_open(a, name, holder, &o, &l) != 0) {
    fprintf(stderr, "lease open %s/%s: %s\n", name, holder,
            tn_authority_last_error());
    exit(2);
  }
  return l;
}

#endif
