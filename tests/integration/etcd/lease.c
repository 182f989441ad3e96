/*
 * Integration: the etcd backend against a real etcd 3.4 (one member,
 * started by tests/integration/engines/etcd.sh), and against a fake server
 * that answers with hostile replies.
 *
 *   it_etcd_lease ENDPOINTS_FILE
 *
 * Real server: terms and tokens, the TTL etcd raises (D is what it
 * granted), renew after a forced release, expiry and the waiting
 * candidate's wake-up, fenced puts, list, and failover past a dead and a
 * stalled endpoint without the deadline growing. Fake server: truncated
 * bodies, HTML, 5xx, wrong types, IDs above 2^53, keepalive without TTL.
 * Prints the median and p99 of acquire and renew round trips.
 */
#define _GNU_SOURCE
#include "it_etcd.h"

#include <tenure/etcd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char endpoints[512];

static void uri_for(char *out, size_t n, const char *prefix) {
  snprintf(out, n, "etcd://%s/it-lease-%ld/%s", endpoints, (long)getpid(),
           prefix);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* --- real server ----------------------------------------------------------- */

static void test_terms(void) {
  char uri[600];
  tn_authority *a;
  tn_lease *la, *lb;
  tn_lease_info info, all[8];
  uint64_t t1, t2, t3;
  size_t n;
  uri_for(uri, sizeof uri, "terms");
  a = it_open(uri);
  la = it_lease(a, "primary", "node-a", 2 * TN_SEC);
  lb = it_lease(a, "primary", "node-b", 2 * TN_SEC);
  CHECK_RC(tn_authority_observe(a, "primary", &info), TN_ENOENT);
  CHECK_RC(tn_lease_try_acquire(la), 0);
  t1 = tn_lease_token(la);
  CHECK(t1 > 0, "token %llu", (unsigned long long)t1);
  CHECK_RC(tn_lease_try_acquire(lb), TN_EBUSY);
  CHECK_RC(tn_authority_observe(a, "primary", &info), 0);
  CHECK(strcmp(info.holder, "node-a") == 0 && info.held && info.token == t1,
        "observe: holder %s held %d token %llu", info.holder, info.held,
        (unsigned long long)info.token);
  CHECK(info.remaining > 0 && info.remaining <= 2 * TN_SEC, "remaining %lld",
        (long long)info.remaining);
  CHECK_RC(tn_lease_renew(la), 0);
  CHECK(tn_lease_token(la) == t1, "renew changed the token");
  CHECK_RC(tn_lease_release(la), 0);
  CHECK_RC(tn_authority_observe(a, "primary", &info), TN_ENOENT);
  CHECK_RC(tn_lease_try_acquire(lb), 0);
  t2 = tn_lease_token(lb);
  CHECK(t2 > t1, "tokens %llu then %llu", (unsigned long long)t1,
        (unsigned long long)t2);
  /* node-a's old term is over: renewing it from a fresh handle is lost */
  CHECK_RC(tn_lease_try_acquire(la), TN_EBUSY);
  CHECK_RC(tn_authority_list(a, all, 8, &n), 0);
  CHECK(n == 1 && strcmp(all[0].name, "primary") == 0 &&
            strcmp(all[0].holder, "node-b") == 0 && all[0].token == t2,
        "list: %zu entries", n);
  /* an operator's forced release: the holder learns at its next renewal */
  CHECK_RC(tn_authority_force_release(a, "primary"), 0);
  CHECK_RC(tn_lease_renew(lb), TN_ELOST);
  CHECK(strstr(tn_authority_last_error(), "no longer holds") != NULL,
        "message: %s", tn_authority_last_error());
  CHECK(tn_lease_state_get(lb) == TN_LEASE_FOLLOWER, "still leader");
  CHECK_RC(tn_authority_force_release(a, "primary"), TN_ENOENT);
  CHECK_RC(tn_lease_try_acquire(la), 0);
  t3 = tn_lease_token(la);
  CHECK(t3 > t2, "tokens %llu then %llu", (unsigned long long)t2,
        (unsigned long long)t3);
  /* tokens strictly increase over many terms */
  {
    uint64_t last = t3;
    int i;
    tn_lease_release(la);
    for (i = 0; i < 20; i++) {
      tn_lease *l = i % 2 ? la : lb;
      CHECK_RC(tn_lease_try_acquire(l), 0);
      CHECK(tn_lease_token(l) > last, "round %d: token %llu after %llu", i,
            (unsigned long long)tn_lease_token(l), (unsigned long long)last);
      last = tn_lease_token(l);
      CHECK_RC(tn_lease_release(l), 0);
    }
  }
  tn_lease_close(la);
  tn_lease_close(lb);
  tn_authority_close(a);
}

/* Ask for 1 s: etcd grants 2 s, and the deadline must use the 2 s.
 * deadline = t_send + 2 s - 2 ms drift (1000 ppm of 2 s) - 50 ms margin (a
 * twentieth of the 1 s asked), and t_send lies between the two clock reads
 * around the call: both bounds are exact, whatever the round trip takes on
 * a loaded machine. (With the 1 s asked, the deadline would be 1 s less.) */
static void test_granted_ttl(void) {
  char uri[600];
  tn_authority *a;
  tn_lease *l;
  tn_nanos before, after, d;
  const tn_nanos want = 2 * TN_SEC - 2 * TN_MSEC - 50 * TN_MSEC;
  uri_for(uri, sizeof uri, "ttl");
  a = it_open(uri);
  l = it_lease(a, "short", "node-a", TN_SEC);
  before = tn_now();
  CHECK_RC(tn_lease_try_acquire(l), 0);
  after = tn_now();
  d = tn_lease_deadline(l);
  CHECK(d >= before + want && d <= after + want,
        "deadline - before = %lld ns, after - before = %lld ns, want "
        "deadline = t_send + %lld ns",
        (long long)(d - before), (long long)(after - before),
        (long long)want);
  tn_lease_release(l);
  tn_lease_close(l);
  tn_authority_close(a);
}

struct waiter {
  tn_lease *l;
  int rc;
  tn_nanos done;
};

static void *wait_main(void *arg) {
  struct waiter *w = arg;
  w->rc = tn_lease_acquire(w->l, 10 * TN_SEC);
  w->done = tn_now();
  return NULL;
}

/* A waiting candidate wakes soon after a release, and after an expiry
 * only once the holder's own deadline has passed (S1). */
static void test_wakeup_and_expiry(void) {
  char uri[600];
  tn_authority *a;
  tn_lease *la, *lb;
  struct waiter w;
  pthread_t th;
  tn_nanos released, deadline;
  uri_for(uri, sizeof uri, "wake");
  a = it_open(uri);
  /* la's 10 s term: waking before its deadline can only be the release */
  la = it_lease(a, "wake", "node-a", 10 * TN_SEC);
  lb = it_lease(a, "wake", "node-b", 2 * TN_SEC);

  CHECK_RC(tn_lease_try_acquire(la), 0);
  deadline = tn_lease_deadline(la);
  w.l = lb;
  pthread_create(&th, NULL, wait_main, &w);
  sleep_ms(300);
  released = tn_now();
  CHECK_RC(tn_lease_release(la), 0);
  pthread_join(th, NULL);
  CHECK_RC(w.rc, 0);
  printf("wake-up after a release: %.1f ms\n",
         tn_nanos_to_millis(w.done - released));
  /* Woken by the release, not by the expiry: before la's deadline (about
   * 9 s after the release), which no waiter may beat otherwise (S1). How
   * soon (20 ms polls) is a latency figure: make bench. */
  CHECK(w.done < deadline, "woke %lld ms after the release, after the "
        "holder's deadline: the release was not seen",
        (long long)((w.done - released) / TN_MSEC));

  /* now lb holds it and never renews: la waits for etcd to expire it */
  deadline = tn_lease_deadline(lb);
  w.l = la;
  pthread_create(&th, NULL, wait_main, &w);
  pthread_join(th, NULL);
  CHECK_RC(w.rc, 0);
  CHECK(w.done > deadline, "acquired %lld ms before the holder's deadline",
        (long long)((deadline - w.done) / TN_MSEC));
  printf("takeover after an expiry: %.1f ms after the holder's deadline\n",
         tn_nanos_to_millis(w.done - deadline));
  /* L1: soon after the expiry, not at the waiter's 10 s timeout. etcd
   * expires ~0.5 s after the TTL and the waiter polls every 20 ms; 5 s
   * leaves seconds for a loaded etcd. */
  CHECK(w.done - deadline < 5 * TN_SEC, "took %lld ms",
        (long long)((w.done - deadline) / TN_MSEC));
  CHECK(tn_lease_token(la) > 0, "no token");
  CHECK_RC(tn_lease_renew(lb), TN_ESTALE);
  tn_lease_release(la);
  tn_lease_close(la);
  tn_lease_close(lb);
  tn_authority_close(a);
}

static void test_fenced_put(void) {
  char uri[600], key[128];
  tn_authority *a, *f;
  tn_lease *la, *lb;
  uint64_t ta, tb;
  char fileuri[128], dir[] = "/tmp/tenure-it-etcd-XXXXXX";
  uri_for(uri, sizeof uri, "fence");
  snprintf(key, sizeof key, "it-lease-%ld/data/value", (long)getpid());
  a = it_open(uri);
  la = it_lease(a, "writer", "node-a", 2 * TN_SEC);
  lb = it_lease(a, "writer", "node-b", 2 * TN_SEC);
  CHECK_RC(tn_lease_try_acquire(la), 0);
  ta = tn_lease_token(la);
  CHECK_RC(tn_etcd_fenced_put(a, "writer", ta, key, "a1", 2), 0);
  CHECK_RC(tn_etcd_fenced_put(a, "writer", ta - 1, key, "old", 3),
           TN_EFENCED);
  CHECK_RC(tn_etcd_fenced_put(a, "writer", ta + 1, key, "new", 3),
           TN_EFENCED);
  CHECK_RC(tn_etcd_fenced_put(a, "writer", ta, key, NULL, 0), 0);
  CHECK_RC(tn_lease_release(la), 0);
  CHECK_RC(tn_etcd_fenced_put(a, "writer", ta, key, "late", 4), TN_EFENCED);
  CHECK(strstr(tn_authority_last_error(), "is gone") != NULL, "message: %s",
        tn_authority_last_error());
  CHECK_RC(tn_lease_try_acquire(lb), 0);
  tb = tn_lease_token(lb);
  CHECK_RC(tn_etcd_fenced_put(a, "writer", ta, key, "late", 4), TN_EFENCED);
  CHECK(strstr(tn_authority_last_error(), "newer term") != NULL,
        "message: %s", tn_authority_last_error());
  CHECK_RC(tn_etcd_fenced_put(a, "writer", tb, key, "b1", 2), 0);
  /* misuse */
  CHECK_RC(tn_etcd_fenced_put(a, "writer", tb, "", "x", 1), TN_EINVAL);
  CHECK_RC(tn_etcd_fenced_put(a, "bad name!", tb, key, "x", 1), TN_EINVAL);
  {
    char lkey[128];
    snprintf(lkey, sizeof lkey, "it-lease-%ld/fence/writer", (long)getpid());
    CHECK_RC(tn_etcd_fenced_put(a, "writer", tb, lkey, "x", 1), TN_EINVAL);
  }
  if (mkdtemp(dir)) {
    snprintf(fileuri, sizeof fileuri, "file://%s/l.tn", dir);
    f = it_open(fileuri);
    CHECK_RC(tn_etcd_fenced_put(f, "writer", 1, key, "x", 1), TN_EINVAL);
    tn_authority_close(f);
    snprintf(fileuri, sizeof fileuri, "rm -rf %s", dir);
    if (system(fileuri) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
  }
  tn_lease_release(lb);
  tn_lease_close(la);
  tn_lease_close(lb);
  tn_authority_close(a);
}

static void test_uri_errors(void) {
  static const char *const bad[] = {
      "etcd://",
      "etcd:///prefix",
      "etcd://host:0",
      "etcd://host:65536",
      "etcd://host:12a",
      "etcd://ho_st:1",
      "etcd://a:1,",
      "etcd://a:1,,b:2",
      "etcd://a:1//x",
      "etcd://a:1/x/",
      "etcd://a:1/x?timeout=0ms",
      "etcd://a:1/x?timeout",
      "etcd://a:1/x?colour=blue",
      "etcd://a:1/x?cacert=/etc/ca.pem",
      "etcds://a:1/x?cacert=relative.pem",
      "etcd://[::1:1",
  };
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tn_authority *a = NULL;
    int rc = tn_authority_open(bad[i], &a);
    CHECK(rc == TN_EINVAL, "%s: %s", bad[i], tn_err_name(rc));
    CHECK(strstr(tn_authority_last_error(), "authority URI") != NULL,
          "%s: message %s", bad[i], tn_authority_last_error());
    if (rc == 0)
      tn_authority_close(a);
  }
  {
    tn_authority *a = NULL;
    CHECK_RC(tn_authority_open("etcd://[::1]:2,h.example-1:7/a/b.c/d_e"
                               "?timeout=1s&connect_timeout=50ms",
                               &a),
             0);
    tn_authority_close(a);
    CHECK_RC(tn_authority_open("etcds://h:1?cacert=/a&cert=/b&key=/c", &a),
             0);
    tn_authority_close(a);
  }
}

/* --- failover ------------------------------------------------------------- */

/* A port with nothing listening (connection refused). */
static int dead_port(void) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&sa, sizeof sa);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

