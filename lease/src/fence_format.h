/*
 * Internal: the fence state file format, as pure functions over bytes.
 *
 * No I/O here, so the fuzz target (tests/fuzz/fuzz_fence_state.c) drives
 * exactly the code that reads a state file from disk. The layout is described
 * at the top of fence_format.c and in <tenure/fence.h>.
 *
 * A tn__fence_state is a table of (resource, highest token) kept sorted by
 * resource name. Names are stored NUL-padded to a fixed width so that memcmp
 * over the whole field orders them exactly as strcmp does. Not thread-safe:
 * one state belongs to one caller at a time.
 */
#ifndef TENURE_FENCE_FORMAT_H
#define TENURE_FENCE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <tenure/fence.h>

#define TN__FENCE_MAGIC "TNFENCE" /* 7 bytes and the NUL: 8 bytes on disk */
#define TN__FENCE_MAGIC_LEN 8
#define TN__FENCE_VERSION 1u
#define TN__FENCE_HEADER_SIZE 20u /* magic 8, version 4, count 4, crc 4 */
#define TN__FENCE_CRC_OFFSET 16u
#define TN__FENCE_NAME_FIELD 63u  /* == TN_FENCE_RESOURCE_MAX */
#define TN__FENCE_ENTRY_SIZE 72u  /* length 1, name 63, token 8 */
/* The largest valid file: refuse bigger ones before reading them. */
#define TN__FENCE_FILE_MAX                                                     \
  ((uint64_t)TN__FENCE_HEADER_SIZE +                                          \
   (uint64_t)TN__FENCE_ENTRY_SIZE * TN_FENCE_RESOURCES_MAX)

typedef struct tn__fence_entry {
  char resource[TN__FENCE_NAME_FIELD + 1]; /* NUL-padded to the end */
  uint64_t token;                          /* >= 1 */
} tn__fence_entry;

typedef struct tn__fence_state {
  tn__fence_entry *entries; /* sorted by resource, no duplicates */
  size_t count;
  size_t cap;
} tn__fence_state;

/* An empty table; owns no memory until the first put or parse. */
void tn__fence_state_init(tn__fence_state *st);
void tn__fence_state_free(tn__fence_state *st);

/* 1 when resource is 1..TN_FENCE_RESOURCE_MAX bytes of [A-Za-z0-9._/-]. */
int tn__fence_resource_valid(const char *resource);

/*
 * Decode a whole state file from buf[0..len). Replaces st's contents on
 * success. Returns 0; TN_ECORRUPT with a sentence in why (what is wrong, with
 * offsets; the caller adds the file name) for anything that is not exactly a
 * valid file: short header, wrong magic or version, entry count that does not
 * match the size (truncation or trailing bytes), CRC mismatch, a bad name
 * length, byte or padding, token 0, entries out of order or duplicated.
 * TN_ENOMEM. st is left empty on failure. why may be NULL.
 */
int tn__fence_parse(const unsigned char *buf, size_t len, tn__fence_state *st,
                    char *why, size_t why_len);

/* Bytes tn__fence_encode writes for st. */
size_t tn__fence_encoded_size(const tn__fence_state *st);
/* Encode st into buf, which has tn__fence_encoded_size(st) bytes. The
 * encoding is canonical: parse(encode(st)) == st and encode(parse(b)) == b. */
void tn__fence_encode(const tn__fence_state *st, unsigned char *buf);

/* The highest token for resource, 0 when it has none. */
uint64_t tn__fence_get(const tn__fence_state *st, const char *resource);
/* Set resource's token (inserting it in order when new). resource must be
 * valid and token >= 1. 0; TN_ERANGE when a new resource would exceed
 * TN_FENCE_RESOURCES_MAX; TN_ENOMEM. */
int tn__fence_put(tn__fence_state *st, const char *resource, uint64_t token);

#endif
