/*
 * The control socket: run directory, server thread and client (ctl.h).
 *
 * The server is one thread running one poll() loop over a wake-up eventfd,
 * the listening socket and at most max_clients connections, every socket
 * non-blocking. It is made with the real pthread_create and touches no GC
 * memory, so it keeps answering while the collector has stopped the world:
 * "why is this process stalled" is the question it is there to answer.
 *
 * Invariants:
 *  - A client costs bounded memory: TN_CTL_MAX_LINE bytes of input and at
 *    most one reply. Its next line is not served, nor more input read, until
 *    its previous reply has gone to the kernel, so a peer that never reads
 *    stalls only itself; one that neither sends nor takes a byte for
 *    client_idle is dropped.
 *  - No peer holds a slot by going slowly. A line must be complete within
 *    TN_CTL_REQUEST_DEADLINE (2 s) of its first byte, however the bytes
 *    trickle in (the clock restarts after a reply of that client has gone
 *    out, since nothing is read meanwhile); past it the client gets "error
 *    request timed out" and is dropped. The deadline alone is not enough:
 *    tricklers that reconnect at once would still fill every slot. So a
 *    newcomer finding every slot taken evicts the client that has gone
 *    longest without a complete line (a client whose reply has been going
 *    out for longer than the deadline qualifies too); a newcomer is the
 *    youngest, so it is evicted last. Only when every slot holds a client
 *    being answered promptly is the newcomer told "too many clients".
 *  - Nothing waits on a peer: every recv/send is MSG_DONTWAIT, every send
 *    MSG_NOSIGNAL (a vanished peer is EPIPE, never SIGPIPE).
 *  - While the thread runs only it touches the clients; stop joins it before
 *    closing them.
 *  - Stop unlinks the socket file only if it is still the inode this server
 *    bound, so a successor's socket is never removed.
 *
 * The trick: a reply is built in place. A handler writes its payload after
 * TN__CTL_HEADER_ROOM spare bytes, and "ok <n>\n" is written right-aligned
 * into that room once n is known, so header and payload leave from one
 * buffer with no copy.
 */
#define _GNU_SOURCE
#include "ctl_proto.h"
#include "die.h"

#include <tenure/ctl.h>
#include <tenure/error.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CLIENT_IDLE (10 * TN_SEC)
#define DEFAULT_MAX_CLIENTS 16u
#define DEFAULT_CALL_TIMEOUT (5 * TN_SEC)
#define ACCEPT_BACKOFF (100 * TN_MSEC) /* after running out of descriptors */
#define ACCEPT_BURST 64                /* accepts per loop turn */
#define OUT_KEEP ((size_t)64 << 10)    /* larger reply buffers are freed */
#define LISTEN_BACKLOG 16
#define CONNECT_RETRY (2 * TN_MSEC) /* the server's backlog was full */

static int poll_ms(tn_nanos left) {
  if (left <= 0)
    return 0;
  if (left >= (tn_nanos)INT_MAX * TN_MSEC)
    return INT_MAX;
  return (int)((left + TN_MSEC - 1) / TN_MSEC);
}

static int fill_addr(struct sockaddr_un *addr, const char *path) {
  size_t n = strlen(path);
  if (n == 0)
    return TN_EINVAL;
  if (n >= sizeof addr->sun_path)
    return TN_ERANGE;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path, n + 1);
  return 0;
}

/* --- run directory ------------------------------------------------------ */

static int copy_path(char *buf, size_t len, const char *path) {
  size_t n = strlen(path);
  if (buf == NULL || n >= len)
    return TN_ERANGE;
  memcpy(buf, path, n + 1);
  return 0;
}

static int dir_error(int err) {
  return err == EACCES || err == EPERM || err == EROFS ? TN_EPERM : TN_EIO;
}

/* Effective ids (AT_EACCESS): a set-uid program binds as its euid. */
static int can_write(const char *dir) {
  return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
}

/* The directory exists and is writable, or is missing and can be made. */
static int dir_usable(const char *dir, const char *parent) {
  struct stat st;
  if (stat(dir, &st) == 0)
    return S_ISDIR(st.st_mode) && can_write(dir);
  return errno == ENOENT && can_write(parent);
}

/* A directory we create is 0700 whatever the umask; one that exists is left
 * as its owner made it. */
