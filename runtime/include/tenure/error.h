/*
 * Error codes. Every tenure function that can fail returns int: 0 on success,
 * one of the negative TN_E* codes below on failure. Signs are never mixed.
 *
 * The list is an X-macro so the enum, tn_err_name() and tn_strerror() cannot
 * drift apart. Append new codes at the end; values are part of the ABI.
 */
#ifndef TENURE_ERROR_H
#define TENURE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message) */
#define TN_ERRNO_MAP(XX)                                                       \
  XX(EINVAL, 1, "invalid argument")                                            \
  XX(ENOMEM, 2, "out of memory")                                               \
  XX(EIO, 3, "input/output error")                                             \
  XX(ECORRUPT, 4, "stored data is corrupt")                                    \
  XX(ETIMEDOUT, 5, "timed out")                                                \
  XX(ESTALE, 6, "lease deadline has passed or is too close")                   \
  XX(ELOST, 7, "lease was lost during the action")                             \
  XX(EFENCED, 8, "token is older than one already accepted")                   \
  XX(EUNSYNCED, 9, "clock is not synchronized")                                \
  XX(EBUSY, 10, "resource busy")                                               \
  XX(ECLOSED, 11, "handle is closed or stopping")                              \
  XX(EPERM, 12, "permission denied")                                           \
  XX(EPROTO, 13, "protocol error in a reply")                                  \
  XX(EUNAVAILABLE, 14, "service unavailable")                                  \
  XX(ENOENT, 15, "no such entry")                                              \
  XX(EEXIST, 16, "already exists")                                             \
  XX(ENOTSUP, 17, "operation not supported")                                   \
  XX(ERANGE, 18, "value out of range")                                         \
  XX(EAGAIN, 19, "try again")                                                  \
  XX(ENOSPC, 20, "no space left on device")                                    \
  XX(EREPLACED, 21, "the authority's state was deleted or replaced")

typedef enum tn_errno {
#define TN__ERR_ENUM(name, value, msg) TN_##name = -(value),
  TN_ERRNO_MAP(TN__ERR_ENUM)
#undef TN__ERR_ENUM
} tn_errno;

/* A short human message for code ("success" for 0, "unknown error" for a
 * value not in the list). Static storage; thread-safe; never NULL. */
const char *tn_strerror(int code);

/* The symbolic name, e.g. "TN_ESTALE" ("OK" for 0, "TN_UNKNOWN" otherwise).
 * Static storage; thread-safe; never NULL. */
const char *tn_err_name(int code);

#ifdef __cplusplus
}
#endif

#endif
