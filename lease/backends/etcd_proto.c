/*
 * etcd 3.4's JSON gateway as pure functions: request bodies out, replies
 * in. No I/O (etcd.c does the HTTP), so the unit tests and the fuzz target
 * run exactly the code that reads a server's bytes.
 *
 * Replies are untrusted. Each parser loads the body with jansson (which
 * refuses truncated JSON, trailing garbage, NULs in strings and duplicate
 * keys), then walks it with helpers that check every type: a field that
 * holds its default value is simply absent (proto3), so absent numbers
 * read as 0 and the caller decides whether 0 is acceptable; a number must
 * be a string of decimal digits or a non-negative JSON integer, never a
 * real, a sign or a boolean, because lease IDs and revisions are 64-bit
 * and a double would silently round them above 2^53.
 *
 * Every failure names the field that was wrong in why; the caller adds
 * the endpoint and the call.
 */
#include "etcd_proto.h"

#include <tenure/error.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t why_len, const char *fmt, ...) {
  va_list ap;
  if (why && why_len) {
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
  }
  return TN_EPROTO;
}

/* --- base64 -------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tn__etcd_b64_len(size_t n) { return (n + 2) / 3 * 4; }

void tn__etcd_b64_encode(const void *in, size_t n, char *out) {
  const unsigned char *p = in;
  size_t i, o = 0;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

long tn__etcd_b64_decode(const char *in, size_t n, void *out, size_t cap) {
  unsigned char *o = out;
  size_t i, len = 0, pad = 0;
  if (n % 4 != 0)
    return -1;
  if (n >= 1 && in[n - 1] == '=')
    pad++;
  if (pad && in[n - 2] == '=')
    pad++;
  if (n / 4 * 3 - pad > cap)
    return -2;
  for (i = 0; i < n; i += 4) {
    int v[4], k, last = i + 4 == n;
    for (k = 0; k < 4; k++) {
      if (last && k >= 4 - (int)pad) {
        v[k] = 0;
        continue;
      }
      v[k] = b64_value((unsigned char)in[i + (size_t)k]);
      if (v[k] < 0)
        return -1;
    }
    o[len++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    if (!last || pad < 2)
      o[len++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
    if (!last || pad < 1)
      o[len++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    /* canonical: the bits dropped by the padding must be zero */
    if (last && ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3))))
      return -1;
  }
  return (long)len;
}

/* --- numbers ------------------------------------------------------------- */

int tn__etcd_u64_parse(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (n == 0 || n > 20)
    return -1;
  for (i = 0; i < n; i++) {
    unsigned d;
    if (s[i] < '0' || s[i] > '9')
      return -1;
    d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* A number field of obj, absent meaning 0. */
static int get_u64(json_t *obj, const char *field, const char *what,
                   uint64_t *out, char *why, size_t why_len) {
  json_t *v = json_object_get(obj, field);
  *out = 0;
  if (v == NULL)
    return 0;
  if (json_is_string(v)) {
    if (tn__etcd_u64_parse(json_string_value(v), json_string_length(v),
                           out) == 0)
      return 0;
    return fail(why, why_len,
                "%s: field \"%s\" is \"%.40s\", not an unsigned 64-bit "
                "decimal number",
                what, field, json_string_value(v));
  }
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (uint64_t)json_integer_value(v);
    return 0;
  }
  return fail(why, why_len,
              "%s: field \"%s\" is a %s, expected a number in a string", what,
              field,
              json_is_integer(v) ? "negative integer"
              : json_is_real(v)  ? "real number"
              : json_is_boolean(v) ? "boolean"
              : json_is_null(v)    ? "null"
              : json_is_object(v)  ? "object"
                                   : "array");
}

/* A signed number field (TTLs may be -1), absent meaning 0. */
static int get_i64(json_t *obj, const char *field, const char *what,
                   int64_t *out, char *why, size_t why_len) {
  json_t *v = json_object_get(obj, field);
  *out = 0;
  if (v == NULL)
    return 0;
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int neg = n > 0 && s[0] == '-';
    uint64_t u;
    if (tn__etcd_u64_parse(s + neg, n - (size_t)neg, &u) == 0 &&
        u <= (uint64_t)INT64_MAX) {
      *out = neg ? -(int64_t)u : (int64_t)u;
      return 0;
    }
    return fail(why, why_len,
                "%s: field \"%s\" is \"%.40s\", not a signed 64-bit decimal "
                "number",
                what, field, s);
  }
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return 0;
  }
  return fail(why, why_len, "%s: field \"%s\" is not a number", what, field);
}