/* A listening socket that never accepts: connections complete in the
 * kernel's backlog and requests are never answered (a stalled member). */
static int stalled_socket(int *port) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0)
    return -1;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

static void test_failover(void) {
  char uri[700];
  tn_authority *a;
  tn_lease *l;
  tn_nanos before, took;
  int dead = dead_port(), stalled, sfd = stalled_socket(&stalled);
  CHECK(sfd >= 0, "no stalled socket");

  /* a dead endpoint first: skipped at once, without waiting for any
   * timeout. The timeouts are 5 s here so that waiting for one cannot pass
   * for noise: an acquire takes milliseconds, and well under 2.5 s on a
   * loaded machine. */
  snprintf(uri, sizeof uri,
           "etcd://127.0.0.1:%d,%s/it-lease-%ld/fo?timeout=5s&connect_timeout=5s",
           dead, endpoints, (long)getpid());
  a = it_open(uri);
  l = it_lease(a, "fo", "node-a", 2 * TN_SEC);
  before = tn_now();
  CHECK_RC(tn_lease_try_acquire(l), 0);
  took = tn_now() - before;
  CHECK(took < 2500 * TN_MSEC, "took %lld ms past a dead endpoint",
        (long long)(took / TN_MSEC));
  CHECK_RC(tn_lease_release(l), 0);
  tn_lease_close(l);
  tn_authority_close(a);

  /* a stalled endpoint first: skipped after the request timeout (tried
   * once, not for each request of the acquire), and the time spent there
   * comes out of the holder's term, never added to it. The timeout is 2 s,
   * so each bound below tells the behaviour from its opposite by a second
   * or more, which a loaded machine does not add to an acquire. */
  snprintf(uri, sizeof uri,
           "etcd://127.0.0.1:%d,%s/it-lease-%ld/fo?timeout=2s", stalled,
           endpoints, (long)getpid());
  a = it_open(uri);
  /* a 10 s term, so that the 2 s spent at the stall leave it valid */
  l = it_lease(a, "fo", "node-a", 10 * TN_SEC);
  before = tn_now();
  CHECK_RC(tn_lease_try_acquire(l), 0);
  took = tn_now() - before;
  printf("acquire past a stalled endpoint (timeout 2 s): %.1f ms\n",
         tn_nanos_to_millis(took));
  /* (curl may fire its timer a little early: 10 ms) */
  CHECK(took >= 1990 * TN_MSEC && took < 3000 * TN_MSEC, "took %lld ms",
        (long long)(took / TN_MSEC));
  /* t_send + 10 s - 10 ms drift - 500 ms margin, t_send just after
   * before; a deadline counted from after the timeout would be 2 s later */
  CHECK(tn_lease_deadline(l) <= before + 9490 * TN_MSEC + 1000 * TN_MSEC,
        "deadline %lld ms after t_send",
        (long long)((tn_lease_deadline(l) - before) / TN_MSEC));
  /* the backend now sticks to the endpoint that answered: a renew that went
   * back to the stall would take the 2 s timeout */
  before = tn_now();
  CHECK_RC(tn_lease_renew(l), 0);
  CHECK(tn_now() - before < 1000 * TN_MSEC, "renew went back to the stall");
  CHECK_RC(tn_lease_release(l), 0);
  tn_lease_close(l);
  tn_authority_close(a);

  /* nothing answers: TN_EUNAVAILABLE naming every endpoint */
  snprintf(uri, sizeof uri, "etcd://127.0.0.1:%d,127.0.0.1:%d/x?timeout=200ms",
           dead, stalled);
  a = it_open(uri);
  l = it_lease(a, "fo", "node-a", 2 * TN_SEC);
  CHECK_RC(tn_lease_try_acquire(l), TN_EUNAVAILABLE);
  {
    char d[64], s[96];
    const char *msg = tn_authority_last_error();
    snprintf(d, sizeof d, "127.0.0.1:%d:", dead);
    snprintf(s, sizeof s, "127.0.0.1:%d: no answer within 200 ms", stalled);
    CHECK(strstr(msg, d) && strstr(msg, s), "message: %s", msg);
  }
  CHECK(tn_lease_state_get(l) == TN_LEASE_FOLLOWER, "leader without etcd");
  tn_lease_close(l);
  tn_authority_close(a);
  close(sfd);
}

