/*
 * it_tenurectl_hold URI NAME HOLDER TTL: a lease holder for tenurectl's
 * tests. It acquires NAME (waiting up to 10 s), prints "token N", then
 * renews every TTL/4 until it is killed. When a renewal answers TN_ELOST
 * (an operator's `tenurectl lease release`) it prints "lost" and exits 3,
 * so a test can tell a forced handoff from any other way of losing the
 * lease (which prints "renew failed: ..." and exits 4).
 *
 * Output is line-buffered by hand (fflush after every line): the test reads
 * it from a file while the process is still running.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/lease.h>

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
  tn_authority *a;
  tn_lease *l;
  tn_lease_options o;
  tn_parse_error perr;
  tn_nanos ttl;
  int rc;

  if (argc != 5) {
    fprintf(stderr, "usage: %s URI NAME HOLDER TTL\n", argv[0]);
    return 2;
  }
  if (tn_duration_parse(argv[4], &ttl, &perr) != 0) {
    fprintf(stderr, "bad TTL \"%s\": %s\n", argv[4], perr.reason);
    return 2;
  }
  if ((rc = tn_authority_open(argv[1], &a)) != 0) {
    fprintf(stderr, "open: %s\n", tn_authority_last_error());
    return 1;
  }
  tn_lease_options_init(&o);
  o.ttl = ttl;
  if ((rc = tn_lease_open(a, argv[2], argv[3], &o, &l)) != 0) {
    fprintf(stderr, "lease open: %s\n", tn_strerror(rc));
    tn_authority_close(a);
    return 1;
  }
  if ((rc = tn_lease_acquire(l, 10 * TN_SEC)) != 0) {
    fprintf(stderr, "acquire: %s\n", tn_strerror(rc));
    tn_lease_close(l);
    tn_authority_close(a);
    return 1;
  }
  printf("token %" PRIu64 "\n", tn_lease_token(l));
  fflush(stdout);
  for (;;) {
    struct timespec nap = {(time_t)(ttl / 4 / TN_SEC),
                           (long)(ttl / 4 % TN_SEC)};
    nanosleep(&nap, NULL);
    rc = tn_lease_renew(l);
    if (rc != 0)
      break;
  }
  if (rc == TN_ELOST)
    printf("lost\n");
  else
    printf("renew failed: %s\n", tn_err_name(rc));
  fflush(stdout);
  tn_lease_close(l);
  tn_authority_close(a);
  return rc == TN_ELOST ? 3 : 4;
}
