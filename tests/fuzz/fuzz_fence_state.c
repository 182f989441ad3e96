/* Fuzz target: the fence state file parser (lease/src/fence_format.c). Any
 * input is either refused with TN_ECORRUPT and a reason, leaving the table
 * empty, or accepted; an accepted state is sorted, duplicate-free, with
 * valid names and tokens >= 1, and encodes back to exactly the input bytes.
 *
 * The CRC would stop nearly every mutation at the checksum, so each input is
 * also tried a second time with its CRC field recomputed: that sends the
 * mutations through the entry checks behind it. */
#include "crc32c.h"
#include "fence_format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_state(const tn__fence_state *st) {
  size_t i;
  for (i = 0; i < st->count; i++) {
    if (!tn__fence_resource_valid(st->entries[i].resource) ||
        st->entries[i].token == 0)
      abort();
    if (i > 0 &&
        strcmp(st->entries[i - 1].resource, st->entries[i].resource) >= 0)
      abort();
    if (tn__fence_get(st, st->entries[i].resource) != st->entries[i].token)
      abort();
  }
}

/* encode(st) must parse back to st. */
static void round_trip(const tn__fence_state *st) {
  size_t n = tn__fence_encoded_size(st);
  unsigned char *enc = malloc(n);
  tn__fence_state back;
  if (enc == NULL)
    abort();
  tn__fence_encode(st, enc);
  tn__fence_state_init(&back);
  if (tn__fence_parse(enc, n, &back, NULL, 0) != 0 ||
      back.count != st->count ||
      (st->count && memcmp(back.entries, st->entries,
                           st->count * sizeof st->entries[0]) != 0))
    abort();
  tn__fence_state_free(&back);
  free(enc);
}

static void one(const uint8_t *data, size_t size) {
  tn__fence_state st;
  unsigned char *enc;
  char why[256];
  int rc;

  tn__fence_state_init(&st);
  why[0] = '\0';
  rc = tn__fence_parse(data, size, &st, why, sizeof why);
  if (rc != 0) {
    if (rc != TN_ECORRUPT || why[0] == '\0' || st.count != 0)
      abort();
    tn__fence_state_free(&st);
    return;
  }
  check_state(&st);
  if (tn__fence_encoded_size(&st) != size)
    abort();
  enc = malloc(size);
  if (enc == NULL)
    abort();
  tn__fence_encode(&st, enc);
  if (memcmp(enc, data, size) != 0) /* the encoding is canonical */
    abort();
  free(enc);

  /* raise one resource, or add it, and round-trip again */
  rc = tn__fence_put(&st, "fuzz/extra", 7);
  if (rc != 0 && rc != TN_ERANGE)
    abort();
  if (rc == 0) {
    if (tn__fence_get(&st, "fuzz/extra") != 7)
      abort();
    check_state(&st);
    round_trip(&st);
  }
  tn__fence_state_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *sealed;
  uint32_t crc;
  one(data, size);
  if (size < TN__FENCE_HEADER_SIZE)
    return 0;
  sealed = malloc(size);
  if (sealed == NULL)
    abort();
  memcpy(sealed, data, size);
  crc = tn__crc32c(0, sealed, TN__FENCE_CRC_OFFSET);
  crc = tn__crc32c(crc, sealed + TN__FENCE_HEADER_SIZE,
                   size - TN__FENCE_HEADER_SIZE);
  sealed[16] = (unsigned char)crc;
  sealed[17] = (unsigned char)(crc >> 8);
  sealed[18] = (unsigned char)(crc >> 16);
  sealed[19] = (unsigned char)(crc >> 24);
  one(sealed, size);
  free(sealed);
  return 0;
}
