/* Token bucket and the two waiting queues behind it. Tokens are bytes and
 * may go negative: a datagram goes when the balance is not negative and
 * then pays its full size, so no size ever waits forever and the long-run
 * rate is exact whatever the datagram sizes. */
#include "pace.h"

#include <stdlib.h>
#include <string.h>

static void refill(struct pace *p, uint64_t now_us)
{
	if (now_us <= p->last_us)
		return;
	p->tokens += (double)(now_us - p->last_us) * p->rate_bps / 8e6;
	if (p->tokens > p->burst)
		p->tokens = p->burst;
	p->last_us = now_us;
}

/* Grows f to cap slots (never shrinks), keeping what waits in order. */
static int fifo_grow(struct pace_fifo *f, unsigned cap)
{
	uint16_t *len;
	uint8_t *buf;
	void **tag;

	if (cap <= f->cap)
		return 0;
	len = calloc(cap, sizeof(*len));
	tag = calloc(cap, sizeof(*tag));
	buf = malloc((size_t)cap * PACE_SLOT_BYTES);
	if (!len || !buf || !tag) {
		free(len);
		free(tag);
		free(buf);
		return -1;
	}
	for (unsigned i = 0; i < f->n; i++) {
		unsigned from = (f->head + i) % f->cap;
		len[i] = f->len[from];
		tag[i] = f->tag[from];
		memcpy(buf + (size_t)i * PACE_SLOT_BYTES, f->buf + (size_t)from * PACE_SLOT_BYTES,
		       f->len[from]);
	}
	free(f->len);
	free(f->tag);
	free(f->buf);
	f->len = len;
	f->tag = tag;
	f->buf = buf;
	f->head = 0;
	f->cap = cap;
	return 0;
}

