/*
 * gc_server's front: the one thread that owns the sockets, asks the gate,
 * and sheds.
 *
 * Why a separate file: this thread must not be registered with the
 * collector. A stop-the-world collection stops every registered thread; an
 * accept loop among them would leave new requests queued in the kernel for
 * the whole pause. gc_server.c is compiled with GC_THREADS, which redirects
 * pthread_create and pthread_join to the collector's versions; this file
 * never defines GC_THREADS and never includes <gc/gc.h>, so the
 * pthread_create and pthread_join below are the C library's. (Joining a
 * thread the collector did not make with GC_pthread_join crashes bdwgc
 * 8.2.) For the same reason everything here is malloc memory.
 *
 * The loop (epoll, level-triggered):
 *   - a request line: tn_gate_enter. Refused (the governor is draining or
 *     collecting): reply "SHED <id>" now. Admitted: note the time and push
 *     the job to the least-loaded worker's ring.
 *   - the workers' eventfd: pop every finished job, tn_gate_exit, keep the
 *     admitted interval [enter, exit], reply "OK <id>".
 * Enter and exit both run here, on one thread, as the gate requires. The
 * governor's drain therefore waits until every admitted request is back
 * from its worker and its exit has run; the collection starts after that
 * and the gate opens after it ends, so an admitted interval and a
 * stop-the-world window can only overlap if the drain timed out.
 *
 * Invariant: a link's outstanding count stays below the ring size, so a
 * worker's `done` ring can never be full when it pushes.
 */
#define _GNU_SOURCE
#ifdef GC_THREADS
#error "acceptor.c must be compiled without GC_THREADS: its thread is not the collector's"
#endif
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define IN_CAP 4096
#define MAX_LINE 256
#define TAG_LISTEN 0
#define TAG_DONE 1
#define TAG_STOP 2
#define TAG_CONN 16
#define MAX_EVENTS 64

struct conn {
  int fd; /* -1: free */
  uint32_t gen;
  int skipping; /* discarding the rest of an over-long line */
  int writing;  /* EPOLLOUT is armed */
  int dirty;    /* in the acceptor's list of output to flush */
  size_t in_len;
  char in[IN_CAP];
  char *out;
  size_t out_len, out_off, out_cap;
};

struct gcs_acceptor {
  struct gcs_acceptor_config cfg;
  pthread_t thread;
  int epfd, stop_fd;
  _Atomic int stopping;
  struct conn *conns; /* MAX_CONNS */
  int dirty[MAX_CONNS]; /* connections with output to flush, once each */
  int ndirty;
  uint32_t next_link;
  _Atomic uint64_t served_pub, shed_pub;
  struct gcs_acceptor_stats st;
  size_t intervals_cap;
};

static void conn_close(struct gcs_acceptor *a, struct conn *c) {
  if (c->fd < 0)
    return;
  epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->gen++; /* replies still in flight for it are dropped */
  c->in_len = c->out_len = c->out_off = 0;
  c->skipping = c->writing = 0; /* `dirty` stays: the slot is in the list */
}

static void reply_line(struct gcs_acceptor *a, struct conn *c,
                       const char *line, size_t n) {
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? 2 * c->out_cap : 4096;
    char *p;
    while (cap < c->out_len + n)
      cap *= 2;
    if (cap > ((size_t)64 << 20) || (p = realloc(c->out, cap)) == NULL) {
      conn_close(a, c); /* a client that never reads: let it go */
      return;
    }
    c->out = p;
    c->out_cap = cap;
  }
  if (!c->dirty) {
    c->dirty = 1;
    a->dirty[a->ndirty++] = (int)(c - a->conns);
  }
  memcpy(c->out + c->out_len, line, n);
  c->out_len += n;
}

static void reply(struct gcs_acceptor *a, struct conn *c, const char *word,
                  uint64_t id) {
  char line[48];
  int n = snprintf(line, sizeof line, "%s %llu\n", word,
                   (unsigned long long)id);
  reply_line(a, c, line, (size_t)n);
}

static void flush(struct gcs_acceptor *a, struct conn *c) {
  while (c->fd >= 0 && c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      c->out_off += (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->writing) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT};
        ev.data.u64 = TAG_CONN + (uint64_t)(c - a->conns);
        epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->writing = 1;
      }
      return;
    } else {
      conn_close(a, c);
      return;
    }
  }
  if (c->fd >= 0 && c->writing) {
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = TAG_CONN + (uint64_t)(c - a->conns);
    epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->writing = 0;
  }
  c->out_len = c->out_off = 0;
}

static void flush_dirty(struct gcs_acceptor *a) {
  int i;
  for (i = 0; i < a->ndirty; i++) {
    a->conns[a->dirty[i]].dirty = 0;
    flush(a, &a->conns[a->dirty[i]]);
  }
  a->ndirty = 0;
}

