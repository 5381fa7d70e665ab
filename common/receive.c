/* The receive half of the engine, for both programs, after the program has
 * parsed a datagram and found its flow: authenticate in place, the replay
 * window (DATA and PROBE/ACK numbered apart), then DATA goes to the local
 * side in order, through the flow's reorder buffer when it has one, and
 * leaves in batches (receive_flush). A forged packet fails authentication
 * before it touches the window, so it changes nothing. Released datagrams
 * go out from where they lie (the receive batch) or, when a reorder slot
 * releases them, from a copy in the stage. In bond mode with recovery,
 * DATA are also kept, sealed, for their parity group (parity.h); a DATA
 * rebuilt from parity goes through the same checks, window and reorder
 * buffer, and RECOVER bodies come here first (receive_recover). */
#include "engine.h"

#include <string.h>

#include "log.h"
#include "util.h"

void flow_keys_set(struct flow *f)
{
	f->keys_ms = f->e->now_ms;
	f->keys_tx_base = f->tx.next;
	f->keys_ctl_base = f->ctl_tx.next;
}

void receive_rekeyed(struct flow *f)
{
	aead_free(&f->open_prev);
	f->open_prev = f->open;
	f->open = f->open_next;
	f->open_next.ctx = NULL;
	if (f->seal_next.ctx) {
		aead_free(&f->seal);
		f->seal = f->seal_next;
		f->seal_next.ctx = NULL;
	}
	f->prev_until_ms = f->e->now_ms + (uint64_t)PREV_KEYS_KEEP_S * 1000;
	f->rekeys++;
	flow_keys_set(f);
}

/* Keys past REJECT_AFTER_S are not accepted: only a confirmed rekey's next
 * keys still open (and the expired ones are not kept as the previous). */
static int open_expired(struct flow *f, uint8_t *pkt, size_t len)
{
	if (!f->open_next.ctx || aead_open(&f->open_next, pkt, len)) {
		f->e->drops.n[DROP_KEYS_EXPIRED]++;
		return -1;
	}
	receive_rekeyed(f);
	aead_free(&f->open_prev);
	return 0;
}

/* Around a rekey: the current key, then the next (its first success
 * confirms it: it becomes current), then the previous one while it lasts.
 * aead_open decrypts in place before it knows, so each try starts from a
 * copy; only during a rekey, never on the ordinary path. */
static int open_rekeying(struct flow *f, uint8_t *pkt, size_t len)
{
	static uint8_t copy[MP_BUF_LEN];

	if (f->open_prev.ctx && f->e->now_ms >= f->prev_until_ms)
		aead_free(&f->open_prev);
	if (len > sizeof(copy))
		return -1;
	memcpy(copy, pkt, len);
	if (!aead_open(&f->open, pkt, len))
		return 0;
	if (f->open_next.ctx) {
		memcpy(pkt, copy, len);
		if (!aead_open(&f->open_next, pkt, len)) {
			receive_rekeyed(f);
			return 0;
		}
	}
	if (f->open_prev.ctx) {
		memcpy(pkt, copy, len);
		if (!aead_open(&f->open_prev, pkt, len))
			return 0;
	}
	return -1;
}

/* Opens a sealed packet in place with whichever of the session's keys
 * it was sealed with (a rekey's next or previous ones too). 0 or -1. */
static int open_sealed(struct flow *f, uint8_t *pkt, size_t len)
{
	if (f->reject_ms && f->e->now_ms - f->keys_ms >= f->reject_ms)
		return open_expired(f, pkt, len);
	return f->open_next.ctx || f->open_prev.ctx ? open_rekeying(f, pkt, len)
						    : aead_open(&f->open, pkt, len);
}

int receive_open(struct flow *f, uint8_t *pkt, size_t len)
{
	/* parity is over the sealed bytes: a DATA's are kept aside before
	 * they are decrypted in place */
	if (f->par_rx)
		parity_rx_stash(f->par_rx, pkt, len);
	if (!open_sealed(f, pkt, len))
		return 0;
	f->bad_tag++;
	f->e->drops.n[DROP_BAD_TAG]++;
	return -1;
}

