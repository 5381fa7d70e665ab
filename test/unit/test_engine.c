/* Unit tests of the packet engine (common/engine.c, send.c, receive.c) on
 * real loopback sockets, as both programs use it:
 *   - send: one seal, the same bytes on every chosen path but for the path
 *     byte; roundrobin alternates; each link counts what the kernel took,
 *     and a refused datagram is counted as refused, not as bytes sent;
 *   - receive: a forged packet changes nothing; duplicates are dropped and
 *     counted; out-of-order datagrams are released in order; a hole is
 *     skipped after the hold; a datagram after its hole was skipped is
 *     still delivered (late), never lost;
 *   - the view: tiers (a suspect path leaves the choice, a backup is used
 *     only when no primary is up);
 *   - bond mode: earliest arrival spreads by capacity, bounds the wait,
 *     leaves a slow path out of bulk, and doubles latency-critical ones;
 *   - loss recovery: what is asked for and when, what is sent again and
 *     where, and the bounds a lying peer meets;
 *   - forward error correction: no parity on clean paths (or without
 *     --recover, or outside bond); the rate rule; parity on the path it
 *     reaches first, another than the group's within 2 ms; erased DATA
 *     delivered byte for byte from parity alone, plaintext and keyed;
 *     wrong parity never delivers junk; a slow group closed by time;
 *     malformed, conflicting and stale parity refused; the parity budget
 *     against a peer reporting 90 % loss. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"

enum { PATHS = 2, PAYLOAD = 100 };

struct rig {
	struct ev_loop *loop;
	struct cli_common o;
	struct engine e;
	struct link link[PATHS];
	struct sendlist out[PATHS];
	int tx[PATHS], rx[PATHS];	/* per path: our socket, the far end */
	int local_tx, local_rx;		/* the local side: receive_flush -> local_rx */
	struct mp_addr local_addr;
	struct flow f;
};

static struct rig rig;			/* large: not on the stack */
static const struct engine_ops no_ops;

static int bound(struct mp_addr *a)
{
	socklen_t len = sizeof(a->u.in);
	int fd;

	memset(a, 0, sizeof(*a));
	a->len = sizeof(a->u.in);
	a->u.in.sin_family = AF_INET;
	a->u.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = net_udp_bind(a);
	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, &a->u.sa, &len), 0);
	return fd;
}

static void rig_open(enum sched_mode mode, int reorder_ms)
{
	struct rig *r = &rig;
	struct mp_addr a;

	memset(r, 0, sizeof(*r));
	r->loop = ev_loop_new(EVFLAG_AUTO);
	r->o.mode = mode;
	r->o.copies = 1;
	r->o.reorder_ms = reorder_ms;
	engine_init(&r->e, r->loop, &r->o, NULL, &no_ops, NULL);
	flow_init(&r->f, &r->e, 0x1234, 7);
	for (unsigned p = 0; p < PATHS; p++) {
		r->rx[p] = bound(&a);
		r->tx[p] = net_udp_socket(AF_INET);
		assert_int_equal(connect(r->tx[p], &a.u.sa, a.len), 0);
		assert_int_equal(link_init(&r->link[p], &r->e, r->tx[p], NULL, AF_INET,
					   &r->out[p], 0), 0);
		engine_add_out(&r->e, r->tx[p], &r->out[p]);
		flow_path_add(&r->f, p, &r->link[p]);
	}
	r->local_rx = bound(&r->local_addr);
	r->local_tx = net_udp_socket(AF_INET);
	r->f.local_fd = r->local_tx;
	r->f.local_to = &r->local_addr;
}

static void rig_close(void)
{
	struct rig *r = &rig;

	flow_free(&r->f);
	for (unsigned p = 0; p < PATHS; p++) {
		link_free(&r->link[p]);
		close(r->tx[p]);
		close(r->rx[p]);
	}
	close(r->local_tx);
	close(r->local_rx);
	engine_free(&r->e);
	ev_loop_destroy(r->loop);
}

/* Sends one DATA datagram whose payload is len bytes of `mark`. */
static void send_sized(uint8_t mark, size_t len)
{
	static uint8_t pkt[MP_HDR_LEN + 1500 + MP_MAX_TRAILER];

	memset(pkt + MP_HDR_LEN, mark, len);
	send_data(&rig.f, pkt, len);
}

static void send_one(uint8_t mark)
{
	send_sized(mark, PAYLOAD);
}

