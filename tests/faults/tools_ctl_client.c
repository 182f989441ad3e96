/*
 * A hostile and a plain client for a live process's control socket, for the
 * tools fault tests (tools_ctl.sh).
 *
 *   tools_ctl_client line SOCKET TEXT
 *       send TEXT and a '\n' in one write, print the raw reply header line
 *       (up to its '\n') on stdout; exit 0 when one arrived
 *   tools_ctl_client starve SOCKET N
 *       hold N connections that trickle one byte of "status" every 100 ms
 *       and never a newline; after 1 s (every slot held, each trickler
 *       inside its deadline) ask a real "status" with tn_ctl_call; then
 *       wait until every trickler has been disconnected. Exit 0 only if
 *       status was answered, every trickler was dropped and told why
 *       ("request timed out" no sooner than TN_CTL_REQUEST_DEADLINE after
 *       its first byte, or "evicted: too many clients"), all within the
 *       deadline plus a generous slack.
 *
 * The slack (8 s on top of the 2 s deadline) is for a loaded 2-core
 * machine: scheduling delays only make things later, and every bound here
 * is an upper bound far beyond them. The lower bound is safe for the same
 * reason: the server's clock starts after our first send.
 */
#define _GNU_SOURCE
#include <tenure/clock.h>
#include <tenure/ctl.h>
#include <tenure/error.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLACK (8 * TN_SEC)
#define MAX_CONNS 256

