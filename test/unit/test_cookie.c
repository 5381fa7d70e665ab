/* Unit tests of mpserver/cookie.c: under load, an initiation whose mac2 is
 * its source's cookie goes on, one without gets a cookie reply instead; a
 * cookie stays good across one turn of the secret, and never more than
 * two periods after its secret was made, however long the server went
 * without load (the secret turns only under load). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static struct noise_keypair ident;

static struct server *server_at(uint64_t now_ms)
{
	struct server *srv = calloc(1, sizeof(*srv));
	uint8_t priv[NOISE_KEY_LEN] = { 7 };

	assert_non_null(srv);
	assert_int_equal(noise_keypair_from_private(&ident, priv), 0);
	srv->o.ident = &ident;
	srv->fd = -1;			/* replies are counted as send failures */
	srv->e.now_ms = now_ms;
	cookie_init(srv);
	return srv;
}

static struct mp_addr source(void)
{
	struct mp_addr a = { 0 };

	a.u.in.sin_family = AF_INET;
	a.u.in.sin_port = htons(40000);
	a.u.in.sin_addr.s_addr = htonl(0x0a000001);
	a.len = sizeof(a.u.in);
	return a;
}

/* The cookie the server's current secret gives from. */
static void cookie_now(const struct server *srv, const struct mp_addr *from,
		       uint8_t cookie[static HSN_MAC_LEN])
{
	uint8_t src[6];

	memcpy(src, &from->u.in.sin_addr, 4);
	memcpy(src + 4, &from->u.in.sin_port, 2);
	hsn_cookie_of(srv->cookies.secret, src, sizeof(src), cookie);
}

/* An initiation (its Noise part is not looked at here) with mac2 under
 * cookie, or zero. */
static void initiation(uint8_t pkt[static HSN_INIT_LEN], struct mp_hdr *h,
		       const uint8_t *cookie)
{
	static const uint8_t msg1[HSN_MSG1_LEN], mac1_key[NOISE_KEY_LEN];

	*h = (struct mp_hdr){ .session = 1, .epoch = 2, .seq = 1 };
	hsn_init_build(pkt, h, HSN_KIND_IK, msg1, mac1_key, cookie);
}

static int admit(struct server *srv, const uint8_t *cookie)
{
	struct mp_addr from = source();
	uint8_t pkt[HSN_INIT_LEN];
	struct mp_hdr h;

	initiation(pkt, &h, cookie);
	return cookie_admit(srv, pkt, &h, &from);
}

static void without_cookie_refused_with_one_admitted(void **state)
{
	struct server *srv = server_at(1000);
	struct mp_addr from = source();
	uint8_t cookie[HSN_MAC_LEN], wrong[HSN_MAC_LEN];

	(void)state;
	cookie_now(srv, &from, cookie);
	memcpy(wrong, cookie, sizeof(wrong));
	wrong[0] ^= 1;
	assert_int_equal(admit(srv, NULL), 0);
	assert_int_equal(admit(srv, wrong), 0);
	assert_int_equal(admit(srv, cookie), 1);
	cookie_wipe(srv);
	free(srv);
}

static void cookie_good_across_one_turn(void **state)
{
	struct server *srv = server_at(1000);
	struct mp_addr from = source();
	uint8_t cookie[HSN_MAC_LEN];

	(void)state;
	cookie_now(srv, &from, cookie);
	/* the secret turns at the next initiation under load: the cookie of
	 * the one before still checks */
	srv->e.now_ms = 1000 + (uint64_t)COOKIE_SECRET_S * 1000 + 1;
	assert_int_equal(admit(srv, cookie), 1);
	cookie_wipe(srv);
	free(srv);
}

static void cookie_of_long_ago_refused(void **state)
{
	struct server *srv = server_at(1000);
	struct mp_addr from = source();
	uint8_t cookie[HSN_MAC_LEN];

	(void)state;
	cookie_now(srv, &from, cookie);
	assert_int_equal(admit(srv, cookie), 1);
	/* an hour without load, then load again: that cookie is an hour old */
	srv->e.now_ms = 1000 + 3600 * 1000;
	assert_int_equal(admit(srv, cookie), 0);
	/* just under two periods after its secret was made: still good */
	cookie_wipe(srv);
	free(srv);
	srv = server_at(1000);
	cookie_now(srv, &from, cookie);
	srv->e.now_ms = 1000 + 2 * (uint64_t)COOKIE_SECRET_S * 1000 - 1;
	assert_int_equal(admit(srv, cookie), 1);
	srv->e.now_ms++;
	assert_int_equal(admit(srv, cookie), 0);
	cookie_wipe(srv);
	free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(without_cookie_refused_with_one_admitted),
		cmocka_unit_test(cookie_good_across_one_turn),
		cmocka_unit_test(cookie_of_long_ago_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
