/* The rescue ring: slots written in time order, overwriting the oldest. */
#include "rescue.h"

#include <stdlib.h>
#include <string.h>

struct rescue_slot {
	uint64_t sent_us;
	uint32_t session;
	uint16_t len;
	uint8_t path;
	uint8_t data[RESCUE_SLOT_BYTES];
};

int rescue_init(struct rescue *r)
{
	memset(r, 0, sizeof(*r));
	r->slot = calloc(RESCUE_SLOTS, sizeof(*r->slot));
	return r->slot ? 0 : -1;
}

void rescue_free(struct rescue *r)
{
	free(r->slot);
	r->slot = NULL;
	r->used = 0;
}

void rescue_keep(struct rescue *r, uint32_t session, unsigned path, const uint8_t *pkt,
		 size_t len, uint64_t now_us)
{
	if (!r->slot)
		return;
	if (len > RESCUE_SLOT_BYTES) {
		r->too_big++;
		return;
	}
	struct rescue_slot *sl = &r->slot[r->head];
	sl->sent_us = now_us;
	sl->session = session;
	sl->len = (uint16_t)len;
	sl->path = (uint8_t)path;
	memcpy(sl->data, pkt, len);
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
