/* mpserver's down direction: a datagram from a session's target (or, in
 * tun mode, a packet the device routes to a session, tunnel.c) -> the
 * engine, which seals it once and queues it on the session's paths that
 * the scheduler picks (common/send.c) -> one batched send on the listening
 * socket, each copy to its path's address with its own path byte. */
#include <errno.h>
#include <sys/socket.h>

#include "internal.h"

void down_send(struct server *srv, struct session *s, int i)
{
	struct mmsghdr *m = &srv->batch.msg[i];

	if (m->msg_hdr.msg_flags & MSG_TRUNC) {
		srv->e.drops.n[DROP_OVERSIZE]++;
		return;
	}
	s->last_active_ms = srv->e.now_ms;
	send_data(&s->f, srv->batch.buf[i], m->msg_len);
}

void down_target_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = container_of(w, struct session, io);
	struct server *srv = s->srv;

	(void)loop;
	(void)revents;
	engine_clock(&srv->e);
	s->last_active_ms = srv->e.now_ms;
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(s->fd, &srv->batch, MP_HDR_LEN, MP_MAX_PAYLOAD);
		if (n < 0 && net_peer_unreachable(errno)) {
			s->unreachable++;
			continue;
		}
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			down_send(srv, s, i);
		send_flush(&srv->e);
		if (n < NET_BATCH)
			break;
	}
}
