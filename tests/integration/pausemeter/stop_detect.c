/*
 * Integration: SIGSTOP a running pausemeter for known durations and check
 * that every stall is detected, attributed "stopped", with a duration error
 * of at most 2 ms.
 *
 *   it_pausemeter_stops PATH_TO_PAUSEMETER
 *
 * The stall is measured here the way a user would measure it: from the
 * moment the kernel reports the child stopped (waitpid WUNTRACED) to the
 * moment SIGCONT is sent, on CLOCK_BOOTTIME, the clock pausemeter also uses.
 */
#define _GNU_SOURCE
#include <tenure/clock.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ERR (2 * TN_MSEC)

struct stall {
  tn_nanos start, end;
};

struct event {
  char cause[16];
  tn_nanos start, duration;
};

static void sleep_until(tn_nanos t) {
  struct timespec ts = {(time_t)(t / TN_SEC), (long)(t % TN_SEC)};
  while (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

static int field_i64(const char *line, const char *key, tn_nanos *out) {
  const char *p = strstr(line, key);
  if (!p)
    return -1;
  *out = strtoll(p + strlen(key), NULL, 10);
  return 0;
}

static int field_str(const char *line, const char *key, char *out, size_t n) {
  const char *p = strstr(line, key), *q;
  if (!p)
    return -1;
  p += strlen(key);
  q = strchr(p, '"');
  if (!q || (size_t)(q - p) >= n)
    return -1;
  memcpy(out, p, (size_t)(q - p));
  out[q - p] = '\0';
  return 0;
}

int main(int argc, char **argv) {
  static const int ms[] = {20, 30, 50, 75, 100, 150, 200, 300, 400, 500,
                           25, 60};
  enum { N = sizeof ms / sizeof ms[0] };
  struct stall stalls[N];
  struct event events[256];
  int nevents = 0, failures = 0, status, i;
  char dir[] = "/tmp/tenure-it-pausemeter-XXXXXX", path[256], line[1024];
  pid_t pid;
  FILE *f;
  tn_nanos worst = 0;

  if (argc != 2) {
    fprintf(stderr, "usage: %s PAUSEMETER\n", argv[0]);
    return 2;
  }
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(path, sizeof path, "%s/events.jsonl", dir);

  pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execl(argv[1], "pausemeter", "--quiet", "--no-socket", "--events", path,
          (char *)NULL);
    _exit(127);
  }
  /* Let it start: the events file exists once the monitor is open. */
  for (i = 0; i < 200 && access(path, F_OK) != 0; i++)
    usleep(10 * 1000);
  usleep(200 * 1000);

  for (i = 0; i < N; i++) {
    tn_nanos t0;
    kill(pid, SIGSTOP);
    if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status)) {
      fprintf(stderr, "FAIL: pausemeter did not stop (status %#x)\n", status);
      kill(pid, SIGKILL);
      return 1;
    }
    t0 = tn_now();
    sleep_until(t0 + ms[i] * TN_MSEC);
    stalls[i].start = t0;
    stalls[i].end = tn_now();
    kill(pid, SIGCONT);
    usleep(150 * 1000);
  }
  kill(pid, SIGINT);
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "FAIL: pausemeter did not exit 0 on SIGINT (%#x)\n",
            status);
    failures++;
  }

  f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "FAIL: no events file %s\n", path);
    return 1;
  }
  while (fgets(line, sizeof line, f) && nevents < 256) {
    struct event *e = &events[nevents];
    if (field_str(line, "\"cause\":\"", e->cause, sizeof e->cause) ||
        field_i64(line, "\"start_boot_ns\":", &e->start) ||
        field_i64(line, "\"duration_ns\":", &e->duration)) {
      fprintf(stderr, "FAIL: malformed event line: %s", line);
      failures++;
      continue;
    }
    nevents++;
  }
  fclose(f);

  for (i = 0; i < N; i++) {
    tn_nanos injected = stalls[i].end - stalls[i].start;
    int j, found = -1;
    for (j = 0; j < nevents; j++) {
      if (events[j].start < stalls[i].end &&
          events[j].start + events[j].duration > stalls[i].start) {
        found = j;
        break;
      }
    }
    if (found < 0) {
      fprintf(stderr, "FAIL: stall %d (%.3f ms) not detected\n", i,
              tn_nanos_to_millis(injected));
      failures++;
      continue;
    }
    {
      tn_nanos err = events[found].duration - injected;
      if (llabs(err) > worst)
        worst = llabs(err);
      printf("stall %2d: injected %8.3f ms, detected %8.3f ms (%s), error "
             "%+.3f ms\n",
             i, tn_nanos_to_millis(injected),
             tn_nanos_to_millis(events[found].duration), events[found].cause,
             tn_nanos_to_millis(err));
      if (strcmp(events[found].cause, "stopped") != 0) {
        fprintf(stderr, "FAIL: stall %d attributed \"%s\", not \"stopped\"\n",
                i, events[found].cause);
        failures++;
      }
      if (llabs(err) > MAX_ERR) {
        fprintf(stderr, "FAIL: stall %d duration error %.3f ms > 2 ms\n", i,
                tn_nanos_to_millis(err));
        failures++;
      }
    }
  }
  printf("%d stalls, %d events, worst duration error %.3f ms\n", N, nevents,
         tn_nanos_to_millis(worst));
  unlink(path);
  rmdir(dir);
  return failures ? 1 : 0;
}
