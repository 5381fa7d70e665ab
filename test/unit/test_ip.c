/* Unit tests of common/ip.c: header parsing, prefixes, the Internet
 * checksum against RFC 1071 and a known IPv4 header, the ICMP "too big"
 * answers (every checksum verified by an independent sum, quoting limits,
 * and every case where no answer is allowed), and the latency classifier. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ip.h"
#include "ip_ref.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Builds an IPv4 packet of total length len: proto, TOS, DF, ports. */
static size_t ip4(uint8_t *p, size_t len, uint8_t proto, uint8_t tos, int df,
		  const char *src, const char *dst)
{
	struct ip_prefix a, b;

	memset(p, 0, len);
	p[0] = 0x45;
	p[1] = tos;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[6] = df ? 0x40 : 0;
	p[8] = 64;
	p[9] = proto;
	assert_int_equal(ip_parse_prefix(src, &a), 0);
	assert_int_equal(ip_parse_prefix(dst, &b), 0);
	memcpy(p + 12, a.addr.a, 4);
	memcpy(p + 16, b.addr.a, 4);
	if (proto == IP_PROTO_ICMP)
		p[20] = 8;		/* echo request */
	for (size_t i = 28; i < len; i++)
		p[i] = (uint8_t)i;
	return len;
}

static size_t ip6(uint8_t *p, size_t len, uint8_t next, uint8_t tclass,
		  const char *src, const char *dst)
{
	struct ip_prefix a, b;

	memset(p, 0, len);
	p[0] = (uint8_t)(0x60 | tclass >> 4);
	p[1] = (uint8_t)(tclass << 4);
	p[4] = (uint8_t)((len - 40) >> 8);
	p[5] = (uint8_t)(len - 40);
	p[6] = next;
	p[7] = 64;
	assert_int_equal(ip_parse_prefix(src, &a), 0);
	assert_int_equal(ip_parse_prefix(dst, &b), 0);
	memcpy(p + 8, a.addr.a, 16);
	memcpy(p + 24, b.addr.a, 16);
	if (next == IP_PROTO_ICMP6)
		p[40] = 128;		/* echo request */
	for (size_t i = 48; i < len; i++)
		p[i] = (uint8_t)i;
	return len;
}

static void test_checksum_vectors(void **state)
{
	/* RFC 1071 section 3: the sum is ddf2, the checksum its complement */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	/* a well-known IPv4 header whose checksum is b861 */
	uint8_t hdr[] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			  0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	static const uint8_t odd[] = { 0x01 };

	(void)state;
	assert_int_equal(ip_checksum(rfc, sizeof(rfc), 0), 0x220d);
	assert_int_equal(ip_checksum(hdr, sizeof(hdr), 0), 0xb861);
	hdr[10] = 0xb8;
	hdr[11] = 0x61;
	assert_int_equal(ip_checksum(hdr, sizeof(hdr), 0), 0);
	/* an odd byte counts as the high half of a word */
	assert_int_equal(ip_checksum(odd, 1, 0), 0xfeff);
}

static void test_parse(void **state)
{
	uint8_t p[1500];
	struct ip_info in;
	char s[48];

	(void)state;
	ip4(p, 84, IP_PROTO_ICMP, 0xb8, 1, "10.0.0.2", "10.0.0.1");
	assert_int_equal(ip_parse(p, 84, &in), 0);
	assert_int_equal(in.src.family, 4);
	assert_string_equal(ip_ntop(&in.src, s), "10.0.0.2");
	assert_string_equal(ip_ntop(&in.dst, s), "10.0.0.1");
	assert_int_equal(in.proto, IP_PROTO_ICMP);
	assert_int_equal(in.tclass, 0xb8);
	assert_true(in.dont_fragment && in.first_fragment);
	assert_int_equal(in.hdr_len, 20);
	/* the length field must be the packet's length, exactly */
	assert_int_equal(ip_parse(p, 83, &in), -1);
	assert_int_equal(ip_parse(p, 85, &in), -1);
	/* header length below 20 or beyond the packet */
	p[0] = 0x44;
	assert_int_equal(ip_parse(p, 84, &in), -1);
	p[0] = 0x4f;		/* 60 bytes of header: fits in 84 */
	assert_int_equal(ip_parse(p, 84, &in), 0);
	ip4(p, 40, 17, 0, 0, "10.0.0.2", "10.0.0.1");
	p[0] = 0x4f;		/* but not in 40 */
	assert_int_equal(ip_parse(p, 40, &in), -1);
	assert_false(in.dont_fragment);
	ip4(p, 84, IP_PROTO_ICMP, 0xb8, 1, "10.0.0.2", "10.0.0.1");
	p[0] = 0x46;		/* one word of options */
	assert_int_equal(ip_parse(p, 84, &in), 0);
	assert_int_equal(in.hdr_len, 24);
	p[0] = 0x55;
	assert_int_equal(ip_parse(p, 84, &in), -1);
	assert_int_equal(ip_parse(p, 0, &in), -1);
	assert_int_equal(ip_parse(p, 19, &in), -1);

	ip6(p, 104, 17, 0xb8, "fd00::2", "fd00::1");
	assert_int_equal(ip_parse(p, 104, &in), 0);
	assert_int_equal(in.src.family, 6);
	assert_string_equal(ip_ntop(&in.src, s), "fd00::2");
	assert_string_equal(ip_ntop(&in.dst, s), "fd00::1");
	assert_int_equal(in.proto, 17);
	assert_int_equal(in.tclass, 0xb8);
	assert_int_equal(ip_parse(p, 103, &in), -1);
	assert_int_equal(ip_parse(p, 105, &in), -1);
	assert_int_equal(ip_parse(p, 39, &in), -1);
}

