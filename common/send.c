/* The send half of the engine, for both programs: a datagram from the local
 * side is numbered and sealed once, the scheduler picks its paths, pacing
 * may move or hold a copy, and the same bytes are queued on every chosen
 * path, each copy with its own path byte (outside the check, so no GCM
 * nonce ever covers two texts); send_flush hands each link's run to the
 * kernel in one sendmmsg (UDP GSO where it can). Control packets go at once
 * (send_now). Rescue sends again what a failing path carried alone. In
 * bond mode with recovery, DATA also go into parity groups whose shards go
 * on the paths that deliver them first (parity.h keeps the groups, this
 * file sends).
 * Links allocate their pacing queues once (link_init), a flow its parity
 * coder when first needed; nothing here allocates per datagram, and
 * nothing here calls a program. */
#include "engine.h"

#include <string.h>

#include "util.h"

int link_init(struct link *l, struct engine *e, int fd, const struct mp_addr *to,
	      int family, struct sendlist *out, uint64_t rate_bps)
{
	memset(l, 0, sizeof(*l));
	l->e = e;
	l->fd = fd;
	l->to = to;
	l->family = family;
	l->out = out;
	ev_timer_init(&l->pace_timer, send_pace_timer, 0, 0);
	if (pace_init(&l->pace, rate_bps, e->now_us))
		return -1;
	e->paced |= rate_bps != 0;
	return 0;
}

void link_free(struct link *l)
{
	if (!l->e)
		return;
	ev_timer_stop(l->e->loop, &l->pace_timer);
	pace_free(&l->pace);
}

/* Per-client keys: the current keys may no longer be used (too old, or too
 * many packets under them) until a rekey replaces them. */
static int keys_expired(const struct flow *f)
{
	return f->reject_ms && (f->e->now_ms - f->keys_ms >= f->reject_ms ||
				f->tx.next - f->keys_tx_base >= REJECT_AFTER_PACKETS ||
				f->ctl_tx.next - f->keys_ctl_base >= REJECT_AFTER_PACKETS);
}

size_t send_seal(struct flow *f, uint8_t *pkt, size_t plen, unsigned type)
{
	struct engine *e = f->e;

	if (keys_expired(f)) {
		e->drops.n[DROP_KEYS_EXPIRED]++;
		return 0;
	}
	struct mp_hdr h = {
		.type = (uint8_t)type,
		.sealed = e->key != NULL,
		.session = f->id,
		.epoch = f->tx.epoch,
		.seq = seq_tx_next(type == MP_T_DATA ? &f->tx : &f->ctl_tx),
	};
	size_t len;

	wire_put_hdr(pkt, &h);
	len = e->key ? aead_seal(&f->seal, pkt, plen) : wire_seal_plain(pkt, plen);
	if (!len)
		e->drops.n[DROP_SEAL_FAIL]++;
	return len;
}

/* The flow's own count of what it sent on a path (the probe counters): a
 * datagram that waits in a pacer counts when it leaves, so that the peer's
 * count is compared with what was really sent. */
static void count_path(struct flow_path *fp, size_t len)
{
	fp->tx_pkts++;
	fp->tx_bytes += len;
}

static void count_tx(struct flow *f, unsigned p, size_t len)
{
	count_path(&f->path[p], len);
}

static void queue_on(struct flow *f, unsigned p, const uint8_t *pkt, size_t len)
{
	struct link *l = f->path[p].link;

	sendlist_add(l->out, l->to, (int)p, pkt + 1, len - 1, &l->st.tx);
	pace_spend(&l->pace, len);
	if (l->pmtu && len > l->pmtu)
		l->st.over_pmtu++;
	count_tx(f, p, len);
}

static int link_ready(const struct flow *f, unsigned p)
{
	return pace_ready(&f->path[p].link->pace, f->e->now_us);
}

/* Keeps one datagram in path p's pacing queue and makes sure its timer
 * runs; 0, or -1 if the queue is full (counted: drop_paced). */
static int wait_on(struct flow *f, unsigned p, uint8_t *pkt, size_t len, int critical)
{
	struct engine *e = f->e;
	struct link *l = f->path[p].link;

	pkt[0] = (uint8_t)p;
	l->waited_us = e->now_us;
	if (pace_keep(&l->pace, pkt, len, critical, &f->path[p])) {
		e->drops.n[DROP_PACED]++;
		return -1;
	}
	if (!ev_is_active(&l->pace_timer)) {
		ev_timer_set(&l->pace_timer, pace_wait_us(&l->pace, e->now_us) / 1e6, 0);
		ev_timer_start(e->loop, &l->pace_timer);
	}
	return 0;
}