static int get_bool(json_t *obj, const char *field, const char *what,
                    int *out, char *why, size_t why_len) {
  json_t *v = json_object_get(obj, field);
  *out = 0;
  if (v == NULL)
    return 0;
  if (!json_is_boolean(v))
    return fail(why, why_len, "%s: field \"%s\" is not a boolean", what,
                field);
  *out = json_is_true(v);
  return 0;
}

/* An object field; absent gives NULL when optional, else an error. */
static int get_object(json_t *obj, const char *field, const char *what,
                      int optional, json_t **out, char *why, size_t why_len) {
  json_t *v = json_object_get(obj, field);
  *out = NULL;
  if (v == NULL) {
    if (optional)
      return 0;
    return fail(why, why_len, "%s: field \"%s\" is missing", what, field);
  }
  if (!json_is_object(v))
    return fail(why, why_len, "%s: field \"%s\" is not an object", what,
                field);
  *out = v;
  return 0;
}

/* Load body as a JSON object. */
static int load(const char *body, size_t len, const char *what, json_t **root,
                char *why, size_t why_len) {
  json_error_t err;
  *root = NULL;
  if (body == NULL || len == 0)
    return fail(why, why_len, "%s: empty reply", what);
  *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
  if (*root == NULL)
    return fail(why, why_len, "%s: not JSON (%s at byte %d)%s", what,
                err.text, err.position,
                err.position >= (int)len ? ": the reply looks truncated" : "");
  if (!json_is_object(*root)) {
    json_decref(*root);
    *root = NULL;
    return fail(why, why_len, "%s: the reply is not a JSON object", what);
  }
  return 0;
}

/* A 200 reply that carries {"error":...} instead of a result (the
 * keepalive stream does this) is a server error, reported as such. */
static int embedded_error(json_t *root, const char *what, char *why,
                          size_t why_len) {
  json_t *e = json_object_get(root, "error");
  const char *msg = NULL;
  if (e == NULL)
    return 0;
  if (json_is_string(e))
    msg = json_string_value(e);
  else if (json_is_object(e) && json_is_string(json_object_get(e, "message")))
    msg = json_string_value(json_object_get(e, "message"));
  return fail(why, why_len, "%s: the server answered with an error: %.200s",
              what, msg ? msg : "(no message)");
}

/* header.revision; the header itself must be there (it always is). */
static int get_header(json_t *root, const char *what, uint64_t *revision,
                      char *why, size_t why_len) {
  json_t *h;
  int rc = get_object(root, "header", what, 0, &h, why, why_len);
  if (rc)
    return rc;
  return get_u64(h, "revision", what, revision, why, why_len);
}

/* A base64 field into buf (cap bytes + NUL). 0; 1 when it does not fit. */
static int get_bytes(json_t *obj, const char *field, const char *what,
                     char *buf, size_t cap, size_t *len, char *why,
                     size_t why_len) {
  json_t *v = json_object_get(obj, field);
  long n;
  *len = 0;
  buf[0] = '\0';
  if (v == NULL)
    return 0;
  if (!json_is_string(v))
    return fail(why, why_len, "%s: field \"%s\" is not a string", what,
                field);
  n = tn__etcd_b64_decode(json_string_value(v), json_string_length(v), buf,
                          cap);
  if (n == -2)
    return 1;
  if (n < 0)
    return fail(why, why_len, "%s: field \"%s\" is not valid base64", what,
                field);
  buf[n] = '\0';
  *len = (size_t)n;
  return 0;
}