/* What arrived on fd: its length, or -1 if nothing is waiting. */
static ssize_t take(int fd, uint8_t *buf, size_t cap)
{
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

static void duplicate_is_one_seal_on_every_path(void **state)
{
	uint8_t a[2048], b[2048];

	(void)state;
	rig_open(SCHED_DUPLICATE, 0);
	send_one(0xab);
	send_flush(&rig.e);
	ssize_t na = take(rig.rx[0], a, sizeof(a)), nb = take(rig.rx[1], b, sizeof(b));
	assert_int_equal(na, MP_HDR_LEN + PAYLOAD + MP_CRC_LEN);
	assert_int_equal(nb, na);
	assert_int_equal(a[0], 0);
	assert_int_equal(b[0], 1);
	assert_memory_equal(a + 1, b + 1, (size_t)na - 1);	/* the same bytes */
	for (unsigned p = 0; p < PATHS; p++) {
		assert_int_equal(rig.link[p].st.tx.pkts, 1);
		assert_int_equal(rig.link[p].st.tx.bytes, (uint64_t)na);
		assert_int_equal(rig.f.path[p].tx_pkts, 1);
	}
	assert_int_equal(rig.f.sent_pkts, 1);
	rig_close();
}

/* What a path was fed (its pacer's count, which rate_busy compares with
 * the pacing rate) is in the units the tokens are spent in and the peer
 * reports what it received in (flow_fill_probe: each datagram on the wire
 * and its IP/UDP headers). Without the headers, a path fed 64-byte
 * datagrams at its pacing rate seemed to be fed 30 % less. */
static void fed_is_counted_as_the_peer_counts(void **state)
{
	uint8_t buf[2048];

	(void)state;
	rig_open(SCHED_DUPLICATE, 0);
	send_sized(1, 10);
	send_sized(2, 1000);
	send_flush(&rig.e);
	for (unsigned p = 0; p < PATHS; p++) {
		uint64_t peer = 0;
		ssize_t n;
		unsigned k = 0;
		while ((n = take(rig.rx[p], buf, sizeof(buf))) > 0) {
			peer += (uint64_t)n + PACE_IP_UDP_BYTES;
			k++;
		}
		assert_int_equal(k, 2);
		assert_int_equal(rig.link[p].pace.sent_bytes, peer);
	}
	rig_close();
}

static void roundrobin_alternates(void **state)
{
	uint8_t buf[2048];

	(void)state;
	rig_open(SCHED_ROUNDROBIN, 0);
	for (int i = 0; i < 10; i++)
		send_one((uint8_t)i);
	send_flush(&rig.e);
	for (unsigned p = 0; p < PATHS; p++) {
		unsigned n = 0;
		while (take(rig.rx[p], buf, sizeof(buf)) > 0)
			n++;
		assert_int_equal(n, 5);
		assert_int_equal(rig.link[p].st.tx.pkts, 5);
	}
	rig_close();
}

/* A connected socket whose peer is gone gets ECONNREFUSED on a send after
 * the ICMP error: the datagram is refused, counted as such, and its bytes
 * are not counted as sent. */
static void refused_sends_are_not_bytes(void **state)
{
	uint8_t buf[64];

	(void)state;
	rig_open(SCHED_DUPLICATE, 0);
	close(rig.rx[1]);
	rig.rx[1] = socket(AF_INET, SOCK_DGRAM, 0);	/* closed later, harmless */
	/* The first send draws the ICMP error; the next ones are refused. */
	for (int i = 0; i < 4; i++) {
		send_one(1);
		send_flush(&rig.e);
		usleep(2000);
		(void)take(rig.rx[0], buf, sizeof(buf));
	}
	const struct tx_count *t = &rig.link[1].st.tx;
	assert_int_equal(t->pkts + t->fail, 4);
	assert_true(t->fail >= 1);
	assert_int_equal(t->bytes, t->pkts * (MP_HDR_LEN + PAYLOAD + MP_CRC_LEN));
	assert_int_equal(rig.e.drops.n[DROP_SEND_FAIL], t->fail);
	assert_int_equal(rig.link[0].st.tx.pkts, 4);
	rig_close();
}

/* Builds DATA seq of the flow's peer (epoch 9), come by path p, with
 * payload byte `mark`. */
static size_t peer_data(uint8_t *pkt, unsigned p, uint64_t seq, uint8_t mark)
{
	struct mp_hdr h = { .path = (uint8_t)p, .type = MP_T_DATA, .session = 0x1234,
			    .epoch = 9, .seq = seq };

	wire_put_hdr(pkt, &h);
	memset(pkt + MP_HDR_LEN, mark, PAYLOAD);
	return wire_seal_plain(pkt, PAYLOAD);
}

/* Runs one datagram through the receive path as the programs do, each
 * from its own slot (what is released is sent from where it lies, until
 * receive_flush). */
static enum seq_verdict arrive_on(unsigned p, uint64_t seq, uint8_t mark)
{
	static uint8_t slot[8][MP_HDR_LEN + PAYLOAD + MP_MAX_TRAILER];
	static unsigned next;
	uint8_t *pkt = slot[next++ % 8];
	size_t len = peer_data(pkt, p, seq, mark), plen;
	struct mp_hdr h;

	assert_int_equal(wire_parse(pkt, len, 0, &h, &plen), WIRE_OK);
	receive_count(&rig.f, p, len);
	enum seq_verdict v = receive_window(&rig.f, &h);
	if (v == SEQ_ACCEPT)
		receive_data(&rig.f, h.path, h.seq, pkt + MP_HDR_LEN, plen);
	return v;
}

static enum seq_verdict arrive(uint64_t seq, uint8_t mark)
{
	return arrive_on(0, seq, mark);
}

/* The marks of what reached the local side, in order; returns how many. */
static unsigned delivered(uint8_t *marks, unsigned cap)
{
	uint8_t buf[2048];
	unsigned n = 0;
	ssize_t len;

	receive_flush(&rig.e);
	while (n < cap && (len = take(rig.local_rx, buf, sizeof(buf))) > 0) {
		assert_int_equal(len, PAYLOAD);
		marks[n++] = buf[0];
	}
	return n;
}

static void duplicates_dropped_in_order_without_hold(void **state)
{
	uint8_t m[8];

	(void)state;
	rig_open(SCHED_DUPLICATE, 0);
	assert_int_equal(arrive(1, 1), SEQ_ACCEPT);
	assert_int_equal(arrive(1, 1), SEQ_DUP);
	assert_int_equal(arrive(3, 3), SEQ_ACCEPT);
	assert_int_equal(arrive(2, 2), SEQ_ACCEPT);
	/* no hold: delivered as they come, each once */
	assert_int_equal(delivered(m, 8), 3);
	assert_memory_equal(m, ((uint8_t[]){ 1, 3, 2 }), 3);
	/* the copy is deduplicated, not dropped */
	assert_int_equal(rig.f.dedup, 1);
	assert_int_equal(rig.e.deduplicated, 1);
	for (int r = 1; r < DROP_MAX; r++)
		assert_int_equal(rig.e.drops.n[r], 0);
	assert_int_equal(rig.e.local_tx, 3);
	assert_int_equal(rig.f.delivered_pkts, 3);
	rig_close();
}

static void reorder_releases_in_order_and_skips_holes(void **state)
{
	uint8_t m[8];

	(void)state;
	rig_open(SCHED_ROUNDROBIN, 50);
	engine_clock(&rig.e);
	arrive(1, 1);
	arrive(3, 3);
	arrive(4, 4);
	assert_int_equal(delivered(m, 8), 1);		/* 3 and 4 wait for 2 */
	arrive(2, 2);
	assert_int_equal(delivered(m, 8), 3);
	assert_memory_equal(m, ((uint8_t[]){ 2, 3, 4 }), 3);
	/* a hole that never fills: released after the hold, by the timer */
	arrive(6, 6);
	assert_int_equal(delivered(m, 8), 0);
	/* the reorder timer, ~50 ms (it may wake early and re-arm) */
	unsigned n = 0;
	for (int i = 0; i < 10 && !n; i++) {
		ev_run(rig.loop, EVRUN_ONCE);
		n = delivered(m, 8);
	}
	assert_int_equal(n, 1);
	assert_int_equal(m[0], 6);
	/* the straggler comes after all: delivered (late), not lost */
	arrive(5, 5);
	assert_int_equal(delivered(m, 8), 1);
	assert_int_equal(m[0], 5);
	assert_int_equal(reorder_stats_get(rig.f.ro)->late, 1);
	rig_close();
}

/* What a filled hole frees goes to the application paced: RELEASE_BURST
 * at once (the datagram that filled it before them), RELEASE_PER_ARRIVAL
 * more with each arrival, the rest by the timer; all of it in order, none
 * lost, none twice. (All at once, a run behind a hole of a few tens of ms
 * overflowed wireguard-go's socket buffer.) */
static void reorder_paces_what_a_hole_frees(void **state)
{
	enum { HELD = 100 };
	uint8_t m[256];

	(void)state;
	rig_open(SCHED_ROUNDROBIN, 1000);
	engine_clock(&rig.e);
	arrive(1, 1);
	for (unsigned s = 3; s < 3 + HELD; s++)
		arrive(s, (uint8_t)s);
	assert_int_equal(delivered(m, 256), 1);
	arrive(2, 2);
	assert_int_equal(delivered(m, 256), 1 + RELEASE_BURST);
	for (unsigned i = 0; i < 1 + RELEASE_BURST; i++)
		assert_int_equal(m[i], 2 + i);
	/* an arrival (held: the run is ahead of it) releases its share */
	arrive(3 + HELD, 3 + HELD);
	assert_int_equal(delivered(m, 256), RELEASE_PER_ARRIVAL);
	assert_int_equal(m[0], 3 + RELEASE_BURST);
	/* the timer releases the rest, in order, within the hold */
	unsigned want = HELD + 1 - RELEASE_BURST - RELEASE_PER_ARRIVAL, got = 0;
	uint8_t next = 3 + RELEASE_BURST + RELEASE_PER_ARRIVAL;
	for (int i = 0; i < 200 && got < want; i++) {
		ev_run(rig.loop, EVRUN_ONCE);
		unsigned n = delivered(m, 256);
		for (unsigned j = 0; j < n; j++)
			assert_int_equal(m[j], next++);
		got += n;
	}
	assert_int_equal(got, want);
	const struct reorder_stats *st = reorder_stats_get(rig.f.ro);
	assert_int_equal(st->holes_skipped, 0);
	assert_int_equal(st->released_late, 0);
	assert_int_equal(rig.f.delivered_pkts, HELD + 3);	/* 1, 2, the run, the last */
	rig_close();
}

/* A hole held while more than the ring's slots arrive behind it: the ring
 * doubles (to the first size that holds them) rather than give anything up
 * early, within the process's REORDER_GROWN_MAX_BYTES; past that, the
 * oldest go early as before. Freeing the flow gives the bytes back. */
static void reorder_grows_within_the_budget(void **state)
{
	enum { AHEAD = 600, GROWN = 1024 };
	uint8_t m[AHEAD + 2];

	(void)state;
	rig_open(SCHED_ROUNDROBIN, 1000);
	engine_clock(&rig.e);
	arrive(1, 1);
	for (unsigned s = 3; s < 3 + AHEAD; s++)
		arrive(s, (uint8_t)s);
	assert_int_equal(delivered(m, AHEAD + 2), 1);
	const struct reorder_stats *st = reorder_stats_get(rig.f.ro);
	assert_int_equal(reorder_slots(rig.f.ro), GROWN);
	assert_int_equal(reorder_held(rig.f.ro), AHEAD);
	assert_int_equal(st->overflow, 0);
	assert_int_equal(rig.e.reorder_grown_bytes, (size_t)(GROWN - REORDER_SLOTS) * NET_STAGE_BYTES);
	arrive(2, 2);				/* the hole fills: all of it, in order */
	unsigned got = delivered(m, AHEAD + 2);
	for (int i = 0; i < 400 && got < AHEAD + 1; i++) {
		ev_run(rig.loop, EVRUN_ONCE);
		got += delivered(m + got, AHEAD + 2 - got);
	}
	assert_int_equal(got, AHEAD + 1);
	for (unsigned i = 0; i < got; i++)
		assert_int_equal(m[i], (uint8_t)(2 + i));
	assert_int_equal(reorder_held(rig.f.ro), 0);
	assert_int_equal(st->holes_skipped, 0);
	assert_int_equal(st->filled, AHEAD);
	assert_int_equal(rig.f.delivered_pkts, AHEAD + 2);
	flow_free(&rig.f);
	assert_int_equal(rig.e.reorder_grown_bytes, 0);
	flow_init(&rig.f, &rig.e, 0x1234, 7);	/* for rig_close */
	rig_close();

	/* the budget all but spent: the ring stays, the oldest go early */
	rig_open(SCHED_ROUNDROBIN, 1000);
	engine_clock(&rig.e);
	rig.e.reorder_grown_bytes = REORDER_GROWN_MAX_BYTES - NET_STAGE_BYTES;
	arrive(1, 1);
	for (unsigned s = 3; s < 3 + AHEAD; s++)
		arrive(s, (uint8_t)s);
	st = reorder_stats_get(rig.f.ro);
	assert_int_equal(reorder_slots(rig.f.ro), REORDER_SLOTS);
	assert_int_equal(st->holes_skipped, 1);
	/* the hole given up at once, and all it held with it */
	assert_int_equal(st->overflow, REORDER_SLOTS);
	assert_int_equal(rig.e.reorder_grown_bytes, REORDER_GROWN_MAX_BYTES - NET_STAGE_BYTES);
	rig.e.reorder_grown_bytes = 0;
	rig_close();
}

/* A latency-critical datagram (here: small) is not held for the bulk it
 * overtook; its number is filled, so nothing waits for it and it is not
 * delivered twice. */
static void critical_passes_the_hold(void **state)
{
	uint8_t m[8];

	(void)state;
	rig_open(SCHED_BOND, 50);
	rig.o.small_bytes = PAYLOAD;
	engine_clock(&rig.e);
	arrive(1, 1);
	arrive(3, 3);				/* ahead of 2: not held */
	assert_int_equal(delivered(m, 8), 2);
	assert_memory_equal(m, ((uint8_t[]){ 1, 3 }), 2);
	arrive(2, 2);
	arrive(4, 4);
	assert_int_equal(delivered(m, 8), 2);	/* 3 is not released again */
	assert_memory_equal(m, ((uint8_t[]){ 2, 4 }), 2);
	assert_int_equal(rig.f.delivered_pkts, 4);
	rig_close();
}

static void forged_packet_changes_nothing(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN] = { 1 }, pkt[MP_HDR_LEN + PAYLOAD + MP_TAG_LEN];
	struct mp_hdr h = { .type = MP_T_DATA, .sealed = 1, .session = 0x1234, .epoch = 9,
			    .seq = 5 }, parsed;
	size_t plen;

	(void)state;
	rig_open(SCHED_DUPLICATE, 0);
	assert_int_equal(aead_init(&rig.f.open, key, 0), 0);
	wire_put_hdr(pkt, &h);
	memset(pkt + MP_HDR_LEN, 0x5a, sizeof(pkt) - MP_HDR_LEN);	/* no real tag */
	assert_int_equal(wire_parse(pkt, sizeof(pkt), 1, &parsed, &plen), WIRE_OK);
	assert_int_equal(receive_open(&rig.f, pkt, sizeof(pkt)), -1);
	assert_int_equal(rig.f.bad_tag, 1);
	assert_int_equal(rig.e.drops.n[DROP_BAD_TAG], 1);
	assert_int_equal(rig.f.rx.win.top, 0);		/* the window never saw it */
	assert_int_equal(delivered(pkt, 1), 0);
	rig_close();
}

/* A sealed DATA packet of seq under key, in buf; its length. */
static size_t sealed_under(const uint8_t *key, uint64_t seq, uint8_t *buf)
{
	struct aead a = { 0 };
	struct mp_hdr h = { .type = MP_T_DATA, .sealed = 1, .session = 0x1234, .epoch = 9,
			    .seq = seq };
	size_t n;

	assert_int_equal(aead_init(&a, key, 1), 0);
	wire_put_hdr(buf, &h);
	memset(buf + MP_HDR_LEN, (int)seq, PAYLOAD);
	n = aead_seal(&a, buf, PAYLOAD);
	aead_free(&a);
	return n;
}

/* Around a rekey: the next key's first packet promotes it (and the next
 * sealing key with it); the old key still opens for PREV_KEYS_KEEP_S, not
 * after; a third key opens nothing; a failed try leaves no damage for the
 * next (each starts from a copy). */
