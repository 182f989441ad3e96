/*
 * Internal: etcd 3.4's JSON gateway, as pure functions over bytes. Request
 * bodies are built here and replies are parsed here; no I/O, so the unit
 * tests and the fuzz target (tests/fuzz/fuzz_etcd_reply.c) drive exactly
 * the code that reads what a server sent. etcd.c does the HTTP.
 *
 * What the gateway does (measured with 3.4.23, see docs/backends.md):
 * - keys and values are base64 (standard alphabet, padded);
 * - 64-bit numbers come as JSON strings ("revision":"42"), and lease IDs
 *   exceed 2^53, so every number is read from a string into a uint64_t;
 *   a JSON integer is accepted too, a real or a negative never;
 * - fields holding their default value (0, false, "", []) are left out, so
 *   a missing number reads as 0 and a missing "succeeded" as false;
 * - an error is a non-200 status with {"error","message","code"}.
 *
 * Replies are untrusted input. Every parser returns 0 or TN_EPROTO with a
 * sentence in why (which field, what was wrong; the caller adds the
 * endpoint), or TN_ENOMEM; never reads past len, never aborts. On failure
 * the outputs are unspecified but own no memory.
 */
#ifndef TENURE_ETCD_PROTO_H
#define TENURE_ETCD_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Keys and values longer than this are reported as oversize, not kept. */
#define TN__ETCD_KEY_MAX 511
#define TN__ETCD_VALUE_MAX 511

/* One key-value as etcd reports it. key and value are NUL-terminated
 * copies of the decoded bytes (which may themselves hold NULs: use the
 * lengths). */
typedef struct tn__etcd_kv {
  char key[TN__ETCD_KEY_MAX + 1];
  size_t key_len;
  char value[TN__ETCD_VALUE_MAX + 1];
  size_t value_len;
  int oversize; /* key or value did not fit: both left empty */
  uint64_t create_revision, mod_revision, version, lease;
} tn__etcd_kv;

/* A range reply. */
typedef struct tn__etcd_range {
  tn__etcd_kv *kvs; /* malloc'd, n of them (NULL when n == 0) */
  size_t n;
  uint64_t count;    /* how many keys matched; may exceed n (a limit) */
  uint64_t revision; /* header.revision */
} tn__etcd_range;

void tn__etcd_range_free(tn__etcd_range *r);

/* A txn reply: whether the compares held, the revision, and the first kv
 * of the first range response if the taken branch held one. */
typedef struct tn__etcd_txn {
  int succeeded;
  uint64_t revision; /* header.revision: on success, the write's revision */
  int have_kv;
  tn__etcd_kv kv;
} tn__etcd_txn;

/* --- base64 (standard alphabet, padded) ---------------------------------- */

/* Encoded size of n bytes, without the NUL. */
size_t tn__etcd_b64_len(size_t n);
/* Encode n bytes into out (tn__etcd_b64_len(n) + 1 bytes, NUL-terminated). */
void tn__etcd_b64_encode(const void *in, size_t n, char *out);
/* Decode a padded base64 string of length n into out (cap bytes). Returns
 * the decoded length, -1 for bad base64, -2 when it does not fit. */
long tn__etcd_b64_decode(const char *in, size_t n, void *out, size_t cap);

/* --- numbers ------------------------------------------------------------- */

/* "0".."18446744073709551615": 0 and *out, or -1 (empty, sign, non-digit,
 * more than 20 digits, overflow). */
int tn__etcd_u64_parse(const char *s, size_t n, uint64_t *out);

/* --- request bodies: malloc'd, NUL-terminated JSON; NULL when out of memory */

/* /v3/lease/grant: {"TTL":ttl_s} */
char *tn__etcd_req_grant(int64_t ttl_s);
/* /v3/lease/keepalive, /v3/lease/revoke, /v3/lease/timetolive: {"ID":"id"} */
char *tn__etcd_req_lease(uint64_t id);
/* /v3/kv/range of one key, or of [key, range_end) when range_end != NULL;
 * limit 0: no limit. */
