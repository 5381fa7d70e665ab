/* The tun device: open or create it (TUNSETIFF, IFF_TUN | IFF_NO_PI: bare
 * IPv4/IPv6 packets, one per read or write), then address, MTU and up by
 * ioctl, so that setup needs no `ip` binary; and the MTU rule. Which inner
 * packet is which is ip.c's business; where it goes is the programs'. */
#include "tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "updown.h"
#include "log.h"
#include "wire.h"

/* <linux/ipv6.h>'s in6_ifreq, which clashes with <netinet/in.h>. */
struct in6_ifreq_compat {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

unsigned tun_mtu_fit(unsigned path_mtu, unsigned ip_udp, int keyed)
{
	unsigned ours = MP_HDR_LEN + (keyed ? MP_TAG_LEN : MP_CRC_LEN);
	unsigned fit = path_mtu > ip_udp + ours ? path_mtu - ip_udp - ours : 0;

	return fit > MP_MAX_PAYLOAD ? MP_MAX_PAYLOAD : fit;
}

static int ifreq_ioctl(const char *name, int family, unsigned long req, struct ifreq *ifr)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
	rc = ioctl(fd, req, ifr);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int tun_set_mtu(struct tun *t, unsigned mtu)
{
	struct ifreq ifr = { .ifr_mtu = (int)mtu };

	if (ifreq_ioctl(t->name, AF_INET, SIOCSIFMTU, &ifr)) {
		log_warn("%s: cannot set MTU %u", t->name, mtu);
		return -1;
	}
	t->mtu = mtu;
	return 0;
}

static int add_addr4(const char *name, const struct ip_prefix *p)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;

	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, p->addr.a, 4);
	if (ifreq_ioctl(name, AF_INET, SIOCSIFADDR, &ifr))
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	sin = (struct sockaddr_in *)(void *)&ifr.ifr_netmask;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = p->len ? htonl(~0u << (32 - p->len)) : 0;
	return ifreq_ioctl(name, AF_INET, SIOCSIFNETMASK, &ifr);
}

static int add_addr6(const char *name, const struct ip_prefix *p)
{
	struct in6_ifreq_compat r = { .prefixlen = p->len };
	int fd, rc;

	r.ifindex = (int)if_nametoindex(name);
	if (!r.ifindex)
		return -1;
	memcpy(&r.addr, p->addr.a, 16);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = ioctl(fd, SIOCSIFADDR, &r);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static int bring_up(const char *name)
{
	struct ifreq ifr = { 0 };

	if (ifreq_ioctl(name, AF_INET, SIOCGIFFLAGS, &ifr))
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ifreq_ioctl(name, AF_INET, SIOCSIFFLAGS, &ifr);
}

static int open_device(struct tun *t, const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };

	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		log_warn("--tun %s: /dev/net/tun", name);
		return -1;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr)) {
		log_warn("--tun %s: cannot open or create the device", name);
		return -1;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	return 0;
}

static void addr_strings(const struct cli_tun *o, char buf[][56], const char *ptr[])
{
	char a[48];

	for (unsigned i = 0; i < o->naddr; i++) {
		snprintf(buf[i], 56, "%s/%u", ip_ntop(&o->addr[i].addr, a), o->addr[i].len);
		ptr[i] = buf[i];
	}
}

int tun_open(struct tun *t, const struct cli_tun *o, unsigned fit)
{
	char buf[CLI_TUN_MAX_ADDRS][56];
	const char *addrs[CLI_TUN_MAX_ADDRS];

	memset(t, 0, sizeof(*t));
	t->o = o;
	t->payload_max = fit;
	if (open_device(t, o->name) || tun_set_mtu(t, o->mtu ? o->mtu : fit))
		goto fail;
	addr_strings(o, buf, addrs);
	for (unsigned i = 0; i < o->naddr; i++) {
		int rc = o->addr[i].addr.family == 4 ? add_addr4(t->name, &o->addr[i])
						     : add_addr6(t->name, &o->addr[i]);
		/* EEXIST: a persistent device that already has it */
		if (rc && errno != EEXIST) {
			log_warn("%s: cannot add address %s", t->name, addrs[i]);
			goto fail;
		}
		if (o->addr[i].addr.family == 6 && t->mtu < IP6_MIN_MTU)
			log_warnx("%s: MTU %u is below IPv6's minimum of %d: the kernel "
				  "will not carry IPv6 on it", t->name, t->mtu, IP6_MIN_MTU);
	}
	if (bring_up(t->name)) {
		log_warn("%s: cannot bring it up", t->name);
		goto fail;
	}
	if (t->mtu > fit)
		log_warnx("%s: MTU %u is more than the paths carry (%u): larger packets "
			  "are dropped and answered with ICMP \"too big\"", t->name, t->mtu, fit);
	log_info("%s: up, MTU %u, packets up to %u bytes carried", t->name, t->mtu, fit);
	if (o->up) {
		if (updown_run(o->up, "up", t->name, t->mtu, addrs, o->naddr))
			goto fail;
		t->up_ran = 1;
	}
	return 0;
fail:
	tun_close(t);
	return -1;
}

void tun_close(struct tun *t)
{
	char buf[CLI_TUN_MAX_ADDRS][56];
	const char *addrs[CLI_TUN_MAX_ADDRS];

	if (t->fd < 0 || !t->o)
		return;
	if (t->up_ran && t->o->down) {
		addr_strings(t->o, buf, addrs);
		updown_run(t->o->down, "down", t->name, t->mtu, addrs, t->o->naddr);
	}
	close(t->fd);
	t->fd = -1;
}

void tun_follow_path_mtu(struct tun *t, unsigned path_mtu, unsigned ip_udp, int keyed)
{
	unsigned fit = tun_mtu_fit(path_mtu, ip_udp, keyed);

	if (fit == t->payload_max)
		return;
	log_info("%s: paths now carry packets up to %u bytes (was %u)", t->name, fit,
		 t->payload_max);
	t->payload_max = fit;
	if (!t->o->mtu && fit >= CLI_MTU_MIN)
		tun_set_mtu(t, fit);
}

ssize_t tun_read(struct tun *t, uint8_t *buf, size_t cap)
{
	ssize_t n = read(t->fd, buf, cap);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n;
}

int tun_write(struct tun *t, const uint8_t *pkt, size_t len)
{
	return write(t->fd, pkt, len) == (ssize_t)len ? 0 : -1;
}

void tun_answer_too_big(struct tun *t, const uint8_t *pkt, size_t len)
{
	uint8_t icmp[ICMP6_ERR_MAX];
	size_t n = ip_build_too_big(pkt, len, t->payload_max, icmp, sizeof(icmp));

	if (n && !tun_write(t, icmp, n))
		t->too_big_answered++;
}
