/* The rescue ring: slots written in time order, overwriting the oldest. */
#include "rescue.h"

#include <stdlib.h>
#include <string.h>

struct rescue_slot {
	uint64_t sent_us;
	uint64_t seq;
	uint64_t resent_us;		/* last sent again (loss recovery) */
	uint32_t session;
	uint16_t len;
	uint8_t path;
	uint8_t resends;
	uint8_t data[RESCUE_SLOT_BYTES];
};

/* The index: buckets of RESCUE_INDEX_WAYS entries, each a slot + 1 (0:
 * empty). A (session, seq) is in the bucket its hash names; a new one
 * takes an empty entry or the one whose slot is oldest, so what is found
 * is, with few exceptions, every datagram still in the ring. */
static uint32_t *bucket_of(const struct rescue *r, uint32_t session, uint64_t seq)
{
	uint64_t x = (seq ^ (uint64_t)session << 32) * UINT64_C(0x9e3779b97f4a7c15);

	return &r->index[(x >> 40) % (RESCUE_INDEX / RESCUE_INDEX_WAYS) * RESCUE_INDEX_WAYS];
}

static void index_add(struct rescue *r, uint32_t session, uint64_t seq, unsigned slot)
{
	uint32_t *b = bucket_of(r, session, seq);
	unsigned pick = 0, oldest = 0;

	for (unsigned w = 0; w < RESCUE_INDEX_WAYS; w++) {
		/* how far back from the newest slot this entry's slot is */
		unsigned age = b[w] ? (slot + RESCUE_SLOTS - b[w]) % RESCUE_SLOTS + 1
				    : RESCUE_SLOTS + 1;
		if (age >= oldest) {
			oldest = age;
			pick = w;
		}
	}
	b[pick] = slot + 1;
}

static struct rescue_slot *index_find(const struct rescue *r, uint32_t session, uint64_t seq)
{
	const uint32_t *b = bucket_of(r, session, seq);

	for (unsigned w = 0; w < RESCUE_INDEX_WAYS; w++) {
		struct rescue_slot *sl = b[w] ? &r->slot[b[w] - 1] : NULL;
		if (sl && sl->len && sl->session == session && sl->seq == seq)
			return sl;
	}
	return NULL;
}

int rescue_init(struct rescue *r)
{
	memset(r, 0, sizeof(*r));
	r->slot = calloc(RESCUE_SLOTS, sizeof(*r->slot));
	r->index = calloc(RESCUE_INDEX, sizeof(*r->index));
	if (r->slot && r->index)
		return 0;
	rescue_free(r);
	return -1;
}

void rescue_free(struct rescue *r)
{
	free(r->slot);
	free(r->index);
	r->slot = NULL;
	r->index = NULL;
	r->used = 0;
}

void rescue_keep(struct rescue *r, uint32_t session, uint64_t seq, unsigned path,
		 const uint8_t *pkt, size_t len, uint64_t now_us)
{
	if (!r->slot)
		return;
	if (len > RESCUE_SLOT_BYTES) {
		r->too_big++;
		return;
	}
	struct rescue_slot *sl = &r->slot[r->head];
	sl->sent_us = now_us;
	sl->seq = seq;
	sl->resent_us = 0;
	sl->session = session;
	sl->len = (uint16_t)len;
	sl->path = (uint8_t)path;
	sl->resends = 0;
	memcpy(sl->data, pkt, len);
	/* an entry whose slot was overwritten since is found stale by its
	 * (session, seq) */
	index_add(r, session, seq, r->head);
	r->head = (r->head + 1) % RESCUE_SLOTS;
	if (r->used < RESCUE_SLOTS)
		r->used++;
	r->kept++;
}

unsigned rescue_take(struct rescue *r, uint32_t session, unsigned path, uint64_t since_us,
		     rescue_send_fn *send_fn, void *ctx)
{
	unsigned back = 0, sent = 0;

	/* Slots are in time order: walk back to the first one in the window. */
	while (back < r->used &&
	       r->slot[(r->head + RESCUE_SLOTS - 1 - back) % RESCUE_SLOTS].sent_us >= since_us)
		back++;
	for (unsigned k = back; k > 0; k--) {
		struct rescue_slot *sl = &r->slot[(r->head + RESCUE_SLOTS - k) % RESCUE_SLOTS];
		if (sl->session != session || sl->path != path)
			continue;
		int to = send_fn(ctx, sl->data, sl->len);
		if (to >= 0) {
			sl->path = (uint8_t)to;
			sent++;
		}
	}
	r->resent += sent;
	return sent;
}

enum rescue_resend_result rescue_resend(struct rescue *r, uint32_t session, uint64_t seq,
					unsigned max, uint64_t not_after_us, uint64_t now_us,
					rescue_resend_fn *send_fn, void *ctx)
{
	struct rescue_slot *sl = r->slot ? index_find(r, session, seq) : NULL;

	if (!sl)
		return RESCUE_NOT_KEPT;
	if (sl->resends >= max)
		return RESCUE_SPENT;
	if (sl->resends && sl->resent_us > not_after_us)
		return RESCUE_RECENT;
	int to = send_fn(ctx, sl->path, sl->data, sl->len);
	if (to < 0)
		return RESCUE_NO_PATH;
	sl->path = (uint8_t)to;
	sl->resends++;
	sl->resent_us = now_us;
	return RESCUE_RESENT;
}
