/*
 * Internal: the unrecoverable. Only for states that mean tenure itself is
 * broken (a lock that cannot be taken, an invariant gone). Bad input from
 * outside is never a reason to die.
 */
#ifndef TENURE_DIE_H
#define TENURE_DIE_H

#include <errno.h>

__attribute__((noreturn, format(printf, 3, 4))) void
tn__die(const char *file, int line, const char *fmt, ...);

#define TN__DIE(...) tn__die(__FILE__, __LINE__, __VA_ARGS__)

/* Map an errno value to the nearest TN_E* code (TN_EIO when none fits). */
int tn__from_errno(int err);

#endif
