/*
 * gc_load: a load generator for gc_server that retries shed requests on
 * another server instance and measures what a client sees.
 *
 * Two modes:
 *   open loop (--rate R): request k is due at t0 + k/R whatever happened
 *     to earlier ones. Its latency runs from that due time, not from when
 *     it was actually sent, to its final "OK": the coordinated-omission
 *     correction. A client that waits for a stalled server before sending
 *     its next request would otherwise leave out exactly the requests a
 *     pause delays. The uncorrected figure (from the first send) is
 *     printed alongside, to show the difference.
 *   closed loop (--users U): U users each send a request, wait for its
 *     "OK", and send the next at once. Latency runs from the first send.
 *     This mode cannot be corrected: a stall slows the users down, so it
 *     shows throughput under load rather than a fair tail.
 *
 * Request k goes first to server k mod N. A "SHED k" reply (the server is
 * draining for a collection) sends it at once to the next server. When
 * every server has shed it in turn, the next round waits --backoff first,
 * doubling each round up to 32 times that; after --attempts sends in all
 * the request is given up and counted. The latency covers every attempt
 * and every wait. Latencies go
 * into the project's HDR histogram (tenure/histogram.h). Requests due
 * during --warmup are sent but not recorded.
 *
 * One thread, epoll, a timerfd on CLOCK_BOOTTIME for the schedule.
 */
#define _GNU_SOURCE
#include <tenure/clock.h>
#include <tenure/error.h>
#include <tenure/histogram.h>
#include <tenure/version.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define MAX_SERVERS 8
#define MAX_CONNS_PER_SERVER 64
#define IN_CAP 65536
#define TAG_TIMER ((uint64_t)-1)
#define GRACE (3 * TN_SEC) /* wait this long for replies after the end */

struct conn {
  int fd; /* -1: closed */
  int server;
  int writing;
  size_t in_len;
  char in[IN_CAP];
  char *out;
  size_t out_len, out_off, out_cap;
};

struct server {
  char name[64];
  struct sockaddr_in addr;
  struct conn *conns[MAX_CONNS_PER_SERVER];
  int nconns, next_conn;
  uint64_t ok, shed, sent;
};

enum { REQ_UNSENT = 0, REQ_PENDING, REQ_DONE, REQ_GAVE_UP };

struct req {
  tn_nanos due;   /* open loop: the schedule; closed loop: the first send */
  tn_nanos first; /* the first send */
  int user;       /* closed loop: whose request */
  uint8_t attempts, server, state;
};

struct options {
  int nservers;
  struct server servers[MAX_SERVERS];
  double rate;
  int users;
  int conns;
  tn_nanos duration, warmup;
  int attempts;
  tn_nanos backoff;
  int json;
};

/* A retry waiting out its backoff. */
struct retry {
  tn_nanos at;
  uint64_t id;
  int to;
};

static struct options o;
static int epfd;
static struct req *reqs;
static size_t nreqs, reqs_cap;
static tn_histogram *lat, *lat_uncorrected, *send_lag;
static uint64_t ok, recorded, shed_replies, retries, gave_up, errors,
    malformed, pending;
static tn_nanos t0, t_record, t_end;
static struct req slowest;       /* the recorded request that took longest */
static tn_nanos slowest_latency; /* and its latency */
static struct retry *retries_waiting;
static size_t nwaiting, waiting_cap;

static void usage(FILE *out) {
  fprintf(out,
          "usage: gc_load -s HOST:PORT [-s HOST:PORT ...] [options]\n"
          "Send \"REQ <id>\" lines to gc_server instances; retry each SHED "
          "on the next server.\n"
          "\n"
          "  -s, --server HOST:PORT   a server (up to 8); requests go round "
          "robin\n"
          "  -r, --rate N             open loop: N requests a second in all "
          "(default 1000)\n"
          "  -u, --users N            closed loop instead: N users, each "
          "waiting for its reply\n"
          "  -c, --connections N      connections to each server (default 4)\n"
          "  -d, --duration TIME      how long to send (default 10s)\n"
          "  -w, --warmup TIME        do not record the first TIME (default "
          "1s)\n"
          "  -a, --attempts N         sends per request before giving up "
          "(default 32)\n"
          "  -b, --backoff TIME       wait before a round after every server "
          "shed (default 1ms)\n"
          "  -j, --json               print one JSON line instead of a table\n"
          "  -h, --help               show this help\n"
          "  -V, --version            show the version\n"
          "\n"
          "Open-loop latency is corrected for coordinated omission: it runs "
          "from when each\nrequest was due, not from when it was sent.\n");
}

