/*
 * Internal: CRC32C (Castagnoli), the checksum on every stored lease record
 * and fence state. Chosen over CRC32 for its better error detection on short
 * records and because SSE4.2 and ARMv8 compute it in hardware.
 */
#ifndef TENURE_CRC32C_H
#define TENURE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC32C over buf; start with crc = 0. Thread-safe. */
uint32_t tn__crc32c(uint32_t crc, const void *buf, size_t len);

#endif
