/*
 * The file authority's lease file, for operators: check it and repair a
 * torn tail (tenurectl lease check / lease repair). The authority itself is
 * used through tn_authority_open("file:///...") in lease.h.
 *
 * Concurrency: both calls take the file's OFD lock (check a read lock,
 * repair a write lock), so they run safely next to live holders; both may
 * block on it and on I/O. Any thread.
 */
#ifndef TENURE_LEASE_FILE_H
#define TENURE_LEASE_FILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_lease_file_report {
  uint32_t version;      /* 1 or 2 */
  uint64_t token_base;   /* version 2: wall-clock microseconds at creation */
  uint64_t size;         /* bytes */
  size_t entries;        /* whole entries */
  size_t leases;         /* entries holding a record */
  size_t damaged_copies; /* copies failing their checksum, sibling valid */
  uint64_t torn_bytes;   /* a partial entry after the last whole one */
  uint64_t max_token;    /* highest token of any record */
  int repaired;          /* tn_lease_file_repair trimmed the tail */
} tn_lease_file_report;

/*
 * Read-only check of a lease file (creates nothing; needs only read
 * permission). Returns 0 when the header and every whole entry are sound —
 * a torn tail is then reported in out->torn_bytes, not as an error —
 * TN_ECORRUPT when the file would be refused for another reason, TN_ENOENT,
 * TN_EPERM, TN_EIO. tn_authority_last_error() says why, naming the file.
 */
int tn_lease_file_check(const char *path, tn_lease_file_report *out);

/*
 * Trim a torn tail: only when the header and every whole entry pass their
 * checks. The file is rewritten whole (temp file, fsync, rename, fsync of
 * the directory) with the header's token base raised to the wall clock now,
 * so a lease whose entry was torn off starts again above any token it can
 * have issued. Holders of the old file see it replaced and step down.
 * Returns 0 (out->repaired says whether anything was trimmed), or the
 * errors of tn_lease_file_check.
 */
int tn_lease_file_repair(const char *path, tn_lease_file_report *out);

#ifdef __cplusplus
}
#endif

#endif