static void test_prefix(void **state)
{
	static const struct {
		const char *s;
		int ok;
		unsigned family, len;
	} cases[] = {
		{ "10.0.0.1/24", 1, 4, 24 },	{ "10.0.0.1", 1, 4, 32 },
		{ "10.0.0.1/0", 1, 4, 0 },	{ "10.0.0.1/32", 1, 4, 32 },
		{ "fd00::1/64", 1, 6, 64 },	{ "fd00::1", 1, 6, 128 },
		{ "fd00::1/128", 1, 6, 128 },	{ "10.0.0.1/33", 0, 0, 0 },
		{ "fd00::1/129", 0, 0, 0 },	{ "10.0.0.1/", 0, 0, 0 },
		{ "/24", 0, 0, 0 },		{ "10.0.0.1/2a", 0, 0, 0 },
		{ "10.0.0.1/-1", 0, 0, 0 },	{ "10.0.0.1/0024", 0, 0, 0 },
		{ "host/24", 0, 0, 0 },		{ "", 0, 0, 0 },
		{ "10.0.0/24", 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct ip_prefix p;
		int rc = ip_parse_prefix(cases[i].s, &p);

		if (rc != (cases[i].ok ? 0 : -1))
			fail_msg("'%s': rc %d", cases[i].s, rc);
		if (cases[i].ok) {
			assert_int_equal(p.addr.family, cases[i].family);
			assert_int_equal(p.len, cases[i].len);
		}
	}
}

static void check_too_big4(const uint8_t *orig, size_t olen, const uint8_t *r, size_t n,
			   unsigned mtu)
{
	size_t quote = olen < 576 - 28 ? olen : 576 - 28;

	assert_int_equal(n, 28 + quote);
	assert_int_equal(r[0], 0x45);
	assert_int_equal(r[2] << 8 | r[3], n);
	assert_int_equal(r[9], IP_PROTO_ICMP);
	assert_int_equal(ref_sum(r, 20), 0xffff);		/* header checksum */
	assert_memory_equal(r + 12, orig + 16, 4);		/* from its destination */
	assert_memory_equal(r + 16, orig + 12, 4);		/* to its source */
	assert_int_equal(r[20], 3);
	assert_int_equal(r[21], 4);
	assert_int_equal(r[26] << 8 | r[27], mtu);
	assert_int_equal(ref_sum(r + 20, n - 20), 0xffff);	/* ICMP checksum */
	assert_memory_equal(r + 28, orig, quote);
}

static void check_too_big6(const uint8_t *orig, size_t olen, const uint8_t *r, size_t n,
			   unsigned mtu)
{
	size_t quote = olen < 1280 - 48 ? olen : 1280 - 48;
	uint8_t pseudo[40];

	assert_int_equal(n, 48 + quote);
	assert_int_equal(r[0] >> 4, 6);
	assert_int_equal(r[4] << 8 | r[5], n - 40);
	assert_int_equal(r[6], IP_PROTO_ICMP6);
	assert_memory_equal(r + 8, orig + 24, 16);
	assert_memory_equal(r + 24, orig + 8, 16);
	assert_int_equal(r[40], 2);
	assert_int_equal(r[41], 0);
	assert_int_equal((uint32_t)r[44] << 24 | r[45] << 16 | r[46] << 8 | r[47], mtu);
	assert_memory_equal(r + 48, orig, quote);
	/* RFC 8200 8.1 pseudo-header, then the ICMPv6 message: sums to ffff */
	memset(pseudo, 0, sizeof(pseudo));
	memcpy(pseudo, r + 8, 32);
	pseudo[34] = (uint8_t)((n - 40) >> 8);
	pseudo[35] = (uint8_t)(n - 40);
	pseudo[39] = IP_PROTO_ICMP6;
	uint32_t s = ref_sum(pseudo, 40) + ref_sum(r + 40, n - 40);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	assert_int_equal(s, 0xffff);
}

static void test_too_big_answers(void **state)
{
	static const size_t sizes[] = { 60, 575, 576, 577, 1281, 1500, 9000 };
	uint8_t p[9000], r[1280];

	(void)state;
	for (size_t i = 0; i < N_ELEMS(sizes); i++) {
		size_t n;

		ip4(p, sizes[i], 17, 0, 1, "10.99.0.2", "192.0.2.7");
		n = ip_build_too_big(p, sizes[i], 1440, r, sizeof(r));
		check_too_big4(p, sizes[i], r, n, 1440);
		ip4(p, sizes[i], IP_PROTO_ICMP, 0, 1, "10.99.0.2", "192.0.2.7");
		n = ip_build_too_big(p, sizes[i], 1372, r, sizeof(r));
		check_too_big4(p, sizes[i], r, n, 1372);
		ip6(p, sizes[i] < 40 ? 40 : sizes[i], 6, 0, "fd99::2", "2001:db8::7");
		n = ip_build_too_big(p, sizes[i], 1440, r, sizeof(r));
		check_too_big6(p, sizes[i], r, n, 1440);
		ip6(p, sizes[i], IP_PROTO_ICMP6, 0, "fd99::2", "2001:db8::7");
		n = ip_build_too_big(p, sizes[i], 1280, r, sizeof(r));
		check_too_big6(p, sizes[i], r, n, 1280);
	}
	/* no room for the answer: nothing written */
	ip4(p, 1500, 17, 0, 1, "10.99.0.2", "192.0.2.7");
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, 575), 0);
}