static void rekey_next_then_previous(void **state)
{
	uint8_t k_old[CRYPTO_KEY_LEN] = { 1 }, k_new[CRYPTO_KEY_LEN] = { 2 };
	uint8_t k_other[CRYPTO_KEY_LEN] = { 3 }, pkt[MP_HDR_LEN + PAYLOAD + MP_TAG_LEN];
	size_t n;

	(void)state;
	rig_open(SCHED_DUPLICATE, 0);
	assert_int_equal(aead_init(&rig.f.open, k_old, 0), 0);
	assert_int_equal(aead_init(&rig.f.open_next, k_new, 0), 0);
	assert_int_equal(aead_init(&rig.f.seal_next, k_new, 1), 0);
	void *next_seal = rig.f.seal_next.ctx;

	n = sealed_under(k_old, 1, pkt);			/* still the current key */
	assert_int_equal(receive_open(&rig.f, pkt, n), 0);
	assert_int_equal(pkt[MP_HDR_LEN], 1);
	assert_int_equal(rig.f.rekeys, 0);
	n = sealed_under(k_new, 2, pkt);			/* the next: promoted */
	assert_int_equal(receive_open(&rig.f, pkt, n), 0);
	assert_int_equal(pkt[MP_HDR_LEN + PAYLOAD - 1], 2);
	assert_int_equal(rig.f.rekeys, 1);
	assert_ptr_equal(rig.f.seal.ctx, next_seal);
	assert_null(rig.f.open_next.ctx);
	assert_null(rig.f.seal_next.ctx);
	n = sealed_under(k_old, 3, pkt);			/* late, under the old key */
	assert_int_equal(receive_open(&rig.f, pkt, n), 0);
	assert_int_equal(pkt[MP_HDR_LEN], 3);
	n = sealed_under(k_other, 4, pkt);			/* nobody's */
	assert_int_equal(receive_open(&rig.f, pkt, n), -1);
	assert_int_equal(rig.f.bad_tag, 1);
	rig.e.now_ms = rig.f.prev_until_ms;			/* the old key's time is up */
	n = sealed_under(k_old, 5, pkt);
	assert_int_equal(receive_open(&rig.f, pkt, n), -1);
	assert_null(rig.f.open_prev.ctx);
	n = sealed_under(k_new, 6, pkt);			/* the ordinary path again */
	assert_int_equal(receive_open(&rig.f, pkt, n), 0);
	rig_close();
}

/* Keys past their bound (REJECT_AFTER_S, by a fake clock here; or
 * REJECT_AFTER_PACKETS sent) are neither used nor accepted: only a rekey's
 * next keys still open (and become current, the expired ones not kept). */
static void expired_keys_neither_used_nor_accepted(void **state)
{
	uint8_t k_old[CRYPTO_KEY_LEN] = { 1 }, k_new[CRYPTO_KEY_LEN] = { 2 };
	uint8_t pkt[MP_HDR_LEN + PAYLOAD + MP_TAG_LEN];
	size_t n;

	(void)state;
	rig_open(SCHED_DUPLICATE, 0);
	rig.e.key = &(struct crypto_master){ { 0 }, { 0 } };	/* keyed: sealing */
	assert_int_equal(aead_init(&rig.f.open, k_old, 0), 0);
	assert_int_equal(aead_init(&rig.f.seal, k_old, 1), 0);
	rig.e.now_ms = 5000;
	flow_keys_set(&rig.f);
	rig.f.reject_ms = 180000;
	rig.e.now_ms = 5000 + 180000 - 1;			/* 1 ms before */
	n = sealed_under(k_old, 1, pkt);
	assert_int_equal(receive_open(&rig.f, pkt, n), 0);
	assert_int_not_equal(send_seal(&rig.f, pkt, 10, MP_T_DATA), 0);
	rig.e.now_ms++;						/* the bound */
	n = sealed_under(k_old, 2, pkt);
	assert_int_equal(receive_open(&rig.f, pkt, n), -1);
	assert_int_equal(rig.e.drops.n[DROP_KEYS_EXPIRED], 1);
	assert_int_equal(send_seal(&rig.f, pkt, 10, MP_T_DATA), 0);
	assert_int_equal(rig.e.drops.n[DROP_KEYS_EXPIRED], 2);
	/* a rekey's next keys still open, and are current from then on */
	assert_int_equal(aead_init(&rig.f.open_next, k_new, 0), 0);
	assert_int_equal(aead_init(&rig.f.seal_next, k_new, 1), 0);
	n = sealed_under(k_new, 3, pkt);
	assert_int_equal(receive_open(&rig.f, pkt, n), 0);
	assert_int_equal(rig.f.rekeys, 1);
	assert_null(rig.f.open_prev.ctx);
	assert_int_equal(rig.f.keys_ms, rig.e.now_ms);
	assert_int_not_equal(send_seal(&rig.f, pkt, 10, MP_T_DATA), 0);
	/* the packet bound: REJECT_AFTER_PACKETS sent under these keys */
	rig.f.keys_tx_base = rig.f.tx.next - REJECT_AFTER_PACKETS;
	assert_int_equal(send_seal(&rig.f, pkt, 10, MP_T_DATA), 0);
	assert_int_equal(send_seal(&rig.f, pkt, 10, MP_T_PROBE), 0);	/* the keys as a whole */
	rig.e.key = NULL;
	rig_close();
}

static void view_tiers(void **state)
{
	(void)state;
	rig_open(SCHED_ROUNDROBIN, 0);
	flow_view(&rig.f);
	assert_int_equal(rig.f.view.usable, 3);
	rig.f.path[1].h.suspect = 1;
	flow_view(&rig.f);
	assert_int_equal(rig.f.view.usable, 1);		/* suspect: out of the choice */
	assert_int_equal(rig.f.view.spare & 2, 2);	/* but may carry copies */
	rig.f.path[1].h.suspect = 0;
	rig.f.path[0].backup = 1;
	flow_view(&rig.f);
	assert_int_equal(rig.f.view.usable, 2);		/* the backup waits */
	rig.f.path[1].h.state = HEALTH_DOWN;
	flow_view(&rig.f);
	assert_int_equal(rig.f.view.usable, 1);		/* no primary up: the backup */
	rig.f.peer_avoid = 1;
	rig.f.path[0].backup = 0;
	rig.f.path[1].h.state = HEALTH_UP;
	flow_view(&rig.f);
	assert_int_equal(rig.f.view.usable, 2);		/* the peer avoids path 0 */
	rig_close();
}

/* Datagrams path p took: sent, or waiting in its pacer. */
static uint64_t taken(unsigned p)
{
	return rig.f.path[p].tx_pkts + pace_waiting(&rig.link[p].pace);
}

/* The flow has been sending as fast as its paths are paced (TCP filling
 * the bond), not below: it is not application-limited in the window that
 * starts now. */
static void rig_filling(void)
{
	rig.f.demand_us = rig.e.now_us;
	rig.f.demand_bytes = rig.f.sent_bytes;
	rig.f.app_limited = 0;
}

/* Bond mode: two paths paced at 8 and 4 Mbit/s with the same delay. A
 * burst of datagrams (all at one instant) is spread to arrive earliest:
 * about 2:1. Past BOND_QUEUE_MAX_US of waiting everywhere the bond is
 * full: the first datagram over is dropped (TCP's one loss), the next ones
 * may wait up to twice that, and every one beyond is dropped. A dropped
 * datagram is never numbered: the receiver sees no hole. */
static void bond_spreads_by_capacity(void **state)
{
	(void)state;
	rig_open(SCHED_BOND, 0);
	for (unsigned p = 0; p < PATHS; p++) {
		assert_int_equal(pace_set_rate(&rig.link[p].pace, p ? 4000000 : 8000000,
					       rig.e.now_us), 0);
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = 10000;
		rig.f.path[p].est.phase = RATE_CRUISE;	/* capacity found */
	}
	rig.f.view_dirty = 1;
	rig_filling();
	for (int i = 0; i < 200; i++)
		send_sized((uint8_t)i, 1000);
	uint64_t a = taken(0), b = taken(1);
	size_t wire = MP_HDR_LEN + 1000 + MP_CRC_LEN + PACE_IP_UDP_BYTES;
	/* each path (its bucket empty): twice BOND_QUEUE_MAX_US at its rate */
	double fit0 = 8e6 / 8 * (2 * BOND_QUEUE_MAX_US / 1e6) / wire;
	double fit1 = 4e6 / 8 * (2 * BOND_QUEUE_MAX_US / 1e6) / wire;
	if (a < fit0 * 0.9 || a > fit0 * 1.1 + 2 || b < fit1 * 0.9 || b > fit1 * 1.1 + 2)
		fail_msg("took %llu and %llu, expected about %.0f and %.0f",
			 (unsigned long long)a, (unsigned long long)b, fit0, fit1);
	assert_int_equal(rig.e.drops.n[DROP_PACED], 200 - a - b);
	assert_int_equal(rig.f.tx.next, 1 + a + b);	/* no number for the dropped */
	assert_int_equal(rig.f.sent_pkts, 200);		/* all came from the application */
	rig_close();
}

/* In startup the usable path whose RTT floor is under two thirds of every
 * other's, which earliest arrival fills first, is paced open
 * (RATE_OPEN_BPS: TCP's slow start inside must not find the bond's pacer
 * its bottleneck); the others from their initial window, so that what
 * overflows the first does not all go to one of them however slow; paths
 * of about the same floor all start from theirs. The lead follows the
 * floors; once a path's capacity is found it is paced at its estimate,
 * lead or not. */
static void the_lead_path_starts_open(void **state)
{
	struct mp_probe body;

	(void)state;
	memset(&body, 0, sizeof(body));
	rig_open(SCHED_BOND, 0);
	for (unsigned p = 0; p < PATHS; p++) {
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.min_rtt_us = rig.f.path[p].h.srtt_us = p ? 40000 : 20000;
	}
	rig.f.path[1].h.has_rtt = 0;		/* path 1's floor not known yet */
	rig.f.view_dirty = 1;
	flow_feedback(&rig.f, 0, &body);
	assert_true(rig.link[0].pace.rate_bps < RATE_OPEN_BPS);
	rig.f.path[1].h.has_rtt = 1;
	for (unsigned p = 0; p < PATHS; p++)
		flow_feedback(&rig.f, p, &body);
	assert_true(rig.link[0].pace.rate_bps >= RATE_OPEN_BPS);
	/* ten segments per 40 ms, times startup's gain of 1.5 */
	assert_int_equal(rig.link[1].pace.rate_bps,
			 RATE_INITIAL_WINDOW_BYTES * 8000000ull / 40000 * 3 / 2);
	/* about the same floors (under 1.5 times): no lead */
	rig.f.path[0].h.min_rtt_us = 30000;
	for (unsigned p = 0; p < PATHS; p++)
		flow_feedback(&rig.f, p, &body);
	for (unsigned p = 0; p < PATHS; p++)
		assert_true(rig.link[p].pace.rate_bps < RATE_OPEN_BPS);
	/* path 0's floor rises past path 1's: path 1 leads */
	rig.f.path[0].h.min_rtt_us = 60000;
	for (unsigned p = 0; p < PATHS; p++)
		flow_feedback(&rig.f, p, &body);
	assert_true(rig.link[0].pace.rate_bps < RATE_OPEN_BPS);
	assert_true(rig.link[1].pace.rate_bps >= RATE_OPEN_BPS);
	/* capacity found: the estimate, not the opening */
	rig.f.path[1].est.phase = RATE_CRUISE;
	rig.f.path[1].est.cycle = 2;		/* a cruise phase, gain 1 */
	rig.f.path[1].est.bw_bps = 16000000;
	flow_feedback(&rig.f, 1, &body);
	assert_int_equal(rig.link[1].pace.rate_bps, 16000000);
	rig_close();
}