static int parse_server(const char *text, struct server *s) {
  char host[64];
  const char *colon = strrchr(text, ':');
  char *end;
  long port;
  if (colon == NULL || (size_t)(colon - text) >= sizeof host) {
    fprintf(stderr, "gc_load: --server \"%s\": expected HOST:PORT\n", text);
    return -1;
  }
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = '\0';
  memset(s, 0, sizeof *s);
  s->addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host, &s->addr.sin_addr) != 1) {
    fprintf(stderr, "gc_load: --server \"%s\": \"%s\" is not an IPv4 address\n",
            text, host);
    return -1;
  }
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || port < 1 || port > 65535) {
    fprintf(stderr, "gc_load: --server \"%s\": bad port\n", text);
    return -1;
  }
  s->addr.sin_port = htons((uint16_t)port);
  snprintf(s->name, sizeof s->name, "%s", text);
  return 0;
}

static int parse_int(const char *opt, const char *text, long lo, long hi,
                     long *out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi) {
    fprintf(stderr, "gc_load: %s \"%s\": expected a whole number from %ld to "
            "%ld\n", opt, text, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_time(const char *opt, const char *text, tn_nanos *out) {
  tn_parse_error err;
  if (tn_duration_parse(text, out, &err) != 0) {
    fprintf(stderr, "gc_load: %s \"%s\": %s at offset %zu\n", opt, text,
            err.reason, err.pos);
    return -1;
  }
  return 0;
}

static int parse_options(int argc, char **argv) {
  static const struct option longs[] = {
      {"server", required_argument, NULL, 's'},
      {"rate", required_argument, NULL, 'r'},
      {"users", required_argument, NULL, 'u'},
      {"connections", required_argument, NULL, 'c'},
      {"duration", required_argument, NULL, 'd'},
      {"warmup", required_argument, NULL, 'w'},
      {"attempts", required_argument, NULL, 'a'},
      {"backoff", required_argument, NULL, 'b'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  long v;
  int c;
  o.rate = 1000;
  o.conns = 4;
  o.duration = 10 * TN_SEC;
  o.warmup = TN_SEC;
  o.attempts = 32;
  o.backoff = TN_MSEC;
  while ((c = getopt_long(argc, argv, "s:r:u:c:d:w:a:b:jhV", longs, NULL)) !=
         -1) {
    switch (c) {
    case 's':
      if (o.nservers == MAX_SERVERS) {
        fprintf(stderr, "gc_load: at most %d servers\n", MAX_SERVERS);
        return -1;
      }
      if (parse_server(optarg, &o.servers[o.nservers]) != 0)
        return -1;
      o.nservers++;
      break;
    case 'r': {
      char *end;
      errno = 0;
      o.rate = strtod(optarg, &end);
      if (errno || end == optarg || *end || !(o.rate > 0) || o.rate > 1e6) {
        fprintf(stderr, "gc_load: --rate \"%s\": expected a number of "
                "requests a second, above 0 and at most 1000000\n", optarg);
        return -1;
      }
      break;
    }
    case 'u':
      if (parse_int("--users", optarg, 1, 100000, &v) != 0)
        return -1;
      o.users = (int)v;
      break;
    case 'c':
      if (parse_int("--connections", optarg, 1, MAX_CONNS_PER_SERVER, &v))
        return -1;
      o.conns = (int)v;
      break;
    case 'd':
      if (parse_time("--duration", optarg, &o.duration) != 0)
        return -1;
      break;
    case 'w':
      if (parse_time("--warmup", optarg, &o.warmup) != 0)
        return -1;
      break;
    case 'a':
      if (parse_int("--attempts", optarg, 1, 100, &v) != 0)
        return -1;
      o.attempts = (int)v;
      break;
    case 'b':
      if (parse_time("--backoff", optarg, &o.backoff) != 0)
        return -1;
      break;
    case 'j':
      o.json = 1;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    case 'V':
      printf("gc_load (tenure) %s\n", tn_version_string());
      exit(0);
    default:
      usage(stderr);
      return -1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "gc_load: unexpected argument \"%s\"\n", argv[optind]);
    return -1;
  }
  if (o.nservers == 0) {
    fprintf(stderr, "gc_load: give at least one --server HOST:PORT\n");
    return -1;
  }
  if (o.duration <= o.warmup) {
    fprintf(stderr, "gc_load: --duration must be longer than --warmup\n");
    return -1;
  }
  return 0;
}

/* --- connections ---------------------------------------------------------- */

static void conn_lost(struct conn *c) {
  if (c->fd < 0)
    return;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  errors++;
}

static void conn_flush(struct conn *c) {
  while (c->fd >= 0 && c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      c->out_off += (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->writing) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT,
                                 .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->writing = 1;
      }
      return;
    } else {
      conn_lost(c);
      return;
    }
  }
  c->out_len = c->out_off = 0;
  if (c->fd >= 0 && c->writing) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->writing = 0;
  }
}

/* Queue "REQ <id>" on one of the server's connections; 0 or -1 if it has
 * none left. */
static int conn_send(struct server *s, uint64_t id) {
  char line[32];
  int n = snprintf(line, sizeof line, "REQ %llu\n", (unsigned long long)id);
  int i;
  for (i = 0; i < s->nconns; i++) {
    struct conn *c = s->conns[(s->next_conn + i) % s->nconns];
    if (c->fd < 0)
      continue;
    s->next_conn = (s->next_conn + i + 1) % s->nconns;
    if (c->out_len + (size_t)n > c->out_cap) {
      size_t cap = c->out_cap ? 2 * c->out_cap : 4096;
      char *p = realloc(c->out, cap);
      if (p == NULL) {
        fprintf(stderr, "gc_load: out of memory\n");
        exit(1);
      }
      c->out = p;
      c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, line, (size_t)n);
    c->out_len += (size_t)n;
    if (c->out_len - c->out_off > 1024)
      conn_flush(c);
    s->sent++;
    return 0;
  }
  return -1;
}

static int connect_all(void) {
  int i, k;
  for (i = 0; i < o.nservers; i++) {
    struct server *s = &o.servers[i];
    for (k = 0; k < o.conns; k++) {
      struct conn *c = calloc(1, sizeof *c);
      struct epoll_event ev = {.events = EPOLLIN};
      int one = 1;
      if (c == NULL)
        return -1;
      c->server = i;
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c->fd < 0 ||
          connect(c->fd, (struct sockaddr *)&s->addr, sizeof s->addr) != 0) {
        fprintf(stderr, "gc_load: cannot connect to %s: %s\n", s->name,
                strerror(errno));
        return -1;
      }
      setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ev.data.ptr = c;
      epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
      s->conns[s->nconns++] = c;
    }
  }
  return 0;
}