static void record_interval(struct gcs_acceptor *a, tn_nanos start,
                            tn_nanos end) {
  if (end - start > a->st.admitted_max)
    a->st.admitted_max = end - start;
  if (a->st.nintervals == a->intervals_cap) {
    size_t cap = a->intervals_cap ? 2 * a->intervals_cap : 65536;
    struct gcs_interval *p = realloc(a->st.intervals, cap * sizeof *p);
    if (p == NULL) {
      a->st.unrecorded++; /* reported: the overlap count would be short */
      return;
    }
    a->st.intervals = p;
    a->intervals_cap = cap;
  }
  a->st.intervals[a->st.nintervals].start = start;
  a->st.intervals[a->st.nintervals].end = end;
  a->st.nintervals++;
}

/* Everything the workers have finished: exit the gate, reply. */
static void take_done(struct gcs_acceptor *a) {
  uint64_t v;
  int i;
  while (read(a->cfg.done_fd, &v, sizeof v) < 0 && errno == EINTR)
    ;
  for (i = 0; i < a->cfg.nlinks; i++) {
    struct gcs_link *l = a->cfg.links[i];
    struct gcs_job j;
    while (gcs_ring_pop(&l->done, &j)) {
      tn_nanos end = tn_now();
      struct conn *c = &a->conns[j.conn];
      tn_gate_exit(a->cfg.gate);
      l->outstanding--;
      record_interval(a, j.admitted, end);
      a->st.served++;
      if (c->fd >= 0 && c->gen == j.gen)
        reply(a, c, "OK", j.id);
    }
  }
  atomic_store_explicit(&a->served_pub, a->st.served, memory_order_relaxed);
}

/* The worker with the fewest requests outstanding, or NULL if all full. */
static struct gcs_link *pick_link(struct gcs_acceptor *a) {
  struct gcs_link *best = NULL;
  int i;
  for (i = 0; i < a->cfg.nlinks; i++) {
    struct gcs_link *l = a->cfg.links[(a->next_link + (uint32_t)i) %
                                      (uint32_t)a->cfg.nlinks];
    if (l->outstanding + 1 < GCS_RING_SIZE &&
        (best == NULL || l->outstanding < best->outstanding))
      best = l;
  }
  a->next_link++;
  return best;
}

