/* mpclient's state, shared by its files. Nothing outside mpclient/ sees it.
 *
 *   client.c   setup and teardown, the sweep timer
 *   up.c       application (or tun device) -> its session -> the engine
 *   down.c     a bridge's datagram -> parse -> keying, probe answers, or
 *              the engine's receive path
 *   session.c  the session table: made on first sight, expired when idle
 *   keying.c   the client half of the key handshake: state, retries, hold
 *   noisekeys.c  its messages in per-client (Noise IK) mode
 *   paths.c    probing, path states, the scheduler's view, rescue, MTU
 *   uplink.c   the paths' sockets: opened, re-opened, retried, resolved
 *   tunnel.c   tun mode: the device instead of the local socket
 *   report.c   the status document and the stats log lines
 *
 * Calls go one way: client -> up, down, tunnel -> session -> keying ->
 * paths -> common/ (the engine: send.c, receive.c, engine.c). */
#ifndef MP_CLIENT_INTERNAL_H
#define MP_CLIENT_INTERNAL_H

#include <ev.h>
#include <stdint.h>

#include "client.h"
#include "config.h"
#include "engine.h"
#include "list.h"
#include "net.h"
#include "hsnoise.h"
#include "noise.h"
#include "pmtu.h"
#include "http.h"
#include "status.h"
#include "table.h"
#include "tun.h"
#include "util.h"
#include "wire.h"

/* Counters of a bridge path that the engine's link does not keep. */
struct path_stats {
	uint64_t rx_pkts, rx_bytes, rx_bad;
	uint64_t unreachable;		/* ICMP errors: the bridge refused */
	uint64_t probes;		/* probes sent (also in the link's tx) */
	uint64_t acks;			/* their answers (also in rx_pkts) */
	uint64_t changes;		/* state changes */
};

struct path {
	struct client *c;
	uint8_t id;
	int fd;				/* connected to the bridge */
	ev_io io;
	struct mp_addr peer;
	char name[CONFIG_NAME_MAX + 1];
	int backup;			/* config: only when no other is up */
	struct path_stats st;
	/* The path's state over the busy sessions (the best of their views):
	 * what is logged, reported and given to --path-script. */
	enum health_state state;
	struct pmtu pmtu;		/* path MTU search, as UDP payload bytes */
	struct link link;		/* where the engine sends (rate= is its pace) */
	struct sendlist out;		/* this batch's datagrams for the path */
	/* uplink.c: the socket's own life. A configured path that is not
	 * open is in no session's flow and is reported down with why. */
	struct config_path cfg;		/* what it is opened from */
	int slot;			/* fd, link and send list made (once) */
	int configured;			/* the slot holds a path */
	int open;			/* connected, in every session's flow */
	int named;			/* host is a name: resolved again */
	char why[320];			/* why not open (a name, a reason) */
	uint64_t opens, downs;		/* times opened, times down */
	uint64_t retry_ms, backoff_ms;	/* next attempt, and the wait before it */
	uint64_t checked_ms;		/* dev=/bind= last looked at */
	uint64_t resolved_ms, resolve_ms;	/* last lookup started, next due */
	uint64_t fail_seen;		/* sends refused (tx.fail + unreachable)
					   at the last tick */
	unsigned ifindex;		/* dev='s index when opened */
	int missing;			/* down for want of dev= or bind=: looked
					   for every second, whatever the backoff */
	struct lookup *lookup;		/* a lookup of host under way */
	/* per-client mode: the server's cookie for this path's source
	 * address (under load it wants it as mac2), and when it came */
	int has_cookie;
	uint8_t cookie[HSN_MAC_LEN];
	uint64_t cookie_ms;
};

enum keying { KEYS_NONE = 0, KEYS_WAIT, KEYS_READY };

struct hold {
	unsigned n;
	uint16_t len[HOLD_SLOTS];
	/* payload at MP_HDR_LEN, so it is sealed in place when keys come */
	uint8_t data[HOLD_SLOTS][MP_HDR_LEN + HOLD_SLOT_BYTES + MP_MAX_TRAILER];
};

struct session {
	struct flow f;			/* the engine's part: sequences, paths, reorder */
	struct client *c;
	struct table_node by_app, by_id;
	struct list link;		/* in the list of all, newest first */
	uint64_t serial;		/* grows with creation: where a status walk resumes */
	struct mp_addr app;
	uint64_t last_active_ms;	/* application traffic either way */
	uint64_t next_tick_us;		/* paths_tick's next turn */
	/* keyed mode only */
	enum keying keying;
	uint8_t client_random[CRYPTO_RANDOM_LEN];
	uint32_t server_epoch;
	uint64_t hello_sent_ms, hello_retry_ms, hello_started_ms;
	uint64_t hellos, handshakes, resets;	/* sent, completed, received */
	uint64_t hellos_at_start;	/* hellos when this handshake began */
	struct hold *hold;		/* while keys are being agreed */
	struct noise_hs hs;		/* per-client mode: the attempt under way */
	uint8_t init_pkt[HSN_INIT_LEN];	/* its initiation (mac2 zero), for a cookie */
	/* the attempt before: its mac1 and seq (0 = none), for a late
	 * cookie reply (its response no longer completes anything) */
	uint8_t prev_mac1[HSN_MAC_LEN];
	uint64_t prev_seq;
	uint64_t cookies;		/* cookie replies taken */
	int rekeying;			/* a rekey handshake is under way */
	uint64_t keys_ms;		/* when the current keys were agreed */
};

