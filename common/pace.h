/* Per-path pacing (rate= in the config): a token bucket with a short burst
 * and two bounded FIFOs (latency-critical first, then bulk) for datagrams
 * that must wait. The caller owns the timer; this file only answers "may it
 * go now", "keep it", "what goes next" and "how long until then". Buffers
 * are allocated once, in pace_init. */
#ifndef MP_PACE_H
#define MP_PACE_H

#include <stddef.h>
#include <stdint.h>

#include "tunables.h"

struct pace_fifo {
	unsigned head, n, cap;
	size_t bytes;			/* waiting in it */
	uint16_t *len;
	void **tag;			/* the caller's, per datagram */
	uint8_t *buf;			/* cap slots of PACE_SLOT_BYTES */
};

struct pace {
	uint64_t rate_bps;		/* 0 = not paced */
	double us_per_byte;		/* at the rate (no division per datagram) */
	double tokens, burst;		/* bytes; may go below zero */
	uint64_t last_us;
	struct pace_fifo prio, bulk;
	unsigned bulk_max;		/* slots the bulk queue may grow to */
	/* sent_bytes: each datagram with its IP and UDP headers, as the
	 * tokens are spent (rate_busy compares it with the pacing rate) and
	 * as the peer counts what it received */
	uint64_t sent_bytes, queued, dropped;
};

/* 0, or -1 if the queues cannot be allocated. rate_bps 0 = unpaced. */
int pace_init(struct pace *p, uint64_t rate_bps, uint64_t now_us);
void pace_free(struct pace *p);
/* A new rate (> 0): the bucket follows, and the bulk queue may grow to
 * hold PACE_QUEUE_MS at the rate (it grows when datagrams wait, doubling,
 * and never shrinks). -1 if memory is short (the old rate stays). */
int pace_set_rate(struct pace *p, uint64_t rate_bps, uint64_t now_us);
/* Whether a datagram may go now, nothing waiting ahead of it. */
int pace_ready(struct pace *p, uint64_t now_us);
/* Accounts a datagram of len bytes (UDP payload) sent. */
void pace_spend(struct pace *p, size_t len);
/* Keeps a copy to send later, with the caller's tag; -1 (counted as
 * dropped) if full or too big. */
int pace_keep(struct pace *p, const uint8_t *data, size_t len, int prio, void *tag);
/* Whether pace_keep would take one more datagram (prio: latency-critical). */
int pace_room(const struct pace *p, int prio);
/* The next kept datagram if it may go now (then spent and removed), else
 * NULL; *tag gets its tag (tag may be NULL). The pointer is valid until the
 * next pace_* call. */
const uint8_t *pace_next(struct pace *p, uint64_t now_us, size_t *len, void **tag);
/* Forgets every kept datagram with this tag (its owner goes away);
 * returns how many. O(what waits). */
unsigned pace_purge(struct pace *p, const void *tag);
unsigned pace_waiting(const struct pace *p);
/* Microseconds until the bucket allows a send (0 = now). */
uint64_t pace_wait_us(struct pace *p, uint64_t now_us);
/* Microseconds until a datagram queued now would leave: the bucket's wait
 * and what waits ahead of it (with prio, only the latency-critical queue). */
uint64_t pace_backlog_us(struct pace *p, uint64_t now_us, int prio);
/* Microseconds that len bytes of UDP payload take at the rate (0 unpaced). */
static inline uint64_t pace_us(const struct pace *p, size_t len)
{
	return (uint64_t)((double)(len + PACE_IP_UDP_BYTES) * p->us_per_byte);
}

#endif