static int make_dir(const char *dir) {
  struct stat st;
  if (mkdir(dir, 0700) == 0)
    return chmod(dir, 0700) == 0 ? 0 : dir_error(errno);
  if (errno != EEXIST)
    return dir_error(errno);
  if (stat(dir, &st) != 0)
    return dir_error(errno);
  return S_ISDIR(st.st_mode) ? 0 : TN_EIO;
}

/* In world-writable /tmp the name may have been taken by someone else first:
 * use it only if it is our own private directory. */
static int make_private_dir(const char *dir) {
  struct stat st;
  if (mkdir(dir, 0700) == 0) {
    if (chmod(dir, 0700) != 0)
      return dir_error(errno);
  } else if (errno != EEXIST) {
    return dir_error(errno);
  }
  if (lstat(dir, &st) != 0)
    return dir_error(errno);
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
    return TN_EPERM;
  return 0;
}

/* "<base>/tenure" if usable (and made, with create); 1 if chosen. */
static int try_under(const char *base, char *dir, size_t len, int create) {
  int n;
  if (base == NULL || base[0] != '/')
    return 0;
  n = snprintf(dir, len, "%s/tenure", base);
  if (n < 0 || (size_t)n >= len || !dir_usable(dir, base))
    return 0;
  return !create || make_dir(dir) == 0;
}

int tn__ctl_run_dir_in(const char *system_dir, const char *env_dir,
                       const char *xdg_dir, char *buf, size_t len,
                       int create) {
  char dir[PATH_MAX];
  int rc;

  if (env_dir != NULL && env_dir[0] != '\0') {
    if (create && (rc = make_dir(env_dir)) != 0)
      return rc;
    return copy_path(buf, len, env_dir);
  }
  if (try_under(system_dir, dir, sizeof dir, create) ||
      try_under(xdg_dir, dir, sizeof dir, create))
    return copy_path(buf, len, dir);
  snprintf(dir, sizeof dir, "/tmp/tenure-%lu", (unsigned long)geteuid());
  if (create && (rc = make_private_dir(dir)) != 0)
    return rc;
  return copy_path(buf, len, dir);
}

int tn_ctl_run_dir(char *buf, size_t len, int create) {
  return tn__ctl_run_dir_in("/run", getenv("TENURE_RUN_DIR"),
                            getenv("XDG_RUNTIME_DIR"), buf, len, create);
}

static int socket_path_in(const char *dir, pid_t pid, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s/%ld.sock", dir, (long)pid);
  return n < 0 || (size_t)n >= len ? TN_ERANGE : 0;
}

int tn_ctl_socket_path(pid_t pid, char *buf, size_t len) {
  char dir[PATH_MAX];
  int rc = tn_ctl_run_dir(dir, sizeof dir, 0);
  return rc != 0 ? rc : socket_path_in(dir, pid, buf, len);
}

/* --- reply buffer --------------------------------------------------------- */

struct tn_ctl_out {
  char *buf;
  size_t cap;
  size_t head; /* first byte not yet sent */
  size_t len;  /* end of the queued bytes */
  size_t base; /* where a handler's payload starts */
};

static int out_reserve(tn_ctl_out *out, size_t extra) {
  size_t need, cap;
  char *grown;
  if (extra > SIZE_MAX / 2 - out->len)
    return TN_ENOMEM;
  need = out->len + extra;
  if (need <= out->cap)
    return 0;
  for (cap = out->cap ? out->cap : 256; cap < need; cap *= 2)
    ;
  grown = realloc(out->buf, cap);
  if (grown == NULL)
    return TN_ENOMEM;
  out->buf = grown;
  out->cap = cap;
  return 0;
}

static int out_fits(const tn_ctl_out *out, size_t n) {
  return n <= TN_CTL_MAX_REPLY - (out->len - out->base);
}

int tn_ctl_out_write(tn_ctl_out *out, const void *data, size_t len) {
  int rc;
  if (!out_fits(out, len))
    return TN_ENOMEM;
  if (len == 0)
    return 0;
  if ((rc = out_reserve(out, len)) != 0)
    return rc;
  memcpy(out->buf + out->len, data, len);
  out->len += len;
  return 0;
}