/* Bond mode over two paths at 8 Mbit/s and 10 ms RTT, capacity found. */
static void rig_bond_equal(void)
{
	rig_open(SCHED_BOND, 0);
	for (unsigned p = 0; p < PATHS; p++) {
		assert_int_equal(pace_set_rate(&rig.link[p].pace, 8000000, rig.e.now_us), 0);
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = 10000;
		rig.f.path[p].h.rttvar_us = 1000;
		rig.f.path[p].est.phase = RATE_CRUISE;
	}
	rig.f.view_dirty = 1;
}

/* Time passes and nothing leaves the pacers (their timers do not run
 * here; no tokens are added): the queues are as long as they were. */
static void rig_later(uint64_t us)
{
	rig.e.now_us += us;
	for (unsigned p = 0; p < PATHS; p++)
		rig.link[p].pace.last_us = rig.e.now_us;
}

/* An application-limited flow's burst (it sent less than half of what its
 * paths are paced at over the last window) may wait longer than the bound
 * (up to the startup bound, or what the pacers' queues hold, whichever is
 * less): nearly twice the bound goes without a drop. A burst twice that
 * long is still bounded. Once the window shows the flow filling its
 * paths, the same burst meets the usual bound. */
static void bond_lets_an_app_limited_burst_wait(void **state)
{
	(void)state;
	rig_bond_equal();
	size_t wire = MP_HDR_LEN + 1000 + MP_CRC_LEN + PACE_IP_UDP_BYTES;
	double per_us = 2 * 8e6 / 8 / 1e6 / wire;	/* datagrams per µs, both paths */
	rig.e.now_us = 10000000;
	rig.f.demand_us = rig.e.now_us - RATE_BUSY_US;	/* a quiet window behind */
	rig.f.demand_bytes = rig.f.sent_bytes;
	unsigned n = (unsigned)(per_us * 1.875 * BOND_QUEUE_MAX_US);
	for (unsigned i = 0; i < n; i++)
		send_sized((uint8_t)i, 1000);
	assert_int_equal(rig.e.drops.n[DROP_PACED], 0);
	assert_int_equal(rig.f.app_limited, 1);
	for (unsigned i = 0; i < n; i++)
		send_sized((uint8_t)i, 1000);
	assert_true(rig.e.drops.n[DROP_PACED] >= n / 2);
	rig_close();
	/* the same burst from a flow that filled its paths in the window */
	rig_bond_equal();
	rig.e.now_us = 10000000;
	rig_filling();
	for (unsigned i = 0; i < n; i++)
		send_sized((uint8_t)i, 1000);
	assert_true(rig.e.drops.n[DROP_PACED] >= 1);
	rig_close();
}

/* Over the bound, but not twice over: one drop per round trip of the bond
 * (twice the slowest delay and the bound), the rest wait. */
static void bond_drops_once_per_round_trip(void **state)
{
	(void)state;
	rig_bond_equal();
	size_t wire = MP_HDR_LEN + 1000 + MP_CRC_LEN + PACE_IP_UDP_BYTES;
	/* 1.5 times the bound on both paths, at one instant: one drop */
	unsigned n = (unsigned)(2 * 8e6 / 8 * (1.5 * BOND_QUEUE_MAX_US / 1e6) / wire);
	rig_filling();
	for (unsigned i = 0; i < n; i++)
		send_sized((uint8_t)i, 1000);
	assert_int_equal(rig.e.drops.n[DROP_PACED], 1);
	/* a round trip later, the next datagram over the bound is dropped */
	rig_later(2 * 5000 + BOND_QUEUE_MAX_US);
	send_sized(0, 1000);
	assert_int_equal(rig.e.drops.n[DROP_PACED], 2);
	send_sized(0, 1000);
	assert_int_equal(rig.e.drops.n[DROP_PACED], 2);
	rig_close();
}

/* A path whose pacing queue is full takes nothing more: the datagram goes
 * on the next path by arrival, not into a drop. Path 0 at 1 Gbit/s and
 * 10 ms RTT holds PACE_BULK_SLOTS_MAX datagrams (9 ms of 1000-byte ones,
 * far less than the bond's bound); path 1, at 100 Mbit/s and 60 ms, is
 * later than path 0 even with that queue, so by arrival alone path 0
 * would be chosen until its queue overflowed (what happened: runs of drops
 * on one path while the other stayed idle). */
static void bond_passes_over_a_full_queue(void **state)
{
	(void)state;
	rig_open(SCHED_BOND, 0);
	for (unsigned p = 0; p < PATHS; p++) {
		assert_int_equal(pace_set_rate(&rig.link[p].pace, p ? 100000000 : 1000000000,
					       rig.e.now_us), 0);
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = p ? 60000 : 10000;
		rig.f.path[p].h.rttvar_us = 1000;
		rig.f.path[p].est.phase = RATE_CRUISE;
	}
	rig.f.view_dirty = 1;
	rig_filling();
	unsigned n = PACE_BULK_SLOTS_MAX + 300;
	for (unsigned i = 0; i < n; i++)
		send_sized((uint8_t)i, 1000);
	assert_int_equal(rig.link[0].pace.bulk.n, PACE_BULK_SLOTS_MAX);
	assert_int_equal(rig.link[0].pace.dropped, 0);
	assert_int_equal(rig.e.drops.n[DROP_PACED], 0);
	assert_int_equal(taken(0) + taken(1), n);
	assert_true(taken(1) >= 250);
	rig_close();
}

/* A path whose probe answer is overdue leaves the choice in the modes that
 * spread, but stays in bond's, where its expected arrival counts the
 * doubt: while the doubt is young it still takes datagrams when the other
 * path is busy, and once it is old, none. */
static void bond_keeps_a_suspect_path_by_arrival(void **state)
{
	(void)state;
	rig_bond_equal();
	rig.f.path[1].h.suspect = 1;
	rig.f.path[1].h.suspect_since_us = rig.e.now_us;
	flow_view(&rig.f);
	assert_int_equal(rig.f.view.usable, 3);
	for (int i = 0; i < 40; i++)		/* 40 ms of the 8 Mbit/s path */
		send_sized((uint8_t)i, 1000);
	assert_true(taken(1) > 0);		/* young doubt (the RTO, 20 ms) */
	assert_true(taken(0) > taken(1));
	uint64_t before = taken(1);
	rig_later(500000);			/* half a second without an answer */
	for (int i = 0; i < 40; i++)
		send_sized((uint8_t)i, 1000);
	assert_int_equal(taken(1), before);
	rig_close();
}

/* A path with nothing waiting takes bulk it would deliver within
 * BOND_IDLE_FILL_US of the earliest: with one-way delays of 5 and 15 ms,
 * strict earliest arrival would keep the slower path idle until 10 ms
 * waited on the faster one; here it takes datagrams as soon as the faster
 * one is in debt. */
static void bond_fills_an_idle_path(void **state)
{
	(void)state;
	rig_bond_equal();
	rig.f.path[1].h.srtt_us = 30000;
	for (int i = 0; i < 10; i++)		/* 10 ms of the faster path */
		send_sized((uint8_t)i, 1000);
	assert_int_equal(taken(0) + taken(1), 10);
	assert_true(taken(1) >= 1);
	rig_close();
}

/* A path the bond passes over only because its pacer is not ready counts
 * as busy (its estimate is what limits it, and must grow), though nothing
 * waits in its queue; a path too slow to be wanted does not. */
static void bond_counts_a_held_path_as_busy(void **state)
{
	(void)state;
	for (int far = 0; far < 2; far++) {
		rig_bond_equal();
		rig.e.now_us = 5000000;
		rig_later(0);
		/* 15 ms one way: within the fill; 200 ms: never wanted */
		rig.f.path[1].h.srtt_us = far ? 400000 : 30000;
		pace_spend(&rig.link[1].pace, 1000);	/* its pacer is not ready */
		for (int i = 0; i < 10; i++)
			send_sized((uint8_t)i, 1000);
		assert_int_equal(taken(1), 0);
		assert_int_equal(pace_waiting(&rig.link[1].pace), 0);
		assert_true(rig.link[1].waited_us == (far ? 0 : rig.e.now_us));
		rig_close();
	}
}

/* The latency-critical class is policed: of a burst of small datagrams,
 * BOND_CRITICAL_BURST go on both paths, the rest as bulk on one, counted;
 * a second later the budget is back. */
static void bond_polices_the_critical_class(void **state)
{
	enum { EXTRA = 100 };

	(void)state;
	rig_open(SCHED_BOND, 0);
	rig.o.small_bytes = PAYLOAD;
	for (unsigned i = 0; i < BOND_CRITICAL_BURST + EXTRA; i++) {
		send_one((uint8_t)i);
		if (i % 100 == 99)
			send_flush(&rig.e);	/* as the event loop does */
	}
	assert_int_equal(taken(0) + taken(1), 2 * BOND_CRITICAL_BURST + EXTRA);
	assert_int_equal(rig.f.crit.refused, EXTRA);
	rig.e.now_us += 1000000;
	send_one(0);
	assert_int_equal(taken(0) + taken(1), 2 * BOND_CRITICAL_BURST + EXTRA + 2);
	assert_int_equal(rig.f.crit.refused, EXTRA);
	rig_close();
}

/* A path whose one-way delay exceeds what the fast path's queue would add
 * gets no bulk; a latency-critical datagram goes on the two fastest. */
static void bond_leaves_out_the_slow_path(void **state)
{
	uint8_t pkt[MP_HDR_LEN + 64 + MP_MAX_TRAILER];

	(void)state;
	rig_open(SCHED_BOND, 0);
	rig.o.small_bytes = 64;
	for (unsigned p = 0; p < PATHS; p++) {
		assert_int_equal(pace_set_rate(&rig.link[p].pace, 8000000, rig.e.now_us), 0);
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = p ? 200000 : 10000;
	}
	rig.f.view_dirty = 1;
	for (int i = 0; i < 20; i++)		/* 20 x 1.2 kbit: 3 ms at 8 Mbit/s */
		send_one((uint8_t)i);
	assert_int_equal(taken(0), 20);
	assert_int_equal(taken(1), 0);
	memset(pkt + MP_HDR_LEN, 1, 64);
	send_data(&rig.f, pkt, 64);
	assert_int_equal(taken(0), 21);
	assert_int_equal(taken(1), 1);
	rig_close();
}

/* ---- loss recovery (recover.c) ------------------------------------------- */

/* The seqs the NACKs waiting on path p's far end ask for, as a bitmap from
 * `from` (bit i = from + i); how many NACKs there were. */
