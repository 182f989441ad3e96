/*
 * The etcd authority: leases held in an etcd 3.4 cluster through its JSON
 * gateway (HTTP/1.1 POSTs to /v3/...), with libcurl. The bodies are built
 * and the replies parsed in etcd_proto.c; this file does the HTTP, the
 * endpoint failover and the lease logic.
 *
 *   etcd://host:port[,host:port...][/prefix][?option=value&...]
 *   etcds://...   the same over TLS; options cacert=, cert=, key= (files)
 *   options: timeout=DUR (each request, default 500ms),
 *            connect_timeout=DUR (default 200ms)
 *
 * One lease name is one key, "<prefix>/<name>" (prefix default "tenure"),
 * whose value is the holder and which is attached to an etcd lease:
 *   acquire  grant a lease of the TTL rounded up to whole seconds, then a
 *            txn: if the key's CREATE revision is 0 (it does not exist) put
 *            it with the lease, else read it. etcd raises TTLs below 2 s
 *            silently, so D is the TTL the grant reply says, never the one
 *            asked for. The fencing token is the key's create_revision
 *            (the txn's header.revision): etcd's revision counter only
 *            grows, is replicated and survives restarts (S2).
 *   renew    read the key (it must still be ours: same create_revision and
 *            holder; this also catches a key deleted behind our back),
 *            then one POST to /v3/lease/keepalive; a 200 without a TTL
 *            means the lease is gone: TN_ELOST.
 *   release  revoke the lease (which deletes the key), after checking the
 *            key is ours.
 * The backend keeps no per-lease state: the lease ID is read from the key,
 * so any process can observe or force-release.
 *
 * The deadline (§5.1): lease.c reads t_send before calling acquire or
 * renew, and we return duration = the TTL etcd granted and expiry = 0.
 * etcd starts its timer when it handles the request, which is after
 * t_send, and never ends a lease early (a leader change or a restart
 * resets leases to their full TTL: the server's TTL is only a minimum).
 * Nothing here reads the clock to compute a deadline, so retries on other
 * endpoints can only spend the holder's own time, never extend it.
 *
 * Failover: requests go to the endpoint that answered last; one that
 * refuses the connection, times out (connect_timeout, timeout), breaks
 * the reply off or answers 5xx / 429 (etcd's "leader changed", "no
 * leader", "request timed out") is skipped and the next one is tried, each
 * once per call. A txn retried this way may have been applied the first
 * time: an acquire recognises its own key by the lease ID it attached.
 *
 * Replies are untrusted: anything malformed is TN_EPROTO, no endpoint
 * answering is TN_EUNAVAILABLE, and tn_authority_last_error() names the
 * endpoint, the call and what was wrong.
 *
 * Threads: libcurl easy handles are not shareable, so each call borrows
 * one from a small pool (keeping its connections open between calls) and
 * gives it back: calls on one authority run concurrently.
 */
#define _GNU_SOURCE
#include "../src/authority.h"
#include "etcd_proto.h"

#include <tenure/error.h>
#include <tenure/etcd.h>

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENDPOINTS_MAX 16
#define HOST_MAX 253
#define PREFIX_MAX 200
#define DEFAULT_PREFIX "tenure"
#define REPLY_MAX (4u << 20)
#define POOL_MAX 8
#define DEFAULT_TIMEOUT (500 * TN_MSEC)
#define DEFAULT_CONNECT_TIMEOUT (200 * TN_MSEC)
/* watch polls the key this often: a waiting candidate sees the term end
 * at most this long (plus one round trip) after etcd deleted the key */
#define WATCH_POLL (20 * TN_MSEC)

struct endpoint {
  char name[HOST_MAX + 10]; /* host:port, for messages */
  char url[HOST_MAX + 20];  /* scheme://host:port */
};

struct etcd_auth {
  struct endpoint ep[ENDPOINTS_MAX];
  size_t n_ep;
  _Atomic size_t current; /* the endpoint that answered last */
  char prefix[PREFIX_MAX + 2]; /* with the trailing '/' */
  size_t prefix_len;
  long timeout_ms, connect_timeout_ms;
  char *cacert, *cert, *key; /* TLS files, NULL when not given */
  pthread_mutex_t pool_lock;
  CURL *pool[POOL_MAX];
  size_t n_pool;
};

/* An answer from one endpoint: any HTTP status, and its body. */
struct reply {
  char *body;
  size_t len, cap;
  int too_big;
  long status;
  size_t ep; /* which endpoint answered */
};

/* --- URI ----------------------------------------------------------------- */

static int uri_fail(const char *uri, const char *why) {
  return tn__authority_fail(TN_EINVAL,
                            "authority URI \"%.200s\": %s; expected "
                            "etcd://host:port[,host:port...][/prefix]"
                            "[?timeout=500ms&connect_timeout=200ms]",
                            uri, why);
}