void receive_count(struct flow *f, unsigned p, size_t len)
{
	f->path[p].rx_pkts++;
	f->path[p].rx_bytes += len;
}

/* The window's verdict on a packet; from_path: it came from a path (not
 * rebuilt from parity). */
static enum seq_verdict window(struct flow *f, const struct mp_hdr *h, int from_path)
{
	struct drops *d = &f->e->drops;
	int data = h->type == MP_T_DATA;
	struct seq_rx *rx = data ? &f->rx : &f->ctl_rx;
	uint64_t restarts = rx->restarts;
	enum seq_verdict v = seq_rx_accept(rx, h->epoch, h->seq);

	switch (v) {
	case SEQ_ACCEPT:
		break;
	case SEQ_DUP:
		f->dedup++;
		f->e->deduplicated++;
		if (data && from_path)
			recover_twice(f, h->seq);
		break;
	case SEQ_OLD:
		f->old++;
		d->n[DROP_OLD]++;
		break;
	case SEQ_STALE_EPOCH:
		f->stale++;
		d->n[DROP_STALE_EPOCH]++;
		break;
	}
	if (data && v == SEQ_ACCEPT && rx->restarts != restarts) {
		log_net(LOG_INFO, "session %08x: the peer restarted (epoch %08x), following it",
			f->id, h->epoch);
		if (f->ro)
			reorder_reset(f->ro);
		f->ro_last = 0;
		memset(f->rec.top, 0, sizeof(f->rec.top));
		memset(f->rec.asked_seq, 0, sizeof(f->rec.asked_seq));
		f->rec.asked_hi = 0;
		if (f->par_rx)
			parity_rx_reset(f->par_rx);
	}
	return v;
}

enum seq_verdict receive_window(struct flow *f, const struct mp_hdr *h)
{
	return window(f, h, 1);
}

void receive_flush(struct engine *e)
{
	unsigned queued = e->local.n;

	if (queued) {
		unsigned sent = sendlist_flush(e->local_fd, &e->local);
		e->local_tx += sent;
		e->drops.n[DROP_TARGET_FAIL] += queued - sent;
	}
	e->stage.used = 0;
}

struct release {
	struct flow *f;
	const uint8_t *inplace;		/* the datagram being pushed, if any */
};

/* Queues one datagram for the local side; one from a reorder slot is
 * copied first (its slot may be reused before the flush). One socket's
 * datagrams are queued at a time: another's flush what is queued first. */
static void release(void *ctx, const uint8_t *data, size_t len)
{
	struct release *r = ctx;
	struct flow *f = r->f;
	struct engine *e = f->e;

	f->delivered_pkts++;
	f->delivered_bytes += len;
	if (f->local_fd < 0) {		/* tun mode: the program's device */
		int rc = e->ops->deliver ? e->ops->deliver(e->ctx, f, data, len) : -1;
		if (rc == 0)
			e->local_tx++;
		else if (rc < 0)
			e->drops.n[DROP_TARGET_FAIL]++;
		return;
	}
	if (e->local.n && (e->local_fd != f->local_fd || e->local.n == NET_SENDLIST_MAX ||
			   (data != r->inplace && e->stage.used == NET_STAGE_SLOTS)))
		receive_flush(e);
	if (data != r->inplace)
		data = memcpy(e->stage.buf[e->stage.used++], data, len);
	e->local_fd = f->local_fd;
	sendlist_add(&e->local, f->local_to, SENDLIST_NO_PATH, data, len, NULL);
}

/* Release pacing. A filled hole frees all that waited behind it, and
 * all of it at once can overflow the application's socket buffer: behind
 * the holes of three lossy paths, wireguard-go's (208 KiB) dropped a
 * hundred datagrams in a 3 s TCP transfer, and TCP took each for a loss.
 * So such a run goes out RELEASE_BURST at once, then RELEASE_PER_ARRIVAL
 * more with each datagram that arrives (the flow's own rate, paced at
 * three times itself), and RELEASE_MIN_PPS while none do. The reorder
 * bound still holds: what has waited it goes at once. */