static unsigned nacks_on(unsigned p, uint64_t from, uint64_t *asked)
{
	uint8_t buf[2048];
	ssize_t len;
	unsigned n = 0;

	*asked = 0;
	while ((len = take(rig.rx[p], buf, sizeof(buf))) > 0) {
		struct mp_hdr h;
		struct mp_nack nk;
		size_t plen;
		assert_int_equal(wire_parse(buf, (size_t)len, 0, &h, &plen), WIRE_OK);
		if (h.type != MP_T_RECOVER)
			continue;
		assert_int_equal(wire_get_nack(buf + MP_HDR_LEN, plen, &nk), 0);
		for (unsigned i = 0; i < nk.bits; i++)
			if (nk.map[i / 8] >> (i % 8) & 1) {
				assert_true(nk.base + i >= from && nk.base + i < from + 64);
				*asked |= 1ull << (nk.base + i - from);
			}
		n++;
	}
	return n;
}

/* The NACKs waiting on both paths' far ends: how many, and what they ask
 * for (as nacks_on). */
static unsigned nacks(uint64_t from, uint64_t *asked)
{
	uint64_t a0, a1;
	unsigned n = nacks_on(0, from, &a0) + nacks_on(1, from, &a1);

	*asked = a0 | a1;
	return n;
}

/* The receiver: each path keeps its order, so a hole is lost once every
 * path heard lately has delivered bulk after it, not before (it may be on
 * its way on the slower one). One NACK per RECOVER_NACK_GAP_US, on the
 * path that loses less; asked again after two RTTs and the margin; filled
 * holes are delivered in order. */
static void recover_asks_what_every_path_has_passed(void **state)
{
	uint64_t asked;
	uint8_t m[16];

	(void)state;
	rig_open(SCHED_BOND, 500);
	rig.o.recover = 1;
	rig.e.now_us = 1000000;
	/* equal delays; path 0 loses 30 %: the NACKs go on path 1 */
	for (unsigned p = 0; p < PATHS; p++) {
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = 10000;
	}
	rig.f.path[0].h.send.ppm = 300000;
	rig.f.view_dirty = 1;
	arrive_on(0, 1, 1);
	arrive_on(1, 2, 2);
	arrive_on(0, 4, 4);			/* 3 may still come on path 1 */
	assert_int_equal(nacks(1, &asked), 0);
	arrive_on(1, 5, 5);			/* path 1 has passed it too */
	assert_int_equal(nacks_on(0, 1, &asked), 0);
	assert_int_equal(nacks_on(1, 1, &asked), 1);
	assert_int_equal(asked, 1u << 2);	/* seq 3 */
	/* 6 lost too, found within the gap: asked when the gap is over */
	rig.e.now_us += 100;
	arrive_on(0, 7, 7);
	arrive_on(1, 8, 8);
	assert_int_equal(nacks(1, &asked), 0);
	assert_true(rig.f.rec.wake_us == rig.e.now_us - 100 + RECOVER_NACK_GAP_US);
	rig.e.now_us += RECOVER_NACK_GAP_US;
	recover_check(&rig.f);
	assert_int_equal(nacks_on(1, 1, &asked), 1);
	assert_int_equal(asked, 1u << 5);	/* only the new one */
	/* both again two RTTs and the margin after the first ask, not before */
	rig.e.now_us += 2 * 10000 + RECOVER_REASK_MARGIN_US - RECOVER_NACK_GAP_US - 101;
	recover_check(&rig.f);
	assert_int_equal(nacks(1, &asked), 0);
	/* whole checks come at most one per RECOVER_NACK_GAP_US (the timer
	 * is armed for the next) */
	assert_true(rig.f.rec.wake_us <= rig.e.now_us + RECOVER_NACK_GAP_US);
	rig.e.now_us += RECOVER_NACK_GAP_US;
	recover_check(&rig.f);
	assert_int_equal(nacks_on(1, 1, &asked), 1);
	assert_int_equal(asked, 1u << 2 | 1u << 5);
	assert_int_equal(rig.f.rec.st.asked, 4);
	assert_int_equal(rig.f.rec.st.nacks_tx, 3);
	assert_int_equal(delivered(m, 16), 2);
	arrive_on(1, 3, 3);
	arrive_on(0, 6, 6);
	assert_int_equal(delivered(m, 16), 6);
	assert_memory_equal(m, ((uint8_t[]){ 3, 4, 5, 6, 7, 8 }), 6);
	/* nothing missing: nothing asked, the timer idle */
	rig.e.now_us += 1000000;
	recover_check(&rig.f);
	assert_int_equal(nacks(1, &asked), 0);
	assert_true(rig.f.rec.wake_us == UINT64_MAX);
	rig_close();
}

/* A path that went quiet does not hold recovery: once what came after a
 * hole has waited as long as another path could still bring it (the
 * one-way delay spread, bond's queue bound, twice the largest rttvar and
 * RECOVER_WAIT_MIN_US),
 * the hole is asked for. Without --recover
 * nothing is. */
static void recover_asks_after_a_quiet_spell(void **state)
{
	uint64_t asked;

	(void)state;
	/* no RTT known (the reorder hold's floor for the spread); then
	 * one-way delays of 5 and 15 ms, rttvar 1 ms: the spread, twice the
	 * rttvar; then bond's queue bound and the minimum */
	for (int run = 0; run < 3; run++) {
		int on = run > 0, timed = run == 2;
		uint64_t wait = (timed ? 10000 + 2 * 1000 : REORDER_AUTO_MIN_US) + BOND_QUEUE_MAX_US +
				RECOVER_WAIT_MIN_US;
		rig_open(SCHED_BOND, 500);
		rig.o.recover = on;
		for (unsigned p = 0; timed && p < PATHS; p++) {
			rig.f.path[p].h.has_rtt = 1;
			rig.f.path[p].h.srtt_us = p ? 30000 : 10000;
			rig.f.path[p].h.rttvar_us = 1000;
		}
		rig.f.view_dirty = 1;
		rig.e.now_us = 1000000;
		arrive_on(1, 1, 1);		/* path 1, then quiet */
		arrive_on(0, 2, 2);
		arrive_on(0, 4, 4);
		rig.e.now_us += wait - 1;
		recover_check(&rig.f);
		assert_int_equal(nacks(1, &asked), 0);
		/* at most a check's spacing later */
		rig.e.now_us += RECOVER_NACK_GAP_US;
		recover_check(&rig.f);
		assert_int_equal(nacks(1, &asked), on);
		assert_int_equal(asked, on ? 1u << 2 : 0);
		rig_close();
	}
}

/* The wait before a hole is asked for adapts: it starts at its bound (the
 * spread, twice the rttvar, bond's queue bound, the minimum), comes down
 * half of the way to its floor (twice the rttvar, BOND_IDLE_FILL_US, the
 * minimum) with every RECOVER_ADAPT_ASKS holes asked for, and goes back up
 * a quarter of the way when one asked for comes twice from the paths; one
 * that parity rebuilt says nothing of the paths, however often it comes. */
static void recover_wait_adapts(void **state)
{
	const uint64_t ceil = 10000 + 2 * 1000 + BOND_QUEUE_MAX_US + RECOVER_WAIT_MIN_US;
	const uint64_t floor = 2 * 1000 + BOND_IDLE_FILL_US + RECOVER_WAIT_MIN_US;
	const uint64_t span = ceil - floor;
	uint64_t asked;

	(void)state;
	rig_open(SCHED_BOND, 500);
	rig.o.recover = 1;
	for (unsigned p = 0; p < PATHS; p++) {
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = p ? 30000 : 10000;
		rig.f.path[p].h.rttvar_us = 1000;
	}
	rig.f.view_dirty = 1;
	rig.e.now_us = 1000000;
	flow_view(&rig.f);
	assert_int_equal(rig.f.rec.wait_us, ceil);
	/* RECOVER_ADAPT_ASKS holes (3, 5, ..., 33) asked for at once */
	arrive_on(1, 1, 1);			/* path 1, then quiet */
	for (unsigned k = 0; k <= RECOVER_ADAPT_ASKS; k++)
		arrive_on(0, 2 + 2 * k, (uint8_t)k);
	rig.e.now_us += ceil + RECOVER_NACK_GAP_US;
	recover_check(&rig.f);
	assert_int_equal(nacks(1, &asked), 1);
	assert_int_equal(__builtin_popcountll(asked), RECOVER_ADAPT_ASKS);
	assert_int_equal(rig.f.rec.st.asked, RECOVER_ADAPT_ASKS);
	assert_int_equal(rig.f.rec.wait_us, floor + span / 2);
	/* 3 comes (late), then its resend: asked in vain */
	assert_int_equal(arrive_on(2, 3, 3), SEQ_ACCEPT);
	assert_int_equal(rig.f.rec.st.asked_in_vain, 0);
	assert_int_equal(arrive_on(0, 3, 3), SEQ_DUP);
	assert_int_equal(rig.f.rec.st.asked_in_vain, 1);
	assert_int_equal(rig.f.rec.wait_us,
			 floor + span * (RECOVER_ADAPT_STEPS / 2 + RECOVER_ADAPT_UP) /
				 RECOVER_ADAPT_STEPS);
	/* once is all: a third copy changes nothing */
	assert_int_equal(arrive_on(1, 3, 3), SEQ_DUP);
	assert_int_equal(rig.f.rec.st.asked_in_vain, 1);
	/* 5 rebuilt from parity, then the resend comes: not in vain */
	recover_heard(&rig.f, MP_MAX_PATHS, 5, 0);
	assert_int_equal(arrive_on(0, 5, 5), SEQ_ACCEPT);
	assert_int_equal(arrive_on(1, 5, 5), SEQ_DUP);
	assert_int_equal(rig.f.rec.st.asked_in_vain, 1);
	/* a copy of one never asked for: nothing */
	assert_int_equal(arrive_on(1, 2, 2), SEQ_DUP);
	assert_int_equal(rig.f.rec.st.asked_in_vain, 1);
	/* a new view keeps the step: the wait moves with the delays only */
	rig.f.view_dirty = 1;
	flow_view(&rig.f);
	assert_int_equal(rig.f.rec.wait_us,
			 floor + span * (RECOVER_ADAPT_STEPS / 2 + RECOVER_ADAPT_UP) /
				 RECOVER_ADAPT_STEPS);
	/* a jitter so large that the bound is clamped: the floor is too, so
	 * the wait never passes the bound the hold is made from */
	for (unsigned p = 0; p < PATHS; p++)
		rig.f.path[p].h.rttvar_us = 400000;
	rig.f.view_dirty = 1;
	flow_view(&rig.f);
	assert_int_equal(rig.f.rec.wait_us,
			 REORDER_AUTO_MAX_US + BOND_QUEUE_MAX_US + RECOVER_WAIT_MIN_US);
	rig_close();
}

