/* Fuzz target: every etcd reply parser (lease/backends/etcd_proto.c) on
 * the same bytes. The corpus is replies recorded from a real etcd 3.4.23
 * (plus a few crafted hostile ones). For any input each parser either
 * refuses it — TN_EPROTO with a reason, or TN_ELOST for a keepalive
 * without a TTL — or accepts it, and then what it returns must hold:
 * non-zero lease IDs and positive TTLs from a grant, keys and values that
 * fit their buffers, are NUL-terminated and base64-encode back to bytes
 * that decode to themselves, revisions that make sense, no more kvs than
 * the count. A crash, a leak or an overread is a finding. */
#include "etcd_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int rc, const char *why) {
  if (rc != TN_EPROTO && rc != TN_ENOMEM)
    abort();
  if (rc == TN_EPROTO && why[0] == '\0')
    abort();
}

static void check_kv(const tn__etcd_kv *kv) {
  char enc[2 * (TN__ETCD_KEY_MAX + 1) + 8], dec[TN__ETCD_KEY_MAX + 1];
  long n;
  if (kv->key_len > TN__ETCD_KEY_MAX || kv->value_len > TN__ETCD_VALUE_MAX ||
      kv->key[kv->key_len] != '\0' || kv->value[kv->value_len] != '\0')
    abort();
  if (kv->oversize ? kv->key_len != 0 || kv->value_len != 0
                   : kv->key_len == 0)
    abort();
  if (kv->create_revision == 0 || kv->mod_revision < kv->create_revision)
    abort();
  tn__etcd_b64_encode(kv->key, kv->key_len, enc);
  n = tn__etcd_b64_decode(enc, strlen(enc), dec, sizeof dec);
  if (n != (long)kv->key_len || memcmp(dec, kv->key, kv->key_len) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *body = (const char *)data;
  char why[256];
  uint64_t id, rev;
  int64_t ttl, granted;
  tn__etcd_range range;
  tn__etcd_txn txn;
  int rc, code;
  size_t i;

  why[0] = '\0';
  rc = tn__etcd_parse_grant(body, size, &id, &ttl, why, sizeof why);
  if (rc == 0 ? id == 0 || ttl <= 0 : (check_refusal(rc, why), 0))
    abort();

  why[0] = '\0';
  rc = tn__etcd_parse_keepalive(body, size, 1565179091953533319ull, &ttl, why,
                                sizeof why);
  if (rc == 0 ? ttl <= 0 : rc != TN_ELOST && (check_refusal(rc, why), 0))
    abort();

  why[0] = '\0';
  rc = tn__etcd_parse_timetolive(body, size, 1565179091953533319ull, &ttl,
                                 &granted, why, sizeof why);
  if (rc == 0 ? ttl < -1 || granted < 0 : (check_refusal(rc, why), 0))
    abort();

  why[0] = '\0';
  rc = tn__etcd_parse_range(body, size, &range, why, sizeof why);
  if (rc == 0) {
    if (range.n > range.count || (range.n > 0) != (range.kvs != NULL))
      abort();
    for (i = 0; i < range.n; i++)
      check_kv(&range.kvs[i]);
    tn__etcd_range_free(&range);
  } else {
    check_refusal(rc, why);
    if (range.kvs != NULL)
      abort();
  }

  why[0] = '\0';
  rc = tn__etcd_parse_txn(body, size, &txn, why, sizeof why);
  if (rc == 0) {
    if (txn.revision == 0)
      abort();
    if (txn.have_kv)
      check_kv(&txn.kv);
  } else {
    check_refusal(rc, why);
  }

  why[0] = '\0';
  rc = tn__etcd_parse_header(body, size, &rev, why, sizeof why);
  if (rc != 0)
    check_refusal(rc, why);

  rc = tn__etcd_parse_error(body, size, &code, why, sizeof why);
  if (strlen(why) >= sizeof why)
    abort();
  if (rc == 0 ? code < 0 : rc != TN_EPROTO || code != -1)
    abort();

  /* the base64 decoder on raw bytes: never writes past cap */
  {
    unsigned char out[64];
    long n = tn__etcd_b64_decode(body, size, out, sizeof out);
    if (n < -2 || n > (long)sizeof out)
      abort();
  }
  /* and the number parser */
  if (tn__etcd_u64_parse(body, size, &id) == 0 && size > 20)
    abort();
  return 0;
}
