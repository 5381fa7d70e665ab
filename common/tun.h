/* The tun device of tun mode: opened (made if absent) by name, addressed,
 * sized and brought up by the program itself, and the MTU rule that keeps
 * every inner packet inside one datagram per path. */
#ifndef MP_TUN_H
#define MP_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli.h"
#include "ip.h"

enum {
	TUN_PATH_MTU_DEFAULT = 1500,	/* Ethernet; --path-mtu to change */
	/* IP + UDP around each of our datagrams on a path */
	TUN_PATH_OVERHEAD_IP4 = IP4_HDR_LEN + UDP_HDR_LEN,
	TUN_PATH_OVERHEAD_IP6 = IP6_HDR_LEN + UDP_HDR_LEN,
};

struct tun {
	int fd;				/* -1 when closed */
	char name[IFNAMSIZ];
	const struct cli_tun *o;
	unsigned mtu;			/* the device's MTU now */
	/* The largest inner packet the paths carry without fragmenting;
	 * larger ones are dropped and answered with ICMP "too big". */
	unsigned payload_max;
	int up_ran;			/* the --up hook ran: --down runs at close */
	uint64_t too_big_answered;	/* ICMP "too big" written back */
};

/* The largest inner packet that fits a path_mtu-sized path whose IP/UDP
 * headers take ip_udp bytes, in our header and trailer (keyed or not). */
unsigned tun_mtu_fit(unsigned path_mtu, unsigned ip_udp, int keyed);

/* Opens (and, as root, creates) the device o->name, gives it o's
 * addresses and an MTU (o->mtu, or `fit` when not given), brings it up and
 * runs the --up hook. payload_max becomes `fit`. Returns 0, or -1 after
 * logging why (the device is then closed again). */
int tun_open(struct tun *t, const struct cli_tun *o, unsigned fit);
/* Runs the --down hook if --up ran, and closes the device. */
void tun_close(struct tun *t);

/* Sets the device's MTU (needs CAP_NET_ADMIN). Returns 0 or -1 (logged). */
int tun_set_mtu(struct tun *t, unsigned mtu);
/* THE hook for path MTU discovery: the smallest usable path MTU changed to
 * path_mtu. Recomputes payload_max, which is enforced from the next packet
 * on whatever happens, and lowers (or raises back) the device MTU when the
 * user did not fix it with --mtu. Without CAP_NET_ADMIN (after --user)
 * the device keeps its MTU and oversize packets get ICMP answers. */
void tun_follow_path_mtu(struct tun *t, unsigned path_mtu, unsigned ip_udp, int keyed);

/* Reads one packet into buf (at most cap bytes). Returns its length, 0 when
 * nothing is waiting, or -1 (errno set). */
ssize_t tun_read(struct tun *t, uint8_t *buf, size_t cap);
/* Writes one packet; returns 0 or -1. */
int tun_write(struct tun *t, const uint8_t *pkt, size_t len);
/* Answers a packet read from the device that is larger than payload_max
 * with ICMP "too big" for payload_max, written back into the device, where
 * the protocol allows one (the caller counts the drop either way). */
void tun_answer_too_big(struct tun *t, const uint8_t *pkt, size_t len);

#endif
