/* The packet engine both programs share: what mpclient and mpserver do
 * alike with a session's datagrams.
 *
 *   send.c     seal once -> the scheduler's choice -> pacing -> the same
 *              bytes queued on every chosen path -> batched sends; control
 *              packets at once; rescue of what a failing path carried;
 *              bond's parity groups and where their shards go.
 *   receive.c  authenticate -> replay window -> reorder -> release to the
 *              local side (application socket, target socket or tun device)
 *              in batches; what parity rebuilds goes the same way.
 *   engine.c   setup, a flow's life, the scheduler's view of its paths
 *              (tiers, weights, reorder hold), path-MTU following.
 *   recover.c  bond's loss recovery: the receiver's NACKs, the sender's
 *              resends from the rescue ring (recover.h).
 * send.c, receive.c and recover.c use engine.c; engine.c uses none of them.
 *
 * The programs keep what differs: who opens sessions and how they are
 * found, probing (mpclient) or answering (mpserver), the local sockets,
 * the two halves of the handshake, and what they report.
 *
 * How a program plugs in:
 *   - one `struct engine` per program (engine_init), with `ops` below;
 *   - one `struct link` per place datagrams leave by: mpclient has one per
 *     bridge path (a connected socket, shared by its sessions), mpserver
 *     one per path of each session (its listening socket and the client's
 *     address on that path). Each link's send list is registered once
 *     with engine_add_out, so send_flush knows what to flush;
 *   - one `struct flow` per session, embedded in the program's session
 *     (container_of gets back to it); flow_init/flow_free.
 * Nothing here calls back into a program except through ops, and the
 * programs' files call into the engine, never the reverse. */
#ifndef MP_ENGINE_H
#define MP_ENGINE_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "crypto.h"
#include "health.h"
#include "hook.h"
#include "net.h"
#include "pace.h"
#include "parity.h"
#include "rate.h"
#include "ratelimit.h"
#include "recover.h"
#include "reorder.h"
#include "rescue.h"
#include "sched.h"
#include "seq.h"
#include "stats.h"
#include "wire.h"

struct engine;
struct flow;

/* What a program does for the engine. Every hook is called from the event
 * loop, never re-entered. */
struct engine_ops {
	/* Tun mode: writes one released payload of f to the device. Returns
	 * 0 if the device took it, -1 if it refused (counted here as
	 * drop_target_fail), 1 if the program dropped it itself (and counted
	 * why). Not called when f->local_fd >= 0 (sockets are the engine's). */
	int (*deliver)(void *ctx, struct flow *f, const uint8_t *pkt, size_t len);
	/* Tun mode: the smallest path MTU among the paths not down is now
	 * path_mtu (bytes, IP included). NULL outside tun mode. */
	void (*path_mtu)(void *ctx, unsigned path_mtu);
};

/* Counters of a link: what the kernel took, and why it did not. */
struct link_stats {
	struct tx_count tx;		/* what the kernel took, or refused */
	uint64_t paced_skip;		/* copies not sent: the link was at its rate */
	uint64_t over_pmtu;		/* sent larger than the path's known MTU */
	uint64_t rescued;		/* sent on it, then again on another when it
					   turned suspect (rescue.h) */
	uint64_t resent;		/* datagrams sent again on it (recover.h) */
	uint64_t parity;		/* parity shards sent on it (parity.h) */
	uint64_t recovery_bytes;	/* resends, NACKs and parity sent on it */
};

/* Where one path's datagrams leave. */
struct link {
	struct engine *e;
	int fd;
	const struct mp_addr *to;	/* NULL: fd is connected */
	struct sendlist *out;		/* batched sends (engine_add_out) */
	struct pace pace;		/* rate=, or bond's estimate; 0: unpaced */
	ev_timer pace_timer;
	uint64_t waited_us;		/* a datagram last waited for it, or bond
				 * wanted it but for its pacer (send.c) */
	unsigned pmtu;			/* known path MTU, UDP payload bytes; 0 unknown */
	int family;			/* AF_INET or AF_INET6 of the path */
	struct link_stats st;
};

