/* mpclient's state, shared by its files: client.c (the packet path and
 * setup), session.c (the session table, probes, expiry) and keying.c (the
 * key handshake and what waits for it). Nothing outside mpclient/ sees it. */
#ifndef MP_CLIENT_INTERNAL_H
#define MP_CLIENT_INTERNAL_H

#include <ev.h>
#include <stdint.h>

#include "client.h"
#include "config.h"
#include "crypto.h"
#include "health.h"
#include "hook.h"
#include "list.h"
#include "net.h"
#include "pace.h"
#include "pmtu.h"
#include "reorder.h"
#include "rescue.h"
#include "sched.h"
#include "status.h"
#include "seq.h"
#include "stats.h"
#include "table.h"
#include "tun.h"
#include "wire.h"

enum {
	/* Session timers (probe answers, probes, HELLO resends, expiry) are
	 * checked this often: a fraction of the smallest RTO. */
	SWEEP_INTERVAL_MS = 10,
	/* A session that carried data within BUSY_MS probes every path at
	 * --probe-interval (default CLI_PROBE_MS_DEFAULT); otherwise every
	 * PROBE_IDLE_MS, until it expires. */
	BUSY_MS = 1000,
	PROBE_IDLE_MS = 1000,
	/* Up to this many sessions probe at the full rate; beyond, each
	 * probes proportionally less often, so that probing a path costs at
	 * most this many times one session's rate however many there are. */
	PROBE_FULL_RATE_SESSIONS = 16,
	/* An idle session's paths are looked at this often (its probes go
	 * every PROBE_IDLE_MS anyway). */
	IDLE_TICK_MS = 100,
	/* A latency cut-off is left again below this share of it (%). */
	CUTOFF_LEAVE_PCT = 80,
	/* Reorder buffer per session: slots of NET_STAGE_BYTES (larger
	 * datagrams pass it, in order with what is before them). Pages are
	 * touched only while the session actually reorders. */
	REORDER_SLOTS = 256,
	/* HELLO is resent after HELLO_RETRY_MS, doubling up to
	 * HELLO_RETRY_MAX_MS, for as long as the session lives. */
	HELLO_RETRY_MS = 250,
	HELLO_RETRY_MAX_MS = 2000,
	/* After this many unanswered HELLOs (about 5 s), say so once. */
	HELLO_WARN_AFTER = 6,
	/* What an application sends while its session's keys are being agreed
	 * waits here (a WireGuard handshake initiation, typically), up to
	 * HOLD_SLOTS datagrams of up to HOLD_SLOT_BYTES each. */
	HOLD_SLOTS = 8,
	HOLD_SLOT_BYTES = 2048,
	/* A RESET is believed only if it echoes one of the last
	 * RESET_SEQ_WINDOW sequence numbers we sent. */
	RESET_SEQ_WINDOW = 1 << 16,
	/* Batches drained per wakeup before yielding to other sockets, so one
	 * busy socket cannot starve the rest. */
	DRAIN_BATCHES = 8,
};

struct path_stats {
	uint64_t tx_pkts, tx_bytes, tx_fail;
	uint64_t rx_pkts, rx_bytes, rx_bad;
	uint64_t unreachable;		/* ICMP errors: the bridge refused */
	uint64_t probes;		/* probes sent (also in tx_pkts) */
	uint64_t acks;			/* their answers (also in rx_pkts) */
	uint64_t paced_skip;		/* copies not sent: the path was at its rate */
	uint64_t over_pmtu;		/* sent larger than the path's known MTU */
	uint64_t rescued;		/* sent on it, sent again on another when
					   it turned suspect (rescue.h) */
	uint64_t changes;		/* state changes */
};

struct path {
	struct client *c;
	uint8_t id;
	int fd;
	ev_io io;
	struct mp_addr peer;
	char name[CONFIG_NAME_MAX + 1];
	int backup;			/* config: only when no other is up */
	struct path_stats st;
	/* The path's state over the busy sessions (the best of their views):
	 * what is logged, reported and given to --path-script. */
	enum health_state state;
	struct pace pace;		/* rate= */
	struct pmtu pmtu;		/* path MTU, as UDP payload bytes */
	unsigned pmtu_reported;
	ev_timer pace_timer;
	struct sendlist out;		/* this batch's datagrams for the path */
};

/* One path as one session sees it. tx and rx count every packet of the
 * session on the path (the PROBE/ACK counters, modulo 2^32). */
struct session_path {
	struct health h;
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
};

enum keying { KEYS_NONE = 0, KEYS_WAIT, KEYS_READY };

struct hold {
	unsigned n;
	uint16_t len[HOLD_SLOTS];
	/* payload at MP_HDR_LEN, so it is sealed in place when keys come */
	uint8_t data[HOLD_SLOTS][MP_HDR_LEN + HOLD_SLOT_BYTES + MP_MAX_TRAILER];
};

