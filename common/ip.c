/* IPv4/IPv6 header parsing for tun mode, the ICMP "too big" answer, and
 * the latency classifier. Reads only the bytes it was given; an answer is
 * built into the caller's buffer. Not here: the device (tun.c) and which
 * session an address belongs to (mpserver/route.c). */
#include "ip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int parse4(const uint8_t *p, size_t len, struct ip_info *o)
{
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;
	uint16_t frag;

	if (len < IP4_HDR_LEN || ihl < IP4_HDR_LEN || ihl > len || get16(p + 2) != len)
		return -1;
	frag = get16(p + 6);
	o->src.family = o->dst.family = 4;
	memcpy(o->src.a, p + 12, 4);
	memcpy(o->dst.a, p + 16, 4);
	o->proto = p[9];
	o->tclass = p[1];
	o->dont_fragment = (frag & 0x4000) != 0;
	o->first_fragment = (frag & 0x1fff) == 0;
	o->hdr_len = ihl;
	return 0;
}

static int parse6(const uint8_t *p, size_t len, struct ip_info *o)
{
	if (len < IP6_HDR_LEN || (size_t)get16(p + 4) + IP6_HDR_LEN != len)
		return -1;
	o->src.family = o->dst.family = 6;
	memcpy(o->src.a, p + 8, 16);
	memcpy(o->dst.a, p + 24, 16);
	/* Extension headers are not walked: an ICMPv6 behind one is taken as
	 * "not ICMPv6", which only costs it the low-delay treatment and makes
	 * the too-big answer (below) be sent where it might not be needed. */
	o->proto = p[6];
	o->tclass = (uint8_t)((p[0] & 0x0f) << 4 | p[1] >> 4);
	o->dont_fragment = 1;
	o->first_fragment = 1;
	o->hdr_len = IP6_HDR_LEN;
	return 0;
}

int ip_parse(const uint8_t *pkt, size_t len, struct ip_info *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return -1;
	switch (pkt[0] >> 4) {
	case 4:
		return parse4(pkt, len, out);
	case 6:
		return parse6(pkt, len, out);
	}
	return -1;
}

int ip_parse_prefix(const char *s, struct ip_prefix *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, out->addr.a) == 1)
		out->addr.family = 4, max = 32;
	else if (inet_pton(AF_INET6, host, out->addr.a) == 1)
		out->addr.family = 6, max = 128;
	else
		return -1;
	out->len = max;
	if (slash) {
		unsigned v = 0;
		const char *d = slash + 1;

		if (!*d || strlen(d) > 3)
			return -1;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				return -1;
			v = v * 10 + (unsigned)(*d - '0');
		}
		if (v > max)
			return -1;
		out->len = v;
	}
	return 0;
}

const char *ip_ntop(const struct ip_addr *a, char buf[static 48])
{
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, buf, 48))
		snprintf(buf, 48, "?");
	return buf;
}

int ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	return a->family == b->family && !memcmp(a->a, b->a, sizeof(a->a));
}

uint64_t ip_addr_hash(const struct ip_addr *a)
{
	uint64_t w[2];

	memcpy(w, a->a, sizeof(w));
	return ((uint64_t)a->family << 56 ^ w[0]) * 0x9e3779b97f4a7c15u ^ w[1];
}

uint16_t ip_checksum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t s = sum;

	for (; len >= 2; p += 2, len -= 2)
		s += get16(p);
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Whether a packet may be answered with an ICMP error at all (RFC 1122
 * 3.2.2, RFC 4443 2.4): not about an ICMP error, not about a later
 * fragment, and only to a single, specified host. */
static int answerable(const uint8_t *pkt, size_t len, const struct ip_info *in)
{
	static const uint8_t zero[16];

	if (!in->first_fragment)
		return 0;
	if (in->src.family == 4) {
		uint8_t first = in->src.a[0];
		if (!in->dont_fragment || first == 0 || first == 127 || first >= 224)
			return 0;
		if (in->proto == IP_PROTO_ICMP) {
			if (len < in->hdr_len + 1)
				return 0;
			uint8_t type = pkt[in->hdr_len];
			/* only queries: echo, timestamp, info, address mask */
			return type == 0 || type == 8 || (type >= 13 && type <= 18);
		}
		return 1;
	}
	if (in->src.a[0] == 0xff || !memcmp(in->src.a, zero, 16))
		return 0;
	if (in->proto == IP_PROTO_ICMP6)
		return len >= in->hdr_len + 1 && pkt[in->hdr_len] >= 128;
	return 1;
}