static void request(struct gcs_acceptor *a, struct conn *c, uint64_t id) {
  struct gcs_job j;
  struct gcs_link *l;
  a->st.requests++;
  if (atomic_load_explicit(&a->stopping, memory_order_relaxed) ||
      !tn_gate_enter(a->cfg.gate)) {
    a->st.shed++;
    atomic_store_explicit(&a->shed_pub, a->st.shed, memory_order_relaxed);
    reply(a, c, "SHED", id);
    return;
  }
  j.admitted = tn_now();
  j.conn = (uint32_t)(c - a->conns);
  j.gen = c->gen;
  j.id = id;
  l = pick_link(a);
  if (l == NULL || gcs_ring_push(&l->jobs, &j) != 0) {
    tn_gate_exit(a->cfg.gate);
    a->st.overflow++;
    reply(a, c, "SHED", id);
    return;
  }
  l->outstanding++;
  a->st.admitted++;
  {
    uint64_t one = 1;
    while (write(l->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
      ;
  }
}

/* "REQ <id>", optionally ending in \r. Returns 0 and sets *id, or -1. */
static int parse_request(const char *line, size_t len, uint64_t *id) {
  uint64_t v = 0;
  size_t i;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (len < 5 || memcmp(line, "REQ ", 4) != 0)
    return -1;
  for (i = 4; i < len; i++) {
    if (line[i] < '0' || line[i] > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(line[i] - '0');
  }
  *id = v;
  return 0;
}

static const char err_malformed[] =
    "ERR malformed request: expected \"REQ <id>\" with a decimal id\n";
static const char err_too_long[] =
    "ERR request line longer than 256 bytes: skipped to its end\n";

static void readable(struct gcs_acceptor *a, struct conn *c) {
  for (;;) {
    size_t space = IN_CAP - c->in_len, start = 0, i;
    ssize_t n = recv(c->fd, c->in + c->in_len, space, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      conn_close(a, c);
      return;
    }
    for (i = c->in_len; i < c->in_len + (size_t)n; i++) {
      uint64_t id;
      if (c->in[i] != '\n')
        continue;
      if (c->skipping) {
        c->skipping = 0;
      } else if (parse_request(c->in + start, i - start, &id) == 0) {
        request(a, c, id);
      } else {
        /* bad input from outside: say what was wrong, keep the connection */
        a->st.malformed++;
        reply_line(a, c, err_malformed, sizeof err_malformed - 1);
      }
      start = i + 1;
    }
    c->in_len += (size_t)n;
    if (c->skipping) {
      c->in_len = 0; /* still inside the over-long line */
    } else {
      memmove(c->in, c->in + start, c->in_len - start);
      c->in_len -= start;
      if (c->in_len > MAX_LINE) {
        a->st.malformed++;
        reply_line(a, c, err_too_long, sizeof err_too_long - 1);
        c->skipping = 1;
        c->in_len = 0;
      }
    }
    if ((size_t)n < space || c->fd < 0)
      return; /* the socket is drained for now */
  }
}

static void accept_all(struct gcs_acceptor *a) {
  for (;;) {
    int fd = accept4(a->cfg.listen_fd, NULL, NULL,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    int i, one = 1;
    struct epoll_event ev = {.events = EPOLLIN};
    if (fd < 0)
      return; /* EAGAIN, or a transient error: epoll tells us again */
    for (i = 0; i < MAX_CONNS && a->conns[i].fd >= 0; i++)
      ;
    if (i == MAX_CONNS) {
      close(fd);
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    a->conns[i].fd = fd;
    a->st.connections++;
    ev.data.u64 = TAG_CONN + (uint64_t)i;
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
      conn_close(a, &a->conns[i]);
  }
}

static uint64_t outstanding(const struct gcs_acceptor *a) {
  uint64_t n = 0;
  int i;
  for (i = 0; i < a->cfg.nlinks; i++)
    n += a->cfg.links[i]->outstanding;
  return n;
}

static void *acceptor_main(void *arg) {
  struct gcs_acceptor *a = arg;
  struct epoll_event evs[MAX_EVENTS];
  pthread_setname_np(pthread_self(), "gcs-acceptor");
  for (;;) {
    int n, i;
    int stopping = atomic_load_explicit(&a->stopping, memory_order_acquire);
    if (stopping && outstanding(a) == 0)
      break;
    n = epoll_wait(a->epfd, evs, MAX_EVENTS, stopping ? 10 : -1);
    for (i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == TAG_LISTEN) {
        accept_all(a);
      } else if (tag == TAG_DONE) {
        take_done(a);
      } else if (tag == TAG_STOP) {
        uint64_t v;
        while (read(a->stop_fd, &v, sizeof v) < 0 && errno == EINTR)
          ;
      } else {
        struct conn *c = &a->conns[tag - TAG_CONN];
        if (c->fd < 0)
          continue;
        if (evs[i].events & (EPOLLERR | EPOLLHUP | EPOLLIN))
          readable(a, c);
        if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
          flush(a, c);
      }
    }
    if (stopping)
      take_done(a);
    flush_dirty(a);
  }
  return NULL;
}

static void acceptor_free(struct gcs_acceptor *a) {
  int i;
  if (a->conns) {
    for (i = 0; i < MAX_CONNS; i++) {
      if (a->conns[i].fd >= 0)
        close(a->conns[i].fd);
      free(a->conns[i].out);
    }
    free(a->conns);
  }
  if (a->epfd >= 0)
    close(a->epfd);
  if (a->stop_fd >= 0)
    close(a->stop_fd);
  if (a->cfg.listen_fd >= 0)
    close(a->cfg.listen_fd);
  free(a->st.intervals);
  free(a);
}

int gcs_acceptor_start(const struct gcs_acceptor_config *cfg,
                       gcs_acceptor **out) {
  struct gcs_acceptor *a = calloc(1, sizeof *a);
  struct epoll_event ev = {.events = EPOLLIN};
  sigset_t all, old;
  int i, rc;
  if (a == NULL)
    return ENOMEM;
  a->cfg = *cfg;
  a->epfd = epoll_create1(EPOLL_CLOEXEC);
  a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  a->conns = calloc(MAX_CONNS, sizeof *a->conns);
  if (a->epfd < 0 || a->stop_fd < 0 || a->conns == NULL) {
    rc = a->conns == NULL ? ENOMEM : errno;
    acceptor_free(a);
    return rc;
  }
  for (i = 0; i < MAX_CONNS; i++)
    a->conns[i].fd = -1;
  ev.data.u64 = TAG_LISTEN;
  rc = epoll_ctl(a->epfd, EPOLL_CTL_ADD, cfg->listen_fd, &ev);
  ev.data.u64 = TAG_DONE;
  if (rc == 0)
    rc = epoll_ctl(a->epfd, EPOLL_CTL_ADD, cfg->done_fd, &ev);
  ev.data.u64 = TAG_STOP;
  if (rc == 0)
    rc = epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->stop_fd, &ev);
  if (rc != 0) {
    rc = errno;
    acceptor_free(a);
    return rc;
  }
  /* The process's signals are main's business. */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  rc = pthread_create(&a->thread, NULL, acceptor_main, a); /* the real one */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    acceptor_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

void gcs_acceptor_stop(gcs_acceptor *a, struct gcs_acceptor_stats *stats) {
  uint64_t one = 1;
  atomic_store_explicit(&a->stopping, 1, memory_order_release);
  while (write(a->stop_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
  pthread_join(a->thread, NULL); /* the real one: see the top */
  *stats = a->st;
  a->st.intervals = NULL; /* the caller's now */
  acceptor_free(a);
}

void gcs_acceptor_peek(const gcs_acceptor *a, uint64_t *served,
                       uint64_t *shed) {
  *served = atomic_load_explicit(&a->served_pub, memory_order_relaxed);
  *shed = atomic_load_explicit(&a->shed_pub, memory_order_relaxed);
}