static int get_kv(json_t *o, const char *what, tn__etcd_kv *kv, char *why,
                  size_t why_len) {
  int rc, big;
  memset(kv, 0, sizeof *kv);
  if (!json_is_object(o))
    return fail(why, why_len, "%s: a kv is not an object", what);
  if ((rc = get_u64(o, "create_revision", what, &kv->create_revision, why,
                    why_len)) ||
      (rc = get_u64(o, "mod_revision", what, &kv->mod_revision, why,
                    why_len)) ||
      (rc = get_u64(o, "version", what, &kv->version, why, why_len)) ||
      (rc = get_u64(o, "lease", what, &kv->lease, why, why_len)))
    return rc;
  big = get_bytes(o, "key", what, kv->key, TN__ETCD_KEY_MAX, &kv->key_len,
                  why, why_len);
  if (big < 0)
    return big;
  if (big == 0) {
    big = get_bytes(o, "value", what, kv->value, TN__ETCD_VALUE_MAX,
                    &kv->value_len, why, why_len);
    if (big < 0)
      return big;
  }
  if (big) {
    kv->oversize = 1;
    kv->key[0] = kv->value[0] = '\0';
    kv->key_len = kv->value_len = 0;
  }
  if (kv->key_len == 0 && !kv->oversize)
    return fail(why, why_len, "%s: a kv has no key", what);
  /* an existing key was created at some revision: 0 is not a real kv */
  if (kv->create_revision == 0 || kv->mod_revision < kv->create_revision)
    return fail(why, why_len,
                "%s: a kv has create_revision %llu and mod_revision %llu",
                what, (unsigned long long)kv->create_revision,
                (unsigned long long)kv->mod_revision);
  return 0;
}

void tn__etcd_range_free(tn__etcd_range *r) {
  free(r->kvs);
  r->kvs = NULL;
  r->n = 0;
}

/* The body of a RangeResponse (top level, or inside a txn's response). */
static int get_range(json_t *o, const char *what, tn__etcd_range *out,
                     char *why, size_t why_len) {
  json_t *kvs = json_object_get(o, "kvs");
  size_t i, n;
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = get_u64(o, "count", what, &out->count, why, why_len)))
    return rc;
  if (kvs == NULL)
    n = 0;
  else if (!json_is_array(kvs))
    return fail(why, why_len, "%s: field \"kvs\" is not an array", what);
  else
    n = json_array_size(kvs);
  if (n > out->count)
    return fail(why, why_len, "%s: %zu kvs but \"count\" says %llu", what, n,
                (unsigned long long)out->count);
  if (n == 0)
    return 0;
  out->kvs = calloc(n, sizeof *out->kvs);
  if (out->kvs == NULL)
    return TN_ENOMEM;
  for (i = 0; i < n; i++) {
    rc = get_kv(json_array_get(kvs, i), what, &out->kvs[i], why, why_len);
    if (rc) {
      tn__etcd_range_free(out);
      return rc;
    }
  }
  out->n = n;
  return 0;
}

/* --- replies ------------------------------------------------------------- */

int tn__etcd_parse_grant(const char *body, size_t len, uint64_t *id,
                         int64_t *ttl_s, char *why, size_t why_len) {
  const char *what = "lease grant reply";
  json_t *root;
  uint64_t rev;
  int rc = load(body, len, what, &root, why, why_len);
  if (rc)
    return rc;
  if ((rc = embedded_error(root, what, why, why_len)) ||
      (rc = get_header(root, what, &rev, why, why_len)) ||
      (rc = get_u64(root, "ID", what, id, why, why_len)) ||
      (rc = get_i64(root, "TTL", what, ttl_s, why, why_len)))
    goto out;
  if (*id == 0)
    rc = fail(why, why_len, "%s: no lease ID", what);
  else if (*ttl_s <= 0)
    rc = fail(why, why_len, "%s: granted TTL %lld s is not positive", what,
              (long long)*ttl_s);
out:
  json_decref(root);
  return rc;
}

int tn__etcd_parse_keepalive(const char *body, size_t len, uint64_t id,
                             int64_t *ttl_s, char *why, size_t why_len) {
  const char *what = "lease keepalive reply";
  json_t *root, *res;
  uint64_t got, rev;
  int rc = load(body, len, what, &root, why, why_len);
  if (rc)
    return rc;
  *ttl_s = 0;
  /* a stream: each message is {"result":{...}} or {"error":{...}} */
  if ((rc = embedded_error(root, what, why, why_len)) ||
      (rc = get_object(root, "result", what, 0, &res, why, why_len)) ||
      (rc = get_header(res, what, &rev, why, why_len)) ||
      (rc = get_u64(res, "ID", what, &got, why, why_len)) ||
      (rc = get_i64(res, "TTL", what, ttl_s, why, why_len)))
    goto out;
  if (got != id)
    rc = fail(why, why_len, "%s: about lease %llu, not %llu", what,
              (unsigned long long)got, (unsigned long long)id);
  else if (*ttl_s <= 0)
    rc = TN_ELOST; /* 200 with no TTL: expired or revoked */
out:
  json_decref(root);
  return rc;
}