static void release_refill(struct flow *f, unsigned arrivals)
{
	uint64_t now = f->e->now_us, add = (uint64_t)arrivals * RELEASE_PER_ARRIVAL;
	uint64_t left = reorder_budget_left(f->ro);

	/* the time's share: at least one release's worth (no division per
	 * datagram) */
	if (now - f->rel_us >= 1000000 / RELEASE_MIN_PPS) {
		add += (now - f->rel_us) * RELEASE_MIN_PPS / 1000000;
		f->rel_us = now;
	}
	if (left > RELEASE_BURST)
		left = RELEASE_BURST;
	reorder_budget(f->ro, left + add < RELEASE_BURST ? left + add : RELEASE_BURST);
}

static void arm_timer(struct flow *f)
{
	struct engine *e = f->e;
	uint64_t deadline = reorder_deadline(f->ro, f->hold_us);

	/* a run that waits for release pacing: the next tick at the latest */
	if (reorder_pending(f->ro) && deadline > e->now_us + RELEASE_TICK_US) {
		if (f->ro_deadline_us > e->now_us && f->ro_deadline_us <= e->now_us + RELEASE_TICK_US)
			return;
		deadline = e->now_us + RELEASE_TICK_US;
	}
	if (deadline == f->ro_deadline_us)
		return;
	f->ro_deadline_us = deadline;
	ev_timer_stop(e->loop, &f->ro_timer);
	if (deadline == UINT64_MAX)
		return;
	ev_timer_set(&f->ro_timer, deadline > e->now_us ? (deadline - e->now_us) / 1e6 : 0, 0);
	ev_timer_start(e->loop, &f->ro_timer);
}

void receive_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct flow *f = container_of(w, struct flow, ro_timer);
	struct release r = { f, NULL };

	(void)loop;
	(void)revents;
	engine_clock(f->e);
	f->ro_deadline_us = 0;
	release_refill(f, 0);
	reorder_expire(f->ro, f->e->now_us, f->hold_us, release, &r);
	reorder_resume(f->ro, release, &r);
	receive_flush(f->e);
	arm_timer(f);
}

_Static_assert(REORDER_SLOTS_MAX % REORDER_SLOTS == 0 &&
	       (REORDER_SLOTS_MAX / REORDER_SLOTS & (REORDER_SLOTS_MAX / REORDER_SLOTS - 1)) == 0,
	       "doubling from REORDER_SLOTS lands on REORDER_SLOTS_MAX");

/* seq would be more than the reorder ring's slots past what waits for a
 * hole: the ring doubles (up to REORDER_SLOTS_MAX, within the process's
 * REORDER_GROWN_MAX_BYTES) rather than give the oldest up early. */
static void make_room(struct flow *f, uint64_t seq)
{
	struct engine *e = f->e;
	uint64_t next = reorder_next(f->ro);
	unsigned slots = reorder_slots(f->ro), want = slots;

	if (!next || seq <= next + slots)
		return;
	while (want < REORDER_SLOTS_MAX && seq > next + want)
		want *= 2;		/* lands on the max (above), never past it */
	size_t more = (size_t)(want - slots) * NET_STAGE_BYTES;
	if (want == slots || e->reorder_grown_bytes + more > REORDER_GROWN_MAX_BYTES)
		return;
	if (reorder_grow(f->ro, want))
		return;
	e->reorder_grown_bytes += more;
}

/* An accepted DATA payload, from path p (MP_MAX_PATHS: rebuilt from
 * parity), to the local side in order; inplace: it stays where it lies
 * until receive_flush (else a released copy is staged). */
