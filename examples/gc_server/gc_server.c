/*
 * gc_server: a request server that allocates from the garbage-collected
 * heap and never makes an admitted request wait on a collection.
 *
 * Each request replaces one chunk of a table of linked GC objects with a
 * freshly allocated chunk, so the live heap stays at --live-mb and every
 * request leaves --garbage-kb of garbage behind. Without help, the
 * collector stops the world whenever enough garbage has piled up, in the
 * middle of whatever requests are running: on a 200 MB heap that is tens
 * of milliseconds added to each of them.
 *
 * The wiring (docs/runtime.md walks through it):
 *   - a request gate (tn_gate) that the front consults for every request;
 *   - the collector governor (tn_gcgov, started by tn_runtime with
 *     gc_governor = 1 and the gate): it turns automatic collection off,
 *     predicts from the allocation rate when a collection is due, closes
 *     the gate, waits until nothing admitted is in flight, collects, and
 *     reopens;
 *   - the front (acceptor.c): one thread that the collector does not know,
 *     so a collection never stops it; while the gate is closed it answers
 *     "SHED <id>" in microseconds and the client retries elsewhere;
 *   - workers: threads made with GC_pthread_create (this file is compiled
 *     with GC_THREADS), the only ones that touch GC memory;
 *   - optionally (--peer-lock) a subscriber that answers the governor's
 *     announcements with "defer" while another instance is collecting, so
 *     replicas take turns and a shed request always finds one open.
 *
 * Evidence: the collector's own stop-the-world events are recorded here by
 * a collection-event hook installed before the pause monitor's (which
 * calls it in turn): every window, however short, with exact boot-time
 * bounds. The front records every admitted request's interval from gate
 * enter to gate exit. On SIGTERM/SIGINT the server counts the admitted
 * requests whose interval overlaps a window and prints one JSON line.
 *
 * The hook runs with the collector's lock held and the world stopped: it
 * only reads the clock and stores into static arrays.
 *
 *   gc_server [--listen ADDR:PORT] [--live-mb N] [--garbage-kb N]
 *             [--no-governor] [--collect-at-mb N] [--peer-lock FILE] ...
 *             (--help)
 */
#define _GNU_SOURCE
#define GC_THREADS /* pthread_create below makes threads the collector knows */
#include <gc/gc.h>

#include "server.h"

#include <tenure/error.h>
#include <tenure/histogram.h>
#include <tenure/runtime.h>
#include <tenure/version.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <libgen.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define MIB ((uint64_t)1 << 20)
#define MAX_WORKERS 64
#define MAX_WINDOWS 65536
#define MAX_NOTICES 65536

/* --- options -------------------------------------------------------------- */

struct options {
  struct sockaddr_in addr;
  int workers;
  uint64_t live_bytes;
  uint64_t garbage_bytes;  /* per request */
  size_t object_bytes;     /* asked of GC_MALLOC */
  int governor;
  uint64_t collect_at_bytes;
  tn_nanos drain_timeout;  /* 0: the governor's default */
  const char *events_path;
  const char *socket_path;
  const char *peer_lock;   /* collect only while holding flock on it */
  int no_socket;
  int verbose;
};

static void usage(FILE *out) {
  fprintf(out,
          "usage: gc_server [options]\n"
          "A request server on the garbage-collected heap that drains before "
          "collecting.\n"
          "Protocol, one line each way: \"REQ <id>\" -> \"OK <id>\" or "
          "\"SHED <id>\" (retry elsewhere).\n"
          "\n"
          "  -l, --listen ADDR:PORT   listen here (default 127.0.0.1:7070; "
          "port 0: any)\n"
          "  -w, --workers N          GC-registered worker threads (default 2)\n"
          "  -m, --live-mb N          live heap to keep, MiB (default 200)\n"
          "  -g, --garbage-kb N       garbage each request leaves, KiB "
          "(default 32)\n"
          "  -o, --object-bytes N     size of each GC object (default 64)\n"
          "  -n, --no-governor        leave collection to the collector "
          "(automatic)\n"
          "  -c, --collect-at-mb N    governor: collect after N MiB allocated "
          "(default 64)\n"
          "  -d, --drain-timeout TIME governor: longest drain (default 100ms)\n"
          "  -p, --peer-lock FILE     governor: defer a collection while "
          "another server\n"
          "                           holding FILE collects (flock; at most "
          "500ms)\n"
          "  -e, --events FILE        append pause and collection events "
          "(JSON lines)\n"
          "      --socket PATH        control socket path, in a directory "
          "that exists\n"
          "                           (default $TENURE_RUN_DIR/<pid>.sock)\n"
          "      --no-socket          no control socket\n"
          "  -v, --verbose            print each collection and a line a "
          "second\n"
          "  -h, --help               show this help\n"
          "  -V, --version            show the version\n"
          "\n"
          "Prints \"gc_server listening on ADDR:PORT\" when ready and, on "
          "SIGTERM or SIGINT,\n"
          "one JSON line of figures (docs/runtime.md).\n");
}