/* --- a fake server with hostile replies ----------------------------------- */

struct fake {
  int fd, port;
  const char *const *replies; /* raw HTTP responses, in order */
  size_t n, served;
  char last_request[2048];
  pthread_t th;
};

/* Read one request (headers and Content-Length body). */
static int read_request(int c, char *buf, size_t cap) {
  size_t len = 0;
  long body = -1;
  for (;;) {
    ssize_t r;
    char *hdr_end;
    buf[len] = '\0';
    hdr_end = strstr(buf, "\r\n\r\n");
    if (hdr_end) {
      const char *cl = strcasestr(buf, "Content-Length:");
      size_t have = len - (size_t)(hdr_end + 4 - buf);
      if (body < 0)
        body = cl ? atol(cl + 15) : 0;
      if ((long)have >= body)
        return 0;
    }
    if (len + 1 >= cap)
      return -1;
    r = read(c, buf + len, cap - 1 - len);
    if (r <= 0)
      return -1;
    len += (size_t)r;
  }
}

static void *fake_main(void *arg) {
  struct fake *f = arg;
  while (f->served < f->n) {
    int c = accept(f->fd, NULL, NULL);
    const char *reply;
    if (c < 0)
      break;
    if (read_request(c, f->last_request, sizeof f->last_request) == 0) {
      reply = f->replies[f->served++];
      if (write(c, reply, strlen(reply)) < 0)
        perror("fake server write");
    }
    close(c);
  }
  return NULL;
}