static int host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* One "host[:port]" of length n into ep. */
static int parse_endpoint(const char *uri, const char *s, size_t n,
                          const char *scheme, struct endpoint *ep) {
  const char *host = s, *colon = NULL;
  size_t host_len, i;
  unsigned long port = 2379;
  if (n > 0 && s[0] == '[') { /* [v6] */
    const char *close = memchr(s, ']', n);
    if (close == NULL)
      return uri_fail(uri, "an IPv6 address lacks its ']'");
    for (i = 1; s + i < close; i++)
      if (!(host_char(s[i]) || s[i] == ':'))
        return uri_fail(uri, "bad character in an IPv6 address");
    host_len = (size_t)(close - s) + 1;
    if (host_len < 3)
      return uri_fail(uri, "empty IPv6 address");
    if (close + 1 < s + n) {
      if (close[1] != ':')
        return uri_fail(uri, "junk after an IPv6 address");
      colon = close + 1;
    }
  } else {
    colon = memchr(s, ':', n);
    host_len = colon ? (size_t)(colon - s) : n;
    for (i = 0; i < host_len; i++)
      if (!host_char(s[i]))
        return uri_fail(uri, "bad character in a host name");
  }
  if (host_len == 0)
    return uri_fail(uri, "an endpoint has no host");
  if (host_len > HOST_MAX)
    return uri_fail(uri, "host name too long");
  if (colon) {
    const char *p = colon + 1;
    size_t plen = (size_t)(s + n - p);
    port = 0;
    if (plen == 0 || plen > 5)
      return uri_fail(uri, "bad port");
    for (i = 0; i < plen; i++) {
      if (p[i] < '0' || p[i] > '9')
        return uri_fail(uri, "bad port");
      port = port * 10 + (unsigned long)(p[i] - '0');
    }
    if (port == 0 || port > 65535)
      return uri_fail(uri, "port out of range");
  }
  snprintf(ep->name, sizeof ep->name, "%.*s:%lu", (int)host_len, host, port);
  snprintf(ep->url, sizeof ep->url, "%s://%.*s:%lu", scheme, (int)host_len,
           host, port);
  return 0;
}

static int prefix_valid(const char *p, size_t n) {
  size_t i;
  if (n == 0 || n > PREFIX_MAX || p[0] == '/' || p[n - 1] == '/')
    return 0;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if (!(host_char(c) || c == '_' || c == '/'))
      return 0;
    if (c == '/' && p[i + 1] == '/')
      return 0;
  }
  return 1;
}

static int parse_ms_option(const char *uri, const char *name, const char *v,
                           long *out) {
  tn_nanos d;
  if (tn_duration_parse(v, &d, NULL) != 0 || d < TN_MSEC || d > 10 * TN_MIN) {
    char why[96];
    snprintf(why, sizeof why, "option %s needs a duration from 1ms to 10m",
             name);
    return uri_fail(uri, why);
  }
  *out = (long)(d / TN_MSEC);
  return 0;
}

/* name=value&... (a copy: it is cut up) */
static int parse_options(const char *uri, char *q, struct etcd_auth *ea,
                         int tls) {
  char *save = NULL, *opt;
  for (opt = strtok_r(q, "&", &save); opt; opt = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(opt, '='), **file = NULL;
    int rc = 0;
    if (eq == NULL || eq[1] == '\0')
      return uri_fail(uri, "an option lacks its =value");
    *eq = '\0';
    if (strcmp(opt, "timeout") == 0)
      rc = parse_ms_option(uri, opt, eq + 1, &ea->timeout_ms);
    else if (strcmp(opt, "connect_timeout") == 0)
      rc = parse_ms_option(uri, opt, eq + 1, &ea->connect_timeout_ms);
    else if (strcmp(opt, "cacert") == 0)
      file = &ea->cacert;
    else if (strcmp(opt, "cert") == 0)
      file = &ea->cert;
    else if (strcmp(opt, "key") == 0)
      file = &ea->key;
    else
      return uri_fail(uri, "unknown option (known: timeout, "
                           "connect_timeout, and with etcds:// cacert, cert, "
                           "key)");
    if (rc)
      return rc;
    if (file) {
      if (!tls)
        return uri_fail(uri, "cacert, cert and key need etcds://");
      if (eq[1] != '/')
        return uri_fail(uri, "TLS files need absolute paths");
      free(*file);
      if ((*file = strdup(eq + 1)) == NULL)
        return tn__authority_fail(TN_ENOMEM, "out of memory");
    }
  }
  return 0;
}