/* Every case where RFC 1122 / RFC 4443 forbid an answer. */
static void test_too_big_forbidden(void **state)
{
	uint8_t p[1500], r[1280];

	(void)state;
	ip4(p, 1500, 17, 0, 0, "10.99.0.2", "192.0.2.7");		/* no DF */
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip4(p, 1500, 17, 0, 1, "10.99.0.2", "192.0.2.7");
	p[7] = 0xb9;							/* a later fragment */
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip4(p, 1500, IP_PROTO_ICMP, 0, 1, "10.99.0.2", "192.0.2.7");
	p[20] = 3;							/* about an ICMP error */
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	p[20] = 11;
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	p[20] = 0;							/* echo reply: a query */
	assert_int_not_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip4(p, 1500, 17, 0, 1, "224.0.0.5", "192.0.2.7");		/* multicast source */
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip4(p, 1500, 17, 0, 1, "0.0.0.0", "192.0.2.7");
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip4(p, 1500, 17, 0, 1, "127.0.0.1", "192.0.2.7");
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip6(p, 1500, IP_PROTO_ICMP6, 0, "fd99::2", "2001:db8::7");
	p[40] = 1;							/* ICMPv6 error */
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip6(p, 1500, 17, 0, "ff02::1", "2001:db8::7");
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	ip6(p, 1500, 17, 0, "::", "2001:db8::7");
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
	memset(p, 0x55, sizeof(p));					/* not IP */
	assert_int_equal(ip_build_too_big(p, 1500, 1440, r, sizeof(r)), 0);
}

static void test_latency_critical(void **state)
{
	static const struct {
		int v6;
		uint8_t proto, tclass;
		int want;
	} cases[] = {
		{ 0, IP_PROTO_ICMP, 0, 1 },	{ 1, IP_PROTO_ICMP6, 0, 1 },
		{ 0, 17, 0x00, 0 },		{ 1, 6, 0x00, 0 },
		{ 0, 17, 0xb8, 1 },		{ 1, 17, 0xb8, 1 },	/* EF */
		{ 0, 17, 0x20, 0 },		{ 0, 17, 0x40, 0 },	/* CS1, CS2 */
		{ 0, 17, 0x60, 1 },		{ 0, 17, 0x80, 1 },	/* CS3, CS4 */
		{ 0, 17, 0xa0, 1 },		{ 0, 17, 0xc0, 1 },	/* CS5, CS6 */
		{ 1, 17, 0xe0, 1 },		{ 1, 17, 0x88, 0 },	/* CS7, AF41 */
		{ 0, 6, 0x10, 1 },		{ 1, 6, 0x10, 0 },	/* TOS low delay */
		{ 0, 6, 0x12, 1 },		{ 0, 6, 0x08, 0 },	/* + ECN; throughput */
		{ 0, IP_PROTO_ICMP6, 0, 0 },	{ 1, IP_PROTO_ICMP, 0, 0 },
	};
	uint8_t p[200];

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		if (cases[i].v6)
			ip6(p, 100, cases[i].proto, cases[i].tclass, "fd99::2", "fd99::1");
		else
			ip4(p, 100, cases[i].proto, cases[i].tclass, 1, "10.0.0.2", "10.0.0.1");
		if (tun_is_latency_critical(p, 100) != cases[i].want)
			fail_msg("case %zu: v6=%d proto=%u tclass=%#x", i, cases[i].v6,
				 cases[i].proto, cases[i].tclass);
	}
	/* a packet that does not parse is not critical */
	assert_int_equal(tun_is_latency_critical(p, 99), 0);
	assert_int_equal(tun_is_latency_critical(p, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_vectors),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_too_big_answers),
		cmocka_unit_test(test_too_big_forbidden),
		cmocka_unit_test(test_latency_critical),
	};

	return cmocka_run_group_tests_name("ip", tests, NULL, NULL);
}