/* rate=: a path at its rate takes no copy now. In the modes that spread,
 * the copy goes to the best other path that has room; in duplicate it is
 * skipped. Only if no copy at all could go does one wait in the path's
 * queue (latency-critical ones ahead of bulk). */
static uint32_t pace_filter(struct flow *f, uint32_t mask, uint8_t *pkt, size_t len,
			    int critical)
{
	uint32_t out = 0, full = 0;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (mask & 1u << p)
			*(link_ready(f, p) ? &out : &full) |= 1u << p;
	if (!full)
		return mask;
	for (unsigned k = 0; k < f->view.n_quality && f->sched.mode != SCHED_DUPLICATE; k++) {
		unsigned q = f->view.by_quality[k];
		if (__builtin_popcount(out) >= __builtin_popcount(mask))
			break;
		if (!((mask | out) & 1u << q) && link_ready(f, q))
			out |= 1u << q;
	}
	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (full & 1u << p)
			f->path[p].link->st.paced_skip++;
	if (!out)
		wait_on(f, (unsigned)__builtin_ctz(full), pkt, len, critical);
	return out;
}

/* A path the bond would have given this datagram (it would deliver it
 * within BOND_IDLE_FILL_US of the earliest) but for its pacer is as busy
 * as one with datagrams waiting: its estimate is what limits it. Without
 * this, a path that only ever takes what its pacer allows at once never
 * counts as busy, and its estimate, left low by a quiet spell, grows only
 * by the gain cycle's probes: the 8 Mbit/s path of a bond stayed at 2-3
 * for over a second of a transfer while the fastest one queued. */
static void mark_wanted(struct flow *f, uint32_t held, const uint64_t *held_t, uint64_t by_us)
{
	for (uint32_t m = held; m; m &= m - 1) {
		unsigned p = (unsigned)__builtin_ctz(m);
		if (held_t[p] <= by_us)
			f->path[p].link->waited_us = f->e->now_us;
	}
}

/* When path p would deliver len bytes sent now: after what waits in its
 * pacer (with critical, only the latency-critical queue) has left at its
 * rate, and its one-way delay (with the doubt of an overdue answer). */
static uint64_t arrival_us(struct flow *f, unsigned p, size_t len, int critical)
{
	struct pace *pc = &f->path[p].link->pace;

	return pace_backlog_us(pc, f->e->now_us, critical) + pace_us(pc, len) +
	       health_owd_us(&f->path[p].h, f->e->now_us);
}

/* Bond mode: earliest arrival (ECF, BLEST). Each path would deliver this
 * datagram after what waits in its pacer has left at its rate, plus its
 * one-way delay; the earliest wins, so datagrams arrive nearly in order
 * and a path too slow to help gets none. A latency-critical one goes on
 * the two paths that would deliver it first (their latency-critical queues
 * only: it passes bulk). Bulk that would arrive later than
 * BOND_QUEUE_MAX_US after the slowest path's delay means the bond is full,
 * and TCP must hear it: one such datagram per round trip is dropped here
 * (drop_paced), and every one past twice that bound; the bound is longer
 * while the flow is application-limited. A path whose queue is full is
 * passed over (none with room: dropped). A path with nothing
 * waiting takes bulk that it would deliver at most BOND_IDLE_FILL_US after
 * the earliest (below). */
