/* libFuzzer harness for common/ip.c, over both forms of input it takes:
 *   1. a packet, as a tun device or a session hands it over: parsing reads
 *      only its bytes and says what they say (lengths within the packet,
 *      the family its version nibble gives), the latency classifier agrees
 *      with the parse, the Internet checksum equals a reference sum, and a
 *      "too big" answer, when one is built, is a well-formed packet (it
 *      parses, its length fields agree, its checksums verify) that fits
 *      the buffer and quotes the input;
 *   2. a --tun-addr argument (ADDR or ADDR/PREFIX): what ip_parse_prefix
 *      takes is in range, and ip_ntop's text of it with its length parses
 *      back to the same prefix (the status document and logs print it so).
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"
#include "../unit/ip_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_ip: invariant failed: %s "     \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

static void check_too_big(const uint8_t *pkt, size_t size, int parsed,
			  const struct ip_info *in)
{
	uint8_t out[ICMP6_ERR_MAX];
	struct ip_info ans;
	unsigned mtu = size >= 2 ? (unsigned)(pkt[0] << 8 | pkt[1]) : 1280;
	size_t n = ip_build_too_big(pkt, size, mtu, out, sizeof(out));

	if (!n)
		return;
	CHECK(parsed && n <= sizeof(out) && !ip_parse(out, n, &ans));
	CHECK(ans.src.family == in->src.family && ip_addr_equal(&ans.src, &in->dst) &&
	      ip_addr_equal(&ans.dst, &in->src));
	size_t hdr = in->src.family == 4 ? IP4_HDR_LEN : IP6_HDR_LEN;
	size_t quote = n - hdr - ICMP_HDR_LEN;
	CHECK(quote <= size && !memcmp(out + hdr + ICMP_HDR_LEN, pkt, quote));
	if (in->src.family == 4) {
		CHECK(ref_sum(out, IP4_HDR_LEN) == 0xffff);
		CHECK(ref_sum(out + IP4_HDR_LEN, n - IP4_HDR_LEN) == 0xffff);
	} else {
		uint8_t ph[40] = { 0 };
		memcpy(ph, out + 8, 32);
		ph[34] = (uint8_t)((n - 40) >> 8);
		ph[35] = (uint8_t)(n - 40);
		ph[39] = IP_PROTO_ICMP6;
		uint32_t s = ref_sum(ph, 40) + ref_sum(out + 40, n - 40);
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		CHECK(s == 0xffff);
	}
}

/* 1: a packet, from an exact-size copy so that ASan sees any read past
 * its end. */
static void fuzz_packet(const uint8_t *data, size_t size)
{
	uint8_t *pkt = malloc(size ? size : 1);
	struct ip_info in;

	CHECK(pkt != NULL);
	memcpy(pkt, data, size);
	int parsed = ip_parse(pkt, size, &in) == 0;
	if (parsed) {
		CHECK(in.src.family == pkt[0] >> 4 && in.dst.family == in.src.family);
		CHECK(in.hdr_len <= size);
		CHECK(in.hdr_len == (in.src.family == 4 ? (size_t)(pkt[0] & 15) * 4
							 : IP6_HDR_LEN));
		CHECK(in.hdr_len >= IP4_HDR_LEN);
		if (in.src.family == 6)
			CHECK(in.dont_fragment && in.first_fragment);
	}
	int critical = tun_is_latency_critical(pkt, size);
	CHECK(critical == 0 || critical == 1);
	CHECK(parsed || !critical);
	check_too_big(pkt, size, parsed, &in);
	/* the checksum, whole and continued from any even split */
	CHECK(ip_checksum(pkt, size, 0) == (uint16_t)~ref_sum(pkt, size));
	size_t cut = size ? (pkt[size - 1] % (size + 1)) & ~(size_t)1 : 0;
	CHECK(ip_checksum(pkt + cut, size - cut, ref_sum(pkt, cut)) ==
	      (uint16_t)~ref_sum(pkt, size));
	free(pkt);
}

/* 2: a --tun-addr argument: the input up to its first NUL, or all of it. */
static void fuzz_prefix(const uint8_t *data, size_t size)
{
	char arg[256], text[64], again_text[64];
	struct ip_prefix p, again;
	size_t n = strnlen((const char *)data, size < sizeof(arg) - 1 ? size : sizeof(arg) - 1);

	memcpy(arg, data, n);
	arg[n] = '\0';
	if (ip_parse_prefix(arg, &p)) {
		CHECK(p.addr.family == 0 || p.addr.family == 4 || p.addr.family == 6);
		return;
	}
	CHECK(p.addr.family == 4 || p.addr.family == 6);
	CHECK(p.len <= (p.addr.family == 4 ? 32u : 128u));
	if (p.addr.family == 4) {
		static const uint8_t zero[12];
		CHECK(!memcmp(p.addr.a + 4, zero, sizeof(zero)));
	}
	/* without a length, the prefix is the host */
	if (!strchr(arg, '/'))
		CHECK(p.len == (p.addr.family == 4 ? 32u : 128u));
	ip_ntop(&p.addr, again_text);
	snprintf(text, sizeof(text), "%s/%u", again_text, p.len);
	CHECK(!ip_parse_prefix(text, &again));
	CHECK(ip_addr_equal(&p.addr, &again.addr) && p.len == again.len);
	CHECK(ip_addr_hash(&p.addr) == ip_addr_hash(&again.addr));
	CHECK(!ip_parse_prefix(again_text, &again) && ip_addr_equal(&p.addr, &again.addr));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_packet(data, size);
	fuzz_prefix(data, size);
	return 0;
}