int tn_ctl_out_printf(tn_ctl_out *out, const char *fmt, ...) {
  va_list ap, again;
  size_t room = out->cap - out->len;
  int n, rc;

  va_start(ap, fmt);
  va_copy(again, ap);
  n = vsnprintf(out->buf ? out->buf + out->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n < 0 || !out_fits(out, (size_t)n)) {
    va_end(again);
    return n < 0 ? TN_EINVAL : TN_ENOMEM;
  }
  if ((size_t)n >= room) {
    if ((rc = out_reserve(out, (size_t)n + 1)) != 0) {
      va_end(again);
      return rc;
    }
    vsnprintf(out->buf + out->len, (size_t)n + 1, fmt, again);
  }
  va_end(again);
  out->len += (size_t)n;
  return 0;
}

/* --- server ----------------------------------------------------------------- */

typedef struct ctl_command {
  char *word;
  tn_ctl_handler fn;
  void *arg;
} ctl_command;

typedef struct ctl_client {
  int fd; /* -1 once closed; the slot is compacted away */
  int peer_eof;   /* the peer shut down its side: close when its replies are out */
  int discarding; /* inside an over-long line: drop bytes up to the next '\n' */
  size_t in_len;  /* 0 while discarding */
  tn_nanos last_progress; /* a byte received or sent */
  tn_nanos line_start;    /* first byte of the incomplete line; 0: none */
  tn_nanos reply_start;   /* when the reply going out was queued */
  tn_ctl_out out;
  char in[TN_CTL_MAX_LINE];
} ctl_client;

struct tn_ctl_server {
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  tn_nanos client_idle;
  tn_nanos request_deadline;
  unsigned max_clients;
  ctl_command *commands;
  size_t ncommands;
  int running;
  /* the rest is valid while running */
  pthread_t thread;
  atomic_int stopping;
  int listen_fd;
  int wake_fd;
  dev_t sock_dev;
  ino_t sock_ino;
  uid_t euid;
  tn_nanos accept_resume; /* accept nothing before this */
  ctl_client *clients;
  size_t nclients;
  struct pollfd *pfds;
};

static const ctl_command *find_command(const tn_ctl_server *s, const char *word,
                                       size_t len) {
  size_t i;
  for (i = 0; i < s->ncommands; i++)
    if (strlen(s->commands[i].word) == len &&
        memcmp(s->commands[i].word, word, len) == 0)
      return &s->commands[i];
  return NULL;
}

static void client_close(ctl_client *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(c->out.buf);
  memset(&c->out, 0, sizeof c->out);
}

static int out_pending(const ctl_client *c) { return c->out.head < c->out.len; }

static int queue_error_line(ctl_client *c, const char *line, size_t len) {
  c->out.head = c->out.len = c->out.base = 0;
  if (out_reserve(&c->out, len) != 0)
    return -1;
  memcpy(c->out.buf, line, len);
  c->out.len = len;
  return 0;
}

static int queue_error(ctl_client *c, const char *reason) {
  char line[TN__CTL_MAX_ERROR_LINE];
  return queue_error_line(c, line,
                          tn__ctl_format_error(line, reason, strlen(reason)));
}

/* Serve the line at the front of c->in (len bytes, then '\n'). Leaves the
 * reply queued in c->out. Returns -1 if the client must be dropped. */
static int serve_line(const tn_ctl_server *s, ctl_client *c, size_t len) {
  char line[TN__CTL_MAX_ERROR_LINE], header[TN__CTL_HEADER_ROOM];
  const ctl_command *cmd;
  tn__ctl_line req;
  size_t args_end, header_len, refused;
  int rc;

  tn__ctl_parse_line(c->in, len, &req);
  switch (req.kind) {
  case TN__CTL_LINE_EMPTY:
    return queue_error(c, "empty request");
  case TN__CTL_LINE_MALFORMED:
    return queue_error(c, "malformed request");
  case TN__CTL_LINE_BAD_WORD:
  case TN__CTL_LINE_COMMAND:
    break;
  }
  cmd = req.kind == TN__CTL_LINE_COMMAND
            ? find_command(s, req.word, req.word_len)
            : NULL;
  if (cmd == NULL)
    return queue_error_line(
        c, line, tn__ctl_format_unknown(line, req.word, req.word_len));

  refused =
      tn__ctl_check_args(line, req.word, req.word_len, req.args, req.args_len);
  if (refused != 0)
    return queue_error_line(c, line, refused);

  /* args end at or before the '\n', which c->in still holds */
  args_end = (size_t)(req.args - c->in) + req.args_len;
  c->in[args_end] = '\0';
  c->out.head = c->out.len = c->out.base = 0;
  if (out_reserve(&c->out, TN__CTL_HEADER_ROOM) != 0)
    return -1;
  c->out.len = c->out.base = TN__CTL_HEADER_ROOM;
  rc = cmd->fn(req.args, &c->out, cmd->arg);
  if (rc == TN_EINVAL && req.args_len > 0)
    return queue_error_line(
        c, line,
        tn__ctl_format_bad_arg(line, req.word, req.word_len, req.args,
                               req.args_len, NULL));
  if (rc != 0)
    return queue_error(c, tn__ctl_reason(rc));
  header_len = tn__ctl_format_ok(header, c->out.len - TN__CTL_HEADER_ROOM);
  c->out.head = TN__CTL_HEADER_ROOM - header_len;
  memcpy(c->out.buf + c->out.head, header, header_len);
  return 0;
}

