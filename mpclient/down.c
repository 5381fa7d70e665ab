/* mpclient's down direction: a bridge's datagram -> parse (exact length,
 * known type) -> WELCOME and RESET to keying.c -> session by id -> (keyed)
 * the server epoch, then authenticate and decrypt in place -> the replay
 * window -> an ACK to paths.c, a NACK or parity to the engine's recovery
 * (common/recover.c), or DATA to its reorder and release to the
 * application (common/receive.c) -> one batched send. */
#include <errno.h>

#include "internal.h"

static void accept_one(struct client *c, struct path *path, int i)
{
	uint8_t *pkt = c->batch.buf[i];
	size_t len = c->batch.msg[i].msg_len, plen;
	struct mp_hdr h;
	struct session *s;
	enum wire_err err;

	err = wire_parse(pkt, len, c->e.key != NULL, &h, &plen);
	if (err) {
		path->st.rx_bad++;
		c->e.drops.n[err]++;
		return;
	}
	if (h.type == MP_T_HELLO || h.type == MP_T_PROBE) {
		c->e.drops.n[WIRE_TYPE]++;	/* the server's to receive, not ours */
		return;
	}
	s = session_by_id(c, h.session);
	if (!s) {
		c->e.drops.n[DROP_UNKNOWN_SESSION]++;
		return;
	}
	if (h.type == MP_T_WELCOME || h.type == MP_T_RESET) {
		keying_input(c, s, pkt, len, &h);
		return;
	}
	if (c->e.key) {
		/* Only the current server epoch has a key; anything else is
		 * refused before it costs a decryption. */
		if (s->keying != KEYS_READY || h.epoch != s->server_epoch) {
			s->f.stale++;
			c->e.drops.n[DROP_STALE_EPOCH]++;
			return;
		}
		if (receive_open(&s->f, pkt, len)) {
			path->st.rx_bad++;
			return;
		}
	}
	path->st.rx_pkts++;
	path->st.rx_bytes += len;
	/* Every authenticated arrival counts for the path's loss, duplicates
	 * included: the path did deliver it. */
	receive_count(&s->f, path->id, len);
	if (receive_window(&s->f, &h) != SEQ_ACCEPT)
		return;
	if (h.type == MP_T_ACK) {
		paths_ack(c, s, path->id, pkt + MP_HDR_LEN, plen);
		return;
	}
	if (h.type == MP_T_RECOVER) {
		receive_recover(&s->f, path->id, pkt + MP_HDR_LEN, plen);
		return;
	}
	s->last_active_ms = c->e.now_ms;
	receive_data(&s->f, path->id, h.seq, pkt + MP_HDR_LEN, plen);
}

void down_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct path *path = container_of(w, struct path, io);
	struct client *c = path->c;

	(void)loop;
	(void)revents;
	engine_clock(&c->e);
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(path->fd, &c->batch, 0, MP_BUF_LEN);
		if (n < 0 && net_peer_unreachable(errno)) {
			path->st.unreachable++;
			continue;
		}
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			accept_one(c, path, i);
		receive_flush(&c->e);
		if (n < NET_BATCH)
			break;
	}
}