static void flush_all(void) {
  int i, k;
  for (i = 0; i < o.nservers; i++)
    for (k = 0; k < o.servers[i].nconns; k++)
      conn_flush(o.servers[i].conns[k]);
}

/* --- requests ------------------------------------------------------------- */

static struct req *new_req(tn_nanos due, int user, uint64_t *id) {
  if (nreqs == reqs_cap) {
    size_t cap = reqs_cap ? 2 * reqs_cap : 65536;
    struct req *p = realloc(reqs, cap * sizeof *p);
    if (p == NULL) {
      fprintf(stderr, "gc_load: out of memory for %zu requests\n", cap);
      exit(1);
    }
    reqs = p;
    reqs_cap = cap;
  }
  *id = nreqs;
  memset(&reqs[nreqs], 0, sizeof reqs[nreqs]);
  reqs[nreqs].due = due;
  reqs[nreqs].user = user;
  return &reqs[nreqs++];
}

/* Send request id to server `to`, or on to the next ones if it has no
 * connection left. */
static void send_req(uint64_t id, int to) {
  struct req *r = &reqs[id];
  int i;
  for (i = 0; i < o.nservers; i++) {
    int s = (to + i) % o.nservers;
    if (conn_send(&o.servers[s], id) == 0) {
      r->server = (uint8_t)s;
      r->attempts++;
      if (r->state == REQ_UNSENT) {
        r->first = tn_now();
        r->state = REQ_PENDING;
        pending++;
        if (r->due >= t_record)
          tn_histogram_record(send_lag, r->first - r->due);
      }
      return;
    }
  }
  fprintf(stderr, "gc_load: every connection to every server is gone\n");
  exit(1);
}