/* Builds the body of a NACK for the seqs in `seqs` (bit i = base + i). */
static size_t nack_body(uint8_t *buf, uint64_t base, uint64_t seqs)
{
	struct mp_nack n = { .base = base, .bits = 64 - (unsigned)__builtin_clzll(seqs) };

	for (unsigned i = 0; i < n.bits; i++)
		n.map[i / 8] |= (uint8_t)((seqs >> i & 1) << (i % 8));
	return wire_put_nack(buf, &n);
}

/* What waits at path p's far end: the seq of each DATA (in order) into
 * seqs, its bytes (after the path byte) into copy[seq]. */
enum { SENT_MAX = 64 };
static uint8_t sent_bytes[SENT_MAX][1100];
static size_t sent_len[SENT_MAX];
static unsigned sent_path[SENT_MAX];

static unsigned collect(void)
{
	uint8_t buf[2048];
	unsigned n = 0;

	send_flush(&rig.e);
	for (unsigned p = 0; p < PATHS; p++) {
		ssize_t len;
		while ((len = take(rig.rx[p], buf, sizeof(buf))) > 0) {
			struct mp_hdr h;
			size_t plen;
			assert_int_equal(wire_parse(buf, (size_t)len, 0, &h, &plen), WIRE_OK);
			assert_int_equal(h.type, MP_T_DATA);
			assert_true(h.seq < SENT_MAX);
			assert_int_equal(h.path, p);
			memcpy(sent_bytes[h.seq], buf, (size_t)len);
			sent_len[h.seq] = (size_t)len;
			sent_path[h.seq] = p;
			n++;
		}
	}
	return n;
}

/* The sender: a datagram asked for goes again, the same sealed bytes but
 * for the path byte, on the other path; not again within a round trip;
 * at most RECOVER_RESENDS_MAX times; one never kept is counted as such. */
static void recover_resends_the_same_bytes_elsewhere(void **state)
{
	uint8_t body[MP_NACK_MAX_LEN], first[2][1100];
	size_t first_len[2];

	(void)state;
	rig_open(SCHED_BOND, 0);		/* unpaced: everything goes at once */
	rig.o.recover = 1;
	for (unsigned p = 0; p < PATHS; p++) {
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = 10000;
	}
	rig.f.view_dirty = 1;
	rig.e.now_us = 1000000;
	/* 40 sent: a budget of 20 resends */
	for (int i = 0; i < 40; i++) {
		send_sized((uint8_t)i, 1000);
		send_flush(&rig.e);	/* send_sized uses one buffer */
	}
	assert_int_equal(collect(), 40);
	memcpy(first[0], sent_bytes[2], sent_len[2]);
	memcpy(first[1], sent_bytes[5], sent_len[5]);
	first_len[0] = sent_len[2];
	first_len[1] = sent_len[5];
	unsigned was[2] = { sent_path[2], sent_path[5] };
	size_t len = nack_body(body, 2, 1u << 0 | 1u << 3);	/* 2 and 5 */
	recover_input(&rig.f, 0, body, len);
	assert_int_equal(collect(), 2);
	for (int k = 0; k < 2; k++) {
		uint64_t seq = k ? 5 : 2;
		assert_int_equal(sent_len[seq], first_len[k]);
		assert_memory_equal(sent_bytes[seq] + 1, first[k] + 1, first_len[k] - 1);
		assert_int_not_equal(sent_path[seq], was[k]);
	}
	assert_int_equal(rig.f.rec.st.resent, 2);
	assert_int_equal(rig.f.rec.st.resent_bytes, first_len[0] + first_len[1]);
	assert_int_equal(rig.link[0].st.resent + rig.link[1].st.resent, 2);
	/* asked again at once: still on its way (a round trip is 10 ms) */
	recover_input(&rig.f, 0, body, len);
	assert_int_equal(collect(), 0);
	for (unsigned t = 2; t <= RECOVER_RESENDS_MAX; t++) {
		rig.e.now_us += 11000;
		recover_input(&rig.f, 0, body, len);
		assert_int_equal(collect(), 2);
	}
	rig.e.now_us += 11000;
	recover_input(&rig.f, 0, body, len);
	assert_int_equal(collect(), 0);
	assert_int_equal(rig.f.rec.st.spent, 2);
	len = nack_body(body, 50, 1);		/* never sent */
	recover_input(&rig.f, 0, body, len);
	assert_int_equal(rig.f.rec.st.not_kept, 1);
	/* a malformed body: counted, nothing sent */
	body[1] = 1;
	recover_input(&rig.f, 0, body, len);
	assert_int_equal(rig.f.rec.st.bad_nack, 1);
	assert_int_equal(rig.e.drops.n[DROP_BAD_RECOVER], 1);
	assert_int_equal(rig.f.rec.st.nacks_rx, 1 + 1 + RECOVER_RESENDS_MAX + 1);
	rig_close();
}

/* The tail: a flow quiet for RECOVER_TAIL_US sends its last datagram
 * again, once, on another path; a flow that goes on sending does not. */
static void recover_probes_the_tail(void **state)
{
	(void)state;
	rig_open(SCHED_BOND, 0);
	rig.o.recover = 1;
	rig.e.now_us = 1000000;
	for (int i = 0; i < 5; i++) {
		send_sized((uint8_t)i, 1000);
		send_flush(&rig.e);
	}
	assert_int_equal(collect(), 5);
	unsigned was = sent_path[5];
	recover_tick(&rig.f);			/* sees the flow's last send */
	rig.e.now_us += RECOVER_TAIL_US - 1;
	recover_tick(&rig.f);
	assert_int_equal(collect(), 0);
	rig.e.now_us += 1;
	recover_tick(&rig.f);
	assert_int_equal(collect(), 1);
	assert_true(sent_len[5] > 0);
	assert_int_not_equal(sent_path[5], was);
	assert_int_equal(rig.f.rec.st.tail_probes, 1);
	rig.e.now_us += 10 * RECOVER_TAIL_US;
	recover_tick(&rig.f);
	assert_int_equal(collect(), 0);		/* once */
	/* a flow sending every half of RECOVER_TAIL_US is never probed */
	for (int i = 0; i < 10; i++) {
		send_sized((uint8_t)i, 1000);
		send_flush(&rig.e);
		recover_tick(&rig.f);
		rig.e.now_us += RECOVER_TAIL_US / 2;
		recover_tick(&rig.f);
	}
	assert_int_equal(collect(), 10);
	assert_int_equal(rig.f.rec.st.tail_probes, 1);
	rig_close();
}

/* A peer that asks for everything, again and again, gets at most
 * RECOVER_BUDGET_PCT of what the flow sent, and RECOVER_BUDGET_BURST. */
static void recover_budget_bounds_a_liar(void **state)
{
	uint8_t body[MP_NACK_MAX_LEN];

	(void)state;
	rig_open(SCHED_BOND, 0);
	rig.o.recover = 1;
	rig.e.now_us = 1000000;
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 60; i++)
			send_sized((uint8_t)i, 1000);
		send_flush(&rig.e);
		for (int ask = 0; ask < 10; ask++) {
			rig.e.now_us += 20000;
			uint64_t base = 1 + 60 * (uint64_t)round;
			size_t len = nack_body(body, base, UINT64_MAX >> 4);	/* 60 seqs */
			recover_input(&rig.f, 0, body, len);
			send_flush(&rig.e);
		}
		for (unsigned p = 0; p < PATHS; p++)
			while (take(rig.rx[p], body, sizeof(body)) > 0)
				;
	}
	uint64_t bound = rig.f.sent_bytes * RECOVER_BUDGET_PCT / 100 + RECOVER_BUDGET_BURST;
	if (rig.f.rec.st.resent_bytes > bound)
		fail_msg("resent %llu bytes for %llu sent: over %llu",
			 (unsigned long long)rig.f.rec.st.resent_bytes,
			 (unsigned long long)rig.f.sent_bytes, (unsigned long long)bound);
	/* the budget, not the resend limit, is what stopped it */
	assert_true(rig.f.rec.st.over_budget > 0);
	assert_true(rig.f.rec.st.resent_bytes > bound / 2);
	rig_close();
}

/* ---- forward error correction (parity.h) --------------------------------- */

/* Every packet waiting at the far ends, as sent: DATA by seq, parity
 * shards in arrival order. */
enum { WIRE_MAX = 96 };
struct wire_pkt {
	uint8_t bytes[2200];
	size_t len;
	unsigned path;
	struct mp_hdr h;
};
static struct wire_pkt wdata[WIRE_MAX], wpar[WIRE_MAX];
static unsigned n_wdata, n_wpar;

/* A RECOVER packet's kind (keyed: opened in a copy). */
static int kind_of(const uint8_t *pkt, size_t len)
{
	uint8_t copy[2200];

	if (!rig.e.key)
		return pkt[MP_HDR_LEN];
	memcpy(copy, pkt, len);
	return aead_open(&rig.f.open, copy, len) ? -1 : copy[MP_HDR_LEN];
}

static void capture(void)
{
	uint8_t buf[2200];

	send_flush(&rig.e);
	for (unsigned p = 0; p < PATHS; p++) {
		ssize_t len;
		while ((len = take(rig.rx[p], buf, sizeof(buf))) > 0) {
			struct mp_hdr h;
			size_t plen;
			assert_int_equal(wire_parse(buf, (size_t)len, rig.e.key != NULL, &h, &plen),
					 WIRE_OK);
			assert_int_equal(h.path, p);
			struct wire_pkt *w;
			if (h.type == MP_T_DATA) {
				assert_true(h.seq < WIRE_MAX);
				w = &wdata[h.seq];
				n_wdata++;
			} else if (h.type == MP_T_RECOVER &&
				   kind_of(buf, (size_t)len) == MP_RECOVER_PARITY) {
				assert_true(n_wpar < WIRE_MAX);
				w = &wpar[n_wpar++];
			} else {
				continue;	/* a NACK of the receiving side */
			}
			memcpy(w->bytes, buf, (size_t)len);
			w->len = (size_t)len;
			w->path = p;
			w->h = h;
		}
	}
}

/* One captured packet through the receive path as the programs run it. */
static void feed(struct wire_pkt *w)
{
	/* what is released is sent from where it lies, until receive_flush */
	static uint8_t slot[2 * WIRE_MAX][2200];
	static unsigned next;
	uint8_t *pkt = slot[next++ % (2 * WIRE_MAX)];
	struct mp_hdr h;
	size_t plen;

	memcpy(pkt, w->bytes, w->len);
	assert_int_equal(wire_parse(pkt, w->len, rig.e.key != NULL, &h, &plen), WIRE_OK);
	if (rig.e.key && receive_open(&rig.f, pkt, w->len))
		return;
	receive_count(&rig.f, h.path, w->len);
	if (receive_window(&rig.f, &h) != SEQ_ACCEPT)
		return;
	if (h.type == MP_T_RECOVER)
		receive_recover(&rig.f, h.path, pkt + MP_HDR_LEN, plen);
	else
		receive_data(&rig.f, h.path, h.seq, pkt + MP_HDR_LEN, plen);
}