char *tn__etcd_req_range(const void *key, size_t key_len,
                         const void *range_end, size_t range_end_len,
                         uint64_t limit);
/* /v3/kv/deleterange of one key. */
char *tn__etcd_req_delete(const void *key, size_t key_len);
/* /v3/kv/txn for an acquire: if key's create revision is 0 (it does not
 * exist), put key = value with the lease; else range key. */
char *tn__etcd_req_acquire(const void *key, size_t key_len, const void *value,
                           size_t value_len, uint64_t lease);
/* /v3/kv/txn: if guard_key's create revision equals create_revision, do
 * the operation on key (a put of value, or a delete when value == NULL);
 * else range guard_key. Fenced writes, releases of lease-less keys. */
char *tn__etcd_req_guarded(const void *guard_key, size_t guard_key_len,
                           uint64_t create_revision, const void *key,
                           size_t key_len, const void *value,
                           size_t value_len);
/* The end of the range holding every key that starts with prefix: prefix
 * with its last byte below 0xff incremented (and the rest dropped). Writes
 * into out (prefix_len bytes); returns the length, 0 when prefix is all
 * 0xff (no end: use "\0"). */
size_t tn__etcd_prefix_end(const void *prefix, size_t prefix_len, void *out);

/* --- replies ------------------------------------------------------------- */

/* A 200 reply of /v3/lease/grant: the new lease's ID (non-zero) and the
 * TTL etcd granted (>= 1 s: it raises smaller ones silently). */
int tn__etcd_parse_grant(const char *body, size_t len, uint64_t *id,
                         int64_t *ttl_s, char *why, size_t why_len);
/* A 200 reply of /v3/lease/keepalive for lease id: 0 and the TTL it was
 * renewed to; TN_ELOST when there is no positive TTL (the lease has
 * expired or was revoked: etcd answers 200 without a TTL then); TN_EPROTO
 * when the reply is malformed or about another lease. */
int tn__etcd_parse_keepalive(const char *body, size_t len, uint64_t id,
                             int64_t *ttl_s, char *why, size_t why_len);
/* A 200 reply of /v3/lease/timetolive for lease id: remaining TTL (-1 when
 * the lease is gone) and the TTL it was granted with. */
int tn__etcd_parse_timetolive(const char *body, size_t len, uint64_t id,
                              int64_t *ttl_s, int64_t *granted_s, char *why,
                              size_t why_len);
/* A 200 reply of /v3/kv/range. */
int tn__etcd_parse_range(const char *body, size_t len, tn__etcd_range *out,
                         char *why, size_t why_len);
/* A 200 reply of /v3/kv/txn. */
int tn__etcd_parse_txn(const char *body, size_t len, tn__etcd_txn *out,
                       char *why, size_t why_len);
/* A 200 reply that carries only a header (revoke, deleterange, put):
 * checks it is one and gives header.revision (0 when left out). */
int tn__etcd_parse_header(const char *body, size_t len, uint64_t *revision,
                          char *why, size_t why_len);
/* A non-200 reply: {"error":..., "message":..., "code":N} gives the gRPC
 * code and the message (NUL-terminated, truncated to msg_len - 1). 0, or
 * TN_EPROTO when the body is not such an object (a proxy's HTML page, a
 * truncated body): then msg holds a printable excerpt of the body. */
int tn__etcd_parse_error(const char *body, size_t len, int *code, char *msg,
                         size_t msg_len);

/* gRPC codes the backend tells apart. */
#define TN__GRPC_INVALID_ARGUMENT 3
#define TN__GRPC_DEADLINE_EXCEEDED 4
#define TN__GRPC_NOT_FOUND 5
#define TN__GRPC_RESOURCE_EXHAUSTED 8
#define TN__GRPC_UNAVAILABLE 14

#endif