static void issue(tn_nanos due, int user) {
  uint64_t id;
  new_req(due, user, &id);
  send_req(id, (int)(id % (uint64_t)o.nservers));
}

static void finish(uint64_t id, int state) {
  struct req *r = &reqs[id];
  tn_nanos now = tn_now();
  r->state = (uint8_t)state;
  pending--;
  if (state == REQ_DONE) {
    ok++;
    if (r->due >= t_record) {
      if (now - r->due > slowest_latency) {
        slowest_latency = now - r->due;
        slowest = *r;
      }
      tn_histogram_record(lat, now - r->due);
      tn_histogram_record(lat_uncorrected, now - r->first);
      recorded++;
    }
  } else {
    gave_up++;
  }
  /* closed loop: the user sends its next request at once */
  if (o.users > 0 && now < t_end)
    issue(tn_now(), r->user);
}

static void on_line(struct conn *c, const char *line, size_t len) {
  uint64_t id = 0;
  size_t i, start;
  int is_ok;
  if (len >= 3 && memcmp(line, "OK ", 3) == 0) {
    is_ok = 1;
    start = 3;
  } else if (len >= 5 && memcmp(line, "SHED ", 5) == 0) {
    is_ok = 0;
    start = 5;
  } else {
    malformed++; /* "ERR ...": we sent something the server refused */
    return;
  }
  for (i = start; i < len; i++) {
    if (line[i] < '0' || line[i] > '9') {
      malformed++;
      return;
    }
    id = id * 10 + (uint64_t)(line[i] - '0');
  }
  if (i == start || id >= nreqs || reqs[id].state != REQ_PENDING) {
    malformed++;
    return;
  }
  if (is_ok) {
    o.servers[c->server].ok++;
    finish(id, REQ_DONE);
    return;
  }
  o.servers[c->server].shed++;
  shed_replies++;
  if (reqs[id].attempts >= o.attempts) {
    finish(id, REQ_GAVE_UP);
    return;
  }
  retries++;
  if (reqs[id].attempts % o.nservers != 0) {
    send_req(id, (c->server + 1) % o.nservers);
    return;
  }
  /* every server shed it this round: wait before the next */
  {
    int round = reqs[id].attempts / o.nservers;
    tn_nanos wait = o.backoff << (round > 6 ? 5 : round - 1);
    if (nwaiting == waiting_cap) {
      size_t cap = waiting_cap ? 2 * waiting_cap : 1024;
      struct retry *p = realloc(retries_waiting, cap * sizeof *p);
      if (p == NULL) {
        fprintf(stderr, "gc_load: out of memory\n");
        exit(1);
      }
      retries_waiting = p;
      waiting_cap = cap;
    }
    retries_waiting[nwaiting].at = tn_now() + wait;
    retries_waiting[nwaiting].id = id;
    retries_waiting[nwaiting].to = (c->server + 1) % o.nservers;
    nwaiting++;
  }
}

/* Send the retries whose wait is over; returns the earliest still waiting
 * (TN_NANOS_MAX: none). */
static tn_nanos send_waiting(tn_nanos now) {
  tn_nanos earliest = TN_NANOS_MAX;
  size_t i = 0;
  while (i < nwaiting) {
    if (retries_waiting[i].at <= now) {
      struct retry r = retries_waiting[i];
      retries_waiting[i] = retries_waiting[--nwaiting];
      send_req(r.id, r.to);
    } else {
      if (retries_waiting[i].at < earliest)
        earliest = retries_waiting[i].at;
      i++;
    }
  }
  return earliest;
}

