/* Unit tests: CRC32C (lease/src/crc32c.c) against published check values. */
#include "cu_main.h"

#include "crc32c.h"
#include <string.h>

static void test_check_value(void) {
  /* The standard check value for CRC-32C (iSCSI, RFC 3720). */
  CU_ASSERT_EQUAL(tn__crc32c(0, "123456789", 9), 0xE3069283u);
  CU_ASSERT_EQUAL(tn__crc32c(0, "", 0), 0u);
}

static void test_rfc3720_vectors(void) {
  unsigned char buf[32];
  int i;
  memset(buf, 0, sizeof buf);
  CU_ASSERT_EQUAL(tn__crc32c(0, buf, 32), 0x8A9136AAu);
  memset(buf, 0xff, sizeof buf);
  CU_ASSERT_EQUAL(tn__crc32c(0, buf, 32), 0x62A8AB43u);
  for (i = 0; i < 32; i++)
    buf[i] = (unsigned char)i;
  CU_ASSERT_EQUAL(tn__crc32c(0, buf, 32), 0x46DD794Eu);
}

static void test_incremental(void) {
  const char *s = "the quick brown fox jumps over the lazy dog";
  size_t n = strlen(s), cut;
  uint32_t whole = tn__crc32c(0, s, n);
  for (cut = 0; cut <= n; cut++)
    CU_ASSERT_EQUAL(tn__crc32c(tn__crc32c(0, s, cut), s + cut, n - cut), whole);
}

static void test_detects_bit_flips(void) {
  unsigned char rec[64];
  uint32_t good;
  int bit;
  memset(rec, 0x5a, sizeof rec);
  good = tn__crc32c(0, rec, sizeof rec);
  for (bit = 0; bit < 64 * 8; bit++) {
    rec[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    CU_ASSERT(tn__crc32c(0, rec, sizeof rec) != good);
    rec[bit / 8] ^= (unsigned char)(1u << (bit % 8));
  }
}

static const tn_cu_test crc_tests[] = {
    {"check value", test_check_value},
    {"RFC 3720 vectors", test_rfc3720_vectors},
    {"incremental equals whole", test_incremental},
    {"every single bit flip detected", test_detects_bit_flips},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {{"crc32c", crc_tests, NULL, NULL},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