static void fifo_free(struct pace_fifo *f)
{
	free(f->len);
	free(f->tag);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

int pace_init(struct pace *p, uint64_t rate_bps, uint64_t now_us)
{
	memset(p, 0, sizeof(*p));
	p->last_us = now_us;
	if (!rate_bps)
		return 0;
	if (pace_set_rate(p, rate_bps, now_us)) {
		pace_free(p);
		return -1;
	}
	p->tokens = p->burst;
	return 0;
}

int pace_set_rate(struct pace *p, uint64_t rate_bps, uint64_t now_us)
{
	if (p->rate_bps)
		refill(p, now_us);
	else
		p->last_us = now_us;
	if (!rate_bps)
		return -1;
	double bytes_per_ms = rate_bps / 8000.0;
	/* PACE_QUEUE_MS at the rate, in datagrams of PACE_SLOT_AVG_BYTES */
	double slots = bytes_per_ms * PACE_QUEUE_MS / PACE_SLOT_AVG_BYTES;
	unsigned bulk = slots < PACE_BULK_SLOTS_MIN ? PACE_BULK_SLOTS_MIN
		      : slots > PACE_BULK_SLOTS_MAX ? PACE_BULK_SLOTS_MAX : (unsigned)slots;
	/* The bulk queue starts small and grows (pace_keep) only when
	 * datagrams really wait: memory follows what is queued, not what a
	 * peer's reports make the rate. */
	if (fifo_grow(&p->prio, PACE_PRIO_SLOTS) || fifo_grow(&p->bulk, PACE_BULK_SLOTS_MIN))
		return -1;
	p->bulk_max = bulk;
	p->rate_bps = rate_bps;
	p->us_per_byte = 8e6 / (double)rate_bps;
	p->burst = bytes_per_ms * PACE_BURST_MS;
	if (p->burst < PACE_BURST_MIN_BYTES)
		p->burst = PACE_BURST_MIN_BYTES;
	if (p->tokens > p->burst)
		p->tokens = p->burst;
	return 0;
}

void pace_free(struct pace *p)
{
	fifo_free(&p->prio);
	fifo_free(&p->bulk);
}


unsigned pace_waiting(const struct pace *p)
{
	return p->prio.n + p->bulk.n;
}

int pace_ready(struct pace *p, uint64_t now_us)
{
	if (!p->rate_bps)
		return 1;
	refill(p, now_us);
	return p->tokens >= 0 && !pace_waiting(p);
}

void pace_spend(struct pace *p, size_t len)
{
	p->sent_bytes += len + PACE_IP_UDP_BYTES;
	if (p->rate_bps)
		p->tokens -= (double)(len + PACE_IP_UDP_BYTES);
}

int pace_keep(struct pace *p, const uint8_t *data, size_t len, int prio, void *tag)
{
	struct pace_fifo *f = prio ? &p->prio : &p->bulk;

	/* Full, and the rate allows more: twice the room (a copy of what
	 * waits; at most log2(PACE_BULK_SLOTS_MAX / MIN) times). */
	if (!prio && f->n == f->cap && f->cap < p->bulk_max)
		fifo_grow(f, f->cap * 2 < p->bulk_max ? f->cap * 2 : p->bulk_max);
	if (!p->rate_bps || len > PACE_SLOT_BYTES || f->n == f->cap) {
		p->dropped++;
		return -1;
	}
	unsigned slot = (f->head + f->n) % f->cap;
	memcpy(f->buf + (size_t)slot * PACE_SLOT_BYTES, data, len);
	f->len[slot] = (uint16_t)len;
	f->tag[slot] = tag;
	f->n++;
	f->bytes += len;
	p->queued++;
	return 0;
}

int pace_room(const struct pace *p, int prio)
{
	const struct pace_fifo *f = prio ? &p->prio : &p->bulk;

	return p->rate_bps && (f->n < f->cap || (!prio && f->cap < p->bulk_max));
}

const uint8_t *pace_next(struct pace *p, uint64_t now_us, size_t *len, void **tag)
{
	struct pace_fifo *f = p->prio.n ? &p->prio : &p->bulk;

	refill(p, now_us);
	if (!f->n || p->tokens < 0)
		return NULL;
	unsigned slot = f->head;
	f->head = (f->head + 1) % f->cap;
	f->n--;
	*len = f->len[slot];
	if (tag)
		*tag = f->tag[slot];
	f->bytes -= *len;
	pace_spend(p, *len);
	return f->buf + (size_t)slot * PACE_SLOT_BYTES;
}

uint64_t pace_wait_us(struct pace *p, uint64_t now_us)
{
	refill(p, now_us);
	if (!p->rate_bps || p->tokens >= 0)
		return 0;
	return (uint64_t)(-p->tokens * p->us_per_byte) + 1;
}

uint64_t pace_backlog_us(struct pace *p, uint64_t now_us, int prio)
{
	if (!p->rate_bps)
		return 0;
	size_t n = p->prio.n + (prio ? 0 : p->bulk.n);
	size_t bytes = p->prio.bytes + (prio ? 0 : p->bulk.bytes) + n * PACE_IP_UDP_BYTES;
	return pace_wait_us(p, now_us) + (uint64_t)((double)bytes * p->us_per_byte);
}

/* Keeps the datagrams of f whose tag is not `tag`, in order. */
static unsigned fifo_purge(struct pace_fifo *f, const void *tag)
{
	unsigned kept = 0, gone = 0;

	for (unsigned i = 0; i < f->n; i++) {
		unsigned from = (f->head + i) % f->cap, to = (f->head + kept) % f->cap;
		if (f->tag[from] == tag) {
			f->bytes -= f->len[from];
			gone++;
			continue;
		}
		if (to != from) {
			memcpy(f->buf + (size_t)to * PACE_SLOT_BYTES,
			       f->buf + (size_t)from * PACE_SLOT_BYTES, f->len[from]);
			f->len[to] = f->len[from];
			f->tag[to] = f->tag[from];
		}
		kept++;
	}
	f->n = kept;
	return gone;
}

unsigned pace_purge(struct pace *p, const void *tag)
{
	return fifo_purge(&p->prio, tag) + fifo_purge(&p->bulk, tag);
}