static void fake_start(struct fake *f, const char *const *replies, size_t n) {
  memset(f, 0, sizeof *f);
  f->fd = stalled_socket(&f->port);
  f->replies = replies;
  f->n = n;
  pthread_create(&f->th, NULL, fake_main, f);
}

static void fake_stop(struct fake *f) {
  shutdown(f->fd, SHUT_RDWR);
  close(f->fd);
  pthread_join(f->th, NULL);
}

#define OK_JSON(body)                                                          \
  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: "          \
  "close\r\n\r\n" body

#define GRANT_OK OK_JSON("{\"header\":{\"revision\":\"7\"},\"ID\":\"9007199254740993\",\"TTL\":\"3\"}")
#define RANGE_HELD(token)                                                      \
  OK_JSON("{\"header\":{\"revision\":\"50\"},\"kvs\":[{\"key\":"               \
          "\"ZmFrZS9wcmltYXJ5\",\"create_revision\":\"" token "\","            \
          "\"mod_revision\":\"" token "\",\"version\":\"1\",\"value\":"        \
          "\"bm9kZS1h\",\"lease\":\"9007199254740993\"}],\"count\":\"1\"}")

/* One acquire (grant + txn) against canned replies. */
static int fake_acquire(const char *const *replies, size_t n, tn_lease **lp,
                        tn_authority **ap, struct fake *f) {
  char uri[128];
  fake_start(f, replies, n);
  snprintf(uri, sizeof uri, "etcd://127.0.0.1:%d/fake?timeout=500ms",
           f->port);
  *ap = it_open(uri);
  *lp = it_lease(*ap, "primary", "node-a", 2 * TN_SEC);
  return tn_lease_try_acquire(*lp);
}

