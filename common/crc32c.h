/* CRC32C (Castagnoli), the integrity check of plaintext packets. It catches
 * corruption, truncation and junk, not forgery: that is what the key is for. */
#ifndef MP_CRC32C_H
#define MP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The table-driven version crc32c() falls back to; exposed for tests. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
