/*
 * Internal: the authority interface every backend implements, and the
 * thread-local error text that tells a user what went wrong in words.
 *
 * A backend sees only this header; lease.c never includes a backend's.
 * Backends are reached through one static table (authority.c).
 */
#ifndef TENURE_AUTHORITY_H
#define TENURE_AUTHORITY_H

#include <tenure/lease.h>

/* What an acquire or renew obtained. */
typedef struct tn__grant {
  uint64_t token;    /* fencing token of the term */
  tn_nanos duration; /* D: the authority counts it from its receipt */
  /* Backends that share this machine's boot clock (file) give the absolute
   * boot-time expiry; the lease then needs no drift term. 0 otherwise. */
  tn_nanos expiry;
} tn__grant;

typedef struct tn__backend {
  const char *scheme; /* "file" for file:// */
  int (*open)(const char *uri, void **state);
  /* Optional: open for queries only, creating nothing and needing only
   * read permission; writes then fail with TN_EPERM. NULL: open. */
  int (*open_readonly)(const char *uri, void **state);
  void (*close)(void *state);
  /* One attempt. 0 and *g, or TN_EBUSY when another holder has it. */
  int (*acquire)(void *state, const char *name, const char *holder,
                 tn_nanos ttl, tn__grant *g);
  /* Extend the term with this token. TN_ELOST when it is no longer ours;
   * TN_EREPLACED when the authority's state was deleted or replaced under
   * the holder; TN_ECORRUPT when the state is refused. These three end the
   * term at once; anything else is retried until the deadline. */
  int (*renew)(void *state, const char *name, const char *holder,
               uint64_t token, tn_nanos ttl, tn__grant *g);
  /* End the term. TN_ELOST when it was not ours any more. */
  int (*release)(void *state, const char *name, const char *holder,
                 uint64_t token);
  int (*observe)(void *state, const char *name, tn_lease_info *out);
  int (*list)(void *state, tn_lease_info *out, size_t max, size_t *count);
  int (*force_release)(void *state, const char *name);
  /* Block until the term with this token is over (released, expired, or
   * taken over) or until timeout. 0 when over, TN_ETIMEDOUT. */
  int (*watch)(void *state, const char *name, uint64_t token,
               tn_nanos timeout);
} tn__backend;

extern const tn__backend tn__file_backend;
extern const tn__backend tn__etcd_backend;  /* etcd:// */
extern const tn__backend tn__etcds_backend; /* etcds:// (TLS) */

/* Set the calling thread's error text (printf format). Returns code. */
int tn__authority_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The backend behind an authority, and its state (for lease.c). */
const tn__backend *tn__authority_backend(tn_authority *a, void **state);

/* An authority around a backend instance (tests plug in their own). The
 * backend's close runs at tn_authority_close. */
int tn__authority_wrap(const tn__backend *b, void *state, tn_authority **out);

/* Names and holders: the checks shared by lease.c and the backends. */
int tn__lease_name_valid(const char *name);
int tn__holder_valid(const char *holder);

#endif
