/*
 * faults_authority_helper: small clients of the file authority for the
 * tests in authority_*.sh, through the public API only.
 *
 *   acquire URI NAME HOLDER TTL      one campaign (up to 5 s): prints
 *                                    "token N", or "error NAME: words" and
 *                                    exits 1
 *   hold URI NAME HOLDER TTL SECS    acquire, then renew every TTL/4 for
 *                                    SECS: prints "held N renewals" and
 *                                    exits 0, or "renew failed: NAME: words"
 *                                    and exits 4
 *   lock PATH SECS                   hold the file's OFD write lock for SECS
 *                                    (prints "locked" once it has it)
 *
 * Every line is flushed at once: the tests read the output while it runs.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/lease.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, const char *a, const char *b) {
  printf(fmt, a, b);
  fflush(stdout);
}

static int parse_ttl(const char *s, tn_nanos *out) {
  tn_parse_error e;
  return tn_duration_parse(s, out, &e);
}

static int campaign(int argc, char **argv, tn_authority **ap, tn_lease **lp) {
  tn_lease_options o;
  tn_nanos ttl;
  int rc;
  if (argc < 6 || parse_ttl(argv[5], &ttl) != 0) {
    fprintf(stderr, "usage: %s acquire|hold URI NAME HOLDER TTL [SECS]\n",
            argv[0]);
    return 2;
  }
  rc = tn_authority_open(argv[2], ap);
  if (rc != 0) {
    say("error %s: %s\n", tn_err_name(rc), tn_authority_last_error());
    return 1;
  }
  tn_lease_options_init(&o);
  o.ttl = ttl;
  if ((rc = tn_lease_open(*ap, argv[3], argv[4], &o, lp)) != 0) {
    say("error %s: %s\n", tn_err_name(rc), tn_authority_last_error());
    return 1;
  }
  rc = tn_lease_acquire(*lp, 5 * TN_SEC);
  if (rc != 0) {
    char why[512];
    tn_lease_last_error(*lp, why, sizeof why);
    say("error %s: %s\n", tn_err_name(rc), *why ? why : tn_strerror(rc));
    return 1;
  }
  printf("token %llu\n", (unsigned long long)tn_lease_token(*lp));
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  tn_authority *a = NULL;
  tn_lease *l = NULL;
  int rc;
  if (argc >= 4 && strcmp(argv[1], "lock") == 0) {
    struct flock fl;
    int fd = open(argv[2], O_RDWR | O_CLOEXEC);
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fd < 0 || fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
      perror(argv[2]);
      return 1;
    }
    say("locked%s%s\n", "", "");
    sleep((unsigned)atoi(argv[3]));
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "acquire") == 0) {
    rc = campaign(argc, argv, &a, &l);
    if (l)
      tn_lease_close(l);
    if (a)
      tn_authority_close(a);
    return rc;
  }
  if (argc >= 7 && strcmp(argv[1], "hold") == 0) {
    tn_nanos until, ttl;
    int renewals = 0;
    char buf[32];
    if ((rc = campaign(argc, argv, &a, &l)) != 0)
      return rc;
    parse_ttl(argv[5], &ttl);
    until = tn_now() + (tn_nanos)atoi(argv[6]) * TN_SEC;
    while (tn_now() < until) {
      struct timespec ts = {0, (long)(ttl / 4)};
      nanosleep(&ts, NULL);
      rc = tn_lease_renew(l);
      if (rc != 0) {
        char why[512];
        tn_lease_last_error(l, why, sizeof why);
        say("renew failed: %s: %s\n", tn_err_name(rc), why);
        return 4;
      }
      renewals++;
    }
    snprintf(buf, sizeof buf, "%d", renewals);
    say("held %s renewals%s\n", buf, "");
    tn_lease_release(l);
    tn_lease_close(l);
    tn_authority_close(a);
    return 0;
  }
  fprintf(stderr, "usage: %s acquire|hold|lock ...\n", argv[0]);
  return 2;
}
