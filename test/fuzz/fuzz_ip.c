/* libFuzzer harness for common/ip.c: whatever bytes a tun device or a
 * session hands over, parsing reads only them, and a "too big" answer, when
 * one is built, is a well-formed packet (it parses, its length fields agree,
 * its checksums verify) that fits the buffer and quotes the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"
#include "../unit/ip_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[ICMP6_ERR_MAX];
	struct ip_info in, ans;
	/* a copy of exactly size bytes, so ASan sees any read past the end */
	uint8_t *pkt = malloc(size ? size : 1);
	unsigned mtu = size >= 2 ? (unsigned)(data[0] << 8 | data[1]) : 1280;

	if (!pkt)
		return 0;
	memcpy(pkt, data, size);
	int parsed = ip_parse(pkt, size, &in) == 0;
	(void)tun_is_latency_critical(pkt, size);
	size_t n = ip_build_too_big(pkt, size, mtu, out, sizeof(out));
	if (n) {
		if (!parsed || n > sizeof(out) || ip_parse(out, n, &ans))
			abort();
		if (ans.src.family != in.src.family ||
		    !ip_addr_equal(&ans.src, &in.dst) || !ip_addr_equal(&ans.dst, &in.src))
			abort();
		size_t hdr = in.src.family == 4 ? IP4_HDR_LEN : IP6_HDR_LEN;
		size_t quote = n - hdr - ICMP_HDR_LEN;
		if (memcmp(out + hdr + ICMP_HDR_LEN, pkt, quote) || quote > size)
			abort();
		if (in.src.family == 4 && (ref_sum(out, IP4_HDR_LEN) != 0xffff ||
					   ref_sum(out + IP4_HDR_LEN, n - IP4_HDR_LEN) != 0xffff))
			abort();
		if (in.src.family == 6) {
			uint8_t ph[40] = { 0 };
			memcpy(ph, out + 8, 32);
			ph[34] = (uint8_t)((n - 40) >> 8);
			ph[35] = (uint8_t)(n - 40);
			ph[39] = IP_PROTO_ICMP6;
			uint32_t s = ref_sum(ph, 40) + ref_sum(out + 40, n - 40);
			while (s >> 16)
				s = (s & 0xffff) + (s >> 16);
			if (s != 0xffff)
				abort();
		}
	}
	free(pkt);
	return 0;
}