struct client {
	struct engine e;		/* drops, clock, rescue, hook, local sends */
	struct client_opts o;
	int fd;				/* the local socket */
	ev_io io;
	ev_timer sweep;
	struct mp_addr local;
	struct path paths[MP_MAX_PATHS];
	unsigned npaths;
	struct status *status;		/* --status */
	struct http *metrics;		/* --metrics */
	uint64_t next_serial;		/* the next session's serial */
	uint64_t started_ms;
	struct table by_app, by_id;
	struct list sessions;
	unsigned nsessions;
	struct session *last;		/* last session looked up by address */
	uint64_t app_rx;		/* datagrams from the application or device */
	struct batch batch;
	uint8_t pmtu_buf[MP_BUF_LEN];	/* a padded probe being built */
	/* tun mode (tunnel.c): the device instead of the local socket, and
	 * the one session that carries it (by id: sessions may expire) */
	struct tun tun;			/* tun.fd < 0 in UDP mode */
	ev_io tun_io;
	uint32_t tun_session;		/* 0 = none yet */
	/* per-client mode: mac1 keys of initiations (the server's public key)
	 * and of responses (ours) */
	uint8_t mac1_server[NOISE_KEY_LEN], mac1_self[NOISE_KEY_LEN];
	uint8_t cookie_key[NOISE_KEY_LEN];	/* opens cookie replies */
	uint64_t rekey_after_ms;	/* REKEY_AFTER_S (test builds: overridable) */
};

static inline struct session *session_of(struct flow *f)
{
	return container_of(f, struct session, f);
}

/* up.c: from the application to the paths */
void up_readable(struct ev_loop *loop, ev_io *w, int revents);
/* Sends one datagram of session s (payload at pkt + MP_HDR_LEN, with
 * room after it), or holds it while the session's keys are being agreed. */
void up_accept(struct client *c, struct session *s, uint8_t *pkt, size_t plen);
/* The session for a new application address (or the tun device), made and
 * started (HELLO, or first probes); NULL at the session limit. */
struct session *up_session(struct client *c, const struct mp_addr *app);

/* down.c: from the paths to the application */
void down_readable(struct ev_loop *loop, ev_io *w, int revents);

/* session.c */
struct session *session_by_app(struct client *c, const struct mp_addr *app);
struct session *session_by_id(struct client *c, uint32_t id);
struct session *session_new(struct client *c, const struct mp_addr *app);
void session_free(struct client *c, struct session *s);
void session_sweep(struct client *c);

/* keying.c */
void keying_start(struct client *c, struct session *s);
void keying_hold(struct client *c, struct session *s, const uint8_t *payload, size_t len);
/* A WELCOME or RESET for session s. */
void keying_input(struct client *c, struct session *s, const uint8_t *pkt, size_t len,
		  const struct mp_hdr *h);
void keying_sweep(struct client *c, struct session *s);
/* Forgets the keys and what waited for them. */
void keying_free(struct session *s);

/* noisekeys.c (per-client mode) */
/* Builds a new initiation for s and sends it on every open path. */
void noisekeys_send(struct client *c, struct session *s);
/* A WELCOME for s's attempt: 0 and the session's keys set; -1 not ours
 * (counted by the caller); -2 the keys could not be set up. */
int noisekeys_welcome(struct client *c, struct session *s, const uint8_t *pkt, size_t len,
		      const struct mp_hdr *h);
/* 1 if s's keys are due for a rekey (time or packets). */
int noisekeys_rekey_due(const struct client *c, const struct session *s);
/* A RESET of the cookie reply's length for s: 0 if it opened (the cookie
 * kept for its path, and the initiation sent again on that path with it),
 * -1 if not. */
int noisekeys_cookie(struct client *c, struct session *s, const uint8_t *pkt, size_t len,
		     const struct mp_hdr *h);

/* paths.c */
/* Path MTU search of path p from the start (a new path in the slot). */
void paths_reset(struct client *c, unsigned p);
/* Takes in a PROBE answer (ACK) for session s that came by path p. */
void paths_ack(struct client *c, struct session *s, unsigned p, const uint8_t *body,
	       size_t len);
/* Timeouts, states, probes and the scheduler's view of one session. */
void paths_tick(struct client *c, struct session *s);
/* Runs --path-script for path's state now, because of why. */
void paths_script(struct client *c, const struct path *path, const char *why);
/* Aggregate path states, logs and scripts, after every session's tick. */
void paths_aggregate(struct client *c);

/* uplink.c */
/* Slot id becomes path cp: a socket from now on (its fd number stays),
 * opened now if it can be, else down with why and retried. -1 only when
 * no socket or memory can be had. */
int uplink_add(struct client *c, unsigned id, const struct config_path *cp);
/* The slot is empty again (exit, or a reload that removed the path). */
void uplink_free(struct client *c, unsigned id);
/* Retries, lookups, and the look at what open paths stand on; each sweep. */
void uplink_tick(struct client *c);
/* A config read again (SIGHUP): paths are matched by name; a new one
 * takes a free slot and joins, a gone one leaves, a changed one changes in
 * place (weight, backup, rate, down) or is re-opened (host, port, bind,
 * sport, dev, mark), keeping its slot and counters. */
void uplink_reload(struct client *c, const struct config *next);

/* report.c */
int client_status_fill(void *ctx, struct json *j, uint64_t *pos);
int client_metrics_fill(void *ctx, struct mtext *t, struct metrics_pos *pos);

/* tunnel.c: tun mode */
int tunnel_open(struct client *c);
void tunnel_close(struct client *c);
/* engine_ops: writes a payload from the paths to the device. */
int tunnel_deliver(void *ctx, struct flow *f, const uint8_t *pkt, size_t len);
/* engine_ops: the smallest usable path MTU is now path_mtu (IP included). */
void tunnel_path_mtu(void *ctx, unsigned path_mtu);
void tunnel_log_stats(const struct client *c);

#endif