typedef struct conn {
  int fd;
  tn_nanos first_sent, closed_at;
  char got[128];
  size_t got_len;
} conn;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int dial(const char *path) {
  struct sockaddr_un addr;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int cmd_line(const char *path, const char *text) {
  char buf[512];
  size_t len = strlen(text), got = 0;
  tn_nanos deadline = tn_now() + 10 * TN_SEC;
  int fd = dial(path);
  if (fd < 0 || len + 1 > sizeof buf) {
    perror("tools_ctl_client: connect");
    return 1;
  }
  memcpy(buf, text, len);
  buf[len] = '\n';
  if (send(fd, buf, len + 1, MSG_NOSIGNAL) != (ssize_t)(len + 1)) {
    perror("tools_ctl_client: send");
    return 1;
  }
  while (got < sizeof buf && tn_now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    if (poll(&p, 1, 100) <= 0)
      continue;
    n = recv(fd, buf + got, sizeof buf - got, 0);
    if (n <= 0)
      break;
    got += (size_t)n;
    if (memchr(buf, '\n', got) != NULL)
      break;
  }
  close(fd);
  if (memchr(buf, '\n', got) == NULL) {
    fprintf(stderr, "tools_ctl_client: no reply line to \"%s\"\n", text);
    return 1;
  }
  fwrite(buf, 1, (size_t)((char *)memchr(buf, '\n', got) - buf) + 1, stdout);
  return 0;
}

/* Whatever the server sent; 1 once it has closed the connection. */
static int take(conn *c) {
  for (;;) {
    char buf[256];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      size_t room = sizeof c->got - c->got_len;
      size_t k = (size_t)n < room ? (size_t)n : room;
      memcpy(c->got + c->got_len, buf, k);
      c->got_len += k;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return 0;
    return 1;
  }
}

/* One trickle turn over every open connection; returns how many are open. */
static int trickle(conn *cs, int n, size_t k) {
  static const char word[] = "status";
  int i, open = 0;
  for (i = 0; i < n; i++) {
    if (cs[i].fd < 0)
      continue;
    if (take(&cs[i])) {
      cs[i].closed_at = tn_now();
      close(cs[i].fd);
      cs[i].fd = -1;
      continue;
    }
    (void)!send(cs[i].fd, &word[k % (sizeof word - 1)], 1,
                MSG_DONTWAIT | MSG_NOSIGNAL);
    open++;
  }
  return open;
}

static int cmd_starve(const char *path, int n) {
  static const char timed_out[] = "error request timed out\n";
  static const char evicted[] = "error evicted: too many clients\n";
  conn *cs = calloc((size_t)n, sizeof *cs);
  char errbuf[128], *payload = NULL;
  tn_nanos start, until;
  size_t k = 1;
  int i, rc, open = n, bad = 0, n_timed_out = 0, n_evicted = 0;
  pid_t child;
  int pipefd[2];

  if (cs == NULL)
    return 1;
  for (i = 0; i < n; i++) {
    cs[i].fd = dial(path);
    if (cs[i].fd < 0) {
      perror("tools_ctl_client: connect a trickler");
      return 1;
    }
    cs[i].first_sent = tn_now();
    (void)!send(cs[i].fd, "s", 1, MSG_NOSIGNAL);
  }
  /* the real request runs in a child, so that the tricklers keep
   * trickling while it waits */
  if (pipe(pipefd) != 0)
    return 1;
  child = fork();
  if (child < 0)
    return 1;
  if (child == 0) {
    char line[256];
    sleep_ms(1000);
    start = tn_now();
    rc = tn_ctl_call(path, "status", &payload, NULL, errbuf, sizeof errbuf,
                     TN_CTL_REQUEST_DEADLINE + SLACK);
    snprintf(line, sizeof line, "%d %lld %s %.40s\n", rc,
             (long long)((tn_now() - start) / 1000000), rc ? tn_err_name(rc) : "ok",
             rc ? errbuf : payload);
    (void)!write(pipefd[1], line, strlen(line));
    _exit(rc == 0 && payload != NULL && strncmp(payload, "{\"pid\":", 7) == 0
              ? 0
              : 1);
  }
  close(pipefd[1]);

  start = tn_now();
  until = start + 1000 * 1000000LL + 2 * (TN_CTL_REQUEST_DEADLINE + SLACK);
  while (open > 0 && tn_now() < until) {
    open = trickle(cs, n, k++);
    sleep_ms(100);
  }
  {
    char line[256] = "";
    ssize_t got;
    int status = 1;
    got = read(pipefd[0], line, sizeof line - 1);
    line[got > 0 ? got : 0] = '\0';
    waitpid(child, &status, 0);
    printf("status among %d tricklers: %s", n, got > 0 ? line : "no answer\n");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      printf("FAIL: status was not answered\n");
      bad++;
    }
  }
  for (i = 0; i < n; i++) {
    int is_to = cs[i].got_len == sizeof timed_out - 1 &&
                memcmp(cs[i].got, timed_out, cs[i].got_len) == 0;
    int is_ev = cs[i].got_len == sizeof evicted - 1 &&
                memcmp(cs[i].got, evicted, cs[i].got_len) == 0;
    if (cs[i].fd >= 0) {
      printf("FAIL: trickler %d still connected after %.1f s\n", i,
             (double)(tn_now() - cs[i].first_sent) / 1e9);
      bad++;
      continue;
    }
    if (!is_to && !is_ev) {
      printf("FAIL: trickler %d was dropped saying \"%.*s\"\n", i,
             (int)cs[i].got_len, cs[i].got);
      bad++;
    }
    if (is_to && cs[i].closed_at - cs[i].first_sent < TN_CTL_REQUEST_DEADLINE) {
      printf("FAIL: trickler %d timed out after %.3f s, before the deadline\n",
             i, (double)(cs[i].closed_at - cs[i].first_sent) / 1e9);
      bad++;
    }
    n_timed_out += is_to;
    n_evicted += is_ev;
  }
  printf("tricklers: %d timed out, %d evicted, %d still connected\n",
         n_timed_out, n_evicted, n - n_timed_out - n_evicted);
  for (i = 0; i < n; i++)
    if (cs[i].fd >= 0)
      close(cs[i].fd);
  free(cs);
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "line") == 0)
    return cmd_line(argv[2], argv[3]);
  if (argc == 4 && strcmp(argv[1], "starve") == 0) {
    int n = atoi(argv[3]);
    if (n < 1 || n > MAX_CONNS)
      return 2;
    return cmd_starve(argv[2], n);
  }
  fprintf(stderr, "usage: tools_ctl_client line SOCKET TEXT | starve SOCKET N\n");
  return 2;
}
