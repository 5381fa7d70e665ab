/* Building and checking handshake messages. The MAC is checked before any
 * field is used, and lengths are exact. */
#include "handshake.h"

#include <string.h>

static size_t finish(uint8_t *buf, const struct crypto_master *m, size_t body_end)
{
	crypto_mac(m, buf + 1, body_end - 1, buf + body_end);
	return body_end + CRYPTO_MAC_LEN;
}

static void put_hdr(uint8_t *buf, const struct mp_hdr *h, enum mp_type type)
{
	struct mp_hdr t = *h;

	t.type = (uint8_t)type;
	t.sealed = 1;
	wire_put_hdr(buf, &t);
}

size_t hs_hello_build(uint8_t buf[static HS_HELLO_LEN], const struct crypto_master *m,
		      const struct mp_hdr *h,
		      const uint8_t client_random[static CRYPTO_RANDOM_LEN])
{
	put_hdr(buf, h, MP_T_HELLO);
	memcpy(buf + MP_HDR_LEN, client_random, CRYPTO_RANDOM_LEN);
	memset(buf + MP_HDR_LEN + CRYPTO_RANDOM_LEN, 0, CRYPTO_RANDOM_LEN);
	return finish(buf, m, HS_HELLO_LEN - CRYPTO_MAC_LEN);
}

size_t hs_welcome_build(uint8_t buf[static HS_WELCOME_LEN], const struct crypto_master *m,
			const struct mp_hdr *h,
			const uint8_t client_random[static CRYPTO_RANDOM_LEN],
			const uint8_t server_random[static CRYPTO_RANDOM_LEN])
{
	put_hdr(buf, h, MP_T_WELCOME);
	memcpy(buf + MP_HDR_LEN, client_random, CRYPTO_RANDOM_LEN);
	memcpy(buf + MP_HDR_LEN + CRYPTO_RANDOM_LEN, server_random, CRYPTO_RANDOM_LEN);
	return finish(buf, m, HS_WELCOME_LEN - CRYPTO_MAC_LEN);
}

size_t hs_reset_build(uint8_t buf[static HS_RESET_LEN], const struct crypto_master *m,
		      const struct mp_hdr *h)
{
	put_hdr(buf, h, MP_T_RESET);
	return finish(buf, m, MP_HDR_LEN);
}

static int check(const uint8_t *buf, size_t len, size_t want,
		 const struct crypto_master *m)
{
	if (len != want)
		return -1;
	return crypto_mac_check(m, buf + 1, want - CRYPTO_MAC_LEN - 1,
				buf + want - CRYPTO_MAC_LEN);
}

int hs_hello_check(const uint8_t *buf, size_t len, const struct crypto_master *m,
		   uint8_t client_random[static CRYPTO_RANDOM_LEN])
{
	static const uint8_t zero[CRYPTO_RANDOM_LEN];

	if (check(buf, len, HS_HELLO_LEN, m) ||
	    memcmp(buf + MP_HDR_LEN + CRYPTO_RANDOM_LEN, zero, sizeof(zero)))
		return -1;
	memcpy(client_random, buf + MP_HDR_LEN, CRYPTO_RANDOM_LEN);
	return 0;
}

int hs_welcome_check(const uint8_t *buf, size_t len, const struct crypto_master *m,
		     uint8_t client_random[static CRYPTO_RANDOM_LEN],
		     uint8_t server_random[static CRYPTO_RANDOM_LEN])
{
	if (check(buf, len, HS_WELCOME_LEN, m))
		return -1;
	memcpy(client_random, buf + MP_HDR_LEN, CRYPTO_RANDOM_LEN);
	memcpy(server_random, buf + MP_HDR_LEN + CRYPTO_RANDOM_LEN, CRYPTO_RANDOM_LEN);
	return 0;
}

int hs_reset_check(const uint8_t *buf, size_t len, const struct crypto_master *m)
{
	return check(buf, len, HS_RESET_LEN, m);
}