/* Send what the kernel takes. -1: the peer is gone. */
static int client_flush(ctl_client *c) {
  while (out_pending(c)) {
    ssize_t n = send(c->fd, c->out.buf + c->out.head, c->out.len - c->out.head,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      c->out.head += (size_t)n;
      c->last_progress = tn_now();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return 0;
    } else {
      return -1;
    }
  }
  c->out.head = c->out.len = c->out.base = 0;
  /* nothing was read while the reply went out: the rest of the line under
   * way may be waiting in the kernel, so its clock starts again */
  if (c->line_start != 0)
    c->line_start = tn_now();
  if (c->out.cap > OUT_KEEP) {
    free(c->out.buf);
    c->out.buf = NULL;
    c->out.cap = 0;
  }
  return 0;
}

static void client_read(ctl_client *c) {
  char *fresh = c->in + c->in_len, *last_nl;
  ssize_t n;
  char *nl;

  if (c->in_len == sizeof c->in)
    return;
  n = recv(c->fd, fresh, sizeof c->in - c->in_len, MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      client_close(c);
    return;
  }
  if (n == 0) {
    c->peer_eof = 1;
    return;
  }
  c->last_progress = tn_now();
  /* The deadline runs from the first byte of a line to its '\n': a line
   * ends in these bytes (the next one starts now, if any byte follows), or
   * the one under way goes on. */
  last_nl = memrchr(fresh, '\n', (size_t)n);
  if (last_nl != NULL)
    c->line_start = last_nl + 1 < fresh + n ? c->last_progress : 0;
  else if (c->line_start == 0)
    c->line_start = c->last_progress;
  if (!c->discarding) {
    c->in_len += (size_t)n;
    return;
  }
  nl = memchr(c->in, '\n', (size_t)n);
  if (nl == NULL)
    return;
  c->in_len = (size_t)(c->in + n - (nl + 1));
  memmove(c->in, nl + 1, c->in_len);
  c->discarding = 0;
}

/* Move c along as far as it goes without waiting: flush, then serve the
 * lines already buffered, one reply at a time. */
static void client_pump(const tn_ctl_server *s, ctl_client *c) {
  static const char too_long[] = "error line too long\n";
  for (;;) {
    char *nl;
    if (out_pending(c)) {
      if (client_flush(c) != 0) {
        client_close(c);
        return;
      }
      if (out_pending(c))
        return;
    }
    if (c->discarding)
      break;
    nl = memchr(c->in, '\n', c->in_len);
    if (nl != NULL) {
      size_t len = (size_t)(nl - c->in);
      if (serve_line(s, c, len) != 0) {
        client_close(c);
        return;
      }
      c->reply_start = tn_now();
      c->in_len -= len + 1;
      memmove(c->in, nl + 1, c->in_len);
      continue;
    }
    if (c->in_len == sizeof c->in) {
      c->in_len = 0;
      c->discarding = 1;
      if (queue_error_line(c, too_long, sizeof too_long - 1) != 0) {
        client_close(c);
        return;
      }
      c->reply_start = tn_now();
      continue;
    }
    break;
  }
  if (c->peer_eof)
    client_close(c);
}

static void refuse(int fd, const char *reason) {
  char line[TN__CTL_MAX_ERROR_LINE];
  size_t len = tn__ctl_format_error(line, reason, strlen(reason));
  (void)!send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  close(fd);
}

/* Past its request deadline: the line under way started too long ago
 * (while the server reads it), or its reply has been going out too long. */
static int client_overdue(const tn_ctl_server *s, const ctl_client *c,
                          tn_nanos now) {
  if (out_pending(c))
    return now - c->reply_start >= s->request_deadline;
  return c->line_start != 0 && now - c->line_start >= s->request_deadline;
}