static uint32_t bond_pick(struct flow *f, size_t len, int critical)
{
	struct engine *e = f->e;
	uint64_t best_t[2] = { UINT64_MAX, UINT64_MAX }, slowest_owd = 0, idle_t = UINT64_MAX;
	uint64_t held_t[MP_MAX_PATHS];
	int best[2] = { -1, -1 }, idle = -1;
	uint32_t held = 0;
	uint64_t paced_bps = 0;		/* every usable path's pace (0: one is unpaced) */
	int unpaced = 0, full = 0;

	/* per datagram: only the usable paths' bits are walked */
	for (uint32_t m = f->view.usable; m; m &= m - 1) {
		unsigned p = (unsigned)__builtin_ctz(m);
		struct pace *pc = &f->path[p].link->pace;
		paced_bps += pc->rate_bps;
		unpaced |= !pc->rate_bps;
		/* the bound below counts from the usual delays, not the doubt */
		uint64_t owd = health_srtt_owd_us(&f->path[p].h);
		if (owd > slowest_owd)
			slowest_owd = owd;
		int ready = pace_ready(pc, e->now_us);
		/* A queue that is full can take nothing more: the path is as
		 * busy as can be (its estimate may grow), and this datagram
		 * goes on another path, or is the bond's to drop. Without
		 * this, a gigabit path's queue (PACE_BULK_SLOTS_MAX) held less
		 * than the bond's bound: the earliest path took all, dropped a
		 * run at its full queue, and the others, never busy, stayed at
		 * the estimates of their first second. */
		if (!ready && !pace_room(pc, critical)) {
			f->path[p].link->waited_us = e->now_us;
			full = 1;
			continue;
		}
		uint64_t t = arrival_us(f, p, len, critical);
		if (!ready) {
			held |= 1u << p;
			held_t[p] = t;
		} else if (t < idle_t) {
			idle_t = t;
			idle = (int)p;
		}
		if (t < best_t[0]) {
			best_t[1] = best_t[0], best[1] = best[0];
			best_t[0] = t, best[0] = (int)p;
		} else if (t < best_t[1]) {
			best_t[1] = t, best[1] = (int)p;
		}
	}
	if (best[0] < 0) {
		if (full)
			e->drops.n[DROP_PACED]++;
		return 0;
	}
	if (critical)
		return 1u << best[0] | (best[1] >= 0 ? 1u << best[1] : 0);
	if (e->now_us - f->demand_us >= RATE_BUSY_US) {
		f->app_limited = unpaced || (f->sent_bytes - f->demand_bytes) * 8000000 /
				 (e->now_us - f->demand_us) * BOND_APP_LIMITED_SHARE < paced_bps;
		f->demand_us = e->now_us;
		f->demand_bytes = f->sent_bytes;
	}
	mark_wanted(f, held, held_t, best_t[0] + BOND_IDLE_FILL_US);
	/* The bound is on arrival: BOND_QUEUE_MAX_US after the slowest usable
	 * path's delay. So the fast paths may queue until the slowest one is
	 * as early, and every path has its own BOND_QUEUE_MAX_US of queue:
	 * TCP, which fills the queue to the drop and backs off by a third,
	 * keeps all of them busy (with the bound on the wait alone, the
	 * slowest path saw traffic only at the top of TCP's cycle). While a
	 * path's capacity is still being found its pacing is below it, and a
	 * drop would end TCP's slow start at a fraction of the bond: the
	 * queue may be longer for that while. */
	uint64_t bound_us = BOND_QUEUE_MAX_US;
	if (f->path[best[0]].est.phase == RATE_STARTUP || f->app_limited)
		bound_us *= BOND_STARTUP_QUEUE_FACTOR;
	if (slowest_owd > BOND_SLOWEST_OWD_MAX_US)
		slowest_owd = BOND_SLOWEST_OWD_MAX_US;
	/* One loss per round trip is what TCP needs to slow down; a run of
	 * them in one window costs it far more than the queue they save (a
	 * window halved several times, or a timeout). */
	uint64_t round_us = 2 * slowest_owd + bound_us;
	if (best_t[0] > slowest_owd + bound_us &&
	    (best_t[0] > slowest_owd + 2 * bound_us || e->now_us - f->bond_drop_us >= round_us)) {
		f->bond_drop_us = e->now_us;
		e->drops.n[DROP_PACED]++;
		return 0;
	}
	/* Strict earliest arrival leaves a slower path idle whenever TCP's
	 * window leaves the faster paths' queues short, which is most of its
	 * cycle after each loss: capacity thrown away (the 4 Mbit/s path of
	 * a 16/8/4 bond carried 60-70 % of what it could). A datagram it
	 * would deliver a little after the earliest costs the receiver's
	 * hold that little. */
	if (idle >= 0 && idle_t <= best_t[0] + BOND_IDLE_FILL_US)
		return 1u << idle;
	return 1u << best[0];
}

/* Bond mode: on each chosen path now if its pacer lets it go, else in the
 * pacer's queue. Returns the paths that took it. */
