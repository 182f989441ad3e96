/*
 * Benchmark: the etcd backend against a running etcd (tests/bench/etcd.sh
 * starts one and runs this).
 *
 * Latency (200 operations each, median and p99), each against the same
 * HTTP POSTs made with a bare libcurl handle in the same run, interleaved
 * one for one so that drift in the server or the machine hits both alike.
 * The bare client reuses one connection, sends the same headers and the
 * same JSON bodies as the backend, and only looks for a marker in the
 * reply (no JSON parser): it is the floor for the backend's round trips.
 *   acquire  tn_lease_try_acquire (the tn_lease_release after it is not
 *            timed) against a bare /v3/lease/grant + /v3/kv/txn (the same
 *            two round trips; its revoke is not timed either).
 *   renew    tn_lease_renew against a bare /v3/lease/keepalive. The
 *            backend makes two round trips here (/v3/kv/range to check the
 *            key is still this term's, then the keepalive), so the figure
 *            is also given against a bare range + keepalive.
 *   write    tn_guard_begin + tn_etcd_fenced_put + tn_guard_end against a
 *            bare /v3/kv/txn with the same compare and put (one round trip
 *            each).
 * Target: ratio <= 1.2.
 *
 * Failover after a stall: a leader child acquires (TTL 2 s, then 3 s),
 * renews every TTL / 3 and writes through the fence; it is SIGSTOPped at a
 * random point of its renewal cycle (t0 = the kernel confirming the stop).
 * The figure is t0 to the first fenced put accepted for a follower in this
 * process, which waits in tn_lease_acquire. Target: TTL + 0.6 s. Baseline:
 * the TTL. etcd refuses to run a lease shorter than its minimum TTL (2 s
 * with the default 1 s election timeout: shorter grants are raised
 * silently), so the 0.5 s and 1 s TTLs of bench_failover cannot be measured
 * here.
 *
 * Handoff: the leader calls tn_lease_release while the follower waits in
 * tn_lease_acquire; the figure runs from the call to the follower's first
 * accepted fenced put. Target: 50 ms. Baseline: the backend's 20 ms watch
 * poll (a waiting candidate reads the key that often).
 *
 *   bench_etcd ENDPOINT [ROUNDS]   ENDPOINT host:port of a plain-HTTP etcd;
 *                                  ROUNDS per failover figure (default 5)
 * Without ENDPOINT it says so on stderr and exits 0 (scripts/bench.sh runs
 * every benchmark without arguments).
 */
#define _GNU_SOURCE
#include <tenure/error.h>
#include <tenure/etcd.h>
#include <tenure/lease.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OPS 200

static char endpoint[256], uri[300];
static int pid_tag;

/* --- the bare client --------------------------------------------------- */

struct bare {
  CURL *h;
  struct curl_slist *headers;
  char *body;
  size_t len, cap;
};

static size_t bare_body(char *p, size_t size, size_t nmemb, void *arg) {
  struct bare *b = arg;
  size_t n = size * nmemb;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    char *nb;
    while (cap < b->len + n + 1)
      cap *= 2;
    if ((nb = realloc(b->body, cap)) == NULL)
      return 0;
    b->body = nb;
    b->cap = cap;
  }
  memcpy(b->body + b->len, p, n);
  b->len += n;
  b->body[b->len] = '\0';
  return n;
}

static int bare_open(struct bare *b) {
  memset(b, 0, sizeof *b);
  b->h = curl_easy_init();
  b->headers = curl_slist_append(NULL, "Content-Type: application/json");
  b->headers = curl_slist_append(b->headers, "Expect:");
  return b->h && b->headers ? 0 : -1;
}

static void bare_close(struct bare *b) {
  curl_slist_free_all(b->headers);
  curl_easy_cleanup(b->h);
  free(b->body);
}

