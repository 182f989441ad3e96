/*
 * tenurectl: the operator's view of leases and fences.
 *
 * Six commands, each a thin shell around one public call:
 *   lease status URI NAME   tn_authority_observe (opened read-only)
 *   lease list URI          tn_authority_list (opened read-only)
 *   lease release URI NAME  tn_authority_force_release (a write)
 *   lease check FILE        tn_lease_file_check (read-only)
 *   lease repair FILE       tn_lease_file_repair (a write: trims a torn tail)
 *   fence show PATH         tn_fence_open_readonly + tn_fence_list
 * Results go to stdout as an aligned table, or with --json as one JSON
 * object; failures go to stderr with the library's own words, which name
 * the file and what is wrong with it.
 *
 * Invariant: only `lease release` and `lease repair` change anything.
 * Queries open the authority read-only (another user needs only read
 * permission, and nothing is created); release checks first that the file
 * is there, since the file authority would create a missing one; a corrupt
 * file is refused by the library before anything is written. The fence is
 * opened read-only, which creates nothing and takes no lock.
 *
 * Waiting: the file authority serialises access with an OFD lock. When
 * another process holds it for more than a second, tenurectl says on
 * stderr what it is waiting for, and keeps waiting (a stopped process
 * resumes; an operator can look for it).
 *
 * Exit status: 0 done, 1 the command could not be carried out (cannot
 * open, corrupt, unknown name, not held, output failed), 2 bad usage.
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/fence.h>
#include <tenure/lease.h>
#include <tenure/lease_file.h>
#include <tenure/version.h>

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXIT_USAGE 2

static int json_output;

static void usage(FILE *out) {
  fprintf(out,
          "usage: tenurectl [--json] lease status URI NAME\n"
          "       tenurectl [--json] lease list URI\n"
          "       tenurectl [--json] lease release URI NAME\n"
          "       tenurectl [--json] lease check FILE\n"
          "       tenurectl [--json] lease repair FILE\n"
          "       tenurectl [--json] fence show PATH\n"
          "       tenurectl --help | --version\n"
          "Inspect leases and fences; end a lease's term by hand.\n"
          "\n"
          "  lease status    holder, token and remaining time of one lease\n"
          "  lease list      every lease in the authority\n"
          "  lease release   forced handoff: end the current holder's term\n"
          "  lease check     verify a lease file: header, every record, and\n"
          "                  whether a partial entry (torn tail) follows them\n"
          "  lease repair    cut a torn tail off a lease file whose whole\n"
          "                  entries are sound\n"
          "  fence show      each resource of a fence state file and its\n"
          "                  highest accepted token\n"
          "\n"
          "  -j, --json      print one JSON object instead of a table\n"
          "  -h, --help      show this help\n"
          "  -V, --version   show the version\n"
          "\n"
          "URI names the authority, e.g. file:///var/lib/app/leases.tn.\n"
          "Only `lease release` and `lease repair` change anything.\n");
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("tenurectl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'tenurectl --help'.\n", stderr);
  return EXIT_USAGE;
}

/* Report a failed library call: its own message when it left one (it names
 * the file or server), else the generic text for the code. */
static int fail(int code, const char *detail, const char *subject) {
  if (detail != NULL && *detail != '\0')
    fprintf(stderr, "tenurectl: %s (%s)\n", detail, tn_strerror(code));
  else
    fprintf(stderr, "tenurectl: %s: %s\n", subject, tn_strerror(code));
  return EXIT_FAILURE;
}

/* stdout is where the answer goes: if it could not be written, say so
 * rather than exit 0 with a truncated answer. */
static int finish_output(void) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "tenurectl: cannot write the output: %s\n",
            strerror(errno));
    return EXIT_FAILURE;
  }
  return 0;
}

/* --- formatting ----------------------------------------------------- */

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

/* Remaining time as seconds with three decimals, rounded down so that it
 * never promises more than the authority said. */
static void format_remaining(tn_nanos d, char *buf, size_t len) {
  if (d < 0)
    d = 0;
  snprintf(buf, len, "%" PRId64 ".%03" PRId64 "s", d / TN_SEC,
           (d % TN_SEC) / TN_MSEC);
}

/* Lease names as lease.h defines them: 1..63 bytes of [A-Za-z0-9._-]. */
static int lease_name_ok(const char *name) {
  size_t n = strlen(name);
  return n >= 1 && n <= TN_LEASE_NAME_MAX &&
         strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") == n;
}

