/* mpserver's up direction: a bridge's datagram -> parse (exact length,
 * known type) -> HELLO to keying.c -> its session by (id, epoch), made on
 * first sight in plaintext -> (keyed) authenticate and decrypt in place, or
 * a RESET if we have no such session -> the replay window -> note the path
 * -> a PROBE to paths.c, a NACK or parity to the engine's recovery (common/recover.c),
 * or DATA to its reorder and release to the session's target
 * (common/receive.c), flushed per run of one session. */
#include <errno.h>

#include "internal.h"

/* Authenticates a sealed packet of session s. */
static int authenticate(struct server *srv, struct session *s, uint8_t *pkt,
			size_t len, const struct mp_hdr *h, const struct mp_addr *from)
{
	if (!receive_open(&s->f, pkt, len)) {
		s->confirmed = 1;
		return 0;
	}
	/* A session no authenticated packet has confirmed may have been made
	 * by a replayed HELLO after we restarted, while the real client still
	 * holds keys from before: tell it to start over. */
	if (!s->confirmed)
		keying_reset(srv, h, from);
	return -1;
}

/* The session a DATA or PROBE belongs to, made on first sight in
 * plaintext mode; NULL (counted) if there is none to be had. */
static struct session *find(struct server *srv, const struct mp_hdr *h,
			    const struct mp_addr *from)
{
	struct session *s = session_find(srv, h->session, h->epoch);

	if (s)
		return s;
	if (srv->e.key) {
		srv->e.drops.n[DROP_UNKNOWN_SESSION]++;
		keying_reset(srv, h, from);
		return NULL;
	}
	if (!(s = session_new(srv, h)))
		srv->e.drops.n[DROP_SESSION_LIMIT]++;
	return s;
}

static void accept_one(struct server *srv, int i)
{
	uint8_t *pkt = srv->batch.buf[i];
	const struct mp_addr *from = &srv->batch.from[i];
	size_t len = srv->batch.msg[i].msg_len, plen;
	struct mp_hdr h;
	struct session *s;
	enum wire_err err;

	err = wire_parse(pkt, len, srv->e.key != NULL, &h, &plen);
	if (err) {
		srv->e.drops.n[err]++;
		return;
	}
	if (h.type == MP_T_HELLO) {
		keying_hello(srv, pkt, len, &h, from);
		return;
	}
	if (h.type != MP_T_DATA && h.type != MP_T_PROBE && h.type != MP_T_RECOVER) {
		srv->e.drops.n[WIRE_TYPE]++;	/* a WELCOME, RESET or ACK, the wrong way */
		return;
	}
	if (!(s = find(srv, &h, from)))
		return;
	if (srv->e.key && authenticate(srv, s, pkt, len, &h, from))
		return;
	enum seq_verdict v = receive_window(&s->f, &h);
	/* A replay (behind the window) is not the path's news. */
	if (v != SEQ_OLD)
		session_note_path(srv, s, h.path, from, len, v == SEQ_ACCEPT);
	s->last_active_ms = srv->e.now_ms;
	if (v != SEQ_ACCEPT)
		return;
	if (h.type == MP_T_PROBE) {
		s->probes++;
		paths_probe_in(srv, s, h.path, pkt + MP_HDR_LEN, plen);
		return;
	}
	if (h.type == MP_T_RECOVER) {
		receive_recover(&s->f, h.path, pkt + MP_HDR_LEN, plen);
		return;
	}
	if (srv->tun.fd < 0 && s->fd < 0 && session_connect(srv, s)) {
		srv->e.drops.n[DROP_TARGET_FAIL]++;
		return;
	}
	receive_data(&s->f, h.path, h.seq, pkt + MP_HDR_LEN, plen);
}

void up_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = container_of(w, struct server, io);

	(void)loop;
	(void)revents;
	engine_clock(&srv->e);
	for (int round = 0; round < DRAIN_BATCHES; round++) {
		int n = batch_recv(srv->fd, &srv->batch, 0, MP_BUF_LEN);
		if (n <= 0)
			break;
		srv->rx_pkts += (unsigned)n;
		for (int i = 0; i < n; i++)
			accept_one(srv, i);
		receive_flush(&srv->e);
		if (n < NET_BATCH)
			break;
	}
}