static void on_readable(struct conn *c) {
  for (;;) {
    size_t space = IN_CAP - c->in_len, start = 0, i;
    ssize_t n = recv(c->fd, c->in + c->in_len, space, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      conn_lost(c);
      return;
    }
    for (i = c->in_len; i < c->in_len + (size_t)n; i++) {
      if (c->in[i] == '\n') {
        on_line(c, c->in + start, i - start);
        start = i + 1;
      }
    }
    c->in_len += (size_t)n;
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (c->in_len == IN_CAP) {
      malformed++; /* a line longer than our buffer: not gc_server */
      c->in_len = 0;
    }
    if ((size_t)n < space)
      return;
  }
}

/* --- output --------------------------------------------------------------- */

static void json_hist(const char *name, const tn_histogram *h) {
  uint64_t n = tn_histogram_count(h);
  printf("\"%s\":{\"count\":%llu,\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,"
         "\"p999\":%lld,\"max\":%lld,\"mean\":%lld}",
         name, (unsigned long long)n, (long long)tn_histogram_percentile(h, 50),
         (long long)tn_histogram_percentile(h, 90),
         (long long)tn_histogram_percentile(h, 99),
         (long long)tn_histogram_percentile(h, 99.9),
         (long long)tn_histogram_max(h),
         (long long)(n ? tn_histogram_sum(h) / (tn_nanos)n : 0));
}

static void print_json(tn_nanos ran) {
  int i;
  printf("{\"kind\":\"gc_load\",\"mode\":\"%s\",\"rate\":%.1f,\"users\":%d,"
         "\"servers\":%d,\"connections_per_server\":%d,\"seconds\":%.3f,"
         "\"warmup_seconds\":%.3f,\"attempts\":%d,\"requests\":%zu,"
         "\"ok\":%llu,\"recorded\":%llu,\"shed_replies\":%llu,"
         "\"retries\":%llu,\"gave_up\":%llu,\"lost\":%llu,"
         "\"connection_errors\":%llu,\"malformed\":%llu,",
         o.users ? "closed" : "open", o.users ? 0.0 : o.rate, o.users,
         o.nservers, o.conns, tn_nanos_to_seconds(ran),
         tn_nanos_to_seconds(o.warmup), o.attempts, nreqs,
         (unsigned long long)ok, (unsigned long long)recorded,
         (unsigned long long)shed_replies, (unsigned long long)retries,
         (unsigned long long)gave_up, (unsigned long long)pending,
         (unsigned long long)errors, (unsigned long long)malformed);
  json_hist("latency_ns", lat);
  putchar(',');
  json_hist("latency_uncorrected_ns", lat_uncorrected);
  putchar(',');
  json_hist("send_lag_ns", send_lag);
  /* where the worst one spent its time: shed and retried, or slow where it
   * was first sent, or sent late by this process */
  printf(",\"slowest\":{\"latency_ns\":%lld,\"due_ns\":%lld,"
         "\"send_lag_ns\":%lld,\"attempts\":%d,\"last_server\":%d}",
         (long long)slowest_latency, (long long)(slowest.due - t0),
         (long long)(slowest.first - slowest.due), slowest.attempts,
         slowest.server);
  printf(",\"by_server\":[");
  for (i = 0; i < o.nservers; i++)
    printf("%s{\"server\":\"%s\",\"sent\":%llu,\"ok\":%llu,\"shed\":%llu}",
           i ? "," : "", o.servers[i].name,
           (unsigned long long)o.servers[i].sent,
           (unsigned long long)o.servers[i].ok,
           (unsigned long long)o.servers[i].shed);
  printf("]}\n");
}

static void print_row(const char *name, const tn_histogram *h) {
  printf("%-22s %10.3f %10.3f %10.3f %10.3f %10.3f\n", name,
         tn_nanos_to_millis(tn_histogram_percentile(h, 50)),
         tn_nanos_to_millis(tn_histogram_percentile(h, 99)),
         tn_nanos_to_millis(tn_histogram_percentile(h, 99.9)),
         tn_nanos_to_millis(tn_histogram_percentile(h, 99.99)),
         tn_nanos_to_millis(tn_histogram_max(h)));
}