static void fake_case(const char *what, const char *const *replies, size_t n,
                      int want, const char *msg_part) {
  struct fake f;
  tn_authority *a;
  tn_lease *l;
  char port[32];
  int rc = fake_acquire(replies, n, &l, &a, &f);
  snprintf(port, sizeof port, "127.0.0.1:%d", f.port);
  CHECK(rc == want, "%s: %s, want %s", what, tn_err_name(rc),
        tn_err_name(want));
  CHECK(want == 0 || strstr(tn_authority_last_error(), port) != NULL,
        "%s: the message does not name the endpoint: %s", what,
        tn_authority_last_error());
  CHECK(msg_part == NULL || strstr(tn_authority_last_error(), msg_part),
        "%s: the message lacks \"%s\": %s", what, msg_part,
        tn_authority_last_error());
  tn_lease_close(l);
  tn_authority_close(a);
  fake_stop(&f);
}

static void test_hostile_replies(void) {
  static const char *const truncated[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 200\r\nConnection: close\r\n\r\n"
      "{\"header\":{\"revision\":"};
  static const char *const html[] = {
      OK_JSON("<html><body>proxy says hello</body></html>")};
  static const char *const server_500[] = {
      "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n"
      "<html>oops</html>"};
  static const char *const etcd_400[] = {
      "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
      "{\"error\":\"etcdserver: too large lease TTL\",\"message\":"
      "\"etcdserver: too large lease TTL\",\"code\":11}"};
  static const char *const id_real[] = {OK_JSON(
      "{\"header\":{\"revision\":\"7\"},\"ID\":9.007199254740993e15,"
      "\"TTL\":\"2\"}")};
  static const char *const ttl_text[] = {OK_JSON(
      "{\"header\":{\"revision\":\"7\"},\"ID\":\"12\",\"TTL\":\"two\"}")};
  static const char *const no_header[] = {
      OK_JSON("{\"ID\":\"12\",\"TTL\":\"2\"}")};
  static const char *const txn_no_revision[] = {
      GRANT_OK, OK_JSON("{\"header\":{},\"succeeded\":true}"),
      OK_JSON("{\"header\":{\"revision\":\"8\"}}")};
  static const char *const empty_reply[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
  static const char *const big_ids[] = {
      GRANT_OK,
      OK_JSON("{\"header\":{\"revision\":\"9007199254740995\"},"
              "\"succeeded\":true,\"responses\":[{\"response_put\":"
              "{\"header\":{\"revision\":\"9007199254740995\"}}}]}")};

  fake_case("truncated body", truncated, 1, TN_EUNAVAILABLE, "cut off");
  fake_case("HTML with 200", html, 1, TN_EPROTO, "not JSON");
  fake_case("HTTP 500", server_500, 1, TN_EUNAVAILABLE, "HTTP 500");
  fake_case("etcd error 400", etcd_400, 1, TN_EPROTO, "too large lease TTL");
  fake_case("ID as a real", id_real, 1, TN_EPROTO, "\"ID\"");
  fake_case("TTL as text", ttl_text, 1, TN_EPROTO, "\"TTL\"");
  fake_case("no header", no_header, 1, TN_EPROTO, "header");
  fake_case("txn without revision", txn_no_revision, 3, TN_EPROTO,
            "revision");
  fake_case("empty body", empty_reply, 1, TN_EPROTO, "empty");

  /* IDs and revisions above 2^53 survive exactly (a double would not) */
  {
    struct fake f;
    tn_authority *a;
    tn_lease *l;
    int rc = fake_acquire(big_ids, 2, &l, &a, &f);
    CHECK(rc == 0, "big ids: %s", tn_err_name(rc));
    CHECK(tn_lease_token(l) == 9007199254740995ull, "token %llu",
          (unsigned long long)tn_lease_token(l));
    /* D is the TTL the server granted (3 s), not the 2 s asked */
    CHECK(tn_lease_remaining(l) > 2 * TN_SEC, "remaining %lld",
          (long long)tn_lease_remaining(l));
    tn_lease_close(l);
    tn_authority_close(a);
    fake_stop(&f);
    CHECK(strstr(f.last_request, "\"9007199254740993\"") != NULL,
          "txn did not carry the lease ID exactly: %s", f.last_request);
  }

  /* renew: 200 without TTL is lost; a mangled TTL is a protocol error
   * that leaves the term alone until its deadline */
  {
    static const char *const renew_lost[] = {
        GRANT_OK,
        OK_JSON("{\"header\":{\"revision\":\"50\"},\"succeeded\":true}"),
        RANGE_HELD("50"),
        OK_JSON("{\"result\":{\"header\":{\"revision\":\"50\"},"
                "\"ID\":\"9007199254740993\"}}\n"),
    };
    static const char *const renew_bad[] = {
        GRANT_OK,
        OK_JSON("{\"header\":{\"revision\":\"50\"},\"succeeded\":true}"),
        RANGE_HELD("50"),
        OK_JSON("{\"result\":{\"header\":{\"revision\":\"50\"},"
                "\"ID\":\"9007199254740993\",\"TTL\":[2]}}\n"),
        RANGE_HELD("50"),
        OK_JSON("{\"result\":{\"header\":{\"revision\":\"50\"},"
                "\"ID\":\"42\",\"TTL\":\"2\"}}\n"),
    };
    struct fake f;
    tn_authority *a;
    tn_lease *l;
    CHECK_RC(fake_acquire(renew_lost, 4, &l, &a, &f), 0);
    CHECK_RC(tn_lease_renew(l), TN_ELOST);
    CHECK(strstr(tn_authority_last_error(), "expired or was revoked"),
          "message: %s", tn_authority_last_error());
    CHECK(tn_lease_state_get(l) == TN_LEASE_FOLLOWER, "still leader");
    tn_lease_close(l);
    tn_authority_close(a);
    fake_stop(&f);

    CHECK_RC(fake_acquire(renew_bad, 6, &l, &a, &f), 0);
    CHECK_RC(tn_lease_renew(l), TN_EPROTO);
    CHECK(strstr(tn_authority_last_error(), "\"TTL\""), "message: %s",
          tn_authority_last_error());
    CHECK(tn_lease_state_get(l) == TN_LEASE_LEADER, "a bad reply ended it");
    CHECK_RC(tn_lease_renew(l), TN_EPROTO);
    CHECK(strstr(tn_authority_last_error(), "not 9007199254740993"),
          "message: %s", tn_authority_last_error());
    tn_lease_close(l);
    tn_authority_close(a);
    fake_stop(&f);
  }
}

/* --- latency --------------------------------------------------------------- */

static int cmp_nanos(const void *a, const void *b) {
  tn_nanos x = *(const tn_nanos *)a, y = *(const tn_nanos *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *what, tn_nanos *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_nanos);
  printf("{\"op\":\"%s\",\"n\":%zu,\"median_ms\":%.3f,\"p99_ms\":%.3f,"
         "\"max_ms\":%.3f}\n",
         what, n, tn_nanos_to_millis(v[n / 2]),
         tn_nanos_to_millis(v[n * 99 / 100]), tn_nanos_to_millis(v[n - 1]));
}

static void test_latency(void) {
  enum { ACQ = 100, REN = 300 };
  static tn_nanos acq[ACQ], ren[REN], rel[ACQ];
  char uri[600];
  tn_authority *a;
  tn_lease *l;
  size_t i;
  uri_for(uri, sizeof uri, "lat");
  a = it_open(uri);
  l = it_lease(a, "lat", "node-a", 2 * TN_SEC);
  for (i = 0; i < ACQ; i++) {
    tn_nanos t = tn_now();
    CHECK_RC(tn_lease_try_acquire(l), 0);
    acq[i] = tn_now() - t;
    t = tn_now();
    CHECK_RC(tn_lease_release(l), 0);
    rel[i] = tn_now() - t;
  }
  CHECK_RC(tn_lease_try_acquire(l), 0);
  for (i = 0; i < REN; i++) {
    tn_nanos t = tn_now();
    CHECK_RC(tn_lease_renew(l), 0);
    ren[i] = tn_now() - t;
  }
  tn_lease_release(l);
  report("acquire (grant + txn)", acq, ACQ);
  report("renew (range + keepalive)", ren, REN);
  report("release (range + revoke)", rel, ACQ);
  tn_lease_close(l);
  tn_authority_close(a);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: it_etcd_lease ENDPOINTS_FILE\n");
    return 2;
  }
  it_read_endpoints(argv[1], endpoints, sizeof endpoints);
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_uri_errors();
  test_terms();
  test_granted_ttl();
  test_fenced_put();
  test_wakeup_and_expiry();
  test_failover();
  test_hostile_replies();
  test_latency();
  if (it_failures) {
    printf("etcd lease: %d checks failed\n", it_failures);
    return 1;
  }
  printf("etcd lease: ok\n");
  return 0;
}
