/* mpclient's tun mode: the device takes the local socket's place. Every IP
 * packet the device gives is DATA of one session (the tun session, made on
 * the first packet and again if it expires); DATA from the paths is
 * written back to the device. Packets larger than the paths carry are
 * dropped here, counted, and answered with ICMP "too big". */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "util.h"

/* The session carrying the device, made when needed. */
static struct session *tun_session(struct client *c)
{
	struct mp_addr none = { 0 };	/* the tun session has no app address */
	struct session *s = c->tun_session ? session_by_id(c, c->tun_session) : NULL;

	if (!s && (s = up_session(c, &none))) {
		c->tun_session = s->f.id;
		s->f.local_fd = -1;	/* released through tunnel_deliver */
	}
	return s;
}

static void tunnel_up(struct client *c, uint8_t *pkt, size_t plen)
{
	struct session *s;

	c->app_rx++;
	if (plen > c->tun.payload_max) {
		c->e.drops.n[DROP_TOO_BIG]++;
		tun_answer_too_big(&c->tun, pkt + MP_HDR_LEN, plen);
		return;
	}
	s = tun_session(c);
	if (!s) {
		c->e.drops.n[DROP_SESSION_LIMIT]++;
		return;
	}
	up_accept(c, s, pkt, plen);
}

/* One packet per read(), a batch of them per round, so that the paths
 * still get one sendmmsg per batch. */
static void on_tun_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = container_of(w, struct client, tun_io);

	(void)loop;
	(void)revents;
	engine_clock(&c->e);
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n;
		for (n = 0; n < NET_BATCH; n++) {
			uint8_t *pkt = c->batch.buf[n];
			ssize_t len = tun_read(&c->tun, pkt + MP_HDR_LEN, MP_MAX_PAYLOAD);
			if (len <= 0)
				break;
			tunnel_up(c, pkt, (size_t)len);
		}
		send_flush(&c->e);
		if (n < NET_BATCH)
			break;
	}
}

int tunnel_deliver(void *ctx, struct flow *f, const uint8_t *pkt, size_t len)
{
	struct client *c = ctx;

	(void)f;
	return tun_write(&c->tun, pkt, len) ? -1 : 0;
}

/* The worst IP/UDP overhead among the paths. */
static unsigned ip_udp(const struct client *c)
{
	for (unsigned p = 0; p < c->npaths; p++)
		if (c->paths[p].link.family == AF_INET6)
			return TUN_PATH_OVERHEAD_IP6;
	return TUN_PATH_OVERHEAD_IP4;
}

static unsigned fit(const struct client *c)
{
	unsigned path_mtu = c->o.tun.path_mtu ? c->o.tun.path_mtu : TUN_PATH_MTU_DEFAULT;

	return tun_mtu_fit(path_mtu, ip_udp(c), c->e.key != NULL);
}

void tunnel_path_mtu(void *ctx, unsigned path_mtu)
{
	struct client *c = ctx;

	if (c->tun.fd >= 0)
		tun_follow_path_mtu(&c->tun, path_mtu, ip_udp(c), c->e.key != NULL);
}

int tunnel_open(struct client *c)
{
	unsigned f = fit(c);

	if (f < CLI_MTU_MIN) {
		log_error("--path-mtu %u leaves only %u bytes for packets", c->o.tun.path_mtu, f);
		return -1;
	}
	if (tun_open(&c->tun, &c->o.tun, f))
		return -1;
	ev_io_init(&c->tun_io, on_tun_readable, c->tun.fd, EV_READ);
	ev_io_start(c->e.loop, &c->tun_io);
	return 0;
}

void tunnel_close(struct client *c)
{
	if (c->tun.fd < 0)
		return;
	ev_io_stop(c->e.loop, &c->tun_io);
	tun_close(&c->tun);
}

void tunnel_log_stats(const struct client *c)
{
	log_info("stats tun dev=%s mtu=%u payload_max=%u too_big_answered=%llu",
		 c->tun.name, c->tun.mtu, c->tun.payload_max,
		 (unsigned long long)c->tun.too_big_answered);
}