int tn__etcd_parse_timetolive(const char *body, size_t len, uint64_t id,
                              int64_t *ttl_s, int64_t *granted_s, char *why,
                              size_t why_len) {
  const char *what = "lease timetolive reply";
  json_t *root;
  uint64_t got, rev;
  int rc = load(body, len, what, &root, why, why_len);
  if (rc)
    return rc;
  if ((rc = embedded_error(root, what, why, why_len)) ||
      (rc = get_header(root, what, &rev, why, why_len)) ||
      (rc = get_u64(root, "ID", what, &got, why, why_len)) ||
      (rc = get_i64(root, "TTL", what, ttl_s, why, why_len)) ||
      (rc = get_i64(root, "grantedTTL", what, granted_s, why, why_len)))
    goto out;
  if (got != id)
    rc = fail(why, why_len, "%s: about lease %llu, not %llu", what,
              (unsigned long long)got, (unsigned long long)id);
  else if (*ttl_s < -1 || *granted_s < 0)
    rc = fail(why, why_len, "%s: TTL %lld s, granted %lld s", what,
              (long long)*ttl_s, (long long)*granted_s);
out:
  json_decref(root);
  return rc;
}

int tn__etcd_parse_range(const char *body, size_t len, tn__etcd_range *out,
                         char *why, size_t why_len) {
  const char *what = "range reply";
  json_t *root;
  uint64_t rev;
  int rc = load(body, len, what, &root, why, why_len);
  memset(out, 0, sizeof *out);
  if (rc)
    return rc;
  if ((rc = embedded_error(root, what, why, why_len)) ||
      (rc = get_header(root, what, &rev, why, why_len)) ||
      (rc = get_range(root, what, out, why, why_len)))
    goto out;
  out->revision = rev;
out:
  json_decref(root);
  return rc;
}

int tn__etcd_parse_txn(const char *body, size_t len, tn__etcd_txn *out,
                       char *why, size_t why_len) {
  const char *what = "txn reply";
  json_t *root, *responses, *first, *rr;
  int rc = load(body, len, what, &root, why, why_len);
  memset(out, 0, sizeof *out);
  if (rc)
    return rc;
  if ((rc = embedded_error(root, what, why, why_len)) ||
      (rc = get_header(root, what, &out->revision, why, why_len)) ||
      (rc = get_bool(root, "succeeded", what, &out->succeeded, why, why_len)))
    goto out;
  if (out->revision == 0) {
    rc = fail(why, why_len, "%s: header has no revision", what);
    goto out;
  }
  responses = json_object_get(root, "responses");
  if (responses == NULL)
    goto out;
  if (!json_is_array(responses)) {
    rc = fail(why, why_len, "%s: field \"responses\" is not an array", what);
    goto out;
  }
  if (json_array_size(responses) == 0)
    goto out;
  first = json_array_get(responses, 0);
  if (!json_is_object(first)) {
    rc = fail(why, why_len, "%s: a response is not an object", what);
    goto out;
  }
  if ((rc = get_object(first, "response_range", what, 1, &rr, why, why_len)))
    goto out;
  if (rr) {
    tn__etcd_range r;
    if ((rc = get_range(rr, what, &r, why, why_len)))
      goto out;
    if (r.n > 0) {
      out->have_kv = 1;
      out->kv = r.kvs[0];
    }
    tn__etcd_range_free(&r);
  }
out:
  json_decref(root);
  return rc;
}

int tn__etcd_parse_header(const char *body, size_t len, uint64_t *revision,
                          char *why, size_t why_len) {
  const char *what = "reply";
  json_t *root;
  int rc = load(body, len, what, &root, why, why_len);
  if (rc)
    return rc;
  if ((rc = embedded_error(root, what, why, why_len)) == 0)
    rc = get_header(root, what, revision, why, why_len);
  json_decref(root);
  return rc;
}

/* Up to n bytes of body, non-printable bytes as '?', for a message. */
static void excerpt(const char *body, size_t len, char *out, size_t n) {
  size_t i, k = 0;
  if (n == 0)
    return;
  for (i = 0; i < len && k + 1 < n && k < 120; i++) {
    unsigned char c = (unsigned char)body[i];
    out[k++] = c >= 0x20 && c < 0x7f ? (char)c : c == '\n' ? ' ' : '?';
  }
  out[k] = '\0';
}