static int parse_uri(const char *uri, struct etcd_auth *ea) {
  const char *rest, *end, *slash, *query, *scheme;
  int tls = strncmp(uri, "etcds://", 8) == 0, rc;
  rest = uri + (tls ? 8 : 7);
  scheme = tls ? "https" : "http";
  query = strchr(rest, '?');
  end = query ? query : rest + strlen(rest);
  slash = memchr(rest, '/', (size_t)(end - rest));
  if (slash == NULL)
    slash = end;
  if (slash == rest)
    return uri_fail(uri, "no endpoint");
  /* endpoints */
  while (rest < slash) {
    const char *comma = memchr(rest, ',', (size_t)(slash - rest));
    const char *e = comma ? comma : slash;
    if (ea->n_ep == ENDPOINTS_MAX)
      return uri_fail(uri, "more than 16 endpoints");
    if ((rc = parse_endpoint(uri, rest, (size_t)(e - rest), scheme,
                             &ea->ep[ea->n_ep])) != 0)
      return rc;
    ea->n_ep++;
    rest = comma ? comma + 1 : slash;
    if (comma && rest == slash)
      return uri_fail(uri, "empty endpoint after ','");
  }
  /* prefix */
  if (slash < end && slash + 1 < end) {
    size_t n = (size_t)(end - slash - 1);
    if (!prefix_valid(slash + 1, n))
      return uri_fail(uri, "the prefix must be 1-200 of [A-Za-z0-9._-] "
                           "separated by single '/', without a '/' at "
                           "either end");
    memcpy(ea->prefix, slash + 1, n);
    ea->prefix_len = n;
  } else {
    strcpy(ea->prefix, DEFAULT_PREFIX);
    ea->prefix_len = strlen(DEFAULT_PREFIX);
  }
  ea->prefix[ea->prefix_len++] = '/';
  ea->prefix[ea->prefix_len] = '\0';
  /* options */
  ea->timeout_ms = (long)(DEFAULT_TIMEOUT / TN_MSEC);
  ea->connect_timeout_ms = (long)(DEFAULT_CONNECT_TIMEOUT / TN_MSEC);
  if (query && query[1]) {
    char *q = strdup(query + 1);
    if (q == NULL)
      return tn__authority_fail(TN_ENOMEM, "out of memory");
    rc = parse_options(uri, q, ea, tls);
    free(q);
    if (rc)
      return rc;
  }
  return 0;
}

/* --- HTTP ---------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_ALL); }

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg) {
  struct reply *r = arg;
  size_t n = size * nmemb;
  if (n > REPLY_MAX - r->len) {
    r->too_big = 1;
    return 0; /* abort the transfer */
  }
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 1024;
    char *b;
    while (cap < r->len + n + 1)
      cap *= 2;
    if ((b = realloc(r->body, cap)) == NULL)
      return 0;
    r->body = b;
    r->cap = cap;
  }
  memcpy(r->body + r->len, p, n);
  r->len += n;
  r->body[r->len] = '\0';
  return n;
}