static size_t too_big4(const uint8_t *pkt, size_t len, const struct ip_info *in,
		       unsigned mtu, uint8_t *out)
{
	size_t quote = len < ICMP4_ERR_MAX - IP4_HDR_LEN - ICMP_HDR_LEN
			       ? len : ICMP4_ERR_MAX - IP4_HDR_LEN - ICMP_HDR_LEN;
	size_t total = IP4_HDR_LEN + ICMP_HDR_LEN + quote;
	uint8_t *icmp = out + IP4_HDR_LEN;

	memset(out, 0, IP4_HDR_LEN + ICMP_HDR_LEN);
	out[0] = 0x45;
	put16(out + 2, (uint32_t)total);
	out[8] = 64;				/* TTL */
	out[9] = IP_PROTO_ICMP;
	/* From the packet's destination: we stand in for the path to it. Not
	 * from our own tun address, which the kernel would take as a spoof. */
	memcpy(out + 12, in->dst.a, 4);
	memcpy(out + 16, in->src.a, 4);
	put16(out + 10, ip_checksum(out, IP4_HDR_LEN, 0));
	icmp[0] = 3;				/* destination unreachable */
	icmp[1] = 4;				/* fragmentation needed and DF set */
	put16(icmp + 6, mtu > 0xffff ? 0xffff : mtu);	/* RFC 1191 */
	memcpy(icmp + ICMP_HDR_LEN, pkt, quote);
	put16(icmp + 2, ip_checksum(icmp, ICMP_HDR_LEN + quote, 0));
	return total;
}

static size_t too_big6(const uint8_t *pkt, size_t len, const struct ip_info *in,
		       unsigned mtu, uint8_t *out)
{
	size_t quote = len < ICMP6_ERR_MAX - IP6_HDR_LEN - ICMP_HDR_LEN
			       ? len : ICMP6_ERR_MAX - IP6_HDR_LEN - ICMP_HDR_LEN;
	size_t plen = ICMP_HDR_LEN + quote;
	uint8_t *icmp = out + IP6_HDR_LEN;
	uint32_t sum = 0;

	memset(out, 0, IP6_HDR_LEN + ICMP_HDR_LEN);
	out[0] = 0x60;
	put16(out + 4, (uint32_t)plen);
	out[6] = IP_PROTO_ICMP6;
	out[7] = 64;				/* hop limit */
	memcpy(out + 8, in->dst.a, 16);
	memcpy(out + 24, in->src.a, 16);
	icmp[0] = 2;				/* packet too big */
	icmp[4] = (uint8_t)(mtu >> 24);
	icmp[5] = (uint8_t)(mtu >> 16);
	icmp[6] = (uint8_t)(mtu >> 8);
	icmp[7] = (uint8_t)mtu;
	memcpy(icmp + ICMP_HDR_LEN, pkt, quote);
	/* pseudo-header: both addresses, upper length, next header */
	for (int i = 8; i < IP6_HDR_LEN; i += 2)
		sum += get16(out + i);
	sum += (uint32_t)plen + IP_PROTO_ICMP6;
	put16(icmp + 2, ip_checksum(icmp, plen, sum));
	return IP6_HDR_LEN + plen;
}

size_t ip_build_too_big(const uint8_t *pkt, size_t len, unsigned mtu,
			uint8_t *out, size_t cap)
{
	struct ip_info in;

	if (ip_parse(pkt, len, &in) || !answerable(pkt, len, &in))
		return 0;
	if (in.src.family == 4)
		return cap >= ICMP4_ERR_MAX ? too_big4(pkt, len, &in, mtu, out) : 0;
	return cap >= ICMP6_ERR_MAX ? too_big6(pkt, len, &in, mtu, out) : 0;
}

int tun_is_latency_critical(const uint8_t *ip, size_t len)
{
	struct ip_info in;
	unsigned dscp;

	if (ip_parse(ip, len, &in))
		return 0;
	dscp = in.tclass >> 2;
	return in.proto == (in.src.family == 4 ? IP_PROTO_ICMP : IP_PROTO_ICMP6) ||
	       dscp == 46 ||					/* EF */
	       (dscp >= 24 && (dscp & 7) == 0) ||		/* CS3..CS7 */
	       (in.src.family == 4 && (in.tclass & 0xfc) == 0x10);	/* TOS low delay */
}