/* What reached the local side: each datagram's length and bytes. */
static uint8_t got[WIRE_MAX][1500];
static size_t got_len[WIRE_MAX];

static unsigned arrived(void)
{
	unsigned n = 0;
	ssize_t len;

	receive_flush(&rig.e);
	while (n < WIRE_MAX && (len = take(rig.local_rx, got[n], sizeof(got[n]))) >= 0)
		got_len[n++] = (size_t)len;
	return n;
}

/* Datagram i (from 0) of a test: its length and its bytes. */
static size_t size_of(unsigned i)
{
	return 60 + (i * 37) % 900;
}

static void send_nth(unsigned i)
{
	static uint8_t pkt[MP_HDR_LEN + 1500 + MP_MAX_TRAILER];

	for (size_t b = 0; b < size_of(i); b++)
		pkt[MP_HDR_LEN + b] = (uint8_t)(i * 31 + b);
	send_data(&rig.f, pkt, size_of(i));
	send_flush(&rig.e);		/* one buffer */
}

static void check_nth(unsigned n, unsigned i)
{
	assert_int_equal(got_len[n], size_of(i));
	for (size_t b = 0; b < size_of(i); b++)
		if (got[n][b] != (uint8_t)(i * 31 + b))
			fail_msg("datagram %u: byte %zu differs", i, b);
}

/* Bond mode with recovery over two paths with delays of 10 and 30 ms,
 * path 0 losing `ppm` of what we send (as the peer reports it). */
static void rig_fec(uint32_t ppm)
{
	rig_open(SCHED_BOND, 500);
	rig.o.recover = 1;
	for (unsigned p = 0; p < PATHS; p++) {
		rig.f.path[p].h.has_rtt = 1;
		rig.f.path[p].h.srtt_us = p ? 30000 : 10000;
	}
	rig.f.path[0].h.send.ppm = ppm;
	rig.f.view_dirty = 1;
	n_wdata = n_wpar = 0;
	memset(wdata, 0, sizeof(wdata));
}

/* The rate rule: none below PARITY_LOSS_MIN_PPM; the fewest shards that
 * leave at most PARITY_RESIDUAL_PPM of groups undecodable (at 1 % over 16:
 * P(> 1 of 17) = 1.2 %, P(> 2 of 18) = 0.08 %); at most a quarter of the
 * group, at least one. */
static void parity_rate_follows_the_loss(void **state)
{
	(void)state;
	assert_int_equal(parity_rate(16, 0), 0);
	assert_int_equal(parity_rate(16, PARITY_LOSS_MIN_PPM - 1), 0);
	assert_int_equal(parity_rate(16, 10000), 2);
	assert_int_equal(parity_rate(16, 300000), 4);
	assert_int_equal(parity_rate(8, 300000), 2);
	assert_int_equal(parity_rate(2, 300000), 1);
	assert_int_equal(parity_rate(1, 1000000), 1);
	assert_int_equal(parity_rate(0, 300000), 0);
}

/* Clean paths: not one parity byte, and no coder made. */
static void parity_none_on_clean_paths(void **state)
{
	(void)state;
	rig_fec(PARITY_LOSS_MIN_PPM - 1);
	rig.f.path[1].h.send.ppm = PARITY_LOSS_MIN_PPM - 1;
	for (unsigned i = 0; i < 70; i++)
		send_nth(i);
	capture();
	assert_int_equal(n_wdata, 70);
	assert_int_equal(n_wpar, 0);
	assert_int_equal(rig.f.par_tx.ready, 0);
	assert_int_equal(rig.e.parity_tx_flows, 0);
	rig_close();
	/* lossy paths, but --recover off, or another mode: none either */
	for (int run = 0; run < 2; run++) {
		rig_fec(300000);
		rig.f.path[1].h.send.ppm = 300000;
		if (run)
			rig.f.sched.mode = SCHED_DUPLICATE;
		else
			rig.o.recover = 0;
		for (unsigned i = 0; i < 40; i++)
			send_nth(i);
		capture();
		assert_int_equal(n_wdata, run ? 80 : 40);
		assert_int_equal(n_wpar, 0);
		assert_int_equal(rig.f.par_tx.ready, 0);
		rig_close();
	}
}

/* Keyed: parity is over the sealed DATA (the receiver keeps each as it
 * came, before decrypting it in place); a rebuilt one opens with its own
 * tag and is delivered byte for byte. A shard from a lying peer (sealed
 * with the session's key, contents changed) rebuilds a packet whose tag
 * fails: nothing reaches the local side. */
static void parity_keyed_rebuilds_and_authenticates(void **state)
{
	static struct crypto_master mk;	/* the engine only asks whether there is a key */
	uint8_t key[CRYPTO_KEY_LEN] = { 7 };

	(void)state;
	rig_fec(300000);
	rig.e.key = &mk;
	assert_int_equal(aead_init(&rig.f.seal, key, 1), 0);
	assert_int_equal(aead_init(&rig.f.open, key, 0), 0);
	for (unsigned i = 0; i < 48; i++)
		send_nth(i);
	capture();
	assert_int_equal(n_wdata, 48);
	assert_int_equal(n_wpar, 12);
	rig.e.now_us = 1000000;
	for (unsigned s = 1; s <= 16; s++)
		feed(&wdata[s]);
	for (unsigned j = 0; j < 4; j++)
		feed(&wpar[j]);
	/* group 2: three lost */
	for (unsigned s = 17; s <= 32; s++)
		if (s != 18 && s != 25 && s != 31)
			feed(&wdata[s]);
	for (unsigned j = 4; j < 8; j++)
		feed(&wpar[j]);
	assert_int_equal(rig.f.par.recovered, 3);
	/* group 3: one lost; its shard 0 opened, changed, sealed again */
	for (unsigned s = 33; s <= 48; s++)
		if (s != 40)
			feed(&wdata[s]);
	struct wire_pkt *w = &wpar[8];
	size_t plen = w->len - MP_HDR_LEN - MP_TAG_LEN;
	assert_int_equal(aead_open(&rig.f.open, w->bytes, w->len), 0);
	w->bytes[MP_HDR_LEN + MP_PARITY_HDR_LEN + 50] ^= 1;
	assert_int_equal(aead_seal(&rig.f.seal, w->bytes, plen), w->len);
	feed(w);
	assert_int_equal(rig.f.par.received, 4 + 4 + 1);
	assert_int_equal(rig.f.par.recovered, 3);
	assert_int_equal(rig.f.par.undecodable, 1);
	assert_int_equal(rig.f.bad_tag, 0);	/* a rebuilt packet is not the path's */
	receive_timer(rig.loop, &rig.f.ro_timer, 0);
	assert_int_equal(arrived(), 47);
	for (unsigned n = 0, s = 1; s <= 48; s++)
		if (s != 40)
			check_nth(n++, s - 1);
	rig.e.key = NULL;
	rig_close();
}

/* Path 0 (the faster: it carries the whole group) loses 30 %: each full
 * group of 16 gets 4 shards, all on path 0 too, since path 1 would deliver
 * them 10 ms later (PARITY_SPREAD_US is 2). The receiver, erasing any 4
 * DATA of a group, delivers every datagram byte for byte, in order, with
 * no NACK answered (none is fed back): parity alone rebuilt them. */
static void parity_rebuilds_what_a_path_lost(void **state)
{
	(void)state;
	rig_fec(300000);
	for (unsigned i = 0; i < 48; i++)
		send_nth(i);
	capture();
	assert_int_equal(n_wdata, 48);
	assert_int_equal(n_wpar, 3 * 4);
	for (unsigned j = 0; j < n_wpar; j++) {
		struct mp_parity par;
		assert_int_equal(wpar[j].path, 0);
		assert_int_equal(wire_get_parity(wpar[j].bytes + MP_HDR_LEN,
						 wpar[j].len - MP_HDR_LEN - MP_CRC_LEN, &par), 0);
		assert_int_equal(par.base, 1 + 16 * (j / 4));
		assert_int_equal(par.k, 16);
		assert_int_equal(par.m, 4);
		assert_int_equal(par.index, j % 4);
	}
	for (unsigned s = 1; s <= 48; s++)
		assert_int_equal(wdata[s].path, 0);
	rig.e.now_us = 1000000;
	/* group 1 whole, with its parity (the receiver's state is made at
	 * the first parity); group 2 without 4 DATA; group 3 without 2, its
	 * parity first */
	static const unsigned lost[] = { 17, 20, 26, 32, 40, 41 };
	for (unsigned s = 1; s <= 16; s++)
		feed(&wdata[s]);
	for (unsigned j = 0; j < 4; j++)
		feed(&wpar[j]);
	for (unsigned s = 17; s <= 32; s++) {
		int erased = 0;
		for (unsigned l = 0; l < 6; l++)
			erased |= lost[l] == s;
		if (!erased)
			feed(&wdata[s]);
	}
	for (unsigned j = 4; j < 12; j++)
		feed(&wpar[j]);
	for (unsigned s = 33; s <= 48; s++)
		if (s != 40 && s != 41)
			feed(&wdata[s]);
	assert_int_equal(arrived(), 48);
	for (unsigned n = 0; n < 48; n++)
		check_nth(n, n);
	/* group 2 at its fourth shard; group 3 as soon as it held 16 shards,
	 * before 47 and 48 came (rebuilt early; their arrivals are copies) */
	assert_int_equal(rig.f.par.recovered, 4 + 4);
	assert_int_equal(rig.f.dedup, 2);
	assert_int_equal(rig.f.par.undecodable, 0);
	/* rebuilt ones are no path's news */
	assert_int_equal(rig.f.path[0].rx_pkts, 48 - 6 + 12);	/* copies and parity */
	assert_int_equal(rig.f.path[1].rx_pkts, 0);
	rig_close();
}

/* Where a group's shards go: on the path that delivers them first, but on
 * one the group did not go on when that is at most PARITY_SPREAD_US later.
 * Both paths lose 30 % and are idle; path 0 delivers after 5 ms one way,
 * path 1 after 5 + `later` (the DATA all take path 0). */
static void parity_goes_where_it_arrives_first(void **state)
{
	static const struct {
		uint64_t later_us;
		unsigned path;
	} cases[] = {
		{ 0, 1 },				/* as soon: the other path */
		{ PARITY_SPREAD_US - 200, 1 },		/* within the spread */
		{ PARITY_SPREAD_US + 200, 0 },		/* past it: the group's own */
		{ 10000, 0 },
	};

	(void)state;
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		rig_fec(300000);
		rig.f.path[1].h.send.ppm = 300000;
		rig.f.path[1].h.srtt_us = 10000 + 2 * cases[c].later_us;
		for (unsigned i = 0; i < 16; i++)
			send_nth(i);
		capture();
		for (unsigned s = 1; s <= 16; s++)
			assert_int_equal(wdata[s].path, 0);
		assert_int_equal(n_wpar, 4);
		for (unsigned j = 0; j < n_wpar; j++)
			if (wpar[j].path != cases[c].path)
				fail_msg("%llu us later: shard %u on path %u, not %u",
					 (unsigned long long)cases[c].later_us, j, wpar[j].path,
					 cases[c].path);
		rig_close();
	}
}

