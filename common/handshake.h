/* The key handshake's three messages, built and checked as whole packets
 * (header included). All are authenticated with the handshake MAC derived
 * from the shared key, over bytes 1..end-of-body (byte 0, the path id, is
 * left out as everywhere). Exact sizes; nothing here keeps state.
 *
 *   HELLO    client -> server  hdr(session, client epoch) | client random | 16 zero | MAC   64 B
 *   WELCOME  server -> client  hdr(session, server epoch) | client random | server random | MAC   64 B
 *   RESET    server -> client  hdr(session, client epoch, seq echoed) | MAC   32 B
 *
 * HELLO is padded to WELCOME's size and RESET is no larger than the
 * smallest sealed packet: no reply is larger than what caused it. */
#ifndef MP_HANDSHAKE_H
#define MP_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "wire.h"

enum {
	HS_HELLO_LEN = MP_HDR_LEN + 2 * CRYPTO_RANDOM_LEN + CRYPTO_MAC_LEN,
	HS_WELCOME_LEN = MP_HDR_LEN + 2 * CRYPTO_RANDOM_LEN + CRYPTO_MAC_LEN,
	HS_RESET_LEN = MP_HDR_LEN + CRYPTO_MAC_LEN,
	HS_MAX_LEN = HS_HELLO_LEN,
};

/* Builds a message into buf; h gives path, session, epoch and seq (the
 * type and sealed bit are set here). Returns its length. */
size_t hs_hello_build(uint8_t buf[static HS_HELLO_LEN], const struct crypto_master *m,
		      const struct mp_hdr *h,
		      const uint8_t client_random[static CRYPTO_RANDOM_LEN]);
size_t hs_welcome_build(uint8_t buf[static HS_WELCOME_LEN], const struct crypto_master *m,
			const struct mp_hdr *h,
			const uint8_t client_random[static CRYPTO_RANDOM_LEN],
			const uint8_t server_random[static CRYPTO_RANDOM_LEN]);
size_t hs_reset_build(uint8_t buf[static HS_RESET_LEN], const struct crypto_master *m,
		      const struct mp_hdr *h);

/* Checks a message wire_parse() accepted with that type: exact length,
 * zero padding, MAC. Returns 0 and copies out the randoms, or -1. */
int hs_hello_check(const uint8_t *buf, size_t len, const struct crypto_master *m,
		   uint8_t client_random[static CRYPTO_RANDOM_LEN]);
int hs_welcome_check(const uint8_t *buf, size_t len, const struct crypto_master *m,
		     uint8_t client_random[static CRYPTO_RANDOM_LEN],
		     uint8_t server_random[static CRYPTO_RANDOM_LEN]);
int hs_reset_check(const uint8_t *buf, size_t len, const struct crypto_master *m);

#endif
