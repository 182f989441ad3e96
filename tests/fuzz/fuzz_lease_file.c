/* Fuzz target: the file authority's lease file parser
 * (lease/backends/file_format.c). Any input is either refused with
 * TN_ECORRUPT and a reason, holding no memory, or accepted; an accepted
 * table accounts for every byte (header + whole entries + torn tail), each
 * entry's current copy is a valid record whose name is unique in the file,
 * each valid copy re-encodes to exactly its input bytes, and the next token
 * of every entry is above every token in it and above the token base.
 *
 * Checksums would stop nearly every mutation, so each input is also tried
 * with its header CRC and every slot CRC recomputed: that sends mutations
 * through the field checks behind them. */
#include "crc32c.h"
#include "file_format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_crc(unsigned char *p, size_t n) {
  uint32_t c = tn__crc32c(0, p, n);
  p[n] = (unsigned char)c;
  p[n + 1] = (unsigned char)(c >> 8);
  p[n + 2] = (unsigned char)(c >> 16);
  p[n + 3] = (unsigned char)(c >> 24);
}

static void check_table(const uint8_t *data, size_t size,
                        const tn__lf_table *t) {
  size_t i, j;
  if (TN__LF_HEADER_SIZE + t->count * TN__LF_ENTRY_SIZE + t->torn_bytes !=
      size)
    abort();
  if (t->hdr.version != 1 && t->hdr.version != 2)
    abort();
  for (i = 0; i < t->count; i++) {
    const tn__lf_entry *e = &t->entries[i];
    uint64_t next = tn__lf_next_token(&t->hdr, e);
    if (next <= e->token || next <= t->hdr.token_base)
      abort();
    if (e->target != 0 && e->target != 1)
      abort();
    for (j = 0; j < 2; j++) {
      const unsigned char *raw =
          data + TN__LF_HEADER_SIZE + i * TN__LF_ENTRY_SIZE +
          j * TN__LF_SLOT_SIZE;
      unsigned char enc[TN__LF_SLOT_SIZE];
      if (e->s[j].state != TN__LF_SLOT_VALID)
        continue;
      if (e->s[j].token == 0 || e->s[j].token > e->token)
        abort();
      tn__lf_slot_encode(&e->s[j], enc);
      if (memcmp(enc, raw, TN__LF_SLOT_SIZE) != 0) /* canonical */
        abort();
    }
    if (e->cur < 0)
      continue;
    if (e->s[e->cur].state != TN__LF_SLOT_VALID)
      abort();
    for (j = i + 1; j < t->count; j++)
      if (t->entries[j].cur >= 0 &&
          strcmp(e->s[e->cur].name,
                 t->entries[j].s[t->entries[j].cur].name) == 0)
        abort();
  }
}

static void one(const uint8_t *data, size_t size) {
  int torn;
  for (torn = 0; torn < 2; torn++) {
    tn__lf_table t;
    char why[300];
    int rc;
    why[0] = '\0';
    rc = tn__lf_parse(data, size, 0, torn, torn, &t, why, sizeof why);
    if (rc != 0) {
      if (rc != TN_ECORRUPT || why[0] == '\0' || t.entries != NULL)
        abort();
      continue;
    }
    if (!torn && t.torn_bytes != 0)
      abort();
    check_table(data, size, &t);
    tn__lf_table_free(&t);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *sealed;
  size_t off;
  one(data, size);
  if (size < TN__LF_HEADER_SIZE)
    return 0;
  sealed = malloc(size);
  if (sealed == NULL)
    abort();
  memcpy(sealed, data, size);
  put_crc(sealed, TN__LF_HEADER_SIZE - 4);
  for (off = TN__LF_HEADER_SIZE; off + TN__LF_SLOT_SIZE <= size;
       off += TN__LF_SLOT_SIZE)
    put_crc(sealed + off, TN__LF_SLOT_SIZE - 4);
  one(sealed, size);
  free(sealed);
  return 0;
}
