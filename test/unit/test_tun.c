/* Unit test of common/tun.c's MTU rule: what fits one datagram on a path,
 * with and without the key, on IPv4 and IPv6 paths (the README's table). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tun.h"

static void test_fit(void **state)
{
	static const struct {
		unsigned path_mtu, ip_udp;
		int keyed;
		unsigned want;
	} cases[] = {
		{ 1500, TUN_PATH_OVERHEAD_IP4, 0, 1452 },
		{ 1500, TUN_PATH_OVERHEAD_IP4, 1, 1440 },
		{ 1500, TUN_PATH_OVERHEAD_IP6, 0, 1432 },
		{ 1500, TUN_PATH_OVERHEAD_IP6, 1, 1420 },
		{ 1492, TUN_PATH_OVERHEAD_IP4, 0, 1444 },	/* PPPoE */
		{ 1280, TUN_PATH_OVERHEAD_IP6, 1, 1200 },
		{ 576, TUN_PATH_OVERHEAD_IP4, 1, 516 },
		{ 60, TUN_PATH_OVERHEAD_IP4, 1, 0 },		/* nothing fits */
		{ 48, TUN_PATH_OVERHEAD_IP4, 0, 0 },		/* exactly nothing */
		{ 49, TUN_PATH_OVERHEAD_IP4, 0, 1 },
		{ 65535, TUN_PATH_OVERHEAD_IP4, 0, MP_MAX_PAYLOAD },	/* capped */
	};

	(void)state;
	assert_int_equal(TUN_PATH_OVERHEAD_IP4, 28);
	assert_int_equal(TUN_PATH_OVERHEAD_IP6, 48);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tun_mtu_fit(cases[i].path_mtu, cases[i].ip_udp, cases[i].keyed) !=
		    cases[i].want)
			fail_msg("case %zu: %u, want %u", i,
				 tun_mtu_fit(cases[i].path_mtu, cases[i].ip_udp, cases[i].keyed),
				 cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fit),
	};

	return cmocka_run_group_tests_name("tun", tests, NULL, NULL);
}