/* One path as one flow sees it. tx and rx count every packet of the flow
 * handed to the path or authenticated from it: the counters the PROBE/ACK
 * bodies carry (modulo 2^32) for the loss estimate. */
struct flow_path {
	struct health h;
	struct link *link;		/* NULL: no such path (yet) */
	unsigned weight;		/* weighted mode's share, >= 1 */
	int backup;			/* used only when no primary is up */
	struct rate_est est;		/* what the path carries toward the peer */
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
};

/* A session's datagrams, one direction out and one in. */
struct flow {
	struct engine *e;
	uint32_t id;
	/* DATA and PROBE/ACK are numbered apart: a probe on a slow path must
	 * not be a hole that the reorder buffer waits for. */
	struct seq_tx tx, ctl_tx;
	struct seq_rx rx, ctl_rx;
	struct aead seal, open;		/* keyed mode, once keys are agreed */
	/* A rekey (per-client keys): the next keys, until a packet under them
	 * authenticates (the server's key confirmation: receive_open then
	 * makes them current), and the previous receive key, still tried
	 * until prev_until_ms for what was in flight. ctx NULL = none. */
	struct aead seal_next, open_next, open_prev;
	uint64_t prev_until_ms;
	uint64_t rekeys;		/* keys replaced in this flow */
	/* The current keys' age and use (flow_keys_set), and the bound past
	 * which they are neither used nor accepted: 0 = none (shared-key
	 * mode), else REJECT_AFTER_S; and REJECT_AFTER_PACKETS sent. */
	uint64_t keys_ms, keys_tx_base, keys_ctl_base;
	uint64_t reject_ms;
	struct flow_path path[MP_MAX_PATHS];
	uint32_t known;			/* paths that exist for this flow */
	uint32_t peer_avoid;		/* paths the peer says it avoids */
	struct sched sched;
	struct sched_view view;
	int view_dirty;
	/* the local side: a socket and where to (NULL: connected), or -1
	 * for tun mode (ops->deliver) */
	int local_fd;
	const struct mp_addr *local_to;
	/* --reorder-ms: what arrives waits here for what is missing */
	struct reorder *ro;		/* made at the first gap */
	uint64_t ro_last;		/* the last DATA seq before it */
	uint64_t hold_us;		/* 0: not reordering */
	int hold_auto;			/* --reorder-ms auto: hold_us follows the paths */
	uint64_t rel_us;		/* release pacing's last tick (receive.c) */
	ev_timer ro_timer;
	uint64_t ro_deadline_us;
	/* counters: sent = from the local side onto the paths; delivered =
	 * from the paths to the local side (payload bytes) */
	uint64_t sent_pkts, sent_bytes, delivered_pkts, delivered_bytes;
	uint64_t bond_drop_us;		/* bond mode: the last datagram dropped full */
	/* bond mode: what the flow sent since demand_us, and whether it was
	 * application-limited in the window before */
	uint64_t demand_us, demand_bytes;
	int app_limited;
	/* bond mode: the latency-critical class's budget; its refused count
	 * is the small datagrams sent as bulk, over it */
	struct ratelimit crit;
	struct recover rec;		/* bond mode: loss recovery */
	/* bond mode with recovery: forward error correction (parity.h) */
	struct parity_tx par_tx;	/* its coder made when parity is first due */
	struct parity_rx *par_rx;	/* made at the first valid parity */
	struct parity_stats par;
	ev_timer par_timer;		/* closes a group that waited long enough */
	uint64_t dedup;			/* copies of what already arrived, discarded */
	uint64_t old, stale, bad_tag;
};

enum { ENGINE_OUTS_MAX = MP_MAX_PATHS };

/* A send list to flush, and its socket. */
struct engine_out {
	int fd;
	struct sendlist *list;
};

