/*
 * Integration: the etcds:// authority against a real etcd serving HTTPS
 * that requires a client certificate (tests/integration/engines/etcd.sh
 * start tls: a throwaway CA, server and client certificates).
 *
 *   it_etcd_tls FIXTURE_DIR
 *
 * With the CA and the client certificate: acquire, renew, fenced put,
 * release. Without the client certificate, or without the CA (the server's
 * certificate cannot be verified): TN_EUNAVAILABLE naming the endpoint.
 */
#define _GNU_SOURCE
#include "it_etcd.h"

#include <tenure/etcd.h>

#include <unistd.h>

int main(int argc, char **argv) {
  char dir[400], path[512], uri[1400], endpoints[256], bad[1400];
  tn_authority *a;
  tn_lease *l;
  uint64_t token;
  if (argc != 2) {
    fprintf(stderr, "usage: it_etcd_tls FIXTURE_DIR\n");
    return 2;
  }
  snprintf(dir, sizeof dir, "%s", argv[1]);
  snprintf(path, sizeof path, "%s/uri", dir);
  it_read_endpoints(path, uri, sizeof uri); /* etcds://...?cacert=... */
  snprintf(path, sizeof path, "%s/endpoints", dir);
  it_read_endpoints(path, endpoints, sizeof endpoints);

  a = it_open(uri);
  l = it_lease(a, "tls", "node-a", 2 * TN_SEC);
  CHECK_RC(tn_lease_try_acquire(l), 0);
  token = tn_lease_token(l);
  CHECK(token > 0, "no token");
  CHECK_RC(tn_lease_renew(l), 0);
  CHECK_RC(tn_etcd_fenced_put(a, "tls", token, "it-tls/data", "v", 1), 0);
  CHECK_RC(tn_lease_release(l), 0);
  CHECK_RC(tn_etcd_fenced_put(a, "tls", token, "it-tls/data", "w", 1),
           TN_EFENCED);
  tn_lease_close(l);
  tn_authority_close(a);

  /* the server wants a client certificate */
  snprintf(bad, sizeof bad, "etcds://%s/x?cacert=%s/tls/ca.pem&timeout=1s",
           endpoints, dir);
  a = it_open(bad);
  l = it_lease(a, "tls", "node-a", 2 * TN_SEC);
  CHECK_RC(tn_lease_try_acquire(l), TN_EUNAVAILABLE);
  CHECK(strstr(tn_authority_last_error(), endpoints) != NULL, "message: %s",
        tn_authority_last_error());
  tn_lease_close(l);
  tn_authority_close(a);

  /* without the CA, the server's certificate is not trusted */
  snprintf(bad, sizeof bad,
           "etcds://%s/x?cert=%s/tls/client.pem&key=%s/tls/client-key.pem",
           endpoints, dir, dir);
  a = it_open(bad);
  l = it_lease(a, "tls", "node-a", 2 * TN_SEC);
  CHECK_RC(tn_lease_try_acquire(l), TN_EUNAVAILABLE);
  CHECK(strstr(tn_authority_last_error(), "certificate") != NULL,
        "message: %s", tn_authority_last_error());
  tn_lease_close(l);
  tn_authority_close(a);

  /* plain HTTP to an HTTPS port */
  snprintf(bad, sizeof bad, "etcd://%s/x", endpoints);
  a = it_open(bad);
  l = it_lease(a, "tls", "node-a", 2 * TN_SEC);
  CHECK_RC(tn_lease_try_acquire(l), TN_EUNAVAILABLE);
  tn_lease_close(l);
  tn_authority_close(a);

  if (it_failures) {
    printf("etcd tls: %d checks failed\n", it_failures);
    return 1;
  }
  printf("etcd tls: ok\n");
  return 0;
}
