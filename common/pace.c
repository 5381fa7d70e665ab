/* Token bucket and the two waiting queues behind it. Tokens are bytes and
 * may go negative: a datagram goes when the balance is not negative and
 * then pays its full size, so no size ever waits forever and the long-run
 * rate is exact whatever the datagram sizes. */
#include "pace.h"

#include <stdlib.h>
#include <string.h>

static int fifo_init(struct pace_fifo *f, unsigned cap)
{
	f->head = f->n = 0;
	f->cap = cap;
	f->len = calloc(cap, sizeof(*f->len));
	f->buf = malloc((size_t)cap * PACE_SLOT_BYTES);
	return f->len && f->buf ? 0 : -1;
}

static void fifo_free(struct pace_fifo *f)
{
	free(f->len);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

int pace_init(struct pace *p, uint64_t rate_bps, uint64_t now_us)
{
	memset(p, 0, sizeof(*p));
	p->rate_bps = rate_bps;
	p->last_us = now_us;
	if (!rate_bps)
		return 0;
	double bytes_per_ms = rate_bps / 8000.0;
	p->burst = bytes_per_ms * PACE_BURST_MS;
	if (p->burst < PACE_BURST_MIN_BYTES)
		p->burst = PACE_BURST_MIN_BYTES;
	p->tokens = p->burst;
	/* 1200-byte datagrams for PACE_QUEUE_MS at the rate */
	double slots = bytes_per_ms * PACE_QUEUE_MS / 1200;
	unsigned bulk = slots < PACE_BULK_SLOTS_MIN ? PACE_BULK_SLOTS_MIN
		      : slots > PACE_BULK_SLOTS_MAX ? PACE_BULK_SLOTS_MAX : (unsigned)slots;
	if (fifo_init(&p->prio, PACE_PRIO_SLOTS) || fifo_init(&p->bulk, bulk)) {
		pace_free(p);
		return -1;
	}
	return 0;
}

void pace_free(struct pace *p)
{
	fifo_free(&p->prio);
	fifo_free(&p->bulk);
}

static void refill(struct pace *p, uint64_t now_us)
{
	if (now_us <= p->last_us)
		return;
	p->tokens += (double)(now_us - p->last_us) * p->rate_bps / 8e6;
	if (p->tokens > p->burst)
		p->tokens = p->burst;
	p->last_us = now_us;
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
	p->sent_bytes += len;
	if (p->rate_bps)
		p->tokens -= (double)(len + PACE_IP_UDP_BYTES);
}

int pace_keep(struct pace *p, const uint8_t *data, size_t len, int prio)
{
	struct pace_fifo *f = prio ? &p->prio : &p->bulk;

	if (!p->rate_bps || len > PACE_SLOT_BYTES || f->n == f->cap) {
		p->dropped++;
		return -1;
	}
	unsigned slot = (f->head + f->n) % f->cap;
	memcpy(f->buf + (size_t)slot * PACE_SLOT_BYTES, data, len);
	f->len[slot] = (uint16_t)len;
	f->n++;
	p->queued++;
	return 0;
}

const uint8_t *pace_next(struct pace *p, uint64_t now_us, size_t *len)
{
	struct pace_fifo *f = p->prio.n ? &p->prio : &p->bulk;

	refill(p, now_us);
	if (!f->n || p->tokens < 0)
		return NULL;
	unsigned slot = f->head;
	f->head = (f->head + 1) % f->cap;
	f->n--;
	*len = f->len[slot];
	pace_spend(p, *len);
	return f->buf + (size_t)slot * PACE_SLOT_BYTES;
}

uint64_t pace_wait_us(struct pace *p, uint64_t now_us)
{
	refill(p, now_us);
	if (!p->rate_bps || p->tokens >= 0)
		return 0;
	return (uint64_t)(-p->tokens * 8e6 / p->rate_bps) + 1;
}