static int by_lease_name(const void *a, const void *b) {
  return strcmp(((const tn_lease_info *)a)->name,
                ((const tn_lease_info *)b)->name);
}

static void json_lease_fields(const tn_lease_info *li) {
  fputs("\"name\":", stdout);
  json_string(li->name);
  printf(",\"state\":\"%s\",\"holder\":", li->held ? "held" : "free");
  if (li->held)
    json_string(li->holder);
  else
    fputs("null", stdout);
  printf(",\"token\":%" PRIu64 ",\"remaining_ns\":%" PRId64, li->token,
         li->held && li->remaining > 0 ? li->remaining : 0);
}

static int digits(uint64_t v) {
  int n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

static void print_lease_table(const tn_lease_info *leases, size_t n) {
  int wname = (int)strlen("NAME"), wholder = (int)strlen("HOLDER");
  int wtoken = (int)strlen("TOKEN");
  size_t i;
  for (i = 0; i < n; i++) {
    int ln = (int)strlen(leases[i].name), lh = (int)strlen(leases[i].holder);
    if (ln > wname)
      wname = ln;
    if (leases[i].held && lh > wholder)
      wholder = lh;
    if (digits(leases[i].token) > wtoken)
      wtoken = digits(leases[i].token);
  }
  printf("%-*s  %-5s  %-*s  %*s  %s\n", wname, "NAME", "STATE", wholder,
         "HOLDER", wtoken, "TOKEN", "REMAINING");
  for (i = 0; i < n; i++) {
    const tn_lease_info *li = &leases[i];
    char left[48] = "-";
    if (li->held)
      format_remaining(li->remaining, left, sizeof left);
    printf("%-*s  %-5s  %-*s  %*" PRIu64 "  %s\n", wname, li->name,
           li->held ? "held" : "free", wholder, li->held ? li->holder : "-",
           wtoken, li->token, left);
  }
}

/* --- lease commands ------------------------------------------------- */

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait until no other process holds a lock on path that conflicts with
 * ours (shared: a read lock; else a write lock), telling the operator
 * after a second what it is waiting for. The library then takes the lock
 * itself; this only makes the wait visible. */
static void wait_for_lock(const char *path, int shared) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  int waited = 0, told = 0;
  struct stat st;
  if (fd < 0)
    return;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  for (;;) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = shared ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
      break;
    if (waited >= 1000 && !told) {
      fprintf(stderr,
              "tenurectl: waiting for the lock on %s: another process "
              "holds it (a holder or candidate in the middle of a write, "
              "or a stopped or stuck process); still waiting...\n",
              path);
      told = 1;
    }
    nap_ms(10);
    waited += 10;
  }
  if (told)
    fprintf(stderr, "tenurectl: %s: lock free after %.1f s\n", path,
            waited / 1000.0);
  close(fd);
}

/* A file:// path must be there (the file authority would create a missing
 * file; tenurectl never does) and be a regular file. */
static int check_lease_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT)
      fprintf(stderr,
              "tenurectl: %s: no such lease file (tenurectl never "
              "creates one)\n",
              path);
    else
      fprintf(stderr, "tenurectl: %s: %s\n", path, strerror(errno));
    return EXIT_FAILURE;
  }
  if (!S_ISREG(st.st_mode)) {
    fprintf(stderr, "tenurectl: %s: not a regular file (%s); a lease file "
                    "is always one\n",
            path,
            S_ISFIFO(st.st_mode)  ? "a FIFO"
            : S_ISDIR(st.st_mode) ? "a directory"
            : S_ISSOCK(st.st_mode) ? "a socket"
                                   : "a device");
    return EXIT_FAILURE;
  }
  return 0;
}

static int open_authority(const char *uri, int readonly, tn_authority **out) {
  int rc;
  if (strncmp(uri, "file:///", 8) == 0) {
    const char *path = uri + strlen("file://");
    if ((rc = check_lease_path(path)) != 0)
      return rc;
    wait_for_lock(path, readonly);
  }
  rc = readonly ? tn_authority_open_readonly(uri, out)
                : tn_authority_open(uri, out);
  if (rc == 0)
    return 0;
  if (rc == TN_EINVAL) {
    const char *why = tn_authority_last_error();
    return usage_error("%s", *why ? why : "bad authority URI");
  }
  return fail(rc, tn_authority_last_error(), uri);
}