/* More losses than shards: nothing is made up; the datagrams that came
 * are delivered, the group counted undecodable when given up. A shard
 * whose contents are wrong (an erasure code cannot tell) rebuilds a
 * packet whose CRC fails: nothing reaches the local side. */
static void parity_never_delivers_junk(void **state)
{
	(void)state;
	rig_fec(300000);
	for (unsigned i = 0; i < 80; i++)
		send_nth(i);
	capture();
	assert_int_equal(n_wpar, 5 * 4);
	rig.e.now_us = 1000000;
	for (unsigned j = 0; j < 4; j++)	/* the receiver's state */
		feed(&wpar[j]);
	/* group 2: 5 of 16 lost, 4 shards */
	for (unsigned s = 17; s <= 32; s++)
		if (s < 20 || s > 24)
			feed(&wdata[s]);
	for (unsigned j = 4; j < 8; j++)
		feed(&wpar[j]);
	assert_int_equal(rig.f.par.recovered, 0);
	/* group 3: one lost, its one shard corrupted (a lying peer; the
	 * packet's own CRC is made right) */
	for (unsigned s = 33; s <= 48; s++)
		if (s != 35)
			feed(&wdata[s]);
	struct wire_pkt *w = &wpar[8];
	w->bytes[MP_HDR_LEN + MP_PARITY_HDR_LEN + 40] ^= 0x5a;
	w->len = wire_seal_plain(w->bytes, w->len - MP_HDR_LEN - MP_CRC_LEN);
	feed(w);
	assert_int_equal(rig.f.par.recovered, 0);
	assert_int_equal(rig.f.par.undecodable, 1);
	/* groups 4 and 5's parity: PARITY_GROUPS are kept, the oldest
	 * (group 1, none of whose DATA came) is given up */
	for (unsigned j = 12; j < 20; j++)
		feed(&wpar[j]);
	assert_int_equal(rig.f.par.undecodable, 2);
	/* after the hold: every datagram that came, in order, and only those */
	receive_timer(rig.loop, &rig.f.ro_timer, 0);
	assert_int_equal(arrived(), 11 + 15);
	unsigned n = 0;
	for (unsigned s = 17; s <= 48; s++)
		if ((s < 20 || s > 24) && s != 35)
			check_nth(n++, s - 1);
	rig_close();
}

/* A malformed parity body is refused and counted; one of another k or m
 * than its group's first shard says is refused; parity of a group older
 * than every one kept is stale. */
static void parity_refuses_what_does_not_fit(void **state)
{
	uint8_t body[MP_PARITY_MAX_LEN], shard[64] = { 0 };
	struct mp_parity par = { .base = 100, .k = 4, .m = 2, .index = 0,
				 .shard = shard, .shard_len = sizeof(shard) };

	(void)state;
	rig_fec(300000);
	size_t len = wire_put_parity(body, &par);
	body[1] = 1;				/* flags */
	receive_recover(&rig.f, 0, body, len);
	assert_int_equal(rig.f.par.bad, 1);
	assert_int_equal(rig.e.drops.n[DROP_BAD_RECOVER], 1);
	assert_null(rig.f.par_rx);		/* nothing made for junk */
	body[1] = 0;
	receive_recover(&rig.f, 0, body, len);
	assert_int_equal(rig.f.par.received, 1);
	assert_non_null(rig.f.par_rx);
	assert_int_equal(rig.e.parity_rx_flows, 1);
	par.index = 1;
	par.m = 3;
	len = wire_put_parity(body, &par);
	receive_recover(&rig.f, 0, body, len);
	assert_int_equal(rig.f.par.bad, 2);
	for (uint64_t b = 200; b < 200 + 16 * PARITY_GROUPS; b += 16) {
		par.base = b;
		len = wire_put_parity(body, &par);
		receive_recover(&rig.f, 0, body, len);
	}
	par.base = 150;
	len = wire_put_parity(body, &par);
	receive_recover(&rig.f, 0, body, len);
	assert_int_equal(rig.f.par.stale, 1);
	/* --recover off: parity is not acted on */
	rig.o.recover = 0;
	par.base = 1000;
	len = wire_put_parity(body, &par);
	uint64_t received = rig.f.par.received;
	receive_recover(&rig.f, 0, body, len);
	assert_int_equal(rig.f.par.received, received);
	rig_close();
	assert_int_equal(rig.e.parity_rx_flows, 0);
}

/* A slow flow is not left without parity: a group that waited its age
 * (a quarter of the bound of the receiver's wait for a hole, within
 * bounds) is closed with what it holds. The age does not follow the wait
 * down as it adapts: smaller groups would cost more parity each. */
static void parity_closes_a_slow_group(void **state)
{
	struct mp_parity par;

	(void)state;
	rig_fec(300000);
	rig.e.now_us = 1000000;
	/* the wait adapted down to its floor */
	flow_view(&rig.f);
	rig.f.rec.steps = 0;
	recover_wait(&rig.f.rec);
	for (unsigned i = 0; i < 3; i++)
		send_nth(i);
	capture();
	assert_int_equal(n_wpar, 0);
	assert_true(ev_is_active(&rig.f.par_timer));
	/* the bound: the paths' spread (10 and 30 ms RTTs, no rttvar: half of
	 * 20 ms, at least REORDER_AUTO_MIN_US), bond's queue and the margin */
	uint64_t bound = (REORDER_AUTO_MIN_US > 10000 ? REORDER_AUTO_MIN_US : 10000) +
			 BOND_QUEUE_MAX_US + RECOVER_WAIT_MIN_US;
	assert_true(rig.f.rec.wait_us < bound);
	uint64_t age = bound / PARITY_AGE_SHARE;
	age = age < PARITY_AGE_MIN_US ? PARITY_AGE_MIN_US
	    : age > PARITY_AGE_MAX_US ? PARITY_AGE_MAX_US : age;
	double left = ev_timer_remaining(rig.loop, &rig.f.par_timer);
	assert_true(left <= age / 1e6 + 1e-6 && left >= age / 1e6 - 1e-3);
	send_parity_timer(rig.loop, &rig.f.par_timer, 0);
	capture();
	assert_int_equal(n_wpar, 1);
	assert_int_equal(wire_get_parity(wpar[0].bytes + MP_HDR_LEN,
					 wpar[0].len - MP_HDR_LEN - MP_CRC_LEN, &par), 0);
	assert_int_equal(par.base, 1);
	assert_int_equal(par.k, 3);
	assert_int_equal(par.m, 1);
	assert_int_equal(par.shard_len, 2 + MP_HDR_LEN - 1 + size_of(2) + MP_CRC_LEN);
	rig_close();
}

/* A peer that says every path loses 90 % gets at most PARITY_BUDGET_PCT
 * of what the flow sent in parity, and PARITY_BUDGET_BURST. */
static void parity_budget_bounds_a_liar(void **state)
{
	(void)state;
	rig_fec(900000);
	rig.f.path[1].h.send.ppm = 900000;
	for (unsigned i = 0; i < 400; i++) {
		/* groups of one (closed by time): a shard as long as the data */
		send_nth(i % 2 ? 1 : 23);
		send_parity_timer(rig.loop, &rig.f.par_timer, 0);
		for (unsigned p = 0; p < PATHS; p++)
			while (take(rig.rx[p], got[0], sizeof(got[0])) > 0)
				;
	}
	uint64_t bound = rig.f.sent_bytes * PARITY_BUDGET_PCT / 100 + PARITY_BUDGET_BURST;
	if (rig.f.par.sent_bytes > bound)
		fail_msg("parity %llu bytes for %llu sent: over %llu",
			 (unsigned long long)rig.f.par.sent_bytes,
			 (unsigned long long)rig.f.sent_bytes, (unsigned long long)bound);
	assert_true(rig.f.par.over_budget > 0);
	uint64_t link_bytes = rig.link[0].st.recovery_bytes + rig.link[1].st.recovery_bytes;
	assert_true(link_bytes >= rig.f.par.sent_bytes);
	rig_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duplicate_is_one_seal_on_every_path),
		cmocka_unit_test(fed_is_counted_as_the_peer_counts),
		cmocka_unit_test(roundrobin_alternates),
		cmocka_unit_test(refused_sends_are_not_bytes),
		cmocka_unit_test(duplicates_dropped_in_order_without_hold),
		cmocka_unit_test(reorder_releases_in_order_and_skips_holes),
		cmocka_unit_test(reorder_paces_what_a_hole_frees),
		cmocka_unit_test(reorder_grows_within_the_budget),
		cmocka_unit_test(critical_passes_the_hold),
		cmocka_unit_test(forged_packet_changes_nothing),
		cmocka_unit_test(view_tiers),
		cmocka_unit_test(bond_spreads_by_capacity),
		cmocka_unit_test(the_lead_path_starts_open),
		cmocka_unit_test(bond_leaves_out_the_slow_path),
		cmocka_unit_test(bond_drops_once_per_round_trip),
		cmocka_unit_test(bond_passes_over_a_full_queue),
		cmocka_unit_test(bond_lets_an_app_limited_burst_wait),
		cmocka_unit_test(bond_keeps_a_suspect_path_by_arrival),
		cmocka_unit_test(bond_fills_an_idle_path),
		cmocka_unit_test(bond_counts_a_held_path_as_busy),
		cmocka_unit_test(bond_polices_the_critical_class),
		cmocka_unit_test(recover_asks_what_every_path_has_passed),
		cmocka_unit_test(recover_asks_after_a_quiet_spell),
		cmocka_unit_test(recover_wait_adapts),
		cmocka_unit_test(recover_resends_the_same_bytes_elsewhere),
		cmocka_unit_test(recover_probes_the_tail),
		cmocka_unit_test(recover_budget_bounds_a_liar),
		cmocka_unit_test(parity_rate_follows_the_loss),
		cmocka_unit_test(parity_none_on_clean_paths),
		cmocka_unit_test(parity_rebuilds_what_a_path_lost),
		cmocka_unit_test(parity_goes_where_it_arrives_first),
		cmocka_unit_test(parity_keyed_rebuilds_and_authenticates),
		cmocka_unit_test(parity_never_delivers_junk),
		cmocka_unit_test(parity_refuses_what_does_not_fit),
		cmocka_unit_test(parity_closes_a_slow_group),
		cmocka_unit_test(parity_budget_bounds_a_liar),
		cmocka_unit_test(rekey_next_then_previous),
		cmocka_unit_test(expired_keys_neither_used_nor_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
