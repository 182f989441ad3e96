/*
 * Fenced writes inside etcd, for an authority opened with an etcd:// URI.
 *
 * A leader that keeps its data in the same etcd cluster as its lease does
 * not need a separate fence (fence.h): etcd can check the token itself.
 * The lease's key in etcd was created at the revision that is the term's
 * fencing token, and it exists exactly as long as the term does at the
 * authority. So a write made in one transaction with the comparison
 *   create_revision(lease key) == token
 * happens only while that term is live there; a write delayed by a pause
 * past the end of the term (the key expired, was released, or belongs to a
 * newer holder with a higher revision) is refused, whatever the writer's
 * clock says.
 *
 *   uint64_t token;
 *   if (tn_guard_begin(lease, budget, &token) == 0) {
 *     int rc = tn_etcd_fenced_put(auth, "primary", token, "app/config",
 *                                 buf, len);     // 0 or TN_EFENCED
 *     tn_guard_end(lease);
 *   }
 *
 * Threads: any thread, concurrently with every other call on the same
 * authority. Blocks for one round trip to etcd (more when an endpoint is
 * down and the next one is tried).
 */
#ifndef TENURE_ETCD_H
#define TENURE_ETCD_H

#include <stddef.h>
#include <stdint.h>
#include <tenure/lease.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Put key = value (len bytes, may be 0) in etcd if, and only if, the lease
 * lease_name's term with this token is still the current one at etcd.
 * key is used as given (it is not put under the authority's prefix), 1 to
 * 511 bytes; it must not be a lease key. The value is copied.
 *
 * Returns 0 (written: the reply said the comparison held); TN_EFENCED (not
 * written: the term is over at etcd); TN_EINVAL (a is not an etcd
 * authority, bad name or key); TN_EUNAVAILABLE (no endpoint answered:
 * the write may or may not have happened, as with any timed-out request);
 * TN_EPROTO (a malformed reply). tn_authority_last_error() says why.
 */
int tn_etcd_fenced_put(tn_authority *a, const char *lease_name, uint64_t token,
                       const char *key, const void *value, size_t len);

#ifdef __cplusplus
}
#endif

#endif
