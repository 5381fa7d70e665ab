/* mpserver's state, shared by its files. Nothing outside mpserver/ sees it.
 *
 *   server.c   setup and teardown, the tick timer
 *   up.c       a bridge's datagram -> parse -> HELLO to keying.c, or its
 *              session -> the engine's receive path -> the target
 *   down.c     the target's (or tun device's) datagram -> the engine
 *   session.c  the session table, a session's paths and target socket
 *   keying.c   the server half of the key handshake (shared key)
 *   noisekeys.c  the server half of the per-client (Noise IK) handshake
 *   clients.c  per-client mode's client table: slots, lookup, reload
 *   cookie.c   per-client mode under load: cookie replies, per-source limits
 *   paths.c    answering probes, path states, rescue, MTU
 *   tunnel.c   tun mode: one device instead of target sockets (route.c)
 *   report.c   the status document and the stats log lines
 *
 * Calls go one way: server -> up, tunnel -> keying, paths -> session ->
 * down -> common/ (the engine: send.c, receive.c, engine.c). */
#ifndef MP_SERVER_INTERNAL_H
#define MP_SERVER_INTERNAL_H

#include <ev.h>
#include <stdint.h>

#include "engine.h"
#include "hsnoise.h"
#include "peers.h"
#include "list.h"
#include "net.h"
#include "ratelimit.h"
#include "route.h"
#include "server.h"
#include "http.h"
#include "status.h"
#include "table.h"
#include "tun.h"
#include "util.h"
#include "wire.h"

/* What mpserver keeps of one path of a session beyond the engine's view. */
struct spath {
	struct mp_addr addr;		/* where this path's packets come from */
	struct link link;		/* the listening socket, toward addr */
	uint64_t last_rx_ms;
	uint64_t rx_recent;		/* since the last sweep, for weights */
	uint64_t addr_changes;
	uint16_t pmtu;			/* as the client found it, 0 = unknown */
};

/* One client line of per-client mode and what its handshakes keep. */
struct cslot {
	int used;
	struct peer cfg;			/* its line (name, key, allowed-ips, psk) */
	uint8_t mac1_key[NOISE_KEY_LEN];	/* mac1 of the responses to it */
	/* the last accepted initiation (bytes 1 .. its mac1, without the path
	 * byte and mac2), its timestamp, and the response it got */
	int has_last;
	uint8_t last_ts[NOISE_TIMESTAMP_LEN];
	uint8_t last_init[HSN_INIT_MAC2_OFF - 1];
	uint8_t last_resp[HSN_RESP_LEN];
	uint64_t last_ms;		/* when it was accepted */
	uint64_t handshakes;
	struct session *latest;		/* its newest live session, or NULL */
};

/* Cookies (cookie.c): the secret, the previous one, and the buckets of
 * the sources that showed a valid cookie. */
struct cookie_bucket {
	uint8_t src[18];
	uint8_t len;			/* of src; 0 = empty */
	struct ratelimit rl;
};

struct cookies {
	uint8_t secret[NOISE_KEY_LEN], prev[NOISE_KEY_LEN];
	int has_prev;
	uint64_t secret_ms, prev_ms;	/* when each was made */
	uint8_t key[NOISE_KEY_LEN];	/* seals the cookie in its reply */
	struct cookie_bucket bucket[COOKIE_BUCKETS];
};

/* Handshake counters of per-client mode (drops are also in e.drops). */
struct hs_stats {
	uint64_t accepted;		/* initiations that made or rekeyed a session */
	uint64_t resent;		/* the same initiation again: stored response */
	uint64_t unknown_key;		/* from a key no client line has */
	uint64_t replayed;		/* not newer than that client's last */
	uint64_t bad_mac1;		/* wrong length, kind or mac1 */
	uint64_t cookies_sent;		/* cookie replies (under load) */
};

struct session {
	struct flow f;			/* the engine's part: sequences, paths, reorder */
	struct table_node node;
	struct list link;		/* in the list of all, newest first */
	uint64_t serial;		/* grows with creation: where a status walk resumes */
	struct server *srv;
	uint32_t client_epoch;		/* f.tx.epoch is the server epoch */
	int fd;				/* to the target, once there is data */
	ev_io io;
	uint16_t local_port;		/* what the target sees */
	struct spath paths[MP_MAX_PATHS];
	uint64_t created_ms, last_active_ms;
	uint64_t probes;
	uint64_t unreachable;		/* ICMP errors: the target refused */
	/* keyed mode only */
	int confirmed;			/* an authenticated packet has come */
	struct cslot *client;		/* per-client mode: whose session */
	uint8_t client_random[CRYPTO_RANDOM_LEN];
	uint8_t server_random[CRYPTO_RANDOM_LEN];
};