static void print_table(tn_nanos ran) {
  int i;
  if (o.users)
    printf("gc_load: closed loop, %d users, %.1f s\n", o.users,
           tn_nanos_to_seconds(ran));
  else
    printf("gc_load: open loop at %.0f/s, %.1f s\n", o.rate,
           tn_nanos_to_seconds(ran));
  printf("%zu requests: %llu ok (%llu recorded), %llu shed replies, %llu "
         "retries, %llu gave up, %llu lost, %llu connection errors\n",
         nreqs, (unsigned long long)ok, (unsigned long long)recorded,
         (unsigned long long)shed_replies, (unsigned long long)retries,
         (unsigned long long)gave_up, (unsigned long long)pending,
         (unsigned long long)errors);
  for (i = 0; i < o.nservers; i++)
    printf("  %s: %llu sent, %llu ok, %llu shed\n", o.servers[i].name,
           (unsigned long long)o.servers[i].sent,
           (unsigned long long)o.servers[i].ok,
           (unsigned long long)o.servers[i].shed);
  printf("%-22s %10s %10s %10s %10s %10s\n", "latency (ms)", "p50", "p99",
         "p99.9", "p99.99", "max");
  print_row(o.users ? "from first send" : "from due time", lat);
  if (!o.users)
    print_row("uncorrected", lat_uncorrected);
  print_row("send lag", send_lag);
  printf("slowest: %.3f ms, due at %.3f s, sent %.3f ms late, %d attempt%s\n",
         tn_nanos_to_millis(slowest_latency),
         tn_nanos_to_seconds(slowest.due - t0),
         tn_nanos_to_millis(slowest.first - slowest.due), slowest.attempts,
         slowest.attempts == 1 ? "" : "s");
}

/* --- main ----------------------------------------------------------------- */

static void arm(int tfd, tn_nanos when) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(when / TN_SEC);
  its.it_value.tv_nsec = (long)(when % TN_SEC);
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
    its.it_value.tv_nsec = 1;
  timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int main(int argc, char **argv) {
  struct epoll_event evs[64];
  tn_nanos next_due;
  uint64_t k = 0;
  int tfd, i;
  if (parse_options(argc, argv) != 0)
    return EXIT_USAGE;
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us: the schedule is the point */
  if (tn_histogram_new(&lat) || tn_histogram_new(&lat_uncorrected) ||
      tn_histogram_new(&send_lag)) {
    fprintf(stderr, "gc_load: out of memory\n");
    return 1;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  tfd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epfd < 0 || tfd < 0) {
    perror("gc_load: epoll/timerfd");
    return 1;
  }
  {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_TIMER};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
  }
  if (connect_all() != 0)
    return 1;

  t0 = tn_now();
  t_record = t0 + o.warmup;
  t_end = t0 + o.duration;
  next_due = t0;
  if (o.users) {
    for (i = 0; i < o.users; i++)
      issue(tn_now(), i);
  }

  for (;;) {
    tn_nanos now = tn_now(), wake, retry_at;
    int n;
    retry_at = send_waiting(now);
    if (!o.users) {
      /* Send everything due, even if late: the latency counts from the due
       * time, so lateness here is charged, not hidden. */
      while (next_due <= now && next_due < t_end) {
        issue(next_due, 0);
        k++;
        next_due = t0 + (tn_nanos)((double)k * 1e9 / o.rate);
      }
    }
    flush_all();
    if (now >= t_end && (pending == 0 || now >= t_end + GRACE))
      break;
    /* Until the end: the next due time (or the end itself). After it:
     * replies wake us; the timer only bounds the wait by the grace. */
    wake = now < t_end ? t_end : t_end + GRACE;
    if (!o.users && next_due < wake)
      wake = next_due;
    if (retry_at < wake)
      wake = retry_at;
    arm(tfd, wake);
    n = epoll_wait(epfd, evs, 64, -1);
    for (i = 0; i < n; i++) {
      if (evs[i].data.u64 == TAG_TIMER) {
        uint64_t v;
        ssize_t rd = read(tfd, &v, sizeof v); /* EAGAIN: raced a re-arm */
        (void)rd;
      } else {
        struct conn *c = evs[i].data.ptr;
        if (c->fd < 0)
          continue;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
          on_readable(c);
        if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
          conn_flush(c);
      }
    }
  }

  if (o.json)
    print_json(tn_now() - t0);
  else
    print_table(tn_now() - t0);
  fflush(stdout);
  return errors || pending ? 1 : 0;
}