struct session {
	struct client *c;
	struct table_node by_app, by_id;
	struct list link;		/* in the list of all, for the sweep */
	struct mp_addr app;
	uint32_t id;
	/* DATA and PROBE/ACK are numbered apart: a probe on a slow path must
	 * not be a hole that the reorder buffer waits for. */
	struct seq_tx tx, ctl_tx;
	struct seq_rx rx, ctl_rx;
	uint64_t last_active_ms;	/* application traffic either way */
	struct session_path sp[MP_MAX_PATHS];
	struct sched sched;
	struct sched_view view;
	int view_dirty;
	uint64_t next_tick_us;		/* paths_tick's next turn */
	/* --reorder-ms: what comes down waits here for what is missing */
	struct reorder *ro;		/* made at the first gap */
	uint64_t ro_last;		/* the last DATA seq before it */
	uint64_t hold_us;		/* 0: not reordering */
	ev_timer ro_timer;
	uint64_t ro_deadline_us;
	uint64_t up_pkts, up_bytes, down_pkts, down_bytes;
	uint64_t dup, old, stale, bad_tag;
	/* keyed mode only */
	enum keying keying;
	uint8_t client_random[CRYPTO_RANDOM_LEN];
	uint32_t server_epoch;
	struct aead seal, open;
	uint64_t hello_sent_ms, hello_retry_ms, hello_started_ms;
	uint64_t hellos, handshakes, resets;	/* sent, completed, received */
	struct hold *hold;		/* while keys are being agreed */
};

struct client {
	struct ev_loop *loop;
	struct client_opts o;
	const struct crypto_master *key;	/* NULL = plaintext */
	int fd;				/* the local socket */
	ev_io io;
	ev_timer sweep;
	struct mp_addr local;
	struct path paths[MP_MAX_PATHS];
	unsigned npaths;
	unsigned weight[MP_MAX_PATHS];
	int paced;			/* some path has a rate= */
	struct hook hook;		/* --path-script */
	struct status *status;		/* --status */
	uint64_t started_ms;
	struct table by_app, by_id;
	struct list sessions;
	unsigned nsessions;
	struct session *last;		/* last session looked up by address */
	uint64_t now_ms, now_us;
	struct drops drops;
	uint64_t app_rx, app_tx;
	struct batch batch;
	struct sendlist to_app;
	struct stage stage;		/* released by reorder buffers */
	struct rescue rescue;		/* lately sent on one path alone */
	uint8_t pmtu_buf[MP_BUF_LEN];	/* a padded probe being built */
	/* tun mode (tunnel.c): the device instead of the local socket, and
	 * the one session that carries it (by id: sessions may expire) */
	struct tun tun;			/* tun.fd < 0 in UDP mode */
	ev_io tun_io;
	uint32_t tun_session;		/* 0 = none yet */
};

/* session.c */
struct session *session_by_app(struct client *c, const struct mp_addr *app);
struct session *session_by_id(struct client *c, uint32_t id);
struct session *session_new(struct client *c, const struct mp_addr *app);
void session_free(struct client *c, struct session *s);
void session_sweep(struct client *c);
/* The probe path (paths.c): */
void paths_open(struct client *c);
/* Takes in a PROBE answer (ACK) for session s that came by path p. */
void paths_ack(struct client *c, struct session *s, unsigned p, const uint8_t *body,
	       size_t len);
/* Rebuilds the scheduler's view of s (when s->view_dirty). */
void paths_view(struct client *c, struct session *s);
/* Timeouts, states, probes and the scheduler's view of one session. */
void paths_tick(struct client *c, struct session *s);
/* Aggregate path states, logs and scripts, after every session's tick. */
void paths_aggregate(struct client *c);

/* report.c */
void client_status_fill(void *ctx, struct json *j);

/* keying.c */
void keying_start(struct client *c, struct session *s);
void keying_hold(struct client *c, struct session *s, const uint8_t *payload, size_t len);
void keying_input(struct client *c, struct path *p, const uint8_t *pkt, size_t len,
		  const struct mp_hdr *h);
void keying_sweep(struct client *c, struct session *s);
void keying_free(struct session *s);

/* client.c */
/* Numbers, seals and queues one datagram (payload at pkt + MP_HDR_LEN) on
 * the paths the scheduler picks; flush_paths() sends what is queued. */
void client_queue_up(struct client *c, struct session *s, uint8_t *pkt, size_t plen);
void client_flush_paths(struct client *c);
/* Sends what is queued for the applications. */
void client_flush_app(struct client *c);
/* Releases what waited too long in s's reorder buffer. */
void client_reorder_timer(struct ev_loop *loop, ev_timer *w, int revents);
/* Sends one already built packet on one path now (handshakes, probes). */
void client_send_on(struct client *c, unsigned p, const uint8_t *pkt, size_t len);
/* Numbers and seals a packet of type `type` for session s (payload at
 * pkt + MP_HDR_LEN); returns its length, 0 on failure. */
size_t client_seal(struct client *c, struct session *s, uint8_t *pkt, size_t plen,
		   unsigned type);
/* Queues one datagram of session s (payload at pkt + MP_HDR_LEN), or holds
 * it while the session's keys are being agreed. */
void client_accept_up(struct client *c, struct session *s, uint8_t *pkt, size_t plen);

/* tunnel.c: tun mode's hooks into the packet path */
int tunnel_open(struct client *c);
void tunnel_close(struct client *c);
/* Delivers a payload from the paths to the device. */
void tunnel_deliver(struct client *c, const uint8_t *pkt, size_t len);
/* HOOK for path MTU discovery: the smallest usable path MTU is now
 * path_mtu (bytes, IP included). A no-op outside tun mode. */
void tunnel_path_mtu(struct client *c, unsigned path_mtu);
void tunnel_log_stats(const struct client *c);

#endif