static uint32_t bond_send(struct flow *f, uint32_t mask, uint8_t *pkt, size_t len,
			  int critical)
{
	uint32_t took = 0;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		if (!(mask & 1u << p))
			continue;
		if (link_ready(f, p))
			queue_on(f, p, pkt, len);
		else if (wait_on(f, p, pkt, len, critical))
			continue;
		took |= 1u << p;
	}
	return took;
}

/* ---- parity (parity.h): forward error correction in bond mode ------------ */

/* What a shard of the open group risks: the loss of the paths its
 * datagrams went on, weighted by how many each carried (the peer's count
 * of what we sent, health.h). */
static uint32_t group_loss(const struct flow *f)
{
	uint64_t n = 0, sum = 0;

	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		n += f->par_tx.on[p];
		sum += (uint64_t)f->par_tx.on[p] * f->path[p].h.send.ppm;
	}
	return n ? (uint32_t)(sum / n) : 0;
}

/* Whether some usable path loses enough that a group may need parity. */
static int paths_lose(const struct flow *f)
{
	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (f->view.usable & 1u << p && f->path[p].h.send.ppm >= PARITY_LOSS_MIN_PPM)
			return 1;
	return 0;
}

/* Where a shard goes: its length, and the paths the group's data went on. */
struct shard_way {
	size_t len;
	uint32_t carried;
};

/* Parity's cost of a path: when it would deliver the shard, behind what
 * waits in its pacer, PARITY_SPREAD_US later on a path that carried some
 * of the group. */
static uint64_t shard_arrival_us(struct flow *f, unsigned p, const void *ctx)
{
	const struct shard_way *w = ctx;

	return arrival_us(f, p, w->len, 0) + (w->carried >> p & 1 ? PARITY_SPREAD_US : 0);
}

/* One parity shard of the group at base, sealed as a RECOVER packet of
 * its own (a fresh control number: no nonce is used twice), on path q
 * now, or in its pacer's bulk queue behind the group's data. */
static void send_shard(struct flow *f, unsigned q, const struct mp_parity *par)
{
	uint8_t pkt[MP_HDR_LEN + MP_PARITY_MAX_LEN + MP_MAX_TRAILER];
	size_t len = send_seal(f, pkt, wire_put_parity(pkt + MP_HDR_LEN, par), MP_T_RECOVER);

	if (!len)
		return;
	if (link_ready(f, q))
		send_now(f, q, pkt, len, 0);
	else if (wait_on(f, q, pkt, len, 0))
		return;
	f->path[q].link->st.parity++;
	f->path[q].link->st.recovery_bytes += len;
	f->par.sent++;
	f->par.sent_bytes += len;
}

/* Closes the open group: its parity (as many shards as its paths' loss
 * asks, parity_rate), each on the path that would deliver it first. A
 * hole holds what follows it in the receiver until it is rebuilt, so the
 * shard's delay is what every datagram behind the hole waits: from a path
 * whose delay is longer than the group's own, the parity comes that much
 * later, and TCP inside reads each such wait as a rise in its RTT. Where
 * it costs little (PARITY_SPREAD_US), a path the group did not go on is
 * preferred, so that one path's burst spares the parity too. */
static void close_group(struct flow *f)
{
	struct parity_tx *t = &f->par_tx;
	struct engine *e = f->e;
	uint64_t base = t->base;
	unsigned k = parity_tx_count(t), m = parity_rate(k, group_loss(f));
	struct shard_way way = { 0 };

	ev_timer_stop(e->loop, &f->par_timer);
	for (unsigned p = 0; p < MP_MAX_PATHS; p++)
		if (t->on[p])
			way.carried |= 1u << p;
	if (!m || parity_tx_seal(t, m)) {
		parity_tx_drop(t);
		return;
	}
	f->par.groups++;
	if (f->view_dirty)
		flow_view(f);
	for (unsigned j = 0; j < m; j++) {
		struct mp_parity par = { .base = base, .k = k, .m = m, .index = j };
		par.shard = fec_enc_parity(&t->enc, j, &par.shard_len);
		way.len = MP_HDR_LEN + MP_PARITY_HDR_LEN + par.shard_len +
			  wire_trailer_len(e->key != NULL);
		if (parity_tx_spend(t, f->sent_bytes, way.len)) {
			f->par.over_budget += m - j;
			break;
		}
		int q = flow_cheapest(f, 0, shard_arrival_us, &way);
		if (q < 0)
			break;
		send_shard(f, (unsigned)q, &par);
	}
}