/*
 * The client to drop for a newcomer when every slot is taken: of those
 * without a reply going out (an incomplete line, or nothing, since the
 * server answers a complete line at once) or whose reply is overdue, the
 * one that has gone longest without a complete line: the smallest of its
 * line's start, else its last progress. A just-accepted client is the
 * youngest, so trickling clients are evicted before it. NULL: all are being
 * answered promptly.
 */
static ctl_client *pick_victim(tn_ctl_server *s, tn_nanos now) {
  ctl_client *victim = NULL;
  tn_nanos oldest = TN_NANOS_MAX;
  size_t i;
  for (i = 0; i < s->nclients; i++) {
    ctl_client *c = &s->clients[i];
    tn_nanos since;
    if (c->fd < 0)
      continue;
    if (out_pending(c)) {
      if (!client_overdue(s, c, now))
        continue;
      since = c->reply_start;
    } else {
      since = c->line_start != 0 ? c->line_start : c->last_progress;
    }
    if (since < oldest) {
      oldest = since;
      victim = c;
    }
  }
  return victim;
}

/* Tell a client why, if its socket takes the line, and close it. A reply
 * half sent is not followed by the reason: that would garble both. */
static void client_drop(ctl_client *c, const char *reason) {
  char line[TN__CTL_MAX_ERROR_LINE];
  if (!out_pending(c)) {
    size_t len = tn__ctl_format_error(line, reason, strlen(reason));
    (void)!send(c->fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  client_close(c);
}

static void accept_clients(tn_ctl_server *s) {
  int burst;
  for (burst = 0; burst < ACCEPT_BURST; burst++) {
    struct ucred cred;
    socklen_t cred_len = sizeof cred;
    ctl_client *c;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM)
        s->accept_resume = tn_now() + ACCEPT_BACKOFF;
      return;
    }
    /* Identity before capacity: a stranger learns nothing about load. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 ||
        cred.uid != s->euid) {
      refuse(fd, "permission denied");
      continue;
    }
    if (s->nclients >= s->max_clients) {
      c = pick_victim(s, tn_now());
      if (c == NULL) {
        refuse(fd, "too many clients");
        continue;
      }
      client_drop(c, "evicted: too many clients");
    } else {
      c = &s->clients[s->nclients++];
    }
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->last_progress = tn_now();
  }
}

static short client_events(const ctl_client *c) {
  if (out_pending(c))
    return POLLOUT;
  return c->peer_eof ? 0 : POLLIN;
}

static void compact_clients(tn_ctl_server *s) {
  size_t i, kept = 0;
  for (i = 0; i < s->nclients; i++)
    if (s->clients[i].fd >= 0)
      s->clients[kept++] = s->clients[i];
  s->nclients = kept;
}

static void *server_main(void *arg) {
  tn_ctl_server *s = arg;

  while (!atomic_load(&s->stopping)) {
    tn_nanos now = tn_now(), wake = TN_NANOS_MAX;
    size_t i, nfds = 2;
    int n;

    s->pfds[0] = (struct pollfd){s->wake_fd, POLLIN, 0};
    s->pfds[1] = (struct pollfd){s->listen_fd, POLLIN, 0};
    if (now < s->accept_resume) {
      s->pfds[1].events = 0;
      wake = s->accept_resume;
    }
    for (i = 0; i < s->nclients; i++) {
      const ctl_client *c = &s->clients[i];
      tn_nanos idle_at = tn_nanos_add_sat(c->last_progress, s->client_idle);
      s->pfds[nfds++] = (struct pollfd){c->fd, client_events(c), 0};
      if (idle_at < wake)
        wake = idle_at;
      if (!out_pending(c) && c->line_start != 0) {
        tn_nanos due = tn_nanos_add_sat(c->line_start, s->request_deadline);
        if (due < wake)
          wake = due;
      }
    }
    n = poll(s->pfds, nfds, wake == TN_NANOS_MAX ? -1 : poll_ms(wake - now));
    if (n < 0) {
      if (errno != EINTR) {
        struct timespec pause = {0, 10 * TN_MSEC}; /* ENOMEM: let it pass */
        nanosleep(&pause, NULL);
      }
      continue;
    }
    if (atomic_load(&s->stopping))
      break;

    for (i = 0; i < s->nclients; i++) {
      ctl_client *c = &s->clients[i];
      short revents = s->pfds[i + 2].revents;
      if (revents & POLLNVAL) {
        client_close(c);
        continue;
      }
      if ((revents & (POLLIN | POLLHUP | POLLERR)) && !out_pending(c) &&
          !c->peer_eof)
        client_read(c);
      if (revents && c->fd >= 0)
        client_pump(s, c);
    }
    now = tn_now();
    for (i = 0; i < s->nclients; i++) {
      ctl_client *c = &s->clients[i];
      if (c->fd < 0)
        continue;
      if (!out_pending(c) && client_overdue(s, c, now))
        client_drop(c, "request timed out");
      else if (now - c->last_progress >= s->client_idle)
        client_close(c);
    }
    compact_clients(s);
    if (s->pfds[1].revents & POLLIN)
      accept_clients(s);
  }
  return NULL;
}