static int parse_u64(const char *opt, const char *text, uint64_t lo,
                     uint64_t hi, uint64_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(text, &end, 10);
  if (errno || end == text || *end != '\0' || text[0] == '-' || v < lo ||
      v > hi) {
    fprintf(stderr,
            "gc_server: %s \"%s\": expected a whole number from %llu to "
            "%llu\n",
            opt, text, (unsigned long long)lo, (unsigned long long)hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_listen(const char *text, struct sockaddr_in *out) {
  char host[64];
  const char *colon = strrchr(text, ':');
  uint64_t port;
  if (colon == NULL || (size_t)(colon - text) >= sizeof host) {
    fprintf(stderr, "gc_server: --listen \"%s\": expected ADDR:PORT\n", text);
    return -1;
  }
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = '\0';
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
    fprintf(stderr,
            "gc_server: --listen \"%s\": \"%s\" is not an IPv4 address\n",
            text, host);
    return -1;
  }
  if (parse_u64("--listen port", colon + 1, 0, 65535, &port) != 0)
    return -1;
  out->sin_port = htons((uint16_t)port);
  return 0;
}

static int parse_options(int argc, char **argv, struct options *o) {
  static const struct option longs[] = {
      {"listen", required_argument, NULL, 'l'},
      {"workers", required_argument, NULL, 'w'},
      {"live-mb", required_argument, NULL, 'm'},
      {"garbage-kb", required_argument, NULL, 'g'},
      {"object-bytes", required_argument, NULL, 'o'},
      {"no-governor", no_argument, NULL, 'n'},
      {"collect-at-mb", required_argument, NULL, 'c'},
      {"drain-timeout", required_argument, NULL, 'd'},
      {"peer-lock", required_argument, NULL, 'p'},
      {"events", required_argument, NULL, 'e'},
      {"socket", required_argument, NULL, 'S'},
      {"no-socket", no_argument, NULL, 'N'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  uint64_t v;
  int c;
  memset(o, 0, sizeof *o);
  parse_listen("127.0.0.1:7070", &o->addr);
  o->workers = 2;
  o->live_bytes = 200 * MIB;
  o->garbage_bytes = 32 * 1024;
  o->object_bytes = 64;
  o->governor = 1;
  o->collect_at_bytes = 64 * MIB;
  while ((c = getopt_long(argc, argv, "l:w:m:g:o:nc:d:p:e:vhV", longs, NULL)) !=
         -1) {
    switch (c) {
    case 'l':
      if (parse_listen(optarg, &o->addr) != 0)
        return -1;
      break;
    case 'w':
      if (parse_u64("--workers", optarg, 1, MAX_WORKERS, &v) != 0)
        return -1;
      o->workers = (int)v;
      break;
    case 'm':
      if (parse_u64("--live-mb", optarg, 1, 1 << 20, &v) != 0)
        return -1;
      o->live_bytes = v * MIB;
      break;
    case 'g':
      if (parse_u64("--garbage-kb", optarg, 1, 1 << 20, &v) != 0)
        return -1;
      o->garbage_bytes = v * 1024;
      break;
    case 'o':
      if (parse_u64("--object-bytes", optarg, 16, 4096, &v) != 0)
        return -1;
      o->object_bytes = (size_t)v;
      break;
    case 'n':
      o->governor = 0;
      break;
    case 'c':
      if (parse_u64("--collect-at-mb", optarg, 1, 1 << 20, &v) != 0)
        return -1;
      o->collect_at_bytes = v * MIB;
      break;
    case 'd': {
      tn_parse_error err = {0, NULL};
      if (tn_duration_parse(optarg, &o->drain_timeout, &err) != 0 ||
          o->drain_timeout <= 0) {
        fprintf(stderr, "gc_server: --drain-timeout \"%s\": %s\n", optarg,
                o->drain_timeout <= 0 && err.reason == NULL
                    ? "must be positive"
                    : err.reason);
        return -1;
      }
      break;
    }
    case 'p':
      o->peer_lock = optarg;
      break;
    case 'e':
      o->events_path = optarg;
      break;
    case 'S':
      o->socket_path = optarg;
      break;
    case 'N':
      o->no_socket = 1;
      break;
    case 'v':
      o->verbose = 1;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    case 'V':
      printf("gc_server (tenure) %s\n", tn_version_string());
      exit(0);
    default:
      usage(stderr);
      return -1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "gc_server: unexpected argument \"%s\"\n", argv[optind]);
    return -1;
  }
  if (o->garbage_bytes > o->live_bytes) {
    fprintf(stderr, "gc_server: --garbage-kb must not exceed --live-mb\n");
    return -1;
  }
  return 0;
}

/*
 * --socket PATH is where the control socket will be bound: refuse at once,
 * naming the path, what cannot work, rather than find out after the heap is
 * built. Returns 0, EXIT_USAGE for a path that is not one (empty, too long,
 * given with --no-socket), or 1 for one that cannot be bound here.
 */
static int check_socket_option(const struct options *o) {
  size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
  char copy[PATH_MAX];
  const char *dir;
  struct stat st;
  if (o->socket_path == NULL)
    return 0;
  if (o->no_socket) {
    fprintf(stderr, "gc_server: --socket and --no-socket contradict each "
                    "other\n");
    return EXIT_USAGE;
  }
  if (o->socket_path[0] == '\0') {
    fprintf(stderr, "gc_server: --socket: the path is empty\n");
    return EXIT_USAGE;
  }
  if (strlen(o->socket_path) > max) {
    fprintf(stderr, "gc_server: --socket \"%s\": longer than the %zu bytes "
                    "a Unix socket path may have\n",
            o->socket_path, max);
    return EXIT_USAGE;
  }
  snprintf(copy, sizeof copy, "%s", o->socket_path);
  dir = dirname(copy);
  if (stat(dir, &st) != 0) {
    fprintf(stderr, "gc_server: --socket \"%s\": directory \"%s\": %s\n",
            o->socket_path, dir, strerror(errno));
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "gc_server: --socket \"%s\": \"%s\" is not a "
                    "directory\n",
            o->socket_path, dir);
    return 1;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    fprintf(stderr, "gc_server: --socket \"%s\": cannot create it in \"%s\": "
                    "%s\n",
            o->socket_path, dir, strerror(errno));
    return 1;
  }
  if (lstat(o->socket_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "gc_server: --socket \"%s\": exists and is not a "
                    "socket\n",
            o->socket_path);
    return 1;
  }
  return 0;
}

/* --- the collector's stop-the-world windows, exact ------------------------ */

static _Atomic tn_nanos window_start[MAX_WINDOWS], window_end[MAX_WINDOWS];
static _Atomic uint64_t windows_done; /* completed, kept or not */
static _Atomic tn_nanos window_open;

/* World stopped, collector's lock held: clock reads and atomic stores only. */
static void GC_CALLBACK on_collection_event(GC_EventType type) {
  tn_nanos now = tn_now();
  if (type == GC_EVENT_PRE_STOP_WORLD) {
    atomic_store_explicit(&window_open, now, memory_order_relaxed);
  } else if (type == GC_EVENT_POST_START_WORLD) {
    uint64_t n = atomic_load_explicit(&windows_done, memory_order_relaxed);
    if (n < MAX_WINDOWS) {
      atomic_store_explicit(&window_start[n],
                            atomic_load_explicit(&window_open,
                                                 memory_order_relaxed),
                            memory_order_relaxed);
      atomic_store_explicit(&window_end[n], now, memory_order_relaxed);
    }
    atomic_store_explicit(&windows_done, n + 1, memory_order_release);
  }
}

/* The governor's collections, from its TN_GC_DONE notices: the whole
 * GC_gcollect call, which contains its stop-the-world window. */
struct notice {
  tn_nanos start, end;
  int planned, drain_timed_out, cancelled;
  uint64_t id;
  tn_nanos pause, drain;
};
static struct notice notices[MAX_NOTICES];
static _Atomic uint64_t notices_done;

/*
 * Servers that share a --peer-lock file take turns: a collection starts
 * only while its server holds an exclusive flock on the file, so two
 * replicas behind one client are not both shedding at once and a shed
 * request always finds the other one open. This is what the governor's
 * "defer" answer is for (Blade's handler model). Taken and released on the
 * governor's thread only; LOCK_NB, so the callback never blocks.
 */
static int peer_lock_fd = -1;
static int peer_lock_held;
static _Atomic uint64_t peer_forced; /* went ahead without the lock */

/* On the governor's thread; must not block. */
static tn_gc_answer on_plan(const tn_gc_plan *p, tn_nanos *defer, void *arg) {
  (void)arg;
  if (p->kind == TN_GC_ANNOUNCE) {
    if (peer_lock_fd < 0 || peer_lock_held)
      return TN_GC_NOW;
    if (flock(peer_lock_fd, LOCK_EX | LOCK_NB) == 0) {
      peer_lock_held = 1;
      return TN_GC_NOW;
    }
    if (p->defer_left == 0) { /* max_defer used up: it goes ahead anyway */
      atomic_fetch_add_explicit(&peer_forced, 1, memory_order_relaxed);
      return TN_GC_NOW;
    }
    *defer = TN_MSEC; /* ask again at the governor's next sample */
    return TN_GC_DEFER;
  }
  /* TN_GC_DONE */
  if (peer_lock_held) {
    flock(peer_lock_fd, LOCK_UN);
    peer_lock_held = 0;
  }
  {
    uint64_t n = atomic_load_explicit(&notices_done, memory_order_relaxed);
    if (n < MAX_NOTICES) {
      struct notice *r = &notices[n];
      r->start = p->start;
      r->end = p->start + p->duration;
      r->planned = p->planned;
      r->drain_timed_out = p->drain_timed_out;
      r->cancelled = p->cancelled;
      r->id = p->id;
      r->pause = p->pause;
      r->drain = p->drain;
      atomic_store_explicit(&notices_done, n + 1, memory_order_release);
    }
  }
  return TN_GC_NOW;
}

/* --- the heap ------------------------------------------------------------- */

struct node {
  struct node *next;
  uint64_t value;
  /* the rest of the object, up to --object-bytes, is zeroed payload */
};

/* In static storage: a root the collector scans. */
static struct {
  _Atomic(struct node *) *table; /* GC memory */
  size_t slots;
  size_t chunk_objects;
  size_t object_bytes;
  size_t object_real; /* what the collector really takes per object */
} heap;

static uint64_t mix(uint64_t x) { /* splitmix64 */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static struct node *new_chunk(uint64_t seed) {
  struct node *head = NULL;
  size_t i;
  for (i = 0; i < heap.chunk_objects; i++) {
    struct node *n = GC_MALLOC(heap.object_bytes);
    if (n == NULL) {
      fprintf(stderr, "gc_server: the collected heap is out of memory\n");
      abort();
    }
    n->next = head;
    n->value = seed + i;
    head = n;
  }
  return head;
}

static int heap_build(const struct options *o) {
  void *probe = GC_MALLOC(o->object_bytes);
  size_t chunk_bytes, i;
  if (probe == NULL)
    return -1;
  heap.object_bytes = o->object_bytes;
  heap.object_real = GC_size(probe);
  heap.chunk_objects = (size_t)(o->garbage_bytes / heap.object_real);
  if (heap.chunk_objects == 0)
    heap.chunk_objects = 1;
  chunk_bytes = heap.chunk_objects * heap.object_real;
  heap.slots = (size_t)(o->live_bytes / chunk_bytes);
  if (heap.slots == 0)
    heap.slots = 1;
  heap.table = GC_MALLOC(heap.slots * sizeof *heap.table);
  if (heap.table == NULL)
    return -1;
  for (i = 0; i < heap.slots; i++)
    atomic_store_explicit(&heap.table[i], new_chunk(i), memory_order_relaxed);
  return 0;
}

static volatile uint64_t sink;

/* One request's work: replace a random chunk, read the one it replaced. */
static void serve(uint64_t id) {
  size_t slot = (size_t)(mix(id) % heap.slots);
  struct node *fresh = new_chunk(id), *old;
  uint64_t sum = 0;
  old = atomic_exchange_explicit(&heap.table[slot], fresh,
                                 memory_order_acq_rel);
  for (; old; old = old->next)
    sum += old->value;
  sink = sum;
}

/* --- workers -------------------------------------------------------------- */

struct worker {
  pthread_t thread;
  struct gcs_link *link;
  int done_fd;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct gcs_link *l = w->link;
  pthread_setname_np(pthread_self(), "gcs-worker");
  for (;;) {
    struct gcs_job j;
    uint64_t v;
    while (gcs_ring_pop(&l->jobs, &j)) {
      uint64_t one = 1;
      serve(j.id);
      gcs_ring_push(&l->done, &j); /* never full: see gcs_link */
      while (write(w->done_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    }
    if (atomic_load_explicit(&l->stop, memory_order_acquire) &&
        atomic_load_explicit(&l->jobs.tail, memory_order_acquire) ==
            atomic_load_explicit(&l->jobs.head, memory_order_relaxed))
      return NULL;
    /* Registered threads get EINTR at every collection: sleep again. */
    while (read(l->wake_fd, &v, sizeof v) < 0 && errno == EINTR)
      ;
  }
}

/* --- the report ----------------------------------------------------------- */

struct window {
  tn_nanos start, end;
  int planned;
};

static int cmp_window(const void *a, const void *b) {
  const struct window *x = a, *y = b;
  return (x->start > y->start) - (x->start < y->start);
}

/* The window with the largest start <= t, or -1. */
static long window_before(const struct window *w, size_t n, tn_nanos t) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (w[mid].start <= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (long)lo - 1;
}

struct report {
  uint64_t windows, windows_planned, windows_lost;
  tn_nanos window_max, window_max_planned, window_max_unplanned;
  uint64_t overlaps, overlaps_planned, overlaps_unplanned;
  tn_nanos p50, p99, p999, max; /* admitted intervals */
};

/* Windows from first_window on; planned = inside a planned collection's
 * GC_gcollect call. Then every admitted interval against them. */
static void build_report(const struct gcs_acceptor_stats *as,
                         uint64_t first_window, struct report *r) {
  uint64_t done = atomic_load_explicit(&windows_done, memory_order_acquire);
  uint64_t nn = atomic_load_explicit(&notices_done, memory_order_acquire);
  uint64_t kept = done < MAX_WINDOWS ? done : MAX_WINDOWS, i, k;
  size_t n = 0;
  struct window *w = malloc((kept > first_window ? kept - first_window : 1) *
                            sizeof *w);
  tn_histogram *h = NULL;
  memset(r, 0, sizeof *r);
  r->windows_lost = done - kept;
  for (i = first_window; w && i < kept; i++) {
    w[n].start = atomic_load_explicit(&window_start[i], memory_order_relaxed);
    w[n].end = atomic_load_explicit(&window_end[i], memory_order_relaxed);
    w[n].planned = 0;
    for (k = 0; k < nn; k++)
      if (notices[k].planned && !notices[k].cancelled &&
          notices[k].start <= w[n].start && w[n].end <= notices[k].end)
        w[n].planned = 1;
    if (w[n].end - w[n].start > r->window_max)
      r->window_max = w[n].end - w[n].start;
    if (w[n].planned && w[n].end - w[n].start > r->window_max_planned)
      r->window_max_planned = w[n].end - w[n].start;
    if (!w[n].planned && w[n].end - w[n].start > r->window_max_unplanned)
      r->window_max_unplanned = w[n].end - w[n].start;
    r->windows_planned += (uint64_t)w[n].planned;
    n++;
  }
  r->windows = n;
  if (w)
    qsort(w, n, sizeof *w, cmp_window);
  if (tn_histogram_new(&h) != 0)
    h = NULL;
  for (i = 0; i < as->nintervals; i++) {
    const struct gcs_interval *iv = &as->intervals[i];
    long j = w ? window_before(w, n, iv->end) : -1;
    if (h)
      tn_histogram_record(h, iv->end - iv->start);
    /* windows never overlap each other, so only the last one starting
     * before the interval ends can reach into it */
    if (j >= 0 && w[j].end > iv->start) {
      r->overlaps++;
      if (w[j].planned)
        r->overlaps_planned++;
      else
        r->overlaps_unplanned++;
    }
  }
  if (h) {
    r->p50 = tn_histogram_percentile(h, 50);
    r->p99 = tn_histogram_percentile(h, 99);
    r->p999 = tn_histogram_percentile(h, 99.9);
    r->max = tn_histogram_max(h);
    tn_histogram_free(h);
  }
  free(w);
}

static void print_notices(uint64_t *printed) {
  uint64_t n = atomic_load_explicit(&notices_done, memory_order_acquire);
  for (; *printed < n; (*printed)++) {
    const struct notice *p = &notices[*printed];
    printf("gc_server: collection %llu %s: pause %.2f ms, drain %.3f ms%s%s\n",
           (unsigned long long)p->id, p->planned ? "planned" : "UNPLANNED",
           tn_nanos_to_millis(p->pause), tn_nanos_to_millis(p->drain),
           p->drain_timed_out ? ", DRAIN TIMED OUT" : "",
           p->cancelled ? ", cancelled" : "");
  }
  fflush(stdout);
}

/* --- main ----------------------------------------------------------------- */

static int listen_on(struct sockaddr_in *addr) {
  socklen_t len = sizeof *addr;
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 ||
      listen(fd, 512) != 0 ||
      getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) { stop_requested = sig; }

int main(int argc, char **argv) {
  struct options o;
  tn_runtime_config rc_cfg;
  tn_runtime *rt = NULL;
  tn_gate *gate = NULL;
  tn_gcgov *gov;
  struct gcs_acceptor_config ac;
  struct gcs_acceptor_stats as;
  struct gcs_link *links[MAX_WORKERS];
  struct worker workers[MAX_WORKERS];
  gcs_acceptor *acceptor;
  tn_pausemon_stats ps;
  tn_gcgov_stats gs;
  struct report r;
  sigset_t stop_set;
  char addr_text[INET_ADDRSTRLEN];
  uint64_t first_window, printed = 0, last_served = 0;
  tn_nanos started, build;
  int rc, i, listen_fd, done_fd;

  if (parse_options(argc, argv, &o) != 0)
    return EXIT_USAGE;
  if ((rc = check_socket_option(&o)) != 0)
    return rc;

  GC_INIT();
  /* Before the pause monitor installs its hook: it keeps ours and calls it
   * after its own, so both see every window. */
  GC_set_on_collection_event(on_collection_event);

  /* Signals are taken by sigtimedwait below; every thread made from here
   * on inherits the mask. */
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGTERM);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* The collector's suspend handler unblocks SIGTERM and SIGINT while it
   * holds a thread stopped, so one can be delivered there instead of to
   * sigtimedwait. A real handler makes that a request to stop, not the
   * default death mid-collection. */
  {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigfillset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
  }

  build = tn_now();
  if (heap_build(&o) != 0) {
    fprintf(stderr, "gc_server: cannot build a %llu MiB heap\n",
            (unsigned long long)(o.live_bytes / MIB));
    return 1;
  }
  GC_gcollect(); /* start serving from a heap with no garbage */
  build = tn_now() - build;

  rc = tn_gate_new(&gate);
  if (rc == 0) {
    memset(&rc_cfg, 0, sizeof rc_cfg);
    rc_cfg.pausemon.events_path = o.events_path;
    rc_cfg.no_control_socket = o.no_socket;
    rc_cfg.socket_path = o.socket_path;
    rc_cfg.gate = gate;
    rc_cfg.gc_governor = o.governor;
    rc_cfg.gcgov.collect_at_bytes = o.collect_at_bytes;
    rc_cfg.gcgov.drain_timeout = o.drain_timeout;
    rc = tn_runtime_start(&rc_cfg, &rt);
  }
  if (rc != 0) {
    fprintf(stderr, "gc_server: cannot start the runtime: %s\n",
            tn_strerror(rc));
    return 1;
  }
  gov = tn_runtime_gcgov(rt);
  if (gov && o.peer_lock) {
    peer_lock_fd = open(o.peer_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (peer_lock_fd < 0) {
      fprintf(stderr, "gc_server: --peer-lock %s: %s\n", o.peer_lock,
              strerror(errno));
      return 1;
    }
  }
  if (gov && (rc = tn_gcgov_subscribe(gov, on_plan, NULL)) != 0) {
    fprintf(stderr, "gc_server: cannot subscribe to the governor: %s\n",
            tn_strerror(rc));
    return 1;
  }

  listen_fd = listen_on(&o.addr);
  done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (listen_fd < 0 || done_fd < 0) {
    inet_ntop(AF_INET, &o.addr.sin_addr, addr_text, sizeof addr_text);
    fprintf(stderr, "gc_server: cannot listen on %s:%u: %s\n", addr_text,
            ntohs(o.addr.sin_port), strerror(errno));
    return 1;
  }
  for (i = 0; i < o.workers; i++) {
    links[i] = aligned_alloc(GCS_CACHE_LINE,
                             (sizeof *links[i] + GCS_CACHE_LINE - 1) /
                                 GCS_CACHE_LINE * GCS_CACHE_LINE);
    if (links[i] == NULL) {
      fprintf(stderr, "gc_server: out of memory\n");
      return 1;
    }
    memset(links[i], 0, sizeof *links[i]);
    links[i]->wake_fd = eventfd(0, EFD_CLOEXEC);
    workers[i].link = links[i];
    workers[i].done_fd = done_fd;
    rc = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    if (links[i]->wake_fd < 0 || rc != 0) {
      fprintf(stderr, "gc_server: cannot start worker %d: %s\n", i,
              strerror(rc ? rc : errno));
      return 1;
    }
  }

  first_window = atomic_load_explicit(&windows_done, memory_order_acquire);
  started = tn_now();
  memset(&ac, 0, sizeof ac);
  ac.listen_fd = listen_fd;
  ac.gate = gate;
  ac.links = links;
  ac.nlinks = o.workers;
  ac.done_fd = done_fd;
  rc = gcs_acceptor_start(&ac, &acceptor);
  if (rc != 0) {
    fprintf(stderr, "gc_server: cannot start the acceptor: %s\n",
            strerror(rc));
    return 1;
  }
  inet_ntop(AF_INET, &o.addr.sin_addr, addr_text, sizeof addr_text);
  printf("gc_server listening on %s:%u (pid %ld, %s, live heap %llu MiB "
         "built in %.2f s, %zu objects of %zu bytes per request)\n",
         addr_text, ntohs(o.addr.sin_port), (long)getpid(),
         o.governor ? "governor draining" : "automatic collection",
         (unsigned long long)(o.live_bytes / MIB), tn_nanos_to_seconds(build),
         heap.chunk_objects, heap.object_real);
  fflush(stdout);

  for (tn_nanos next_line = tn_now() + TN_SEC;;) {
    struct timespec one_second = {1, 0};
    /* EINTR at every collection: this thread is registered */
    int sig = sigtimedwait(&stop_set, NULL, &one_second);
    if (sig > 0 || stop_requested)
      break;
    if (o.verbose)
      print_notices(&printed);
    if (o.verbose && tn_now() >= next_line) {
      uint64_t served, shed;
      next_line += TN_SEC;
      gcs_acceptor_peek(acceptor, &served, &shed);
      printf("gc_server: %llu served (+%llu), %llu shed\n",
             (unsigned long long)served,
             (unsigned long long)(served - last_served),
             (unsigned long long)shed);
      fflush(stdout);
      last_served = served;
    }
  }

  /* Front first: it waits for its admitted requests, so workers still run. */
  gcs_acceptor_stop(acceptor, &as);
  for (i = 0; i < o.workers; i++) {
    uint64_t one = 1;
    atomic_store_explicit(&links[i]->stop, 1, memory_order_release);
    while (write(links[i]->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
      ;
    pthread_join(workers[i].thread, NULL); /* GC_pthread_join: its thread */
  }
  memset(&gs, 0, sizeof gs);
  if (gov)
    tn_gcgov_stats_get(gov, &gs);
  tn_pausemon_stats_get(tn_runtime_pausemon(rt), &ps);
  tn_runtime_stop(rt);
  tn_gate_free(gate);
  if (o.verbose)
    print_notices(&printed);

  build_report(&as, first_window, &r);
  printf("{\"kind\":\"gc_server\",\"governor\":%s,\"seconds\":%.3f,"
         "\"live_bytes\":%llu,\"garbage_bytes_per_request\":%llu,"
         "\"requests\":%llu,\"admitted\":%llu,\"served\":%llu,\"shed\":%llu,"
         "\"overflow\":%llu,\"malformed\":%llu,\"connections\":%llu,"
         "\"overlaps\":%llu,\"overlaps_planned\":%llu,"
         "\"overlaps_unplanned\":%llu,\"intervals_unrecorded\":%llu,"
         "\"admitted_ns\":{\"p50\":%lld,\"p99\":%lld,\"p999\":%lld,"
         "\"max\":%lld},"
         "\"windows\":%llu,\"windows_planned\":%llu,\"windows_lost\":%llu,"
         "\"window_max_ns\":%lld,\"window_max_planned_ns\":%lld,"
         "\"window_max_unplanned_ns\":%lld,"
         "\"collections_planned\":%llu,\"collections_unplanned\":%llu,"
         "\"monitor_windows_planned\":%llu,"
         "\"monitor_windows_unplanned\":%llu,"
         "\"backstop\":%llu,\"foreign\":%llu,\"drains\":%llu,"
         "\"drain_timeouts\":%llu,\"deferred\":%llu,"
         "\"deferred_ns\":%lld,\"peer_lock_forced\":%llu}\n",
         o.governor ? "true" : "false",
         tn_nanos_to_seconds(tn_now() - started),
         (unsigned long long)o.live_bytes,
         (unsigned long long)(heap.chunk_objects * heap.object_real),
         (unsigned long long)as.requests, (unsigned long long)as.admitted,
         (unsigned long long)as.served, (unsigned long long)as.shed,
         (unsigned long long)as.overflow, (unsigned long long)as.malformed,
         (unsigned long long)as.connections, (unsigned long long)r.overlaps,
         (unsigned long long)r.overlaps_planned,
         (unsigned long long)r.overlaps_unplanned,
         (unsigned long long)as.unrecorded, (long long)r.p50,
         (long long)r.p99, (long long)r.p999, (long long)r.max,
         (unsigned long long)r.windows,
         (unsigned long long)r.windows_planned,
         (unsigned long long)r.windows_lost, (long long)r.window_max,
         (long long)r.window_max_planned, (long long)r.window_max_unplanned,
         (unsigned long long)(gov ? gs.planned : 0),
         (unsigned long long)(gov ? gs.unplanned
                                  : ps.gc[TN_GC_UNPLANNED].count),
         (unsigned long long)ps.gc[TN_GC_PLANNED].count,
         (unsigned long long)ps.gc[TN_GC_UNPLANNED].count,
         (unsigned long long)gs.backstop, (unsigned long long)gs.foreign,
         (unsigned long long)gs.drains, (unsigned long long)gs.drain_timeouts,
         (unsigned long long)gs.deferred, (long long)gs.deferred_total,
         (unsigned long long)atomic_load(&peer_forced));
  fflush(stdout);
  free(as.intervals);
  for (i = 0; i < o.workers; i++) {
    close(links[i]->wake_fd);
    free(links[i]);
  }
  close(done_fd);
  if (peer_lock_fd >= 0)
    close(peer_lock_fd);
  return 0;
}
