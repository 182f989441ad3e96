/*
 * Error table and the one way to abort.
 *
 * The strings come from the same X-macro list as the codes (error.h), so a
 * new code cannot be added without its name and message.
 */
#include "die.h"

#include <tenure/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *tn_strerror(int code) {
  switch (code) {
  case 0:
    return "success";
#define TN__ERR_MSG(name, value, msg)                                          \
  case TN_##name:                                                              \
    return msg;
    TN_ERRNO_MAP(TN__ERR_MSG)
#undef TN__ERR_MSG
  default:
    return "unknown error";
  }
}

const char *tn_err_name(int code) {
  switch (code) {
  case 0:
    return "OK";
#define TN__ERR_NAME(name, value, msg)                                         \
  case TN_##name:                                                              \
    return "TN_" #name;
    TN_ERRNO_MAP(TN__ERR_NAME)
#undef TN__ERR_NAME
  default:
    return "TN_UNKNOWN";
  }
}

int tn__from_errno(int err) {
  switch (err) {
  case 0:
    return 0;
  case EINVAL:
    return TN_EINVAL;
  case ENOMEM:
    return TN_ENOMEM;
  case ETIMEDOUT:
    return TN_ETIMEDOUT;
  case EBUSY:
  case EWOULDBLOCK:
    return TN_EBUSY;
  case EPERM:
  case EACCES:
    return TN_EPERM;
  case ENOENT:
    return TN_ENOENT;
  case EEXIST:
    return TN_EEXIST;
  case ENOTSUP:
    return TN_ENOTSUP;
  case ERANGE:
  case EOVERFLOW:
    return TN_ERANGE;
  default:
    return TN_EIO;
  }
}

void tn__die(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  /* stderr is unbuffered; one fprintf per part keeps this simple and it is
   * the last thing the process does. */
  fprintf(stderr, "tenure: fatal: %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}
