/*
 * Opening an authority by URI and forwarding the operator queries to its
 * backend. The scheme picks the backend from one static table, so adding
 * etcd or ZooKeeper later is one line here and one file in backends/.
 */
#include "authority.h"

#include <tenure/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tn_authority {
  const tn__backend *backend;
  void *state;
};

static const tn__backend *const backends[] = {
    &tn__file_backend, &tn__etcd_backend, &tn__etcds_backend};

static __thread char last_error[512];

int tn__authority_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return code;
}

const char *tn_authority_last_error(void) { return last_error; }

int tn__lease_name_valid(const char *name) {
  size_t n = 0;
  if (name == NULL || *name == '\0')
    return 0;
  for (; name[n]; n++) {
    char c = name[n];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return n <= TN_LEASE_NAME_MAX;
}

int tn__holder_valid(const char *holder) {
  size_t n = 0;
  if (holder == NULL || *holder == '\0')
    return 0;
  for (; holder[n]; n++) {
    unsigned char c = (unsigned char)holder[n];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
      return 0;
  }
  return n <= TN_HOLDER_MAX;
}

static int open_uri(const char *uri, int readonly, tn_authority **out) {
  const char *sep;
  size_t i, scheme_len;
  last_error[0] = '\0';
  if (uri == NULL || out == NULL)
    return tn__authority_fail(TN_EINVAL, "no authority URI given");
  sep = strstr(uri, "://");
  if (sep == NULL)
    return tn__authority_fail(TN_EINVAL,
                              "authority URI \"%.200s\": expected "
                              "scheme://..., e.g. file:///var/lib/app/leases.tn",
                              uri);
  scheme_len = (size_t)(sep - uri);
  for (i = 0; i < sizeof backends / sizeof backends[0]; i++) {
    const tn__backend *b = backends[i];
    if (strlen(b->scheme) == scheme_len &&
        strncmp(b->scheme, uri, scheme_len) == 0) {
      tn_authority *a = calloc(1, sizeof *a);
      int rc;
      if (a == NULL)
        return tn__authority_fail(TN_ENOMEM, "out of memory");
      rc = readonly && b->open_readonly ? b->open_readonly(uri, &a->state)
                                        : b->open(uri, &a->state);
      if (rc != 0) {
        free(a);
        return rc;
      }
      a->backend = b;
      *out = a;
      return 0;
    }
  }
  return tn__authority_fail(TN_EINVAL,
                            "authority URI \"%.200s\": unknown scheme \"%.*s\" "
                            "(this build knows file://, etcd://, etcds://)",
                            uri, (int)(scheme_len > 32 ? 32 : scheme_len), uri);
}

int tn_authority_open(const char *uri, tn_authority **out) {
  return open_uri(uri, 0, out);
}

int tn_authority_open_readonly(const char *uri, tn_authority **out) {
  return open_uri(uri, 1, out);
}

int tn__authority_wrap(const tn__backend *b, void *state, tn_authority **out) {
  tn_authority *a = calloc(1, sizeof *a);
  if (a == NULL)
    return TN_ENOMEM;
  a->backend = b;
  a->state = state;
  *out = a;
  return 0;
}

void tn_authority_close(tn_authority *a) {
  if (a == NULL)
    return;
  a->backend->close(a->state);
  free(a);
}

int tn_authority_observe(tn_authority *a, const char *name,
                         tn_lease_info *out) {
  if (!tn__lease_name_valid(name))
    return tn__authority_fail(TN_EINVAL, "bad lease name");
  return a->backend->observe(a->state, name, out);
}

int tn_authority_list(tn_authority *a, tn_lease_info *out, size_t max,
                      size_t *count) {
  return a->backend->list(a->state, out, max, count);
}

int tn_authority_force_release(tn_authority *a, const char *name) {
  if (!tn__lease_name_valid(name))
    return tn__authority_fail(TN_EINVAL, "bad lease name");
  return a->backend->force_release(a->state, name);
}

const tn__backend *tn__authority_backend(tn_authority *a, void **state) {
  *state = a->state;
  return a->backend;
}
