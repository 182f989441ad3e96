/*
 * Clocks, durations and the clock watch.
 *
 * Every time read in tenure goes through this file, so a test build can put a
 * fake clock behind tn_now() (clock_testing.h) and simulate stalls, suspends
 * and wall-clock jumps deterministically. In the release build the source
 * pointer is const, so the compiler sees straight through it to
 * clock_gettime() and no indirection is paid on the guard's hot path.
 *
 * Durations are parsed with integer arithmetic only: "1.1s" must be exactly
 * 1100000000 ns, which a double cannot promise.
 */
#define _GNU_SOURCE
#include "clock_testing.h"

#include <tenure/error.h>
#include <tenure/version.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

const char *tn_version_string(void) { return TN_VERSION_STRING; }

static tn_nanos read_clock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts); /* cannot fail for these ids on Linux */
  return (tn_nanos)ts.tv_sec * TN_SEC + ts.tv_nsec;
}

static tn_nanos real_boottime(void *arg) {
  (void)arg;
  return read_clock(CLOCK_BOOTTIME);
}

static tn_nanos real_monotonic(void *arg) {
  (void)arg;
  return read_clock(CLOCK_MONOTONIC);
}

static int64_t real_realtime(void *arg) {
  (void)arg;
  return read_clock(CLOCK_REALTIME); /* wall: printing and the interval only */
}

static int real_ntp(void *arg, tn_nanos *maxerror) {
  struct timex tx;
  int state;
  (void)arg;
  memset(&tx, 0, sizeof tx);
  state = adjtimex(&tx); /* modes == 0: read only */
  if (state == -1)
    return TN_EIO;
  *maxerror = (tn_nanos)tx.maxerror * TN_USEC;
  if (state == TIME_ERROR || (tx.status & STA_UNSYNC))
    return 0;
  return 1;
}

static const tn__clock_source real_source = {
    real_boottime, real_monotonic, real_realtime, real_ntp, NULL};

#ifdef TN_TESTING
static const tn__clock_source *clock_src = &real_source;

void tn__clock_swap(const tn__clock_source *src) {
  clock_src = src ? src : &real_source;
}

static tn_nanos manual_boot(void *arg) {
  return ((tn__manual_clock *)arg)->boot;
}
static tn_nanos manual_mono(void *arg) {
  return ((tn__manual_clock *)arg)->mono;
}
static int64_t manual_wall(void *arg) {
  return ((tn__manual_clock *)arg)->wall;
}
static int manual_ntp(void *arg, tn_nanos *maxerror) {
  tn__manual_clock *m = arg;
  *maxerror = m->maxerror;
  return m->synced ? 1 : 0;
}

void tn__manual_clock_source(tn__clock_source *src, tn__manual_clock *m) {
  src->boottime = manual_boot;
  src->monotonic = manual_mono;
  src->realtime = manual_wall;
  src->ntp = manual_ntp;
  src->arg = m;
}
#else
static const tn__clock_source *const clock_src = &real_source;
#endif

tn_nanos tn_now(void) { return clock_src->boottime(clock_src->arg); }

tn_nanos tn_now_monotonic(void) {
  return clock_src->monotonic(clock_src->arg);
}

tn_walltime tn_wall_now(void) {
  tn_walltime w = {clock_src->realtime(clock_src->arg)};
  return w;
}

tn_nanos tn_nanos_add_sat(tn_nanos a, tn_nanos b) {
  tn_nanos r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? TN_NANOS_MAX : INT64_MIN;
  return r;
}

int tn_wall_interval_now(tn_wall_interval *out) {
  tn_nanos maxerror = 0;
  int synced = clock_src->ntp(clock_src->arg, &maxerror);
  int64_t wall = clock_src->realtime(clock_src->arg);

  if (synced < 0)
    return synced;
  out->maxerror = maxerror;
  out->earliest.ns = wall - maxerror;
  out->latest.ns = wall + maxerror;
  return synced ? 0 : TN_EUNSYNCED;
}

