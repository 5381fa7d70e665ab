/* mpserver's state, shared by its files: server.c (the packet path and
 * setup), session.c (the session table, paths, expiry) and keying.c (the
 * key handshake). Nothing outside mpserver/ sees it. */
#ifndef MP_SERVER_INTERNAL_H
#define MP_SERVER_INTERNAL_H

#include <ev.h>
#include <stdint.h>

#include "crypto.h"
#include "health.h"
#include "hook.h"
#include "list.h"
#include "net.h"
#include "ratelimit.h"
#include "reorder.h"
#include "rescue.h"
#include "sched.h"
#include "seq.h"
#include "server.h"
#include "stats.h"
#include "status.h"
#include "route.h"
#include "table.h"
#include "tun.h"
#include "wire.h"

enum {
	/* Path states are re-derived this often (a fraction of the client's
	 * probe interval); expiry and weights every SWEEP_INTERVAL_MS. */
	TICK_MS = 20,
	SWEEP_INTERVAL_MS = 1000,
	DRAIN_BATCHES = 8,
	WEIGHT_MAX = 1 << 20,		/* keeps credits far from overflow */
	/* A keyed session that has not carried one authenticated packet this
	 * long after its HELLO (a replayed HELLO, or a client gone) is freed
	 * well before the idle timeout. */
	UNCONFIRMED_TIMEOUT_MS = 10000,
	/* What unauthenticated input may cost: HELLOs checked (a MAC each,
	 * and a key derivation for a new session) and RESETs sent. */
	HELLO_PER_S = 2000,
	HELLO_BURST = 200,
	RESET_PER_S = 200,
	RESET_BURST = 50,
	/* Failed handshakes are summed up in the log at most this often. */
	REPORT_INTERVAL_MS = 10000,
	REORDER_SLOTS = 256,		/* as mpclient's */
};

struct spath {
	struct mp_addr addr;		/* where this path's packets come from */
	uint64_t last_rx_ms;
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t rx_recent;		/* since the last sweep, for weights */
	uint64_t addr_changes;
	uint64_t rescued;		/* sent on it, sent again on another when
					   it turned suspect (rescue.h) */
	struct health h;		/* passive: from the client's probes */
	uint16_t pmtu;			/* as the client found it, 0 = unknown */
};

struct session {
	struct table_node node;
	struct list link;		/* in the list of all, for the sweep */
	struct server *srv;
	uint32_t id, client_epoch;
	int fd;				/* to the target, once there is data */
	ev_io io;
	uint16_t local_port;		/* what the target sees */
	/* DATA and PROBE/ACK are numbered apart (see mpclient) */
	struct seq_tx tx, ctl_tx;	/* tx.epoch is the server epoch */
	struct seq_rx rx, ctl_rx;
	struct sched sched;
	struct sched_view view;
	int view_dirty;
	/* --reorder-ms: what comes up waits here for what is missing */
	struct reorder *ro;		/* made at the first gap */
	uint64_t ro_last;		/* the last DATA seq before it */
	uint64_t hold_us;		/* 0: not reordering */
	ev_timer ro_timer;
	uint64_t ro_deadline_us;
	struct spath paths[MP_MAX_PATHS];
	uint32_t known;			/* paths heard at least once */
	uint16_t avoid;			/* paths the client avoids (its last probe) */
	unsigned weight[MP_MAX_PATHS];
	uint64_t created_ms, last_active_ms;
	uint64_t up_pkts, up_bytes, down_pkts, down_bytes;
	uint64_t dup, old, probes, bad_tag;
	uint64_t unreachable;		/* ICMP errors: the target refused */
	/* keyed mode only */
	int confirmed;			/* an authenticated packet has come */
	uint8_t client_random[CRYPTO_RANDOM_LEN];
	uint8_t server_random[CRYPTO_RANDOM_LEN];
	struct aead seal, open;
};