int tn_ctl_server_new(const tn_ctl_config *cfg, tn_ctl_server **out) {
  tn_ctl_server *s;
  char dir[PATH_MAX];
  int rc = 0;

  if (out == NULL)
    return TN_EINVAL;
  *out = NULL;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return TN_ENOMEM;
  s->client_idle =
      cfg && cfg->client_idle > 0 ? cfg->client_idle : DEFAULT_CLIENT_IDLE;
  s->request_deadline = TN_CTL_REQUEST_DEADLINE;
  s->max_clients =
      cfg && cfg->max_clients > 0 ? cfg->max_clients : DEFAULT_MAX_CLIENTS;
  s->listen_fd = s->wake_fd = -1;
  if (cfg && cfg->path) {
    if (cfg->path[0] == '\0')
      rc = TN_EINVAL;
    else
      rc = copy_path(s->path, sizeof s->path, cfg->path);
  } else if ((rc = tn_ctl_run_dir(dir, sizeof dir, 1)) == 0) {
    rc = socket_path_in(dir, getpid(), s->path, sizeof s->path);
  }
  if (rc != 0) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int tn_ctl_server_register(tn_ctl_server *s, const char *word,
                           tn_ctl_handler fn, void *arg) {
  tn__ctl_line parsed;
  ctl_command *grown;
  size_t len;
  char *copy;

  if (s == NULL || word == NULL || fn == NULL)
    return TN_EINVAL;
  if (s->running)
    return TN_EBUSY;
  len = strlen(word);
  /* exactly what the parser takes for a whole command word */
  tn__ctl_parse_line(word, len, &parsed);
  if (len >= TN_CTL_MAX_LINE || parsed.kind != TN__CTL_LINE_COMMAND ||
      parsed.word_len != len)
    return TN_EINVAL;
  if (find_command(s, word, len) != NULL)
    return TN_EEXIST;
  grown = realloc(s->commands, (s->ncommands + 1) * sizeof *grown);
  if (grown == NULL)
    return TN_ENOMEM;
  s->commands = grown;
  copy = strdup(word);
  if (copy == NULL)
    return TN_ENOMEM;
  s->commands[s->ncommands].word = copy;
  s->commands[s->ncommands].fn = fn;
  s->commands[s->ncommands].arg = arg;
  s->ncommands++;
  return 0;
}

/* Something is at the path. Unlink it if it is a socket nobody answers on;
 * 0 means try bind again. */
static int remove_stale(const struct sockaddr_un *addr) {
  struct stat st;
  int probe, err;

  if (lstat(addr->sun_path, &st) != 0)
    return errno == ENOENT ? 0 : tn__from_errno(errno);
  if (!S_ISSOCK(st.st_mode))
    return TN_EEXIST;
  probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0)
    return tn__from_errno(errno);
  err = connect(probe, (const struct sockaddr *)addr, sizeof *addr) == 0
            ? 0
            : errno;
  close(probe);
  if (err == 0 || err == EAGAIN) /* it answers, or its backlog is full */
    return TN_EBUSY;
  if (err == ENOENT)
    return 0;
  if (err != ECONNREFUSED)
    return tn__from_errno(err);
  if (unlink(addr->sun_path) != 0 && errno != ENOENT)
    return tn__from_errno(errno);
  return 0;
}

static int bind_socket(int fd, const struct sockaddr_un *addr) {
  int attempt, rc;
  for (attempt = 0; attempt < 3; attempt++) {
    if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) == 0)
      return 0;
    if (errno != EADDRINUSE)
      return tn__from_errno(errno);
    if ((rc = remove_stale(addr)) != 0)
      return rc;
  }
  return TN_EBUSY;
}

