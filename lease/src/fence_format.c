/*
 * The fence state file format: decode, encode, and the sorted table.
 *
 *   header  magic "TNFENCE\0" (8) | version u32 | count u32 | crc u32
 *   entry   name length u8 | name, NUL-padded (63) | token u64
 *   all integers little-endian; file size exactly 20 + 72 * count;
 *   crc = CRC32C over bytes [0,16) then [20,end), i.e. everything but itself.
 *
 * The decoder accepts exactly one byte string per table: the fixed entry
 * size ties the count to the file size, the zero padding and the sorted,
 * duplicate-free order leave no freedom, so encode(parse(b)) == b for every
 * accepted b. That canonical form is what lets the fuzz target check the
 * decoder against the encoder, and means a flipped bit anywhere is either
 * caught by a structural check or by the CRC (CRC32C catches every error
 * burst up to 32 bits).
 *
 * Checks run cheapest-and-most-telling first (size, magic, version, count,
 * CRC, then entries) so that the message names the most likely cause:
 * "truncated" rather than "checksum mismatch" for a short file.
 */
#include "fence_format.h"

#include "crc32c.h"

#include <tenure/error.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char fence_magic[TN__FENCE_MAGIC_LEN] = TN__FENCE_MAGIC;

static uint32_t load_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t load_u64(const unsigned char *p) {
  return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

static void store_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static void store_u64(unsigned char *p, uint64_t v) {
  store_u32(p, (uint32_t)v);
  store_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t file_crc(const unsigned char *buf, size_t len) {
  uint32_t crc = tn__crc32c(0, buf, TN__FENCE_CRC_OFFSET);
  return tn__crc32c(crc, buf + TN__FENCE_HEADER_SIZE,
                    len - TN__FENCE_HEADER_SIZE);
}

static int resource_byte_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
         c == '-';
}

int tn__fence_resource_valid(const char *resource) {
  size_t n;
  if (resource == NULL)
    return 0;
  for (n = 0; resource[n]; n++)
    if (n >= TN_FENCE_RESOURCE_MAX || !resource_byte_ok((unsigned char)resource[n]))
      return 0;
  return n > 0;
}

void tn__fence_state_init(tn__fence_state *st) {
  st->entries = NULL;
  st->count = 0;
  st->cap = 0;
}

void tn__fence_state_free(tn__fence_state *st) {
  free(st->entries);
  tn__fence_state_init(st);
}

static int reserve(tn__fence_state *st, size_t want) {
  tn__fence_entry *grown;
  size_t cap;
  if (want <= st->cap)
    return 0;
  cap = st->cap ? st->cap : 8;
  while (cap < want)
    cap *= 2;
  grown = realloc(st->entries, cap * sizeof *grown);
  if (grown == NULL)
    return TN_ENOMEM;
  st->entries = grown;
  st->cap = cap;
  return 0;
}

static int corrupt(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int corrupt(char *why, size_t why_len, const char *fmt, ...) {
  va_list ap;
  if (why && why_len) {
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
  }
  return TN_ECORRUPT;
}

/* Decode entry i at p into e, checking everything that belongs to the entry
 * alone; order against the previous entry is checked by the caller. */
static int parse_entry(const unsigned char *p, size_t i, size_t off,
                       tn__fence_entry *e, char *why, size_t why_len) {
  unsigned n = p[0], k;
  if (n == 0 || n > TN_FENCE_RESOURCE_MAX)
    return corrupt(why, why_len,
                   "entry %zu (offset %zu): resource name length %u is not "
                   "1..%d",
                   i, off, n, TN_FENCE_RESOURCE_MAX);
  for (k = 0; k < n; k++)
    if (!resource_byte_ok(p[1 + k]))
      return corrupt(why, why_len,
                     "entry %zu (offset %zu): byte 0x%02x at name position %u "
                     "is not allowed in a resource name",
                     i, off, p[1 + k], k);
  for (; k < TN__FENCE_NAME_FIELD; k++)
    if (p[1 + k] != 0)
      return corrupt(why, why_len,
                     "entry %zu (offset %zu): name padding byte %u is 0x%02x, "
                     "not zero",
                     i, off, k, p[1 + k]);
  memcpy(e->resource, p + 1, TN__FENCE_NAME_FIELD);
  e->resource[TN__FENCE_NAME_FIELD] = '\0';
  e->token = load_u64(p + 1 + TN__FENCE_NAME_FIELD);
  if (e->token == 0)
    return corrupt(why, why_len,
                   "entry %zu (offset %zu, resource \"%s\"): token 0 (tokens "
                   "start at 1)",
                   i, off, e->resource);
  return 0;
}

int tn__fence_parse(const unsigned char *buf, size_t len, tn__fence_state *st,
                    char *why, size_t why_len) {
  uint32_t version, count, stored_crc, crc;
  uint64_t want;
  size_t i;
  int rc;

  st->count = 0;
  if (len == 0)
    return corrupt(why, why_len, "empty file (0 bytes; a valid state has at "
                                 "least a %u-byte header)",
                   TN__FENCE_HEADER_SIZE);
  if (len < TN__FENCE_HEADER_SIZE) {
    if (memcmp(buf, fence_magic, len < TN__FENCE_MAGIC_LEN
                                     ? len
                                     : TN__FENCE_MAGIC_LEN) != 0)
      return corrupt(why, why_len,
                     "bad magic: not a fence state file (%zu bytes)", len);
    return corrupt(why, why_len,
                   "truncated: %zu bytes, shorter than the %u-byte header",
                   len, TN__FENCE_HEADER_SIZE);
  }
  if (memcmp(buf, fence_magic, TN__FENCE_MAGIC_LEN) != 0)
    return corrupt(why, why_len, "bad magic: not a fence state file");
  version = load_u32(buf + 8);
  if (version != TN__FENCE_VERSION)
    return corrupt(why, why_len,
                   "unsupported format version %" PRIu32
                   " (this build reads version %u)",
                   version, TN__FENCE_VERSION);
  count = load_u32(buf + 12);
  if (count > TN_FENCE_RESOURCES_MAX)
    return corrupt(why, why_len,
                   "entry count %" PRIu32 " exceeds the limit of %d",
                   count, TN_FENCE_RESOURCES_MAX);
  want = TN__FENCE_HEADER_SIZE + (uint64_t)count * TN__FENCE_ENTRY_SIZE;
  if ((uint64_t)len < want)
    return corrupt(why, why_len,
                   "truncated: %zu bytes, but the header's %" PRIu32
                   " entries need %" PRIu64,
                   len, count, want);
  if ((uint64_t)len > want)
    return corrupt(why, why_len,
                   "%" PRIu64 " trailing bytes after the %" PRIu32
                   " entries the header declares (%zu bytes, expected %" PRIu64
                   ")",
                   (uint64_t)len - want, count, len, want);
  stored_crc = load_u32(buf + TN__FENCE_CRC_OFFSET);
  crc = file_crc(buf, len);
  if (crc != stored_crc)
    return corrupt(why, why_len,
                   "checksum mismatch (stored CRC32C 0x%08" PRIx32
                   ", computed 0x%08" PRIx32 ")",
                   stored_crc, crc);

  if ((rc = reserve(st, count)) != 0)
    return rc;
  for (i = 0; i < count; i++) {
    size_t off = TN__FENCE_HEADER_SIZE + i * TN__FENCE_ENTRY_SIZE;
    tn__fence_entry *e = &st->entries[i];
    if ((rc = parse_entry(buf + off, i, off, e, why, why_len)) != 0)
      return rc;
    if (i > 0) {
      int order = memcmp(st->entries[i - 1].resource, e->resource,
                         TN__FENCE_NAME_FIELD);
      if (order == 0)
        return corrupt(why, why_len,
                       "entry %zu (offset %zu): duplicate resource \"%s\"", i,
                       off, e->resource);
      if (order > 0)
        return corrupt(why, why_len,
                       "entry %zu (offset %zu): resource \"%s\" is out of "
                       "order (after \"%s\")",
                       i, off, e->resource, st->entries[i - 1].resource);
    }
  }
  st->count = count;
  return 0;
}

size_t tn__fence_encoded_size(const tn__fence_state *st) {
  return TN__FENCE_HEADER_SIZE + st->count * TN__FENCE_ENTRY_SIZE;
}

void tn__fence_encode(const tn__fence_state *st, unsigned char *buf) {
  size_t i, len = tn__fence_encoded_size(st);
  memcpy(buf, fence_magic, TN__FENCE_MAGIC_LEN);
  store_u32(buf + 8, TN__FENCE_VERSION);
  store_u32(buf + 12, (uint32_t)st->count);
  for (i = 0; i < st->count; i++) {
    unsigned char *p = buf + TN__FENCE_HEADER_SIZE + i * TN__FENCE_ENTRY_SIZE;
    const tn__fence_entry *e = &st->entries[i];
    p[0] = (unsigned char)strlen(e->resource);
    /* e->resource is NUL-padded to the end, so this copies the padding too */
    memcpy(p + 1, e->resource, TN__FENCE_NAME_FIELD);
    store_u64(p + 1 + TN__FENCE_NAME_FIELD, e->token);
  }
  store_u32(buf + TN__FENCE_CRC_OFFSET, file_crc(buf, len));
}

/* Index of resource in st, or of where it would be inserted; *found says
 * which. key is NUL-padded to the full field. */
static size_t search(const tn__fence_state *st, const char *key, int *found) {
  size_t lo = 0, hi = st->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = memcmp(st->entries[mid].resource, key, TN__FENCE_NAME_FIELD);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

static void padded_key(char key[TN__FENCE_NAME_FIELD + 1], const char *resource) {
  memset(key, 0, TN__FENCE_NAME_FIELD + 1);
  memcpy(key, resource, strnlen(resource, TN__FENCE_NAME_FIELD));
}

uint64_t tn__fence_get(const tn__fence_state *st, const char *resource) {
  char key[TN__FENCE_NAME_FIELD + 1];
  int found;
  size_t i;
  padded_key(key, resource);
  i = search(st, key, &found);
  return found ? st->entries[i].token : 0;
}

int tn__fence_put(tn__fence_state *st, const char *resource, uint64_t token) {
  char key[TN__FENCE_NAME_FIELD + 1];
  int found, rc;
  size_t i;
  padded_key(key, resource);
  i = search(st, key, &found);
  if (found) {
    st->entries[i].token = token;
    return 0;
  }
  if (st->count >= TN_FENCE_RESOURCES_MAX)
    return TN_ERANGE;
  if ((rc = reserve(st, st->count + 1)) != 0)
    return rc;
  memmove(&st->entries[i + 1], &st->entries[i],
          (st->count - i) * sizeof st->entries[0]);
  memcpy(st->entries[i].resource, key, sizeof key);
  st->entries[i].token = token;
  st->count++;
  return 0;
}