/* A group is sent its parity at the latest this long after it opened:
 * from the wait's bound, not from where it has adapted to (recover.h),
 * since groups that close sooner are smaller and cost more parity each;
 * PARITY_AGE_MAX_US is below the adapted wait's floor all the same. */
static uint64_t group_age_us(const struct flow *f)
{
	uint64_t age = f->rec.wait_ceil_us / PARITY_AGE_SHARE;

	return age < PARITY_AGE_MIN_US ? PARITY_AGE_MIN_US
	     : age > PARITY_AGE_MAX_US ? PARITY_AGE_MAX_US : age;
}

/* Opens a group at seq if the paths lose enough to need one, making the
 * flow's coder the first time (within the engine's cap). */
static int open_group(struct flow *f, uint64_t seq)
{
	struct parity_tx *t = &f->par_tx;
	struct engine *e = f->e;
	int fresh = !t->ready;

	if (!paths_lose(f))
		return -1;
	if (fresh && e->parity_tx_flows >= PARITY_TX_FLOWS_MAX) {
		f->par.no_memory++;
		return -1;
	}
	if (parity_tx_open(t, seq, e->now_us)) {
		f->par.no_memory++;
		return -1;
	}
	if (fresh) {
		e->parity_tx_flows++;
		ev_timer_init(&f->par_timer, send_parity_timer, 0, 0);
	}
	ev_timer_set(&f->par_timer, group_age_us(f) / 1e6, 0);
	ev_timer_start(e->loop, &f->par_timer);
	return 0;
}

/* DATA seq (sealed: pkt[0..len)) went on the paths in mask: into the open
 * group, or a new one; a full group gets its parity at once. */
static void parity_note(struct flow *f, uint64_t seq, uint32_t mask, const uint8_t *pkt,
			size_t len)
{
	struct parity_tx *t = &f->par_tx;
	int full = t->base ? parity_tx_add(t, seq, mask, pkt, len) : -1;

	if (full < 0) {
		if (t->base)
			close_group(f);	/* seq does not follow it, or does not fit */
		if (len - 1 > MP_PARITY_DATAGRAM_MAX || open_group(f, seq))
			return;
		full = parity_tx_add(t, seq, mask, pkt, len);
	}
	if (full > 0)
		close_group(f);
}

void send_parity_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct flow *f = container_of(w, struct flow, par_timer);

	(void)loop;
	(void)revents;
	engine_clock(f->e);
	if (f->par_tx.base)
		close_group(f);
	send_flush(f->e);
}

void send_data(struct flow *f, uint8_t *pkt, size_t plen)
{
	struct engine *e = f->e;
	int critical = engine_critical(e, pkt + MP_HDR_LEN, plen);
	uint32_t mask = 0;

	f->sent_pkts++;
	f->sent_bytes += plen;
	if (f->view_dirty)
		flow_view(f);
	/* Bond mode chooses before the datagram is numbered: one it drops
	 * leaves no hole for the receiver's reorder buffer to wait for. */
	if (f->sched.mode == SCHED_BOND) {
		size_t sealed = MP_HDR_LEN + plen + wire_trailer_len(e->key != NULL);
		/* Each goes on two paths, ahead of bulk: the class is policed,
		 * as expedited forwarding is (f->crit, BOND_CRITICAL_PPS). A
		 * flood of small datagrams is neither doubled nor allowed to
		 * starve bulk. */
		if (critical)
			critical = ratelimit_allow(&f->crit, e->now_us / 1000);
		if (!(mask = bond_pick(f, sealed, critical)))
			return;
	}
	size_t len = send_seal(f, pkt, plen, MP_T_DATA);
	if (!len)
		return;
	if (f->sched.mode == SCHED_BOND) {
		mask = bond_send(f, mask, pkt, len, critical);
	} else {
		mask = sched_choose(&f->sched, &f->view, critical);
		if (e->paced)
			mask = pace_filter(f, mask, pkt, len, critical);
		for (unsigned p = 0; p < MP_MAX_PATHS; p++)
			if (mask & 1u << p)
				queue_on(f, p, pkt, len);
	}
	/* On one path alone: kept, in case that path dies with it. In bond
	 * mode with loss recovery every datagram is kept: a latency-critical
	 * one (on two paths) may be lost on both and asked for. */
	if (mask && (!(mask & (mask - 1)) || (f->sched.mode == SCHED_BOND && e->o->recover)))
		rescue_keep(&e->rescue, f->id, f->tx.next - 1, (unsigned)__builtin_ctz(mask), pkt,
			    len, e->now_us);
	/* and in a parity group (even if no path took it: parity may bring
	 * it all the same) */
	if (f->sched.mode == SCHED_BOND && e->o->recover)
		parity_note(f, f->tx.next - 1, mask, pkt, len);
}