int tn__etcd_parse_error(const char *body, size_t len, int *code, char *msg,
                         size_t msg_len) {
  json_error_t err;
  json_t *root, *c, *m;
  *code = -1;
  if (msg_len)
    msg[0] = '\0';
  if (body == NULL || len == 0)
    return fail(msg, msg_len, "(empty body)");
  root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
  if (root == NULL || !json_is_object(root)) {
    json_decref(root);
    excerpt(body, len, msg, msg_len);
    return TN_EPROTO;
  }
  c = json_object_get(root, "code");
  m = json_object_get(root, "message");
  if (m == NULL || !json_is_string(m))
    m = json_object_get(root, "error");
  if (c != NULL && json_is_integer(c) && json_integer_value(c) >= 0 &&
      json_integer_value(c) <= 1000 && m != NULL && json_is_string(m)) {
    *code = (int)json_integer_value(c);
    if (msg_len)
      snprintf(msg, msg_len, "%s", json_string_value(m));
    json_decref(root);
    return 0;
  }
  json_decref(root);
  excerpt(body, len, msg, msg_len);
  return TN_EPROTO;
}

/* --- requests ------------------------------------------------------------ */

/* A base64 JSON string for n bytes. */
static json_t *b64_string(const void *p, size_t n) {
  char *s = malloc(tn__etcd_b64_len(n) + 1);
  json_t *j;
  if (s == NULL)
    return NULL;
  tn__etcd_b64_encode(p, n, s);
  j = json_string(s);
  free(s);
  return j;
}

static json_t *u64_string(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  return json_string(buf);
}

/* json_dumps of root, which it consumes; NULL if root is. */
static char *dump(json_t *root) {
  char *s;
  if (root == NULL)
    return NULL;
  s = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  return s;
}

char *tn__etcd_req_grant(int64_t ttl_s) {
  return dump(json_pack("{s:I}", "TTL", (json_int_t)ttl_s));
}

char *tn__etcd_req_lease(uint64_t id) {
  return dump(json_pack("{s:o}", "ID", u64_string(id)));
}

char *tn__etcd_req_range(const void *key, size_t key_len,
                         const void *range_end, size_t range_end_len,
                         uint64_t limit) {
  json_t *root = json_pack("{s:o}", "key", b64_string(key, key_len));
  if (root && range_end &&
      json_object_set_new(root, "range_end",
                          b64_string(range_end, range_end_len)) != 0) {
    json_decref(root);
    return NULL;
  }
  if (root && limit &&
      json_object_set_new(root, "limit", u64_string(limit)) != 0) {
    json_decref(root);
    return NULL;
  }
  return dump(root);
}

char *tn__etcd_req_delete(const void *key, size_t key_len) {
  return dump(json_pack("{s:o}", "key", b64_string(key, key_len)));
}

char *tn__etcd_req_acquire(const void *key, size_t key_len, const void *value,
                           size_t value_len, uint64_t lease) {
  return dump(json_pack(
      "{s:[{s:o,s:s,s:s,s:s}],s:[{s:{s:o,s:o,s:o}}],s:[{s:{s:o}}]}",
      "compare", "key", b64_string(key, key_len), "target", "CREATE",
      "result", "EQUAL", "create_revision", "0", "success", "request_put",
      "key", b64_string(key, key_len), "value", b64_string(value, value_len),
      "lease", u64_string(lease), "failure", "request_range", "key",
      b64_string(key, key_len)));
}

char *tn__etcd_req_guarded(const void *guard_key, size_t guard_key_len,
                           uint64_t create_revision, const void *key,
                           size_t key_len, const void *value,
                           size_t value_len) {
  json_t *op =
      value ? json_pack("{s:{s:o,s:o}}", "request_put", "key",
                        b64_string(key, key_len), "value",
                        b64_string(value, value_len))
            : json_pack("{s:{s:o}}", "request_delete_range", "key",
                        b64_string(key, key_len));
  return dump(json_pack(
      "{s:[{s:o,s:s,s:s,s:o}],s:[o],s:[{s:{s:o}}]}", "compare", "key",
      b64_string(guard_key, guard_key_len), "target", "CREATE", "result",
      "EQUAL", "create_revision", u64_string(create_revision), "success", op,
      "failure", "request_range", "key",
      b64_string(guard_key, guard_key_len)));
}

size_t tn__etcd_prefix_end(const void *prefix, size_t prefix_len, void *out) {
  const unsigned char *p = prefix;
  unsigned char *o = out;
  size_t n = prefix_len;
  while (n > 0 && p[n - 1] == 0xff)
    n--;
  if (n == 0)
    return 0;
  memcpy(o, p, n);
  o[n - 1]++;
  return n;
}