static int lease_status(const char *uri, const char *name) {
  tn_authority *a;
  tn_lease_info li;
  int rc = open_authority(uri, 1, &a);
  if (rc != 0)
    return rc;
  rc = tn_authority_observe(a, name, &li);
  if (rc == TN_ENOENT) {
    fprintf(stderr, "tenurectl: no lease named %s in %s\n", name, uri);
    tn_authority_close(a);
    return EXIT_FAILURE;
  }
  if (rc != 0) {
    rc = fail(rc, tn_authority_last_error(), uri);
    tn_authority_close(a);
    return rc;
  }
  tn_authority_close(a);
  if (json_output) {
    fputs("{\"uri\":", stdout);
    json_string(uri);
    putchar(',');
    json_lease_fields(&li);
    puts("}");
  } else {
    print_lease_table(&li, 1);
  }
  return finish_output();
}

static int lease_list(const char *uri) {
  tn_authority *a;
  tn_lease_info *leases = NULL;
  size_t cap = 0, count = 0, i;
  int rc = open_authority(uri, 1, &a);
  if (rc != 0)
    return rc;
  /* The table may grow between the two calls; ask until it fits. */
  for (;;) {
    rc = tn_authority_list(a, leases, cap, &count);
    if (rc != 0 || count <= cap)
      break;
    free(leases);
    cap = count + 16;
    leases = calloc(cap, sizeof *leases);
    if (leases == NULL) {
      rc = TN_ENOMEM;
      break;
    }
  }
  if (rc != 0) {
    rc = fail(rc, rc == TN_ENOMEM ? "" : tn_authority_last_error(), uri);
    free(leases);
    tn_authority_close(a);
    return rc;
  }
  tn_authority_close(a);
  if (count > 1)
    qsort(leases, count, sizeof *leases, by_lease_name);
  if (json_output) {
    fputs("{\"uri\":", stdout);
    json_string(uri);
    printf(",\"count\":%zu,\"leases\":[", count);
    for (i = 0; i < count; i++) {
      fputs(i ? ",{" : "{", stdout);
      json_lease_fields(&leases[i]);
      putchar('}');
    }
    puts("]}");
  } else {
    print_lease_table(leases, count);
  }
  free(leases);
  return finish_output();
}

static int lease_release(const char *uri, const char *name) {
  tn_authority *a;
  tn_lease_info before;
  int rc = open_authority(uri, 0, &a);
  if (rc != 0)
    return rc;
  /* Observe first: the authority answers TN_ENOENT both for a name it has
   * never seen and for a free lease, and the operator should know which. */
  memset(&before, 0, sizeof before);
  rc = tn_authority_observe(a, name, &before);
  if (rc == TN_ENOENT) {
    fprintf(stderr, "tenurectl: no lease named %s in %s\n", name, uri);
    rc = EXIT_FAILURE;
  } else if (rc != 0) {
    rc = fail(rc, tn_authority_last_error(), uri);
  } else if (!before.held) {
    fprintf(stderr, "tenurectl: %s is not held (last token %" PRIu64 ")\n",
            name, before.token);
    rc = EXIT_FAILURE;
  } else if ((rc = tn_authority_force_release(a, name)) == TN_ENOENT) {
    /* the term ended on its own between the observe and the release */
    fprintf(stderr, "tenurectl: %s is not held (last token %" PRIu64 ")\n",
            name, before.token);
    rc = EXIT_FAILURE;
  } else if (rc != 0) {
    rc = fail(rc, tn_authority_last_error(), uri);
  }
  tn_authority_close(a);
  if (rc != 0)
    return rc;
  if (json_output) {
    fputs("{\"uri\":", stdout);
    json_string(uri);
    fputs(",\"name\":", stdout);
    json_string(name);
    fputs(",\"released\":true,\"holder\":", stdout);
    json_string(before.holder);
    printf(",\"token\":%" PRIu64 "}\n", before.token);
  } else {
    printf("%s released: ended the term of %s (token %" PRIu64
           "); the next holder gets a higher token\n",
           name, before.holder, before.token);
  }
  return finish_output();
}

/* --- lease file check and repair ------------------------------------ */

/* FILE or file:///FILE */
static const char *lease_file_path(const char *arg) {
  return strncmp(arg, "file:///", 8) == 0 ? arg + strlen("file://") : arg;
}

/* How far the wall clock now is behind the file's token base (µs of the
 * wall clock at its creation), in ns; 0 when it is not. */