static void reply_free(struct reply *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

static CURL *handle_get(struct etcd_auth *ea) {
  CURL *h = NULL;
  pthread_mutex_lock(&ea->pool_lock);
  if (ea->n_pool > 0)
    h = ea->pool[--ea->n_pool];
  pthread_mutex_unlock(&ea->pool_lock);
  if (h == NULL)
    h = curl_easy_init();
  return h;
}

static void handle_put(struct etcd_auth *ea, CURL *h) {
  pthread_mutex_lock(&ea->pool_lock);
  if (ea->n_pool < POOL_MAX) {
    ea->pool[ea->n_pool++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&ea->pool_lock);
  if (h)
    curl_easy_cleanup(h);
}

/* POST body to one endpoint. 0 when an HTTP answer came back (any status),
 * else -1 with the reason in err. */
static int post_one(struct etcd_auth *ea, CURL *h, const struct endpoint *ep,
                    const char *path, const char *body,
                    struct curl_slist *headers, struct reply *r, char *err,
                    size_t err_len) {
  char url[sizeof ep->url + 64], curl_err[CURL_ERROR_SIZE];
  CURLcode cc;
  snprintf(url, sizeof url, "%s%s", ep->url, path);
  curl_err[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ea->timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ea->connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never via $http_proxy */
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  if (ea->cacert)
    curl_easy_setopt(h, CURLOPT_CAINFO, ea->cacert);
  if (ea->cert)
    curl_easy_setopt(h, CURLOPT_SSLCERT, ea->cert);
  if (ea->key)
    curl_easy_setopt(h, CURLOPT_SSLKEY, ea->key);
  cc = curl_easy_perform(h);
  /* the handle goes back to the pool: no pointers into this call */
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
  if (cc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    return 0;
  }
  if (r->too_big)
    snprintf(err, err_len, "reply larger than %u bytes", REPLY_MAX);
  else if (cc == CURLE_OPERATION_TIMEDOUT)
    snprintf(err, err_len, "no answer within %ld ms", ea->timeout_ms);
  else if (cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR ||
           cc == CURLE_GOT_NOTHING)
    snprintf(err, err_len, "reply cut off (%s)",
             curl_err[0] ? curl_err : curl_easy_strerror(cc));
  else
    snprintf(err, err_len, "%s",
             curl_err[0] ? curl_err : curl_easy_strerror(cc));
  return -1;
}

/* POST body to path, trying each endpoint once from the one that answered
 * last. 0 with *r holding a non-5xx answer (the caller checks the status);
 * TN_EUNAVAILABLE naming every endpoint and why it was skipped; TN_EPROTO
 * for a reply too large to be etcd's; TN_ENOMEM (body NULL: the builder
 * ran out of memory). Takes body (malloc'd) and frees it. */
static int request(struct etcd_auth *ea, const char *path, char *body,
                   struct reply *r) {
  struct curl_slist *headers = NULL, *h1;
  char tried[768];
  size_t start = atomic_load(&ea->current), k, used = 0;
  CURL *h;
  int rc = TN_EUNAVAILABLE;

  memset(r, 0, sizeof *r);
  if (body == NULL)
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  h = handle_get(ea);
  h1 = curl_slist_append(NULL, "Content-Type: application/json");
  if (h1)
    headers = curl_slist_append(h1, "Expect:");
  if (h == NULL || headers == NULL) {
    if (h)
      handle_put(ea, h);
    curl_slist_free_all(h1);
    free(body);
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  }
  tried[0] = '\0';
  for (k = 0; k < ea->n_ep; k++) {
    size_t i = (start + k) % ea->n_ep;
    char err[CURL_ERROR_SIZE + 64];
    reply_free(r);
    r->ep = i;
    if (post_one(ea, h, &ea->ep[i], path, body, headers, r, err,
                 sizeof err) == 0) {
      if (r->status >= 500 || r->status == 429) {
        /* the member is up but cannot serve: no leader, leader changed,
         * request timed out, overloaded. Another member may. */
        int code;
        char msg[160];
        tn__etcd_parse_error(r->body, r->len, &code, msg, sizeof msg);
        snprintf(err, sizeof err, "HTTP %ld: %s", r->status, msg);
      } else {
        atomic_store(&ea->current, i);
        rc = 0;
        break;
      }
    } else if (r->too_big) {
      rc = tn__authority_fail(TN_EPROTO, "etcd %s %s: %s", ea->ep[i].name,
                              path, err);
      break;
    }
    if (used < sizeof tried)
      used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s: %s",
                               used ? "; " : "", ea->ep[i].name, err);
  }
  curl_slist_free_all(headers);
  handle_put(ea, h);
  free(body);
  if (rc == TN_EUNAVAILABLE)
    rc = tn__authority_fail(TN_EUNAVAILABLE,
                            "etcd %s: no endpoint answered: %s", path, tried);
  if (rc != 0)
    reply_free(r);
  return rc;
}

/* A non-200 answer: TN_ENOENT for gRPC NotFound (the caller decides what
 * that means), else TN_EPROTO with etcd's message. */
static int server_error(struct etcd_auth *ea, const char *path,
                        const struct reply *r) {
  char msg[200];
  int code;
  if (tn__etcd_parse_error(r->body, r->len, &code, msg, sizeof msg) == 0) {
    int rc = code == TN__GRPC_NOT_FOUND ? TN_ENOENT : TN_EPROTO;
    return tn__authority_fail(rc, "etcd %s %s: HTTP %ld: %s (gRPC code %d)",
                              ea->ep[r->ep].name, path, r->status, msg, code);
  }
  return tn__authority_fail(TN_EPROTO,
                            "etcd %s %s: HTTP %ld, and the body is not an "
                            "etcd error: \"%s\" (is this the client URL of "
                            "an etcd 3.4 or later?)",
                            ea->ep[r->ep].name, path, r->status, msg);
}

static int reply_fail(struct etcd_auth *ea, const char *path,
                      const struct reply *r, int rc, const char *why) {
  if (rc == TN_ENOMEM)
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  return tn__authority_fail(rc, "etcd %s %s: %s", ea->ep[r->ep].name, path,
                            why);
}

/* --- calls --------------------------------------------------------------- */

static size_t lease_key(const struct etcd_auth *ea, const char *name,
                        char *out) {
  size_t n = strlen(name);
  memcpy(out, ea->prefix, ea->prefix_len);
  memcpy(out + ea->prefix_len, name, n + 1);
  return ea->prefix_len + n;
}

/* Read one key: 0 and *found (with *kv when found). */
static int get_key(struct etcd_auth *ea, const char *key, size_t key_len,
                   int *found, tn__etcd_kv *kv) {
  static const char path[] = "/v3/kv/range";
  struct reply r;
  tn__etcd_range range;
  char why[256];
  int rc = request(ea, path, tn__etcd_req_range(key, key_len, NULL, 0, 0), &r);
  *found = 0;
  if (rc)
    return rc;
  if (r.status != 200) {
    rc = server_error(ea, path, &r);
    reply_free(&r);
    return rc == TN_ENOENT ? TN_EPROTO : rc;
  }
  rc = tn__etcd_parse_range(r.body, r.len, &range, why, sizeof why);
  if (rc == 0) {
    if (range.n > 1 || (range.n == 1 && (range.kvs[0].key_len != key_len ||
                                         memcmp(range.kvs[0].key, key,
                                                key_len) != 0)))
      rc = reply_fail(ea, path, &r, TN_EPROTO,
                      "a range of one key returned another key");
    else if (range.n == 1) {
      *found = 1;
      *kv = range.kvs[0];
    }
    tn__etcd_range_free(&range);
  } else {
    rc = reply_fail(ea, path, &r, rc, why);
  }
  reply_free(&r);
  return rc;
}

/* Call body to a lease endpoint (revoke, keepalive, timetolive). */
static int lease_call(struct etcd_auth *ea, const char *path, uint64_t id,
                      struct reply *r) {
  int rc = request(ea, path, tn__etcd_req_lease(id), r);
  if (rc == 0 && r->status != 200) {
    rc = server_error(ea, path, r);
    reply_free(r);
  }
  return rc;
}

/* Revoke lease id: 0, TN_ENOENT when etcd does not know it (any more). */
static int revoke(struct etcd_auth *ea, uint64_t id) {
  static const char path[] = "/v3/lease/revoke";
  struct reply r;
  uint64_t rev;
  char why[256];
  int rc = lease_call(ea, path, id, &r);
  if (rc)
    return rc;
  rc = tn__etcd_parse_header(r.body, r.len, &rev, why, sizeof why);
  if (rc)
    rc = reply_fail(ea, path, &r, rc, why);
  reply_free(&r);
  return rc;
}

/* Revoke without disturbing the error text of the failure being reported:
 * a lease we could not use expires at its TTL anyway. */
static void revoke_quietly(struct etcd_auth *ea, uint64_t id) {
  char saved[512];
  snprintf(saved, sizeof saved, "%s", tn_authority_last_error());
  revoke(ea, id);
  tn__authority_fail(0, "%s", saved);
}

/* A txn (body is taken); 0 and *t. */
static int txn(struct etcd_auth *ea, char *body, tn__etcd_txn *t) {
  static const char path[] = "/v3/kv/txn";
  struct reply r;
  char why[256];
  int rc = request(ea, path, body, &r);
  if (rc)
    return rc;
  if (r.status != 200) {
    rc = server_error(ea, path, &r);
    reply_free(&r);
    return rc == TN_ENOENT ? TN_EPROTO : rc;
  }
  rc = tn__etcd_parse_txn(r.body, r.len, t, why, sizeof why);
  if (rc)
    rc = reply_fail(ea, path, &r, rc, why);
  reply_free(&r);
  return rc;
}

/* The remaining TTL of lease id in ns; -1 when it is gone. */
static int time_to_live(struct etcd_auth *ea, uint64_t id, tn_nanos *left) {
  static const char path[] = "/v3/lease/timetolive";
  struct reply r;
  int64_t ttl, granted;
  char why[256];
  int rc = lease_call(ea, path, id, &r);
  if (rc == TN_ENOENT) {
    *left = -1;
    return 0;
  }
  if (rc)
    return rc;
  rc = tn__etcd_parse_timetolive(r.body, r.len, id, &ttl, &granted, why,
                                 sizeof why);
  if (rc)
    rc = reply_fail(ea, path, &r, rc, why);
  else if (ttl < 0)
    *left = -1;
  else if (ttl > INT64_MAX / TN_SEC)
    *left = TN_NANOS_MAX;
  else
    *left = ttl * TN_SEC;
  reply_free(&r);
  return rc;
}

/* The key's value as a holder name: 0, or TN_EPROTO naming the key. */
static int kv_holder(const char *key, const tn__etcd_kv *kv, char *holder) {
  if (kv->value_len > TN_HOLDER_MAX || memchr(kv->value, 0, kv->value_len) ||
      !tn__holder_valid(kv->value))
    return tn__authority_fail(TN_EPROTO,
                              "etcd key \"%s\" holds a value that is not a "
                              "tenure holder name; was it written by "
                              "something else?",
                              key);
  strcpy(holder, kv->value);
  return 0;
}

static int ttl_seconds(tn_nanos ttl) {
  tn_nanos s = (ttl + TN_SEC - 1) / TN_SEC;
  return s < 1 ? 1 : s > INT32_MAX ? INT32_MAX : (int)s;
}

static int etcd_acquire(void *state, const char *name, const char *holder,
                        tn_nanos ttl, tn__grant *g) {
  static const char grant_path[] = "/v3/lease/grant";
  struct etcd_auth *ea = state;
  char key[PREFIX_MAX + TN_LEASE_NAME_MAX + 4], why[256];
  size_t key_len = lease_key(ea, name, key);
  struct reply r;
  uint64_t id;
  int64_t granted;
  tn__etcd_txn t;
  int rc;

  rc = request(ea, grant_path, tn__etcd_req_grant(ttl_seconds(ttl)), &r);
  if (rc)
    return rc;
  if (r.status != 200) {
    rc = server_error(ea, grant_path, &r);
    reply_free(&r);
    return rc == TN_ENOENT ? TN_EPROTO : rc;
  }
  rc = tn__etcd_parse_grant(r.body, r.len, &id, &granted, why, sizeof why);
  if (rc) {
    rc = reply_fail(ea, grant_path, &r, rc, why);
    reply_free(&r);
    return rc;
  }
  reply_free(&r);
  if (granted > INT64_MAX / TN_SEC) {
    revoke_quietly(ea, id);
    return tn__authority_fail(TN_EPROTO, "etcd granted a TTL of %lld s",
                              (long long)granted);
  }

  rc = txn(ea, tn__etcd_req_acquire(key, key_len, holder, strlen(holder), id),
           &t);
  if (rc) {
    revoke_quietly(ea, id); /* in case the put went through */
    return rc;
  }
  if (t.succeeded) {
    g->token = t.revision;
  } else if (t.have_kv && t.kv.lease == id && t.kv.value_len ==
                 strlen(holder) && memcmp(t.kv.value, holder,
                                          t.kv.value_len) == 0) {
    /* a retry on another endpoint: the first attempt had put it */
    g->token = t.kv.create_revision;
  } else {
    revoke_quietly(ea, id);
    if (!t.have_kv)
      return tn__authority_fail(TN_EPROTO,
                                "etcd /v3/kv/txn on \"%s\": the compare "
                                "failed but the key was not returned",
                                key);
    return TN_EBUSY;
  }
  g->duration = granted * TN_SEC;
  g->expiry = 0;
  return 0;
}

/* Is the key there, created with token, holding holder? */
static int key_is_ours(const tn__etcd_kv *kv, int found, const char *holder,
                       uint64_t token) {
  return found && kv->create_revision == token &&
         kv->value_len == strlen(holder) &&
         memcmp(kv->value, holder, kv->value_len) == 0;
}

static int etcd_renew(void *state, const char *name, const char *holder,
                      uint64_t token, tn_nanos ttl, tn__grant *g) {
  static const char path[] = "/v3/lease/keepalive";
  struct etcd_auth *ea = state;
  char key[PREFIX_MAX + TN_LEASE_NAME_MAX + 4], why[256];
  size_t key_len = lease_key(ea, name, key);
  tn__etcd_kv kv;
  struct reply r;
  int64_t granted;
  int found, rc;
  (void)ttl; /* a lease keeps the TTL it was granted with */

  rc = get_key(ea, key, key_len, &found, &kv);
  if (rc)
    return rc;
  if (!key_is_ours(&kv, found, holder, token) || kv.lease == 0)
    return tn__authority_fail(TN_ELOST,
                              "etcd key \"%s\" no longer holds this term "
                              "(token %llu)",
                              key, (unsigned long long)token);
  rc = lease_call(ea, path, kv.lease, &r);
  if (rc)
    return rc == TN_ENOENT ? TN_EPROTO : rc;
  rc = tn__etcd_parse_keepalive(r.body, r.len, kv.lease, &granted, why,
                                sizeof why);
  if (rc == TN_ELOST)
    rc = tn__authority_fail(TN_ELOST,
                            "etcd %s: lease %llu of \"%s\" has expired or "
                            "was revoked",
                            ea->ep[r.ep].name, (unsigned long long)kv.lease,
                            key);
  else if (rc)
    rc = reply_fail(ea, path, &r, rc, why);
  else if (granted > INT64_MAX / TN_SEC)
    rc = reply_fail(ea, path, &r, TN_EPROTO, "TTL out of range");
  reply_free(&r);
  if (rc)
    return rc;
  g->token = token;
  g->duration = granted * TN_SEC;
  g->expiry = 0;
  return 0;
}

/* Delete key if it was still created at create_revision: 0 or TN_ENOENT. */
static int delete_if(struct etcd_auth *ea, const char *key, size_t key_len,
                     uint64_t create_revision) {
  tn__etcd_txn t;
  int rc = txn(ea,
               tn__etcd_req_guarded(key, key_len, create_revision, key,
                                    key_len, NULL, 0),
               &t);
  if (rc)
    return rc;
  return t.succeeded ? 0 : TN_ENOENT;
}

static int etcd_release(void *state, const char *name, const char *holder,
                        uint64_t token) {
  struct etcd_auth *ea = state;
  char key[PREFIX_MAX + TN_LEASE_NAME_MAX + 4];
  size_t key_len = lease_key(ea, name, key);
  tn__etcd_kv kv;
  int found, rc = get_key(ea, key, key_len, &found, &kv);
  if (rc)
    return rc;
  if (!key_is_ours(&kv, found, holder, token))
    return TN_ELOST;
  rc = kv.lease ? revoke(ea, kv.lease) : delete_if(ea, key, key_len, token);
  return rc == TN_ENOENT ? TN_ELOST : rc;
}

static int etcd_force_release(void *state, const char *name) {
  struct etcd_auth *ea = state;
  char key[PREFIX_MAX + TN_LEASE_NAME_MAX + 4];
  size_t key_len = lease_key(ea, name, key);
  tn__etcd_kv kv;
  int found, rc = get_key(ea, key, key_len, &found, &kv);
  if (rc)
    return rc;
  if (!found)
    return TN_ENOENT;
  return kv.lease ? revoke(ea, kv.lease)
                  : delete_if(ea, key, key_len, kv.create_revision);
}

/* Fill *out from a lease key's kv (name already checked). */
static int fill_info(struct etcd_auth *ea, const char *name,
                     const tn__etcd_kv *kv, tn_lease_info *out) {
  int rc;
  memset(out, 0, sizeof *out);
  strcpy(out->name, name);
  out->token = kv->create_revision;
  if ((rc = kv_holder(kv->key, kv, out->holder)) != 0)
    return rc;
  out->held = 1;
  if (kv->lease == 0) {
    out->remaining = TN_NANOS_MAX; /* a key without a lease never expires */
    return 0;
  }
  rc = time_to_live(ea, kv->lease, &out->remaining);
  if (rc == 0 && out->remaining < 0) {
    /* expired: etcd deletes the key within its 500 ms sweep */
    out->held = 0;
    out->holder[0] = '\0';
    out->remaining = 0;
  }
  return rc;
}

static int etcd_observe(void *state, const char *name, tn_lease_info *out) {
  struct etcd_auth *ea = state;
  char key[PREFIX_MAX + TN_LEASE_NAME_MAX + 4];
  size_t key_len = lease_key(ea, name, key);
  tn__etcd_kv kv;
  int found, rc = get_key(ea, key, key_len, &found, &kv);
  if (rc)
    return rc;
  if (!found)
    return TN_ENOENT; /* free: etcd keeps no trace of an ended term */
  return fill_info(ea, name, &kv, out);
}

static int etcd_list(void *state, tn_lease_info *out, size_t max,
                     size_t *count) {
  static const char path[] = "/v3/kv/range";
  struct etcd_auth *ea = state;
  char end[PREFIX_MAX + 2], why[256];
  size_t end_len = tn__etcd_prefix_end(ea->prefix, ea->prefix_len, end), i,
         k = 0;
  tn__etcd_range range;
  struct reply r;
  int rc = request(ea, path,
                   tn__etcd_req_range(ea->prefix, ea->prefix_len, end,
                                      end_len, 0),
                   &r);
  if (rc)
    return rc;
  if (r.status != 200) {
    rc = server_error(ea, path, &r);
    reply_free(&r);
    return rc == TN_ENOENT ? TN_EPROTO : rc;
  }
  rc = tn__etcd_parse_range(r.body, r.len, &range, why, sizeof why);
  if (rc) {
    rc = reply_fail(ea, path, &r, rc, why);
    reply_free(&r);
    return rc;
  }
  reply_free(&r);
  /* keys under the prefix that are not "<prefix>/<lease name>" holding a
   * holder name were not written by tenure: skip them */
  for (i = 0; i < range.n && rc == 0; i++) {
    const tn__etcd_kv *kv = &range.kvs[i];
    const char *name = kv->key + ea->prefix_len;
    if (kv->oversize || kv->key_len <= ea->prefix_len ||
        memcmp(kv->key, ea->prefix, ea->prefix_len) != 0 ||
        memchr(kv->key, 0, kv->key_len) || !tn__lease_name_valid(name) ||
        kv->value_len > TN_HOLDER_MAX || memchr(kv->value, 0, kv->value_len) ||
        !tn__holder_valid(kv->value))
      continue;
    if (k < max)
      rc = fill_info(ea, name, kv, &out[k]);
    k++;
  }
  tn__etcd_range_free(&range);
  if (rc == 0)
    *count = k;
  return rc;
}

static void nap(tn_nanos d) {
  struct timespec ts = {(time_t)(d / TN_SEC), (long)(d % TN_SEC)};
  nanosleep(&ts, NULL);
}

/* Poll the key until it is gone or belongs to another term. */
static int etcd_watch(void *state, const char *name, uint64_t token,
                      tn_nanos timeout) {
  struct etcd_auth *ea = state;
  char key[PREFIX_MAX + TN_LEASE_NAME_MAX + 4];
  size_t key_len = lease_key(ea, name, key);
  tn_nanos until = tn_nanos_add_sat(tn_now(), timeout);
  for (;;) {
    tn__etcd_kv kv;
    tn_nanos now;
    int found, rc = get_key(ea, key, key_len, &found, &kv);
    if (rc)
      return rc;
    if (!found || kv.create_revision != token)
      return 0;
    now = tn_now();
    if (now >= until)
      return TN_ETIMEDOUT;
    nap(until - now < WATCH_POLL ? until - now : WATCH_POLL);
  }
}

/* --- open / close -------------------------------------------------------- */

static void etcd_close(void *state) {
  struct etcd_auth *ea = state;
  size_t i;
  if (ea == NULL)
    return;
  for (i = 0; i < ea->n_pool; i++)
    curl_easy_cleanup(ea->pool[i]);
  pthread_mutex_destroy(&ea->pool_lock);
  free(ea->cacert);
  free(ea->cert);
  free(ea->key);
  free(ea);
}

static int etcd_open(const char *uri, void **state) {
  struct etcd_auth *ea;
  int rc;
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return tn__authority_fail(TN_EIO, "libcurl failed to initialise: %s",
                              curl_easy_strerror(curl_init_rc));
  ea = calloc(1, sizeof *ea);
  if (ea == NULL)
    return tn__authority_fail(TN_ENOMEM, "out of memory");
  pthread_mutex_init(&ea->pool_lock, NULL);
  rc = parse_uri(uri, ea);
  if (rc) {
    etcd_close(ea);
    return rc;
  }
  /* Opening does not contact the cluster: the first call finds out, and a
   * cluster that is down now may be up when the lease is first needed. */
  *state = ea;
  return 0;
}

const tn__backend tn__etcd_backend = {
    .scheme = "etcd",
    .open = etcd_open,
    .close = etcd_close,
    .acquire = etcd_acquire,
    .renew = etcd_renew,
    .release = etcd_release,
    .observe = etcd_observe,
    .list = etcd_list,
    .force_release = etcd_force_release,
    .watch = etcd_watch,
};

/* The same over TLS: only the scheme differs (parse_uri looks at it). */
const tn__backend tn__etcds_backend = {
    .scheme = "etcds",
    .open = etcd_open,
    .close = etcd_close,
    .acquire = etcd_acquire,
    .renew = etcd_renew,
    .release = etcd_release,
    .observe = etcd_observe,
    .list = etcd_list,
    .force_release = etcd_force_release,
    .watch = etcd_watch,
};

/* --- fenced writes (tenure/etcd.h) --------------------------------------- */

int tn_etcd_fenced_put(tn_authority *a, const char *lease_name, uint64_t token,
                       const char *key, const void *value, size_t len) {
  const tn__backend *b;
  struct etcd_auth *ea;
  char lkey[PREFIX_MAX + TN_LEASE_NAME_MAX + 4];
  size_t lkey_len, key_len;
  tn__etcd_txn t;
  void *state;
  int rc;
  if (a == NULL)
    return tn__authority_fail(TN_EINVAL, "no authority");
  b = tn__authority_backend(a, &state);
  if (b != &tn__etcd_backend && b != &tn__etcds_backend)
    return tn__authority_fail(TN_EINVAL,
                              "tn_etcd_fenced_put needs an etcd:// authority, "
                              "not %s://",
                              b->scheme);
  ea = state;
  if (!tn__lease_name_valid(lease_name))
    return tn__authority_fail(TN_EINVAL, "bad lease name");
  key_len = key ? strlen(key) : 0;
  if (key_len == 0 || key_len > TN__ETCD_KEY_MAX || (value == NULL && len))
    return tn__authority_fail(TN_EINVAL,
                              "tn_etcd_fenced_put: the key must be 1-%d "
                              "bytes, and value non-NULL when len > 0",
                              TN__ETCD_KEY_MAX);
  lkey_len = lease_key(ea, lease_name, lkey);
  if (key_len == lkey_len && memcmp(key, lkey, key_len) == 0)
    return tn__authority_fail(TN_EINVAL,
                              "tn_etcd_fenced_put: \"%s\" is the lease's own "
                              "key",
                              key);
  rc = txn(ea,
           tn__etcd_req_guarded(lkey, lkey_len, token, key, key_len,
                                value ? value : "", len),
           &t);
  if (rc)
    return rc;
  if (!t.succeeded)
    return tn__authority_fail(TN_EFENCED,
                              "etcd: the term of \"%s\" with token %llu is "
                              "over (the lease key %s); \"%s\" was not "
                              "written",
                              lease_name, (unsigned long long)token,
                              t.have_kv ? "now belongs to a newer term"
                                        : "is gone",
                              key);
  return 0;
}
