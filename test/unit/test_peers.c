/* Unit tests of common/peers.c, mpserver's client lines: golden output of
 * good lines, every refusal with its reason (bad name, key, prefix, option;
 * a repeated name or key; prefixes that overlap, within a client or
 * between two), longest-prefix routing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "peers.h"

#define KA "bPMW40omy/JniM74BWPJ6XoXpVvOQns90R9bxgb8c0U="
#define KB "azKS2KXaQEhCboCKzWHh5TyEcXeCV14SopFs+4GwlzA="
#define KC "6BqwwozICHhCs/Exi4af+DhnvKu1ZDc3BWNRWfcofEA="

static struct peers P;

static int add(const char *line, char err[static PEERS_ERR_MAX])
{
	static char buf[512];
	const char *arg[8];
	unsigned n = 0;
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *t = strtok_r(buf, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save))
		arg[n++] = t;
	return peers_add(&P, arg, n, 7, err);
}

static void test_golden(void **state)
{
	char err[PEERS_ERR_MAX], out[2048];

	(void)state;
	peers_init(&P);
	assert_int_equal(add("laptop " KA, err), 0);
	assert_int_equal(add("site-2 " KB " allowed-ips=10.1.0.0/16,fd00:1::/64", err), 0);
	assert_int_equal(add("x.y_z " KC " psk-file=/etc/mprelay/x.psk allowed-ips=10.2.0.7", err),
			 0);
	peers_print(&P, out, sizeof(out));
	assert_string_equal(out,
		"client laptop " KA "\n"
		"client site-2 " KB " allowed-ips=10.1.0.0/16,fd00:1::/64\n"
		"client x.y_z " KC " allowed-ips=10.2.0.7/32 psk-file=/etc/mprelay/x.psk\n");
}

static void test_bad(void **state)
{
	static const struct {
		const char *line, *err;
	} cases[] = {
		{ "a", "client: expected NAME PUBKEY [allowed-ips=CIDR,...] [psk-file=FILE]" },
		{ "a/b " KA, "client: a name is 1..31 of [A-Za-z0-9._-], got 'a/b'" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa " KA, "client: a name is 1..31" },
		{ "a notakey", "client 'a': " },
		{ "a " KA " allowed-ips=", "allowed-ips: expected CIDR" },
		{ "a " KA " allowed-ips=10.0.0.0/8,", "allowed-ips: an empty prefix" },
		{ "a " KA " allowed-ips=10.0.0.1/8", "has address bits set past /8" },
		{ "a " KA " allowed-ips=10.0.0.0/33", "'10.0.0.0/33' is not an address/prefix" },
		{ "a " KA " allowed-ips=host.example", "is not an address/prefix" },
		{ "a " KA " allowed-ips=10.0.0.0/8,10.1.0.0/16",
		  "allowed-ips: 10.1.0.0/16 overlaps 10.0.0.0/8" },
		{ "a " KA " allowed-ips=1.0.0.0/8 allowed-ips=2.0.0.0/8", "allowed-ips given twice" },
		{ "a " KA " psk-file=", "psk-file: expected a path" },
		{ "a " KA " psk-file=x psk-file=y", "psk-file given twice" },
		{ "a " KA " mtu=5", "unknown client option 'mtu=5'" },
		{ "b " KC, "client 'b' already defined on line 7" },
		{ "new " KB, "this key is client 'b''s already (line 7)" },
		{ "new " KA " allowed-ips=10.9.1.0/24",
		  "allowed-ips 10.9.1.0/24 overlaps 10.9.0.0/16 of client 'b' (line 7)" },
		{ "new " KA " allowed-ips=0.0.0.0/0", "overlaps 10.9.0.0/16" },
	};
	char err[PEERS_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		peers_init(&P);
		assert_int_equal(add("b " KB " allowed-ips=10.9.0.0/16", err), 0);
		err[0] = '\0';
		unsigned n = P.n;
		assert_int_equal(add(cases[i].line, err), -1);
		if (!strstr(err, cases[i].err)) {
			print_error("case %zu: '%s': got '%s'\n", i, cases[i].line, err);
			fail();
		}
		assert_int_equal(P.n, n);
	}
}

static void test_route(void **state)
{
	char err[PEERS_ERR_MAX];
	struct ip_prefix pf;

	(void)state;
	peers_init(&P);
	assert_int_equal(add("a " KA " allowed-ips=10.0.0.0/8", err), 0);
	assert_int_equal(add("b " KB " allowed-ips=11.0.0.0/16,fd00::/8", err), 0);
	assert_int_equal(add("c " KC " allowed-ips=11.1.0.0/16", err), 0);
	assert_int_equal(ip_parse_prefix("10.200.3.4", &pf), 0);
	assert_int_equal(peers_route(&P, &pf.addr), 0);
	assert_int_equal(ip_parse_prefix("11.1.9.9", &pf), 0);
	assert_int_equal(peers_route(&P, &pf.addr), 2);
	assert_int_equal(ip_parse_prefix("11.0.255.1", &pf), 0);
	assert_int_equal(peers_route(&P, &pf.addr), 1);
	assert_int_equal(ip_parse_prefix("11.2.0.1", &pf), 0);
	assert_int_equal(peers_route(&P, &pf.addr), -1);
	assert_int_equal(ip_parse_prefix("fdff::1", &pf), 0);
	assert_int_equal(peers_route(&P, &pf.addr), 1);
	assert_true(peer_allows(&P.p[1], &pf.addr));
	assert_false(peer_allows(&P.p[0], &pf.addr));
	assert_int_equal(ip_parse_prefix("fe00::1", &pf), 0);
	assert_int_equal(peers_route(&P, &pf.addr), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