struct server {
	struct ev_loop *loop;
	struct server_opts o;
	const struct crypto_master *key;	/* NULL = plaintext */
	int fd;				/* listening socket */
	ev_io io;
	ev_timer tick;
	uint64_t last_sweep_ms;
	struct mp_addr listen, target;
	struct hook hook;		/* --path-script */
	struct status *status;		/* --status */
	uint64_t started_ms;
	struct table table;
	struct list sessions;
	unsigned nsessions;
	uint64_t now_ms, now_us;
	struct drops drops;
	uint64_t rx_pkts, sessions_opened;
	uint64_t welcomes_sent, resets_sent;
	struct ratelimit hello_limit, reset_limit;
	/* for the failed-handshake report */
	struct mp_addr bad_hello_from;
	uint64_t bad_hellos_reported, last_report_ms;
	struct batch batch;
	struct sendlist out;		/* to the bridges, or to one target */
	struct session *run;		/* whose target `out` holds datagrams for */
	struct stage stage;		/* released by reorder buffers */
	struct rescue rescue;		/* lately sent on one path alone */
	uint8_t ack_buf[MP_BUF_LEN];	/* an ACK being built */
	/* tun mode (tunnel.c): the device instead of target sockets, and
	 * which session each inner address belongs to */
	struct tun tun;			/* tun.fd < 0 in UDP mode */
	ev_io tun_io;
	struct route_table routes;
	uint64_t route_conflicts_logged_ms;
};

/* session.c */
struct session *session_find(struct server *srv, uint32_t id, uint32_t epoch);
struct session *session_new(struct server *srv, const struct mp_hdr *h);
void session_free(struct server *srv, struct session *s);
/* Opens the session's socket toward the target (on its first datagram). */
int session_connect(struct server *srv, struct session *s);
void session_note_path(struct server *srv, struct session *s, unsigned p,
		       const struct mp_addr *from, size_t len, int fresh);
void session_sweep(struct server *srv);

/* paths.c: the passive side of path health */
/* Takes in a PROBE that came by path p of s, and answers it on that path. */
void paths_probe_in(struct server *srv, struct session *s, unsigned p,
		    const uint8_t *body, size_t len);
/* Rebuilds the scheduler's view of s (when s->view_dirty). */
void paths_view(struct session *s);
/* Re-derives the states of s's paths (logs, scripts) and its view. */
void paths_tick(struct server *srv, struct session *s);

/* report.c */
void server_status_fill(void *ctx, struct json *j);

/* keying.c */
void keying_hello(struct server *srv, const uint8_t *pkt, size_t len,
		  const struct mp_hdr *h, const struct mp_addr *from);
void keying_reset(struct server *srv, const struct mp_hdr *h, const struct mp_addr *from);
/* Logs, at most every REPORT_INTERVAL_MS, handshakes that failed. */
void keying_report(struct server *srv);
void keying_free(struct session *s);

/* server.c */
void server_target_readable(struct ev_loop *loop, ev_io *w, int revents);
void server_reorder_timer(struct ev_loop *loop, ev_timer *w, int revents);
/* Numbers, seals and queues batch slot i (payload at MP_HDR_LEN) on the
 * paths the scheduler picks for s, on srv->out. */
void server_queue_down(struct server *srv, struct session *s, int i);

/* tunnel.c: tun mode's hooks into the packet path */
int tunnel_open(struct server *srv);
void tunnel_close(struct server *srv);
/* Delivers one payload of session s to the device (after checking that s
 * may send from its source address). */
void tunnel_deliver(struct server *srv, struct session *s, const uint8_t *pkt, size_t len);
void tunnel_sweep(struct server *srv);
/* HOOK for path MTU discovery: the smallest usable path MTU over all
 * sessions is now path_mtu (bytes, IP included). A no-op outside tun mode. */
void tunnel_path_mtu(struct server *srv, unsigned path_mtu);
void tunnel_log_stats(const struct server *srv);

#endif