static int64_t clock_behind(const tn_lease_file_report *r) {
  tn_wall_interval w;
  int64_t now_us;
  if (r->version < 2 || r->token_base == 0)
    return 0;
  if (tn_wall_interval_now(&w) != 0 && w.latest.ns == 0)
    return 0;
  now_us = w.latest.ns / 1000;
  if ((int64_t)r->token_base <= now_us + 1000000) /* a second of slack */
    return 0;
  return ((int64_t)r->token_base - now_us) * 1000;
}

static void print_report(const char *path, const tn_lease_file_report *r) {
  int64_t behind = clock_behind(r);
  if (json_output) {
    fputs("{\"path\":", stdout);
    json_string(path);
    printf(",\"version\":%u,\"size\":%" PRIu64 ",\"entries\":%zu,"
           "\"leases\":%zu,\"token_base\":%" PRIu64 ",\"max_token\":%" PRIu64
           ",\"damaged_copies\":%zu,\"torn_bytes\":%" PRIu64
           ",\"clock_behind_ns\":%" PRId64 ",\"repaired\":%s,\"clean\":%s}\n",
           (unsigned)r->version, r->size, r->entries, r->leases,
           r->token_base, r->max_token, r->damaged_copies, r->torn_bytes,
           behind, r->repaired ? "true" : "false",
           r->torn_bytes == 0 ? "true" : "false");
    return;
  }
  printf("%s: lease file version %u, %" PRIu64 " bytes, %zu entries, %zu "
         "leases\n",
         path, (unsigned)r->version, r->size, r->entries, r->leases);
  if (r->version >= 2) {
    time_t secs = (time_t)(r->token_base / 1000000);
    struct tm tm;
    char when[64] = "?";
    if (gmtime_r(&secs, &tm))
      strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("token base: %" PRIu64 " (the wall clock's latest bound when the "
           "file was created: %s)\n",
           r->token_base, when);
  } else {
    printf("token base: none (version 1: tokens count from 1)\n");
  }
  printf("highest token: %" PRIu64 "\n", r->max_token);
  if (r->damaged_copies)
    printf("damaged copies: %zu (each one's sibling carries its record: a "
           "torn write, survivable; the next write replaces it)\n",
           r->damaged_copies);
  if (behind > 0)
    printf("warning: the wall clock is %.1f s behind this file's token base: "
           "it was stepped back since the file was created. This file's "
           "tokens are unaffected, but a lease file created at this path now "
           "would issue lower tokens, which fences refuse (safe, not live) "
           "until the clock catches up.\n",
           (double)behind / 1e9);
  if (r->repaired)
    printf("repaired: cut the torn tail; token base raised to %" PRIu64
           "; holders of the old file see it replaced and step down\n",
           r->token_base);
  else if (r->torn_bytes)
    printf("torn tail: %" PRIu64 " bytes after the last whole entry (an "
           "append that never finished); every process refuses the file "
           "until `tenurectl lease repair %s` cuts it off\n",
           r->torn_bytes, path);
  else
    printf("clean\n");
}

static int lease_check(const char *arg, int repair) {
  const char *path = lease_file_path(arg);
  tn_lease_file_report r;
  int rc;
  if ((rc = check_lease_path(path)) != 0)
    return rc;
  wait_for_lock(path, !repair);
  memset(&r, 0, sizeof r);
  rc = repair ? tn_lease_file_repair(path, &r) : tn_lease_file_check(path, &r);
  if (rc != 0)
    return fail(rc, tn_authority_last_error(), path);
  print_report(path, &r);
  if (!repair && r.torn_bytes)
    fprintf(stderr, "tenurectl: %s: torn tail of %" PRIu64 " bytes\n", path,
            r.torn_bytes);
  rc = finish_output();
  return rc != 0 ? rc : (!repair && r.torn_bytes) ? EXIT_FAILURE : 0;
}

/* --- fence command -------------------------------------------------- */