/* --- durations ---------------------------------------------------------- */

struct unit {
  const char *name;
  size_t len;
  tn_nanos scale;
};

/* Longest names first so "ms" is not read as "m" followed by junk. */
static const struct unit units[] = {
    {"ns", 2, TN_NSEC}, {"us", 2, TN_USEC}, {"\xc2\xb5s", 3, TN_USEC},
    {"ms", 2, TN_MSEC}, {"s", 1, TN_SEC},   {"m", 1, TN_MIN},
    {"h", 1, TN_HOUR},
};

static int parse_fail(tn_parse_error *err, const char *text, const char *at,
                      const char *reason, int code) {
  if (err) {
    err->pos = (size_t)(at - text);
    err->reason = reason;
  }
  return code;
}

int tn_duration_parse(const char *text, tn_nanos *out, tn_parse_error *err) {
  const char *p = text;
  tn_nanos total = 0;

  if (text == NULL || out == NULL)
    return TN_EINVAL;
  if (*p == '\0')
    return parse_fail(err, text, p, "empty duration", TN_EINVAL);

  while (*p != '\0') {
    const char *term = p;
    uint64_t whole = 0, frac = 0, frac_div = 1;
    int digits = 0, overflow = 0;
    const struct unit *u = NULL;
    size_t i;
    tn_nanos term_ns;

    if (*p == '-')
      return parse_fail(err, text, p, "negative duration", TN_EINVAL);
    if (*p == '+' || *p == ' ')
      return parse_fail(err, text, p, "expected a digit", TN_EINVAL);
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
      if (__builtin_mul_overflow(whole, 10, &whole) ||
          __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
        overflow = 1;
    }
    if (*p == '.') {
      p++;
      for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (frac_div < 1000000000000000000ull) { /* 18 decimals are plenty */
          frac = frac * 10 + (uint64_t)(*p - '0');
          frac_div *= 10;
        }
      }
    }
    if (digits == 0)
      return parse_fail(err, text, p, "expected a number", TN_EINVAL);
    if (overflow)
      return parse_fail(err, text, term, "number too large", TN_ERANGE);
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
      if (strncmp(p, units[i].name, units[i].len) == 0) {
        /* "m" must not swallow the "m" of "ms" */
        if (units[i].scale == TN_MIN && p[1] == 's')
          continue;
        u = &units[i];
        break;
      }
    }
    if (u == NULL)
      return parse_fail(err, text, p,
                        *p ? "unknown unit (use ns, us, ms, s, m or h)"
                           : "missing unit (use ns, us, ms, s, m or h)",
                        TN_EINVAL);
    p += u->len;

    {
      /* whole*scale + frac*scale/frac_div, every step checked. frac < frac_div
       * <= 1e18 and scale <= 3.6e12, so do the fraction in 128 bits. */
      uint64_t w;
      unsigned __int128 f = (unsigned __int128)frac * (uint64_t)u->scale;
      if (__builtin_mul_overflow(whole, (uint64_t)u->scale, &w) ||
          w > (uint64_t)TN_NANOS_MAX)
        return parse_fail(err, text, term, "duration too large", TN_ERANGE);
      w += (uint64_t)(f / frac_div);
      if (w > (uint64_t)TN_NANOS_MAX)
        return parse_fail(err, text, term, "duration too large", TN_ERANGE);
      term_ns = (tn_nanos)w;
    }
    if (__builtin_add_overflow(total, term_ns, &total))
      return parse_fail(err, text, term, "duration too large", TN_ERANGE);
  }
  *out = total;
  return 0;
}