struct server {
	struct engine e;		/* drops, clock, rescue, hook, local sends */
	struct server_opts o;
	int fd;				/* listening socket */
	ev_io io;
	ev_timer tick;
	uint64_t last_sweep_ms;
	struct mp_addr listen, target;
	struct status *status;		/* --status */
	struct http *metrics;		/* --metrics */
	uint64_t next_serial;		/* the next session's serial */
	uint64_t started_ms;
	struct table table;
	struct list sessions;
	unsigned nsessions;
	uint64_t rx_pkts, sessions_opened;
	uint64_t welcomes_sent, resets_sent;
	struct ratelimit hello_limit, reset_limit;
	/* per-client mode (clients.c, noisekeys.c) */
	int per_client;
	uint8_t mac1_key[NOISE_KEY_LEN];	/* mac1 of initiations to us */
	struct hs_stats hs;
	struct cookies cookies;
	uint64_t under_load_until_ms;	/* cookies required until then */
	struct cslot clients[PEERS_MAX];
	uint8_t client_keys[PEERS_MAX][NOISE_KEY_LEN];	/* by slot, for noise_peer_find */
	/* for the failed-handshake report */
	struct mp_addr bad_hello_from;
	uint64_t bad_hellos_reported, last_report_ms;
	struct batch batch;
	struct sendlist out;		/* to the bridges */
	uint8_t ack_buf[MP_BUF_LEN];	/* an ACK being built */
	/* tun mode (tunnel.c): the device instead of target sockets, and
	 * which session each inner address belongs to */
	struct tun tun;			/* tun.fd < 0 in UDP mode */
	ev_io tun_io;
	struct route_table routes;
	uint64_t route_conflicts_logged_ms;
};

static inline struct session *session_of(struct flow *f)
{
	return container_of(f, struct session, f);
}

/* up.c: from the bridges to the target */
void up_readable(struct ev_loop *loop, ev_io *w, int revents);

/* down.c: from the target (or device) to the bridges */
void down_target_readable(struct ev_loop *loop, ev_io *w, int revents);
/* Sends batch slot i (payload at MP_HDR_LEN) as DATA of s; the caller
 * flushes (send_flush) after the batch. */
void down_send(struct server *srv, struct session *s, int i);

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
/* Re-derives the states of s's paths (logs, scripts) and its view. */
void paths_tick(struct server *srv, struct session *s);

/* report.c */
int server_status_fill(void *ctx, struct json *j, uint64_t *pos);
int server_metrics_fill(void *ctx, struct mtext *t, struct metrics_pos *pos);

/* keying.c */
void keying_hello(struct server *srv, const uint8_t *pkt, size_t len,
		  const struct mp_hdr *h, const struct mp_addr *from);
void keying_reset(struct server *srv, const struct mp_hdr *h, const struct mp_addr *from);
/* Logs, at most every REPORT_INTERVAL_MS, handshakes that failed. */
void keying_report(struct server *srv);

/* noisekeys.c: a HELLO in per-client mode */
void noisekeys_hello(struct server *srv, const uint8_t *pkt, size_t len,
		     const struct mp_hdr *h, const struct mp_addr *from);

/* cookie.c */
void cookie_init(struct server *srv);
/* The HELLO bucket is empty: 1 if this initiation may go on anyway (a
 * valid cookie, within its source's bucket); else 0, after sending a
 * cookie reply when it had none (all counted). */
int cookie_admit(struct server *srv, const uint8_t *pkt, const struct mp_hdr *h,
		 const struct mp_addr *from);
void cookie_wipe(struct server *srv);

/* clients.c */
void clients_init(struct server *srv, const struct peers *ps);
/* The slot of a client's public key, or NULL. */
struct cslot *clients_find(struct server *srv, const uint8_t pub[static NOISE_KEY_LEN]);
/* SIGHUP: the new client lines; removed clients' sessions end now. */
void clients_reload(struct server *srv, const struct peers *next);
void clients_wipe(struct server *srv);
/* The client whose allowed-ips hold a (longest prefix), or NULL. */
struct cslot *clients_route(struct server *srv, const struct ip_addr *a);
/* s, of client c, is new (latest) or gone (another is found). */
void clients_session_new(struct cslot *c, struct session *s);
void clients_session_gone(struct server *srv, struct session *s);

/* tunnel.c: tun mode */
int tunnel_open(struct server *srv);
void tunnel_close(struct server *srv);
/* engine_ops: writes a payload of a session to the device, once the
 * session may send from its source address. */
int tunnel_deliver(void *ctx, struct flow *f, const uint8_t *pkt, size_t len);
/* engine_ops: the smallest usable path MTU over all sessions is now
 * path_mtu (IP included). */
void tunnel_path_mtu(void *ctx, unsigned path_mtu);
void tunnel_sweep(struct server *srv);
void tunnel_log_stats(const struct server *srv);

#endif
