/*
 * Internal: the byte layout of the file authority's lease table, decoded
 * and checked from a buffer with no I/O, so that the backend (file.c),
 * tenurectl's check and repair, and the fuzz target share one parser.
 *
 * Layout (all integers little-endian):
 *   header  256 bytes: "TNLEASE1", version, slot size, the creator's
 *           boot-time namespace offset, token base (version 2), CRC32C of
 *           the bytes before it.
 *   entries 512 bytes each, one per lease name: two 256-byte copies
 *           ("slots") of the record
 *             seq, token, expiry (boot ns), flags (SYNCED, HELD),
 *             boot id, name, holder, CRC32C.
 *
 * Versions: 1 has no token base (read as 0: the first token of an entry is
 * 1); 2 adds it. Both are read; new files are written as version 2. The
 * parser never allocates more than the input's whole entries and never
 * trusts a count from the input.
 */
#ifndef TENURE_FILE_FORMAT_H
#define TENURE_FILE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <tenure/clock.h>
#include <tenure/lease.h>

#define TN__LF_MAGIC "TNLEASE1"
#define TN__LF_VERSION 2u /* written */
#define TN__LF_HEADER_SIZE 256
#define TN__LF_SLOT_SIZE 256
#define TN__LF_ENTRY_SIZE (2 * TN__LF_SLOT_SIZE)
#define TN__LF_MAX_ENTRIES 4096

#define TN__LF_FLAG_SYNCED 1u
#define TN__LF_FLAG_HELD 2u

enum { TN__LF_SLOT_EMPTY, TN__LF_SLOT_VALID, TN__LF_SLOT_BAD };

typedef struct tn__lf_header {
  uint32_t version;    /* 1 or 2 as read; encode always writes 2 */
  tn_nanos timens;     /* the creator's boot-time namespace offset */
  uint64_t token_base; /* first token of a new entry is token_base + 1 */
} tn__lf_header;

/* One decoded copy of a record. */
typedef struct tn__lf_slot {
  int state; /* TN__LF_SLOT_* */
  uint64_t seq, token;
  tn_nanos expiry;
  uint32_t flags;
  char boot_id[37];
  char name[TN_LEASE_NAME_MAX + 1];
  char holder[TN_HOLDER_MAX + 1];
} tn__lf_slot;

typedef struct tn__lf_entry {
  tn__lf_slot s[2];
  int cur;        /* index of the newest valid copy, -1 if none */
  int target;     /* the copy the next write goes to */
  uint64_t token; /* highest token in any valid copy */
} tn__lf_entry;

/* A whole table as parsed from a buffer. entries is malloc'd. */
typedef struct tn__lf_table {
  tn__lf_header hdr;
  tn__lf_entry *entries;
  size_t count;      /* whole entries */
  size_t torn_bytes; /* bytes after the last whole entry */
  size_t damaged;    /* copies failing their checksum (sibling valid) */
} tn__lf_table;

/* Check and decode a header. NULL when valid, else the reason (static
 * text). timens is compared unless check_timens is 0. */
const char *tn__lf_header_decode(const unsigned char *raw, tn_nanos timens,
                                 int check_timens, tn__lf_header *out);
/* Encode as version 2 (whatever h->version says). */
void tn__lf_header_encode(const tn__lf_header *h, unsigned char *raw);

/* Decode one copy; returns and sets s->state. */
int tn__lf_slot_decode(const unsigned char *raw, tn__lf_slot *s);
/* Encode s (its state is ignored); fills the CRC. */
void tn__lf_slot_encode(const tn__lf_slot *s, unsigned char *raw);
/* Which copy is current, which the next write goes to, the highest token.
 * 0, or -1 when neither copy is usable but one is damaged, or the two
 * valid copies name different leases. */
int tn__lf_entry_resolve(tn__lf_entry *e);

/*
 * Parse a whole file image. allow_torn: a partial trailing entry is
 * counted in torn_bytes instead of refusing (tenurectl check/repair).
 * Returns 0, TN_ECORRUPT with the reason in why (the entry named), or
 * TN_ENOMEM. On failure *out holds no memory.
 */
int tn__lf_parse(const unsigned char *buf, size_t len, tn_nanos timens,
                 int check_timens, int allow_torn, tn__lf_table *out,
                 char *why, size_t whylen);
void tn__lf_table_free(tn__lf_table *t);

/* The next token for entry e (NULL: a new entry) in a file with header h. */
uint64_t tn__lf_next_token(const tn__lf_header *h, const tn__lf_entry *e);

#endif