static void take(struct flow *f, unsigned p, uint64_t seq, const uint8_t *payload,
		 size_t plen, const uint8_t *inplace)
{
	struct engine *e = f->e;
	struct release r = { f, inplace };
	/* the class matters only where datagrams are held (and so recovered) */
	int critical = f->hold_us && engine_critical(e, payload, plen);

	recover_heard(f, p, seq, critical);
	if (!f->hold_us || (!f->ro && reorder_straight(&f->ro_last, seq))) {
		release(&r, payload, plen);
		return;
	}
	/* A latency-critical datagram (by the sender's own rule) overtook bulk
	 * in the sender's pacers on purpose: it is not held for them here
	 * either. Its number is filled without a payload, so that nothing
	 * waits for it and it is not released twice. */
	if (critical) {
		release(&r, payload, plen);
		payload = NULL;
		plen = 0;
	}
	if (!f->ro) {
		f->ro = reorder_new(REORDER_SLOTS, NET_STAGE_BYTES);
		if (!f->ro) {
			e->drops.n[DROP_NO_MEMORY]++;
			return;
		}
		ev_timer_init(&f->ro_timer, receive_timer, 0, 0);
		reorder_push(f->ro, f->ro_last, NULL, 0, e->now_us, f->hold_us, release, &r);
		f->rel_us = e->now_us;
	}
	release_refill(f, 1);
	make_room(f, seq);
	reorder_push(f->ro, seq, payload, plen, e->now_us, f->hold_us, release, &r);
	if (reorder_pending(f->ro))
		reorder_resume(f->ro, release, &r);
	arm_timer(f);
	recover_check(f);	/* what is missing now, asked for */
}

/* ---- parity (parity.h) ----------------------------------------------------- */

static int fec_on(const struct flow *f)
{
	return f->sched.mode == SCHED_BOND && f->e->o->recover;
}

/* A DATA rebuilt from its group's parity: a sealed packet like any other,
 * so it is checked like one (header, session, its seq; tag or CRC), then
 * the window drops it if it came meanwhile. Not the news of any path: it
 * feeds no path's counters. */
static void rebuilt(void *ctx, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct flow *f = ctx;
	struct engine *e = f->e;
	uint8_t pkt[1 + MP_PARITY_DATAGRAM_MAX];
	struct mp_hdr h;
	size_t plen;

	if (len > MP_PARITY_DATAGRAM_MAX)
		return;
	pkt[0] = 0;			/* the path byte, outside the check */
	memcpy(pkt + 1, bytes, len);
	if (wire_parse(pkt, len + 1, e->key != NULL, &h, &plen) || h.type != MP_T_DATA ||
	    h.session != f->id || h.seq != seq || (e->key && open_sealed(f, pkt, len + 1))) {
		f->par.undecodable++;
		return;
	}
	if (window(f, &h, 0) != SEQ_ACCEPT)
		return;
	f->par.recovered++;
	take(f, MP_MAX_PATHS, seq, pkt + MP_HDR_LEN, plen, NULL);
}

/* Keeps DATA seq's sealed bytes for its group: in plaintext they are
 * still where the payload lies (header before, CRC after); keyed, the
 * copy receive_open made before decrypting. */
static void keep(struct flow *f, uint64_t seq, const uint8_t *payload, size_t plen)
{
	const uint8_t *bytes = payload - MP_HDR_LEN + 1;
	size_t len = MP_HDR_LEN - 1 + plen + MP_CRC_LEN;

	if (f->e->key && !(bytes = parity_rx_stashed(f->par_rx, seq, &len)))
		return;
	parity_rx_keep(f->par_rx, seq, bytes, len, &f->par, rebuilt, f);
}

void receive_data(struct flow *f, unsigned p, uint64_t seq, const uint8_t *payload,
		  size_t plen)
{
	take(f, p, seq, payload, plen, payload);
	if (f->par_rx && fec_on(f))
		keep(f, seq, payload, plen);
}

void receive_recover(struct flow *f, unsigned p, const uint8_t *body, size_t len)
{
	struct engine *e = f->e;
	struct mp_parity par;

	if (!len || body[0] != MP_RECOVER_PARITY) {
		recover_input(f, p, body, len);
		return;
	}
	if (wire_get_parity(body, len, &par)) {
		f->par.bad++;
		e->drops.n[DROP_BAD_RECOVER]++;
		return;
	}
	if (!fec_on(f))
		return;
	if (!f->par_rx) {
		if (e->parity_rx_flows >= PARITY_RX_FLOWS_MAX || !(f->par_rx = parity_rx_new())) {
			f->par.no_memory++;
			return;
		}
		e->parity_rx_flows++;
	}
	parity_rx_add(f->par_rx, &par, &f->par, rebuilt, f);
}
