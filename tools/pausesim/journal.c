/*
 * The ground-truth log's begin records, and pausesim --recover.
 *
 * Each stall is written to the log twice: a begin record before the stop
 * signal or freeze, naming the target so that it can be found again, and
 * the stall line (unchanged: seq, pid, mode, start, duration, requested)
 * once it has ended. A log whose last begin has no stall line after it
 * belongs to a pausesim that died mid-stall; if its guardian died too (a
 * kill -9 of both, a machine under the OOM killer) the target may still be
 * stopped. `pausesim --recover LOG` finds that record and resumes the
 * target it names.
 *
 * The trick against pid reuse: a begin record carries the process's start
 * time (field 22 of /proc/PID/stat, in clock ticks since boot) and the boot
 * id, and --recover signals a pid only when both still match: the same
 * number on another boot, or a new process that got the number, is left
 * alone.
 *
 * Begin record: {"seq":N,"begin_boot_ns":T,"requested_ns":R,"mode":"stop",
 *   "pid":P,"pid_start":S,"boot_id":"..."}; freeze mode has "cgroup":DIR
 *   (an absolute path) instead of the pid fields.
 */
#define _GNU_SOURCE
#include "pausesim.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The kernel's id of this boot, or "" if it cannot be read. */
static void read_boot_id(char *buf, size_t len) {
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
  buf[0] = '\0';
  if (f == NULL)
    return;
  if (fgets(buf, (int)len, f) == NULL)
    buf[0] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  fclose(f);
}

/* Field 22 of /proc/PID/stat (start time in ticks), and field 3 (the state
 * letter) in *state. Returns 0, or -1 if the process is not there. */
static int read_proc_start(pid_t pid, unsigned long long *start,
                           char *state) {
  char path[64], buf[2048], *p;
  ssize_t n;
  int fd, field;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
  if (p == NULL || p[1] != ' ')
    return -1;
  p += 2;
  *state = *p;
  for (field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p)
      p++;
  }
  if (p == NULL)
    return -1;
  *start = strtoull(p, NULL, 10);
  return 0;
}

int psim_log_begin(int fd, uint64_t seq, const psim_target *t, tn_nanos at,
                   tn_nanos requested) {
  json_t *rec;
  char *text;
  size_t len;
  ssize_t n;
  int rc = 0;

  if (fd < 0)
    return 0;
  rec = json_pack("{s:I,s:I,s:I,s:s}", "seq", (json_int_t)seq,
                  "begin_boot_ns", (json_int_t)at, "requested_ns",
                  (json_int_t)requested, "mode",
                  t->mode == PSIM_MODE_FREEZE ? "freeze" : "stop");
  if (rec == NULL)
    return -1;
  if (t->kind == PSIM_TARGET_CGROUP) {
    char *abs = realpath(t->cgroup, NULL);
    json_object_set_new(rec, "cgroup", json_string(abs ? abs : t->cgroup));
    free(abs);
  } else {
    unsigned long long start = 0;
    char state, boot[64];
    read_boot_id(boot, sizeof boot);
    if (read_proc_start(t->pid, &start, &state) != 0)
      start = 0;
    json_object_set_new(rec, "pid", json_integer(t->pid));
    json_object_set_new(rec, "pid_start", json_integer((json_int_t)start));
    json_object_set_new(rec, "boot_id", json_string(boot));
  }
  text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(rec);
  if (text == NULL)
    return -1;
  len = strlen(text);
  text[len++] = '\n'; /* json_dumps leaves room: it wrote a NUL there */
  do
    n = write(fd, text, len);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)len)
    rc = -1;
  free(text);
  return rc;
}

/* Resume what one begin record names. Returns 0 (resumed, or nothing to
 * do, said why) or 1 (could not). */