int tn_ctl_server_start(tn_ctl_server *s) {
  struct sockaddr_un addr;
  struct stat st;
  sigset_t all, old;
  int rc, bound = 0;

  if (s == NULL)
    return TN_EINVAL;
  if (s->running)
    return TN_EBUSY;
  if ((rc = fill_addr(&addr, s->path)) != 0)
    return rc;
  s->clients = calloc(s->max_clients, sizeof *s->clients);
  s->pfds = calloc((size_t)s->max_clients + 2, sizeof *s->pfds);
  if (s->clients == NULL || s->pfds == NULL) {
    rc = TN_ENOMEM;
    goto fail;
  }
  s->nclients = 0;
  s->accept_resume = 0;
  s->euid = geteuid();
  atomic_store(&s->stopping, 0);

  s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->listen_fd < 0 || s->wake_fd < 0) {
    rc = tn__from_errno(errno);
    goto fail;
  }
  /* The socket file is created with this inode mode minus the umask, so the
   * file is never wider than 0600, not even between bind and chmod. */
  (void)fchmod(s->listen_fd, 0600);
  if ((rc = bind_socket(s->listen_fd, &addr)) != 0)
    goto fail;
  bound = 1;
  if (chmod(s->path, 0600) != 0 || lstat(s->path, &st) != 0 ||
      listen(s->listen_fd, LISTEN_BACKLOG) != 0) {
    rc = tn__from_errno(errno);
    goto fail;
  }
  s->sock_dev = st.st_dev;
  s->sock_ino = st.st_ino;

  /* The thread takes no signals: the application's handlers stay on its
   * own threads and poll() is never cut short. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&s->thread, NULL, server_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    rc = rc == EAGAIN ? TN_EAGAIN : tn__from_errno(rc);
    goto fail;
  }
  pthread_setname_np(s->thread, "tn-ctl");
  s->running = 1;
  return 0;

fail:
  if (bound)
    unlink(s->path);
  if (s->listen_fd >= 0)
    close(s->listen_fd);
  if (s->wake_fd >= 0)
    close(s->wake_fd);
  s->listen_fd = s->wake_fd = -1;
  free(s->clients);
  free(s->pfds);
  s->clients = NULL;
  s->pfds = NULL;
  return rc;
}

void tn_ctl_server_stop(tn_ctl_server *s) {
  uint64_t one = 1;
  struct stat st;
  size_t i;

  if (s == NULL || !s->running)
    return;
  atomic_store(&s->stopping, 1);
  while (write(s->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
  pthread_join(s->thread, NULL);
  for (i = 0; i < s->nclients; i++)
    client_close(&s->clients[i]);
  s->nclients = 0;
  if (lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev &&
      st.st_ino == s->sock_ino)
    unlink(s->path);
  close(s->listen_fd);
  close(s->wake_fd);
  s->listen_fd = s->wake_fd = -1;
  free(s->clients);
  free(s->pfds);
  s->clients = NULL;
  s->pfds = NULL;
  s->running = 0;
}

void tn_ctl_server_free(tn_ctl_server *s) {
  size_t i;
  if (s == NULL)
    return;
  tn_ctl_server_stop(s);
  for (i = 0; i < s->ncommands; i++)
    free(s->commands[i].word);
  free(s->commands);
  free(s);
}

const char *tn_ctl_server_path(const tn_ctl_server *s) { return s->path; }

/* --- client ------------------------------------------------------------------ */

static int wait_fd(int fd, short events, tn_nanos deadline) {
  for (;;) {
    struct pollfd p = {fd, events, 0};
    tn_nanos left = deadline - tn_now();
    int n;
    if (left <= 0)
      return TN_ETIMEDOUT;
    n = poll(&p, 1, poll_ms(left));
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return tn__from_errno(errno);
  }
}

static int connect_error(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
    return TN_ENOENT;
  case ECONNREFUSED:
  case ENOTSOCK:
    return TN_EUNAVAILABLE;
  case EACCES:
  case EPERM:
    return TN_EPERM;
  default:
    return tn__from_errno(err);
  }
}

static int call_connect(int fd, const struct sockaddr_un *addr,
                        tn_nanos deadline) {
  for (;;) {
    int err = 0, rc;
    socklen_t err_len = sizeof err;
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN) { /* a full backlog: unix sockets do not queue us */
      struct timespec retry = {0, CONNECT_RETRY};
      if (tn_now() >= deadline)
        return TN_ETIMEDOUT;
      nanosleep(&retry, NULL);
      continue;
    }
    if (errno != EINPROGRESS)
      return connect_error(errno);
    if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
      return rc;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0)
      return tn__from_errno(errno);
    return err == 0 ? 0 : connect_error(err);
  }
}