struct engine {
	struct ev_loop *loop;
	const struct engine_ops *ops;
	void *ctx;			/* the program, for ops */
	const struct cli_common *o;
	const struct crypto_master *key;	/* NULL = plaintext */
	int tun;			/* payloads are IP packets */
	int paced;			/* some link has a rate */
	uint64_t now_us, now_ms;	/* engine_clock */
	struct drops drops;
	uint64_t deduplicated;		/* every flow's dedup, and repeated WELCOMEs */
	struct rescue rescue;		/* lately sent on one path alone */
	struct hook hook;		/* --path-script */
	/* the send lists to flush, and their sockets */
	unsigned nouts;
	struct engine_out outs[ENGINE_OUTS_MAX];
	/* released to the local side, one socket at a time */
	struct sendlist local;
	int local_fd;
	struct stage stage;		/* copies of what reorder buffers release */
	uint64_t local_tx;		/* datagrams the local side took */
	/* flows holding a parity coder (PARITY_TX_FLOWS_MAX) or a parity
	 * receiver's state (PARITY_RX_FLOWS_MAX) */
	unsigned parity_tx_flows, parity_rx_flows;
	/* reorder rings' bytes beyond REORDER_SLOTS (REORDER_GROWN_MAX_BYTES) */
	size_t reorder_grown_bytes;
	unsigned pmtu_reported;		/* the last path MTU given to ops->path_mtu */
};

/* ---- engine.c ------------------------------------------------------------ */

/* Sets e up (o, key and ops are kept by reference). Without memory for
 * the rescue ring it runs without rescue (and says so). */
void engine_init(struct engine *e, struct ev_loop *loop, const struct cli_common *o,
		const struct crypto_master *key, const struct engine_ops *ops, void *ctx);
void engine_free(struct engine *e);
/* Whether a payload is latency-critical: small (--small-bytes), or in tun
 * mode ICMP or a low-delay DSCP. One rule for the sender (it passes bulk in
 * the pacers) and the receiver (it is not held for the bulk it passed). */
int engine_critical(const struct engine *e, const uint8_t *payload, size_t plen);
/* Reads the monotonic clock into e->now_us and e->now_ms. */
void engine_clock(struct engine *e);
/* Registers a send list flushed on fd by send_flush. */
void engine_add_out(struct engine *e, int fd, struct sendlist *list);

/* The usable path of least cost(f, p, ctx), outside exclude unless that
 * leaves none; -1 if none is usable. */
typedef uint64_t flow_path_cost(struct flow *f, unsigned p, const void *ctx);
int flow_cheapest(struct flow *f, uint32_t exclude, flow_path_cost *cost, const void *ctx);

/* A new flow with the program's options: fresh sequences (tx epoch
 * epoch), the scheduler, the reorder hold. No path yet (flow_path_add). */
void flow_init(struct flow *f, struct engine *e, uint32_t id, uint32_t epoch);
void flow_free(struct flow *f);
/* Path p of f now exists and sends by link. */
void flow_path_add(struct flow *f, unsigned p, struct link *link);
/* The paths f avoids itself: suspect or down. */
uint32_t flow_avoided(const struct flow *f);
/* Rebuilds the scheduler's view of f (tiers of usable paths, weights, and
 * the automatic reorder hold). Cheap, but called only when health changes. */
void flow_view(struct flow *f);
/* The bonding fields of a PROBE/ACK that f sends on path p: what has come
 * in on it (the peer's delivery-rate samples). */
void flow_fill_probe(const struct flow *f, unsigned p, struct mp_probe *body);
/* A PROBE/ACK from the peer came on path p (after health_input): its
 * delivery report feeds p's capacity estimate, and in bond mode the
 * link's pacing follows. */
void flow_feedback(struct flow *f, unsigned p, const struct mp_probe *body);
/* The peer (mpclient) says it runs `mode`: f follows it, with the reorder
 * hold that goes with it, unless our own options said otherwise. */
void flow_follow_mode(struct flow *f, enum sched_mode mode);

/* Path MTU following (tun mode): what every path of every flow carries is
 * gathered, then the smallest is given to ops->path_mtu when it changed. */
struct mtu_min {
	unsigned smallest;		/* bytes, IP included; 0 none yet */
};
void engine_mtu_consider(struct mtu_min *m, unsigned payload_bytes, int family);
void engine_mtu_apply(struct engine *e, const struct mtu_min *m);