static int recover_one(const char *log, json_t *rec) {
  json_t *cg = json_object_get(rec, "cgroup");
  json_int_t seq = json_integer_value(json_object_get(rec, "seq"));
  if (json_is_string(cg)) {
    char path[4096];
    int fd;
    snprintf(path, sizeof path, "%s/cgroup.freeze", json_string_value(cg));
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        printf("pausesim: %s: stall %lld: cgroup %s is gone; nothing to "
               "resume\n",
               log, (long long)seq, json_string_value(cg));
        return 0;
      }
      fprintf(stderr, "pausesim: %s: stall %lld: cannot open %s: %s\n", log,
              (long long)seq, path, strerror(errno));
      return 1;
    }
    if (write(fd, "0", 1) != 1) {
      fprintf(stderr, "pausesim: %s: stall %lld: cannot thaw %s: %s\n", log,
              (long long)seq, json_string_value(cg), strerror(errno));
      close(fd);
      return 1;
    }
    close(fd);
    printf("pausesim: %s: stall %lld: thawed cgroup %s\n", log,
           (long long)seq, json_string_value(cg));
    return 0;
  } else {
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    json_int_t want = json_integer_value(json_object_get(rec, "pid_start"));
    const char *boot = json_string_value(json_object_get(rec, "boot_id"));
    unsigned long long start;
    char state, now_boot[64];
    read_boot_id(now_boot, sizeof now_boot);
    if (pid <= 0 || pid > INT32_MAX || want <= 0 || boot == NULL) {
      fprintf(stderr,
              "pausesim: %s: stall %lld: the begin record has no usable "
              "pid, pid_start and boot_id\n",
              log, (long long)seq);
      return 1;
    }
    if (strcmp(boot, now_boot) != 0) {
      printf("pausesim: %s: stall %lld: written on another boot; pid %lld "
             "is not that process any more\n",
             log, (long long)seq, (long long)pid);
      return 0;
    }
    if (read_proc_start((pid_t)pid, &start, &state) != 0 ||
        start != (unsigned long long)want) {
      printf("pausesim: %s: stall %lld: pid %lld has exited; nothing to "
             "resume\n",
             log, (long long)seq, (long long)pid);
      return 0;
    }
    if (state != 'T') {
      printf("pausesim: %s: stall %lld: pid %lld is not stopped (state %c); "
             "nothing to resume\n",
             log, (long long)seq, (long long)pid, state);
      return 0;
    }
    if (kill((pid_t)pid, SIGCONT) != 0) {
      fprintf(stderr, "pausesim: %s: stall %lld: cannot resume pid %lld: %s\n",
              log, (long long)seq, (long long)pid, strerror(errno));
      return 1;
    }
    printf("pausesim: %s: stall %lld: resumed pid %lld\n", log,
           (long long)seq, (long long)pid);
    return 0;
  }
}

int psim_recover(const char *log) {
  FILE *f = fopen(log, "re");
  json_t *open_rec = NULL;
  char *line = NULL;
  size_t cap = 0;
  unsigned long lineno = 0, bad = 0;
  ssize_t n;
  int rc;

  if (f == NULL) {
    fprintf(stderr, "pausesim: --recover %s: %s\n", log, strerror(errno));
    return 1;
  }
  while ((n = getline(&line, &cap, f)) > 0) {
    json_error_t jerr;
    json_t *v, *seq;
    lineno++;
    v = json_loadb(line, (size_t)n, JSON_DISABLE_EOF_CHECK, &jerr);
    if (v == NULL || !json_is_object(v) ||
        !json_is_integer(seq = json_object_get(v, "seq"))) {
      /* A torn last line is what a crash leaves: not worth failing for. */
      bad++;
      json_decref(v);
      continue;
    }
    if (json_object_get(v, "begin_boot_ns") != NULL) {
      json_decref(open_rec);
      open_rec = v; /* the latest stall begun */
      continue;
    }
    if (open_rec && json_integer_value(json_object_get(open_rec, "seq")) ==
                        json_integer_value(seq)) {
      json_decref(open_rec); /* it ended */
      open_rec = NULL;
    }
    json_decref(v);
  }
  free(line);
  if (ferror(f)) {
    fprintf(stderr, "pausesim: --recover %s: read error: %s\n", log,
            strerror(errno));
    fclose(f);
    json_decref(open_rec);
    return 1;
  }
  fclose(f);
  if (bad > 0)
    fprintf(stderr, "pausesim: --recover %s: %lu of %lu lines are not log "
                    "records (skipped)\n",
            log, bad, lineno);
  if (open_rec == NULL) {
    printf("pausesim: %s: every stall begun has ended; nothing to resume\n",
           log);
    return 0;
  }
  rc = recover_one(log, open_rec);
  json_decref(open_rec);
  return rc;
}