/* A server that hung up on us (EPIPE) may have said why: go on and read. */
static int call_send(int fd, const char *buf, size_t len, tn_nanos deadline) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    int rc;
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
      return 0;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return tn__from_errno(errno);
    if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0)
      return rc;
  }
  return 0;
}

/* > 0 bytes, 0 at end of stream, < 0 a TN_E* code. */
static ssize_t call_recv(int fd, char *buf, size_t len, tn_nanos deadline) {
  for (;;) {
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    int rc;
    if (n >= 0)
      return n;
    if (errno == ECONNRESET)
      return 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return tn__from_errno(errno);
    if ((rc = wait_fd(fd, POLLIN, deadline)) != 0)
      return rc;
  }
}

static int call_read_reply(int fd, tn_nanos deadline, char **payload,
                           size_t *payload_len, char *errbuf, size_t errlen) {
  char head[TN__CTL_MAX_HEADER + 1];
  size_t got = 0, extra, have;
  char *nl = NULL, *body;
  tn__ctl_reply reply;

  while (nl == NULL) {
    ssize_t n;
    if (got == sizeof head)
      return TN_EPROTO;
    n = call_recv(fd, head + got, sizeof head - got, deadline);
    if (n < 0)
      return (int)n;
    if (n == 0)
      return got == 0 ? TN_EUNAVAILABLE : TN_EPROTO;
    nl = memchr(head + got, '\n', (size_t)n);
    got += (size_t)n;
  }
  if (tn__ctl_parse_reply(head, (size_t)(nl - head), &reply) != 0)
    return TN_EPROTO;
  extra = got - (size_t)(nl + 1 - head);
  if (!reply.is_ok) {
    if (extra != 0)
      return TN_EPROTO;
    if (errbuf != NULL && errlen > 0) {
      size_t n = reply.reason_len < errlen - 1 ? reply.reason_len : errlen - 1;
      memcpy(errbuf, reply.reason, n);
      errbuf[n] = '\0';
    }
    return tn__ctl_reason_code(reply.reason, reply.reason_len);
  }
  if (extra > reply.length)
    return TN_EPROTO;
  body = malloc(reply.length + 1);
  if (body == NULL)
    return TN_ENOMEM;
  memcpy(body, nl + 1, extra);
  for (have = extra; have < reply.length;) {
    ssize_t n = call_recv(fd, body + have, reply.length - have, deadline);
    if (n <= 0) {
      free(body);
      return n == 0 ? TN_EPROTO : (int)n;
    }
    have += (size_t)n;
  }
  body[reply.length] = '\0';
  if (payload_len != NULL)
    *payload_len = reply.length;
  if (payload != NULL)
    *payload = body;
  else
    free(body);
  return 0;
}

int tn_ctl_call(const char *socket_path, const char *line, char **payload,
                size_t *payload_len, char *errbuf, size_t errlen,
                tn_nanos timeout) {
  struct sockaddr_un addr;
  char request[TN_CTL_MAX_LINE];
  tn_nanos deadline;
  size_t len;
  int fd, rc;

  if (payload != NULL)
    *payload = NULL;
  if (payload_len != NULL)
    *payload_len = 0;
  if (errbuf != NULL && errlen > 0)
    errbuf[0] = '\0';
  if (socket_path == NULL || line == NULL)
    return TN_EINVAL;
  len = strlen(line);
  if (len >= TN_CTL_MAX_LINE || memchr(line, '\n', len) != NULL)
    return TN_EINVAL;
  if ((rc = fill_addr(&addr, socket_path)) != 0)
    return rc;
  deadline = tn_nanos_add_sat(tn_now(), timeout > 0 ? timeout
                                                    : DEFAULT_CALL_TIMEOUT);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return tn__from_errno(errno);
  memcpy(request, line, len);
  request[len] = '\n';
  rc = call_connect(fd, &addr, deadline);
  if (rc == 0)
    rc = call_send(fd, request, len + 1, deadline);
  if (rc == 0)
    rc = call_read_reply(fd, deadline, payload, payload_len, errbuf, errlen);
  close(fd);
  return rc;
}