/* ---- send.c -------------------------------------------------------------- */

/* A link on fd toward `to` (NULL: connected) for a path of `family`,
 * paced at rate_bps (0: not). -1 if the pacing queues cannot be had. */
int link_init(struct link *l, struct engine *e, int fd, const struct mp_addr *to,
	      int family, struct sendlist *out, uint64_t rate_bps);
void link_free(struct link *l);

/* Numbers and seals a packet of `type` for f in place (payload of plen
 * bytes at pkt + MP_HDR_LEN); returns its length, or 0 (drop_seal_fail). */
size_t send_seal(struct flow *f, uint8_t *pkt, size_t plen, unsigned type);
/* One DATA payload from the local side (at pkt + MP_HDR_LEN, with room for
 * the trailer after it): sealed once, queued on the paths the scheduler
 * picks, each copy with its own path byte; kept for rescue when it went on
 * one path alone. send_flush sends what is queued. */
void send_data(struct flow *f, uint8_t *pkt, size_t plen);
/* One sealed packet on path p of f, now, not batched (probes, answers);
 * with df, DF set (path MTU probes). Counts it as f's on that path. */
void send_now(struct flow *f, unsigned p, uint8_t *pkt, size_t len, int df);
/* A datagram asked for again (recover.c) on path p: now if its pacer lets
 * it go, else first in its latency-critical queue (a copy); -1 if that
 * queue is full (drop_paced). Resends take the place of new bulk: they
 * never push a path past its pace. */
int send_again(struct flow *f, unsigned p, uint8_t *pkt, size_t len);
/* One packet on a link now, outside any flow (handshakes). */
void send_link(struct link *l, uint8_t path, uint8_t *pkt, size_t len);
/* A flow's parity timer: the open group has waited long enough, its
 * parity goes now. */
void send_parity_timer(struct ev_loop *loop, ev_timer *w, int revents);
/* Sends every registered send list. */
void send_flush(struct engine *e);
/* A link's pacing timer (link_init arms it): sends what waited for it. */
void send_pace_timer(struct ev_loop *loop, ev_timer *w, int revents);
/* The paths in mask have just come into doubt: what f sent on each alone
 * since its last sign of life goes again on the fastest path still
 * working (for the paths that were clean, health_rescue_since). */
void send_rescue(struct flow *f, uint32_t mask);

/* ---- receive.c ----------------------------------------------------------- */

/* Authenticates and decrypts a sealed packet of f in place: 0, or -1
 * (counted: bad_tag). */
int receive_open(struct flow *f, uint8_t *pkt, size_t len);
/* New current keys from now on: their age and packet counts start. */
void flow_keys_set(struct flow *f);
/* A rekey is confirmed: the next keys become current, the current receive
 * key the previous one (kept PREV_KEYS_KEEP_S). */
void receive_rekeyed(struct flow *f);
/* An authenticated packet of len bytes came by path p: counted for the
 * path (its loss estimate). */
void receive_count(struct flow *f, unsigned p, size_t len);
/* The replay window for h's numbering (DATA, or PROBE/ACK); the verdict
 * is counted. A peer restart (a new epoch on DATA) resets the reorder
 * buffer. */
enum seq_verdict receive_window(struct flow *f, const struct mp_hdr *h);
/* An accepted DATA payload (it came on path p): released to the local side in order, through
 * the reorder buffer when there is one. receive_flush sends it. */
void receive_data(struct flow *f, unsigned p, uint64_t seq, const uint8_t *payload,
		  size_t plen);
/* An authenticated MP_T_RECOVER body came on path p: a PARITY shard is
 * kept, and what its group rebuilds goes through the window and the
 * reorder buffer like DATA (not counted as the path's); anything else is
 * recovery's (recover_input). */
void receive_recover(struct flow *f, unsigned p, const uint8_t *body, size_t len);
/* Sends what is queued for the local side. */
void receive_flush(struct engine *e);
/* A flow's reorder timer (flow_init arms it): releases what waited too
 * long. */
void receive_timer(struct ev_loop *loop, ev_timer *w, int revents);

#endif
