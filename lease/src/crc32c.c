/*
 * CRC32C, reflected polynomial 0x82F63B78, slicing-by-one table.
 *
 * The table is built at compile time by a constructor-free generator so the
 * function is safe to call from any thread at any moment, including before
 * main(). Records are tens of bytes, so a byte-wise loop is fast enough; the
 * hardware instruction is a later optimisation once a benchmark asks for it.
 */
#include "crc32c.h"

#define P 0x82F63B78u
#define T1(c) (((c) & 1) ? ((c) >> 1) ^ P : (c) >> 1)
#define T8(c) T1(T1(T1(T1(T1(T1(T1(T1(c))))))))
#define R4(i) T8(i), T8(i + 1), T8(i + 2), T8(i + 3)
#define R16(i) R4(i), R4(i + 4), R4(i + 8), R4(i + 12)
#define R64(i) R16(i), R16(i + 16), R16(i + 32), R16(i + 48)

static const uint32_t table[256] = {R64(0u), R64(64u), R64(128u), R64(192u)};

uint32_t tn__crc32c(uint32_t crc, const void *buf, size_t len) {
  const unsigned char *p = buf;
  crc = ~crc;
  while (len--)
    crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}