static int fence_show(const char *path) {
  tn_fence *f;
  tn_fence_entry *entries = NULL;
  size_t cap = 0, count = 0, i;
  int rc = tn_fence_open_readonly(path, &f);
  if (rc != 0)
    return fail(rc, tn_fence_last_error(), path);
  for (;;) {
    rc = tn_fence_list(f, entries, cap, &count);
    if (rc != 0 || count <= cap)
      break;
    free(entries);
    cap = count + 16;
    entries = calloc(cap, sizeof *entries);
    if (entries == NULL) {
      rc = TN_ENOMEM;
      break;
    }
  }
  if (rc != 0) {
    rc = fail(rc, rc == TN_ENOMEM ? "" : tn_fence_last_error(), path);
    free(entries);
    tn_fence_close(f);
    return rc;
  }
  tn_fence_close(f);
  if (json_output) {
    fputs("{\"path\":", stdout);
    json_string(path);
    printf(",\"count\":%zu,\"resources\":[", count);
    for (i = 0; i < count; i++) {
      fputs(i ? ",{\"resource\":" : "{\"resource\":", stdout);
      json_string(entries[i].resource);
      printf(",\"token\":%" PRIu64 "}", entries[i].token);
    }
    puts("]}");
  } else {
    int width = (int)strlen("RESOURCE"), wtoken = (int)strlen("TOKEN");
    for (i = 0; i < count; i++) {
      if ((int)strlen(entries[i].resource) > width)
        width = (int)strlen(entries[i].resource);
      if (digits(entries[i].token) > wtoken)
        wtoken = digits(entries[i].token);
    }
    printf("%-*s  %*s\n", width, "RESOURCE", wtoken, "TOKEN");
    for (i = 0; i < count; i++)
      printf("%-*s  %*" PRIu64 "\n", width, entries[i].resource, wtoken,
             entries[i].token);
  }
  free(entries);
  return finish_output();
}

/* --- command line --------------------------------------------------- */

/* Check the operand count of `group verb`: want operands after the verb. */
static int operands(int have, int want, const char *cmd, const char *names) {
  if (have < want)
    return usage_error("%s needs %s", cmd, names);
  if (have > want)
    return usage_error("%s takes only %s", cmd, names);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"version", no_argument, NULL, 'V'},
                                       {NULL, 0, NULL, 0}};
  const char *group, *verb;
  char **args;
  int nargs, c, rc;

  while ((c = getopt_long(argc, argv, "jhV", opts, NULL)) != -1) {
    switch (c) {
    case 'j':
      json_output = 1;
      break;
    case 'h':
      usage(stdout);
      return finish_output();
    case 'V':
      printf("tenurectl (tenure) %s\n", tn_version_string());
      return finish_output();
    default:
      fputs("Try 'tenurectl --help'.\n", stderr);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc)
    return usage_error("no command given (lease status|list|release, fence "
                       "show)");
  group = argv[optind];
  if (strcmp(group, "lease") != 0 && strcmp(group, "fence") != 0)
    return usage_error("unknown command \"%s\" (want lease or fence)", group);
  if (optind + 1 >= argc)
    return usage_error("%s needs a subcommand (%s)", group,
                       group[0] == 'l' ? "status, list, release, check or repair"
                                       : "show");
  verb = argv[optind + 1];
  args = argv + optind + 2;
  nargs = argc - optind - 2;

  if (strcmp(group, "fence") == 0) {
    if (strcmp(verb, "show") != 0)
      return usage_error("unknown command \"fence %s\" (want fence show)",
                         verb);
    if ((rc = operands(nargs, 1, "fence show", "PATH")) != 0)
      return rc;
    if (args[0][0] == '\0')
      return usage_error("fence show: PATH is empty");
    return fence_show(args[0]);
  }

  if (strcmp(verb, "check") == 0 || strcmp(verb, "repair") == 0) {
    if ((rc = operands(nargs, 1,
                       verb[0] == 'c' ? "lease check" : "lease repair",
                       "FILE")) != 0)
      return rc;
    if (args[0][0] == '\0')
      return usage_error("lease %s: FILE is empty", verb);
    return lease_check(args[0], verb[0] == 'r');
  }
  if (strcmp(verb, "list") == 0) {
    if ((rc = operands(nargs, 1, "lease list", "URI")) != 0)
      return rc;
    return lease_list(args[0]);
  }
  if (strcmp(verb, "status") != 0 && strcmp(verb, "release") != 0)
    return usage_error("unknown command \"lease %s\" (want status, list, "
                       "release, check or repair)",
                       verb);
  if ((rc = operands(nargs, 2,
                     verb[0] == 's' ? "lease status" : "lease release",
                     "URI and NAME")) != 0)
    return rc;
  if (!lease_name_ok(args[1]))
    return usage_error("bad lease name \"%s\": want 1..%d bytes of "
                       "[A-Za-z0-9._-]",
                       args[1], TN_LEASE_NAME_MAX);
  return verb[0] == 's' ? lease_status(args[0], args[1])
                        : lease_release(args[0], args[1]);
}
