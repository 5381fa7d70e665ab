/* Why packets were dropped: one counter per reason, kept by each program and
 * shown by SIGUSR1 and at exit as "drop_<reason>=N". Reasons 1..WIRE_ERR_MAX-1
 * are the wire format's own. A copy of what already arrived is no drop: the
 * modes that send copies expect them, so they are counted apart, as
 * deduplicated (struct engine, struct flow). */
#ifndef MP_STATS_H
#define MP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum drop {
	DROP_UNKNOWN_SESSION = WIRE_ERR_MAX,	/* no such session (here) */
	DROP_OLD,			/* behind the receive window */
	DROP_STALE_EPOCH,		/* from a peer instance since replaced */
	DROP_OVERSIZE,			/* application datagram > MP_MAX_PAYLOAD */
	DROP_SESSION_LIMIT,		/* new session refused: table full */
	DROP_SEND_FAIL,			/* the kernel refused it toward a path */
	DROP_SEAL_FAIL,			/* sealing failed (the AEAD library) */
	DROP_NO_MEMORY,			/* a buffer could not be allocated */
	DROP_TARGET_FAIL,		/* the local side (application, target or
					   tun device) refused it */
	DROP_BAD_TAG,			/* sealed packet did not authenticate */
	DROP_BAD_HANDSHAKE,		/* handshake message: bad MAC or stale */
	DROP_KEYS_WAIT,			/* no room while keys are being agreed */
	DROP_RATE_LIMITED,		/* over a limit that bounds our work */
	DROP_BAD_PROBE,			/* PROBE/ACK body too short or inconsistent */
	DROP_PACED,			/* every path at its rate= and its queue full */
	/* tun mode */
	DROP_TOO_BIG,			/* inner packet > what the paths carry */
	DROP_NOT_IP,			/* not an IPv4 or IPv6 packet */
	DROP_NO_ROUTE,			/* mpserver: no session has that address */
	DROP_ROUTE_CONFLICT,		/* mpserver: source held by another session */
	DROP_ROUTE_FULL,		/* mpserver: address table full */
	DROP_BAD_RECOVER,		/* MP_T_RECOVER body malformed */
	/* per-client keys (mpserver) */
	DROP_UNKNOWN_KEY,		/* an initiation from a key no client line has */
	DROP_REPLAYED_HANDSHAKE,	/* an initiation not newer than that client's last */
	DROP_NOT_ALLOWED_IP,		/* tun: inner source outside the client's allowed-ips */
	DROP_KEYS_EXPIRED,		/* keys past REJECT_AFTER_S (or packets): not used */
	DROP_MAX
};

struct drops {
	uint64_t n[DROP_MAX];
};

/* The reason's name, as in drop_<name>=N ("runt", "duplicate", ...). */
const char *stats_drop_name(int reason);

struct json;
struct health;

/* The status document's pieces both programs write: the "drops" object,
 * and one path's health figures as fields of the current object. */
void stats_json_drops(struct json *j, const struct drops *d);
/* tx_pkts, tx_bytes, rx_pkts, rx_bytes as fields of the current object. */
void stats_json_traffic(struct json *j, uint64_t tx_pkts, uint64_t tx_bytes,
			uint64_t rx_pkts, uint64_t rx_bytes);
/* Opens the document with the fields that say who answers. */
void stats_json_begin(struct json *j, const char *program, uint64_t started_ms,
		      const char *mode, int keyed);
void stats_json_health(struct json *j, const struct health *h);
struct flow;
struct recover_stats;
/* A flow's loss recovery (recover.h) as an object "recovery", and as a
 * "stats recovery" log line (SIGUSR1 and exit), when it did anything. */
void stats_json_recover(struct json *j, const struct recover_stats *st);
void stats_log_recover(uint32_t session, const struct recover_stats *st);
struct parity_stats;
/* A flow's forward error correction (parity.h) as an object "fec", and as
 * a "stats fec" log line when it did anything. */
void stats_json_parity(struct json *j, const struct parity_stats *st);
void stats_log_parity(uint32_t session, const struct parity_stats *st);
/* Path p of a flow as fields of the current object: id, state, whether
 * the scheduler uses it, its health and its traffic. */
void stats_json_flow_path(struct json *j, const struct flow *f, unsigned p);

struct reorder;
/* A session's "reorder" object (ro NULL: no buffer needed yet). */
void stats_json_reorder(struct json *j, const struct reorder *ro, uint64_t hold_us);
void stats_log_reorder(uint32_t session, const struct reorder *ro);

/* Appends " drop_<reason>=N" for every reason; returns bytes written. */
size_t stats_format_drops(const struct drops *d, char *buf, size_t len);

#endif