/* POST body to path; 0 when a 200 came back whose body contains want. */
static int bare_post(struct bare *b, const char *path, const char *body,
                     const char *want) {
  char url[320];
  long status = 0;
  snprintf(url, sizeof url, "http://%s%s", endpoint, path);
  b->len = 0;
  if (b->body)
    b->body[0] = '\0';
  curl_easy_setopt(b->h, CURLOPT_URL, url);
  curl_easy_setopt(b->h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(b->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(b->h, CURLOPT_HTTPHEADER, b->headers);
  curl_easy_setopt(b->h, CURLOPT_WRITEFUNCTION, bare_body);
  curl_easy_setopt(b->h, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(b->h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(b->h, CURLOPT_TIMEOUT_MS, 500L);
  curl_easy_setopt(b->h, CURLOPT_PROXY, "");
  curl_easy_setopt(b->h, CURLOPT_TCP_NODELAY, 1L);
  if (curl_easy_perform(b->h) != CURLE_OK)
    return -1;
  curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 || b->body == NULL || strstr(b->body, want) == NULL)
    return -1;
  return 0;
}

/* A decimal string field "name":"123" of the last reply; 0 when absent. */
static unsigned long long bare_field(const struct bare *b, const char *name) {
  char pat[64];
  const char *p;
  snprintf(pat, sizeof pat, "\"%s\":\"", name);
  if (b->body == NULL || (p = strstr(b->body, pat)) == NULL)
    return 0;
  return strtoull(p + strlen(pat), NULL, 10);
}

static void b64(const char *in, char *out) {
  static const char t[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(in), i;
  const unsigned char *s = (const unsigned char *)in;
  for (i = 0; i + 2 < n; i += 3) {
    *out++ = t[s[i] >> 2];
    *out++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
    *out++ = t[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
    *out++ = t[s[i + 2] & 63];
  }
  if (n - i == 1) {
    *out++ = t[s[i] >> 2];
    *out++ = t[(s[i] & 3) << 4];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    *out++ = t[s[i] >> 2];
    *out++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
    *out++ = t[(s[i + 1] & 15) << 2];
    *out++ = '=';
  }
  *out = '\0';
}

/* --- statistics ---------------------------------------------------------- */

static int cmp(const void *x, const void *y) {
  tn_nanos a = *(const tn_nanos *)x, b = *(const tn_nanos *)y;
  return (a > b) - (a < b);
}

struct stats {
  tn_nanos median, p99;
};

static struct stats summarize(tn_nanos *v, int n) {
  struct stats s;
  qsort(v, (size_t)n, sizeof v[0], cmp);
  s.median = v[n / 2];
  s.p99 = v[(n * 99 + 99) / 100 - 1];
  return s;
}

static void report(const char *what, int trips, struct stats t,
                   const char *bwhat, int btrips, struct stats b,
                   const char *extra) {
  double ratio = (double)t.median / (double)b.median;
  printf("{\"bench\":\"etcd_%s\",\"ops\":%d,\"round_trips\":%d,"
         "\"median_ns\":%lld,\"p99_ns\":%lld,"
         "\"baseline\":{\"what\":\"%s\",\"round_trips\":%d,"
         "\"median_ns\":%lld,\"p99_ns\":%lld},"
         "\"ratio\":%.3f,\"p99_ratio\":%.3f,\"target_ratio\":1.2,"
         "\"meets_target\":%s%s}\n",
         what, OPS, trips, (long long)t.median, (long long)t.p99, bwhat, btrips,
         (long long)b.median, (long long)b.p99, ratio,
         (double)t.p99 / (double)b.p99, ratio <= 1.2 ? "true" : "false",
         extra);
  fflush(stdout);
}

/* --- latency -------------------------------------------------------------- */

static int latency(void) {
  tn_authority *a;
  tn_lease *l;
  tn_lease_options o;
  struct bare b;
  static tn_nanos tv[OPS], bv[OPS], bv2[OPS];
  char name[64], bare_key[96], k64[160], lk64[200], v64[64], body[1024];
  char put_key[96];
  int i, errors = 0;
  unsigned long long id;
  uint64_t token;

  snprintf(name, sizeof name, "bench-lat-%d", pid_tag);
  snprintf(bare_key, sizeof bare_key, "tenure/bench-bare-%d", pid_tag);
  snprintf(put_key, sizeof put_key, "bench/data-%d", pid_tag);
  b64(bare_key, k64);
  b64("bare", v64);
  tn_lease_options_init(&o);
  o.ttl = 10 * TN_SEC;
  if (tn_authority_open(uri, &a) || tn_lease_open(a, name, "bench", &o, &l) ||
      bare_open(&b)) {
    fprintf(stderr, "bench_etcd: %s\n", tn_authority_last_error());
    return -1;
  }

  /* warm both connections */
  for (i = 0; i < 5; i++) {
    if (tn_lease_try_acquire(l) == 0)
      tn_lease_release(l);
    bare_post(&b, "/v3/lease/grant", "{\"TTL\":10}", "\"ID\"");
    snprintf(body, sizeof body, "{\"ID\":\"%llu\"}", bare_field(&b, "ID"));
    bare_post(&b, "/v3/lease/revoke", body, "header");
  }

  /* acquire: try_acquire vs grant + txn */
  for (i = 0; i < OPS; i++) {
    tn_nanos t0 = tn_now(), t1;
    int rc = tn_lease_try_acquire(l);
    t1 = tn_now();
    tv[i] = t1 - t0;
    if (rc != 0 || tn_lease_release(l) != 0)
      errors++;
    t0 = tn_now();
    rc = bare_post(&b, "/v3/lease/grant", "{\"TTL\":10}", "\"ID\"");
    id = bare_field(&b, "ID");
    snprintf(body, sizeof body,
             "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\","
             "\"result\":\"EQUAL\",\"create_revision\":\"0\"}],"
             "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\","
             "\"lease\":\"%llu\"}}],"
             "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
             k64, k64, v64, id, k64);
    if (rc == 0)
      rc = bare_post(&b, "/v3/kv/txn", body, "\"succeeded\":true");
    t1 = tn_now();
    bv[i] = t1 - t0;
    snprintf(body, sizeof body, "{\"ID\":\"%llu\"}", id);
    if (rc != 0 || bare_post(&b, "/v3/lease/revoke", body, "header") != 0)
      errors++;
  }
  report("acquire", 2, summarize(tv, OPS),
         "bare POST /v3/lease/grant + /v3/kv/txn (create if absent)", 2,
         summarize(bv, OPS), "");

  /* renew: tn_lease_renew vs keepalive (and range + keepalive) */
  if (tn_lease_try_acquire(l) != 0 ||
      bare_post(&b, "/v3/lease/grant", "{\"TTL\":10}", "\"ID\"") != 0) {
    fprintf(stderr, "bench_etcd: acquire for renew: %s\n",
            tn_authority_last_error());
    return -1;
  }
  id = bare_field(&b, "ID");
  {
    char lkey[96];
    snprintf(lkey, sizeof lkey, "tenure/%s", name);
    b64(lkey, lk64);
  }
  for (i = 0; i < OPS; i++) {
    tn_nanos t0 = tn_now(), t1;
    int rc = tn_lease_renew(l);
    t1 = tn_now();
    tv[i] = t1 - t0;
    if (rc != 0)
      errors++;
    snprintf(body, sizeof body, "{\"ID\":\"%llu\"}", id);
    t0 = tn_now();
    rc = bare_post(&b, "/v3/lease/keepalive", body, "\"TTL\"");
    t1 = tn_now();
    bv[i] = t1 - t0;
    if (rc != 0)
      errors++;
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", lk64);
    t0 = tn_now();
    rc = bare_post(&b, "/v3/kv/range", body, "\"kvs\"");
    if (rc == 0) {
      snprintf(body, sizeof body, "{\"ID\":\"%llu\"}", id);
      rc = bare_post(&b, "/v3/lease/keepalive", body, "\"TTL\"");
    }
    t1 = tn_now();
    bv2[i] = t1 - t0;
    if (rc != 0)
      errors++;
  }
  {
    struct stats s2 = summarize(bv2, OPS), st = summarize(tv, OPS);
    char extra[256];
    snprintf(extra, sizeof extra,
             ",\"baseline_same_trips\":{\"what\":\"bare POST /v3/kv/range + "
             "/v3/lease/keepalive\",\"round_trips\":2,\"median_ns\":%lld,"
             "\"p99_ns\":%lld,\"ratio\":%.3f}",
             (long long)s2.median, (long long)s2.p99,
             (double)st.median / (double)s2.median);
    report("renew", 2, st, "bare POST /v3/lease/keepalive", 1,
           summarize(bv, OPS), extra);
  }
  snprintf(body, sizeof body, "{\"ID\":\"%llu\"}", id);
  bare_post(&b, "/v3/lease/revoke", body, "header");

  /* write: guard + fenced put vs the same txn */
  token = tn_lease_token(l);
  {
    char pk64[160], val[32], val64[64];
    b64(put_key, pk64);
    for (i = 0; i < OPS; i++) {
      uint64_t tok;
      tn_nanos t0, t1;
      int rc = -1;
      snprintf(val, sizeof val, "t%d", i);
      t0 = tn_now();
      if (tn_guard_begin(l, 100 * TN_MSEC, &tok) == 0) {
        rc = tn_etcd_fenced_put(a, name, tok, put_key, val, strlen(val));
        if (tn_guard_end(l) != 0)
          rc = -1;
      }
      t1 = tn_now();
      tv[i] = t1 - t0;
      if (rc != 0)
        errors++;
      b64(val, val64);
      snprintf(body, sizeof body,
               "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\","
               "\"result\":\"EQUAL\",\"create_revision\":\"%llu\"}],"
               "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}],"
               "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
               lk64, (unsigned long long)token, pk64, val64, lk64);
      t0 = tn_now();
      rc = bare_post(&b, "/v3/kv/txn", body, "\"succeeded\":true");
      t1 = tn_now();
      bv[i] = t1 - t0;
      if (rc != 0)
        errors++;
    }
  }
  report("write", 1, summarize(tv, OPS),
         "bare POST /v3/kv/txn (same compare + put)", 1, summarize(bv, OPS),
         "");
  tn_lease_release(l);
  tn_lease_close(l);
  tn_authority_close(a);
  bare_close(&b);
  if (errors)
    fprintf(stderr, "bench_etcd: %d latency operations failed\n", errors);
  return errors ? -1 : 0;
}

/* --- failover ----------------------------------------------------------- */

/* The leader: acquire, report its token, renew every ttl / 3 and write
 * through the fence; with handoff, release after 300 ms and report when. */
static void leader(const char *name, tn_nanos ttl, int handoff, int out) {
  tn_authority *a;
  tn_lease *l;
  tn_lease_options o;
  tn_nanos renew_next, t_release;
  uint64_t tok;
  tn_lease_options_init(&o);
  o.ttl = ttl;
  if (tn_authority_open(uri, &a) || tn_lease_open(a, name, "leader", &o, &l) ||
      tn_lease_acquire(l, 5 * TN_SEC))
    _exit(3);
  tok = tn_lease_token(l);
  if (write(out, &tok, sizeof tok) != sizeof tok)
    _exit(4);
  renew_next = tn_now() + ttl / 3;
  t_release = tn_now() + 300 * TN_MSEC;
  for (;;) {
    uint64_t t;
    if (tn_guard_begin(l, 50 * TN_MSEC, &t) == 0) {
      tn_etcd_fenced_put(a, name, t, "bench/fo-data", "L", 1);
      tn_guard_end(l);
    }
    if (tn_now() >= renew_next) {
      if (tn_lease_renew(l) != 0)
        _exit(6);
      renew_next = tn_now() + ttl / 3;
    }
    if (handoff && tn_now() >= t_release) {
      tn_nanos at = tn_now();
      tn_lease_release(l);
      if (write(out, &at, sizeof at) != sizeof at)
        _exit(5);
      pause();
    }
    usleep(5000);
  }
}

static tn_nanos round_once(tn_nanos ttl, int handoff, int round) {
  int fds[2], st;
  tn_authority *a = NULL;
  tn_lease *l = NULL;
  tn_lease_options o;
  uint64_t tok;
  tn_nanos t0 = 0, result = -1;
  pid_t pid;
  char name[64];
  snprintf(name, sizeof name, "bench-fo-%d-%s-%lld-%d", pid_tag,
           handoff ? "h" : "s", (long long)(ttl / TN_MSEC), round);
  if (pipe(fds))
    return -1;
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    close(fds[0]);
    leader(name, ttl, handoff, fds[1]);
  }
  close(fds[1]);
  if (read(fds[0], &tok, sizeof tok) != sizeof tok)
    goto out;
  tn_lease_options_init(&o);
  o.ttl = ttl;
  if (tn_authority_open(uri, &a) || tn_lease_open(a, name, "follower", &o, &l))
    goto out;
  if (!handoff) {
    usleep(150 * 1000 + (useconds_t)(rand() % (int)(ttl / 3 / TN_USEC)));
    kill(pid, SIGSTOP);
    waitpid(pid, &st, WUNTRACED);
    t0 = tn_now();
  }
  /* handoff: the leader releases 300 ms after acquiring; we are waiting */
  if (tn_lease_acquire(l, 10 * TN_SEC) == 0) {
    tn_nanos give_up = tn_now() + 2 * TN_SEC;
    while (tn_now() < give_up) {
      uint64_t t;
      if (tn_guard_begin(l, 50 * TN_MSEC, &t) == 0) {
        int rc = tn_etcd_fenced_put(a, name, t, "bench/fo-data", "F", 1);
        tn_nanos done = tn_now();
        tn_guard_end(l);
        if (rc == 0) {
          result = done;
          break;
        }
      }
    }
    tn_lease_release(l);
  } else {
    fprintf(stderr, "bench_etcd: follower: %s\n", tn_authority_last_error());
  }
  if (handoff && result > 0) {
    if (read(fds[0], &t0, sizeof t0) != sizeof t0)
      result = -1;
  }
  if (result > 0)
    result -= t0;
out:
  if (l)
    tn_lease_close(l);
  if (a)
    tn_authority_close(a);
  kill(pid, SIGCONT);
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  close(fds[0]);
  return result;
}

int main(int argc, char **argv) {
  static const tn_nanos ttls[] = {2 * TN_SEC, 3 * TN_SEC};
  int rounds = argc > 2 ? atoi(argv[2]) : 5, i, r, failed = 0;
  tn_nanos v[32];
  if (argc < 2) {
    fprintf(stderr, "bench_etcd: no etcd endpoint given, skipped "
                    "(usage: bench_etcd HOST:PORT [ROUNDS]; "
                    "tests/bench/etcd.sh starts an etcd and runs it)\n");
    return 0;
  }
  if (rounds < 1 || rounds > 32 || strlen(argv[1]) >= sizeof endpoint)
    return 2;
  strcpy(endpoint, argv[1]);
  snprintf(uri, sizeof uri, "etcd://%s", endpoint);
  pid_tag = (int)getpid();
  srand(7);
  curl_global_init(CURL_GLOBAL_ALL);

  if (latency() != 0)
    failed = 1;

  for (i = 0; i < 2; i++) {
    tn_nanos target = ttls[i] + 600 * TN_MSEC;
    int ok = 1;
    for (r = 0; r < rounds; r++) {
      v[r] = round_once(ttls[i], 0, r);
      if (v[r] <= 0)
        ok = 0;
    }
    qsort(v, (size_t)rounds, sizeof v[0], cmp);
    printf("{\"bench\":\"etcd_failover_stall\",\"ttl_ns\":%lld,\"rounds\":%d,"
           "\"min_ns\":%lld,\"median_ns\":%lld,\"max_ns\":%lld,"
           "\"baseline\":{\"what\":\"the TTL\",\"ns\":%lld},\"ratio\":%.3f,"
           "\"target_ns\":%lld,\"meets_target\":%s,"
           "\"note\":\"etcd's minimum lease TTL is 2 s (shorter grants are "
           "raised), so the 0.5 s and 1 s TTLs cannot be measured\"}\n",
           (long long)ttls[i], rounds, (long long)v[0],
           (long long)v[rounds / 2], (long long)v[rounds - 1],
           (long long)ttls[i], (double)v[rounds / 2] / (double)ttls[i],
           (long long)target,
           ok && v[rounds - 1] <= target ? "true" : "false");
    fflush(stdout);
    failed |= !ok;
  }
  {
    int ok = 1;
    for (r = 0; r < rounds; r++) {
      v[r] = round_once(2 * TN_SEC, 1, r);
      if (v[r] <= 0)
        ok = 0;
    }
    qsort(v, (size_t)rounds, sizeof v[0], cmp);
    printf("{\"bench\":\"etcd_failover_handoff\",\"ttl_ns\":%lld,\"rounds\":%d,"
           "\"min_ns\":%lld,\"median_ns\":%lld,\"max_ns\":%lld,"
           "\"baseline\":{\"what\":\"the backend's 20 ms watch poll\","
           "\"ns\":20000000},\"ratio\":%.3f,\"target_ns\":50000000,"
           "\"meets_target\":%s}\n",
           (long long)(2 * TN_SEC), rounds, (long long)v[0],
           (long long)v[rounds / 2], (long long)v[rounds - 1],
           (double)v[rounds / 2] / 2e7,
           ok && v[rounds - 1] <= 50 * TN_MSEC ? "true" : "false");
    fflush(stdout);
    failed |= !ok;
  }
  curl_global_cleanup();
  return failed;
}