int tn_duration_format(tn_nanos d, char *buf, size_t len) {
  static const struct {
    const char *name;
    tn_nanos scale;
    int fractional; /* may print decimals (exact only for powers of ten) */
  } fmt_units[] = {{"h", TN_HOUR, 0},  {"m", TN_MIN, 0},   {"s", TN_SEC, 1},
                   {"ms", TN_MSEC, 1}, {"us", TN_USEC, 1}, {"ns", TN_NSEC, 0}};
  const char *sign = "";
  uint64_t mag;
  size_t i;

  if (d < 0) {
    sign = "-";
    mag = (uint64_t)0 - (uint64_t)d;
  } else {
    mag = (uint64_t)d;
  }
  if (mag == 0)
    return snprintf(buf, len, "0s");
  for (i = 0; i < sizeof fmt_units / sizeof fmt_units[0]; i++) {
    uint64_t scale = (uint64_t)fmt_units[i].scale;
    if (mag % scale == 0)
      return snprintf(buf, len, "%s%llu%s", sign,
                      (unsigned long long)(mag / scale), fmt_units[i].name);
    if (fmt_units[i].fractional && mag >= scale) {
      char frac[16];
      int n = 0, width = 0;
      uint64_t rest = mag % scale, s;
      for (s = scale; s > 1; s /= 10)
        width++;
      n = snprintf(frac, sizeof frac, "%0*llu", width,
                   (unsigned long long)rest);
      while (n > 0 && frac[n - 1] == '0')
        frac[--n] = '\0';
      return snprintf(buf, len, "%s%llu.%s%s", sign,
                      (unsigned long long)(mag / scale), frac,
                      fmt_units[i].name);
    }
  }
  return snprintf(buf, len, "%s%lluns", sign, (unsigned long long)mag);
}

int tn_walltime_format(tn_walltime t, char *buf, size_t len) {
  struct tm tm;
  time_t secs = (time_t)(t.ns / TN_SEC);
  long nsec = (long)(t.ns % TN_SEC);
  if (nsec < 0) {
    nsec += TN_SEC;
    secs -= 1;
  }
  if (gmtime_r(&secs, &tm) == NULL)
    return snprintf(buf, len, "invalid-time");
  return snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, nsec);
}

/* --- clock watch -------------------------------------------------------- */

void tn_clockwatch_init(tn_clockwatch *w, tn_nanos jump_threshold) {
  tn_nanos boot = tn_now();
  w->jump_threshold = jump_threshold > 0 ? jump_threshold : 50 * TN_MSEC;
  w->wall_offset = tn_wall_now().ns - boot;
  w->suspend_offset = boot - tn_now_monotonic();
}

int tn_clockwatch_poll(tn_clockwatch *w, tn_clockwatch_report *r) {
  /* Boot time first, monotonic second: a preemption between the two reads
   * can then only shrink BOOTTIME - MONOTONIC, never fake a suspend. */
  tn_nanos boot = tn_now();
  tn_nanos mono = tn_now_monotonic();
  int64_t wall = tn_wall_now().ns;
  tn_nanos wall_offset = wall - boot;
  tn_nanos suspend_offset = boot - mono;
  tn_nanos jump = wall_offset - w->wall_offset;
  tn_nanos grew = suspend_offset - w->suspend_offset;

  memset(r, 0, sizeof *r);
  r->boot_now = boot;
  /* Only steps beyond the threshold are jumps; NTP's slewing (at most
   * 500 ppm) stays under it between two polls. The baseline always moves,
   * so slewing never accumulates into a false jump. */
  if (jump > w->jump_threshold || jump < -w->jump_threshold)
    r->wall_jump = jump;
  w->wall_offset = wall_offset;
  /* The offset only grows while suspended; the two reads are not
   * simultaneous, so ignore sub-millisecond growth. */
  if (grew > TN_MSEC)
    r->suspended = grew;
  if (grew > 0)
    w->suspend_offset = suspend_offset;
  return r->wall_jump != 0 || r->suspended != 0;
}

int tn_boot_id(char out[37]) {
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0)
    return TN_EIO;
  do {
    n = read(fd, out, 36);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n != 36)
    return TN_EIO;
  out[36] = '\0';
  return 0;
}