static int send_one(struct link *l, uint8_t path, uint8_t *pkt, size_t len, int df)
{
	ssize_t n;

	pkt[0] = path;
	if (df)
		n = net_send_df(l->fd, pkt, len, l->to);
	else if (l->to)
		n = sendto(l->fd, pkt, len, MSG_DONTWAIT, &l->to->u.sa, l->to->len);
	else
		n = send(l->fd, pkt, len, MSG_DONTWAIT);
	pace_spend(&l->pace, len);
	if (n == (ssize_t)len) {
		l->st.tx.pkts++;
		l->st.tx.bytes += len;
		return 0;
	}
	l->st.tx.fail++;
	l->e->drops.n[DROP_SEND_FAIL]++;
	return -1;
}

int send_again(struct flow *f, unsigned p, uint8_t *pkt, size_t len)
{
	if (link_ready(f, p)) {
		send_now(f, p, pkt, len, 0);
		return 0;
	}
	return wait_on(f, p, pkt, len, 1);
}

void send_link(struct link *l, uint8_t path, uint8_t *pkt, size_t len)
{
	send_one(l, path, pkt, len, 0);
}

void send_now(struct flow *f, unsigned p, uint8_t *pkt, size_t len, int df)
{
	send_one(f->path[p].link, (uint8_t)p, pkt, len, df);
	count_tx(f, p, len);
}

void send_flush(struct engine *e)
{
	for (unsigned i = 0; i < e->nouts; i++) {
		struct sendlist *list = e->outs[i].list;
		unsigned queued = list->n;

		if (queued)
			e->drops.n[DROP_SEND_FAIL] += queued - sendlist_flush(e->outs[i].fd, list);
	}
}

void send_pace_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct link *l = container_of(w, struct link, pace_timer);
	struct engine *e = l->e;
	const uint8_t *pkt;
	size_t len;
	void *fp;

	(void)revents;
	engine_clock(e);
	while (l->out->n < NET_SENDLIST_MAX &&
	       (pkt = pace_next(&l->pace, e->now_us, &len, &fp))) {
		sendlist_add(l->out, l->to, SENDLIST_NO_PATH, pkt, len, &l->st.tx);
		count_path(fp, len);
	}
	send_flush(e);
	if (pace_waiting(&l->pace)) {
		ev_timer_set(w, pace_wait_us(&l->pace, e->now_us) / 1e6, 0);
		ev_timer_start(loop, w);
	}
}

/* ---- rescue (rescue.h) ------------------------------------------------------ */

struct rescue_ctx {
	struct flow *f;
	unsigned from;
};

/* Again on the fastest usable path that is in doubt neither to us nor to
 * the peer, and not at its rate. */
static int rescue_one(void *ctx, uint8_t *pkt, size_t len)
{
	struct rescue_ctx *r = ctx;
	struct flow *f = r->f;
	uint32_t exclude = 1u << r->from | f->peer_avoid | flow_avoided(f);

	for (unsigned p = 0; f->e->paced && p < MP_MAX_PATHS; p++)
		if (f->known & 1u << p && !link_ready(f, p))
			exclude |= 1u << p;
	int q = sched_fastest(&f->view, exclude);
	if (q < 0)
		return -1;
	send_now(f, (unsigned)q, pkt, len, 0);
	f->path[r->from].link->st.rescued++;
	return q;
}

void send_rescue(struct flow *f, uint32_t mask)
{
	if (f->view_dirty)
		flow_view(f);
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		uint64_t since = health_rescue_since(&f->path[p].h);
		struct rescue_ctx ctx = { f, p };

		if (mask & f->known & 1u << p && since)
			rescue_take(&f->e->rescue, f->id, p, since, rescue_one, &ctx);
	}
}
