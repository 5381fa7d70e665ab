/* IPv4 and IPv6 as tun mode sees them: which packet is this, from whom to
 * whom, and the ICMP "too big" answer for one we cannot carry. Only headers
 * are read; nothing here allocates or keeps state. */
#ifndef MP_IP_H
#define MP_IP_H

#include <stddef.h>
#include <stdint.h>

enum {
	IP4_HDR_LEN = 20,		/* without options */
	IP6_HDR_LEN = 40,
	ICMP_HDR_LEN = 8,		/* the same for ICMP and ICMPv6 */
	UDP_HDR_LEN = 8,
	IP4_MIN_MTU = 68,		/* RFC 791 */
	IP6_MIN_MTU = 1280,		/* RFC 8200 */
	/* An ICMPv4 error quotes the offending packet up to this total size
	 * (RFC 1812 4.3.2.3); an ICMPv6 error up to IP6_MIN_MTU (RFC 4443). */
	ICMP4_ERR_MAX = 576,
	ICMP6_ERR_MAX = IP6_MIN_MTU,
	IP_PROTO_ICMP = 1,
	IP_PROTO_ICMP6 = 58,
};

/* An inner address: family 4 or 6, IPv4 in a[0..3], the rest zero. */
struct ip_addr {
	uint8_t family;
	uint8_t a[16];
};

struct ip_prefix {
	struct ip_addr addr;
	unsigned len;			/* prefix length in bits */
};

/* What one packet says about itself. */
struct ip_info {
	struct ip_addr src, dst;
	uint8_t proto;			/* upper protocol (first next header for IPv6) */
	uint8_t tclass;			/* IPv4 TOS / IPv6 traffic class */
	uint8_t dont_fragment;		/* IPv4 DF; always 1 for IPv6 */
	uint8_t first_fragment;		/* offset 0: the upper header is here */
	size_t hdr_len;			/* bytes before the upper header */
};

/* Parses the fixed header of an IPv4 or IPv6 packet of len bytes; the
 * packet's own length field must match len. Returns 0 or -1. */
int ip_parse(const uint8_t *pkt, size_t len, struct ip_info *out);

/* "10.0.0.1/24", "fd00::1/64"; no prefix means a host (32 or 128).
 * Returns 0 or -1. */
int ip_parse_prefix(const char *s, struct ip_prefix *out);
/* Formats an address (no prefix) into buf; returns buf. */
const char *ip_ntop(const struct ip_addr *a, char buf[static 48]);
int ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b);
uint64_t ip_addr_hash(const struct ip_addr *a);

/* The Internet checksum (RFC 1071) of len bytes, folded, starting from sum. */
uint16_t ip_checksum(const void *data, size_t len, uint32_t sum);

/* Builds into out[0..cap) the answer to a packet too big for `mtu`: ICMP
 * "fragmentation needed" for IPv4 with DF set, ICMPv6 "packet too big" for
 * IPv6, from the packet's destination to its source, quoting as much of it
 * as the rules allow. Returns the length, or 0 where the protocol forbids
 * an answer (IPv4 without DF, an ICMP error, a later fragment, a source
 * that is no single host) or the packet does not parse. */
size_t ip_build_too_big(const uint8_t *pkt, size_t len, unsigned mtu,
			uint8_t *out, size_t cap);

/* Whether a packet asks for low delay, for the scheduler's latency
 * treatment: ICMP/ICMPv6 (ping, PMTU errors), DSCP EF, the class selectors
 * CS3..CS7 (signalling, real time, network control; CS1 is lower effort and
 * CS2 bulk OAM), and the old IPv4 TOS "low delay" bit. */
int tun_is_latency_critical(const uint8_t *ip, size_t len);

#endif
