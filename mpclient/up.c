/* mpclient's up direction: application datagrams -> their session (made on
 * first sight) -> the engine, which seals each once and queues it on the
 * paths the scheduler picks (common/send.c) -> one batched send per path.
 * While a keyed session waits for its keys, what the application sends
 * waits in the session's hold (keying.c). */
#include <sys/socket.h>

#include "internal.h"

struct session *up_session(struct client *c, const struct mp_addr *app)
{
	struct session *s = session_new(c, app);

	if (!s)
		return NULL;
	if (c->e.key)
		keying_start(c, s);
	else
		paths_tick(c, s);	/* first probes, and the view */
	return s;
}

void up_accept(struct client *c, struct session *s, uint8_t *pkt, size_t plen)
{
	s->last_active_ms = c->e.now_ms;
	if (c->e.key && s->keying != KEYS_READY)
		keying_hold(c, s, pkt + MP_HDR_LEN, plen);
	else
		send_data(&s->f, pkt, plen);
}

static void accept_one(struct client *c, int i)
{
	struct mmsghdr *m = &c->batch.msg[i];
	struct session *s;

	c->app_rx++;
	if (m->msg_hdr.msg_flags & MSG_TRUNC) {
		c->e.drops.n[DROP_OVERSIZE]++;
		return;
	}
	s = session_by_app(c, &c->batch.from[i]);
	if (!s && !(s = up_session(c, &c->batch.from[i]))) {
		c->e.drops.n[DROP_SESSION_LIMIT]++;
		return;
	}
	up_accept(c, s, c->batch.buf[i], m->msg_len);
}

void up_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = container_of(w, struct client, io);

	(void)loop;
	(void)revents;
	engine_clock(&c->e);
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(c->fd, &c->batch, MP_HDR_LEN, MP_MAX_PAYLOAD);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			accept_one(c, i);
		send_flush(&c->e);
		if (n < NET_BATCH)
			break;
	}
}
