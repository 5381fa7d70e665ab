/* Sender numbering and receiver acceptance for one session direction. Owns
 * the restart rule (a new peer epoch resets the window, old epochs stay
 * refused); the bitmap itself is window.c. */
#include "seq.h"

#include <string.h>

#include "rand.h"
#include "wire.h"

void seq_tx_init(struct seq_tx *tx, uint32_t epoch)
{
	tx->epoch = epoch;
	tx->next = 1;
}

uint64_t seq_tx_next(struct seq_tx *tx)
{
	if (tx->next > MP_SEQ_MAX)
		seq_tx_init(tx, rand_nonzero32());
	return tx->next++;
}

void seq_rx_init(struct seq_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
}

static int is_retired(const struct seq_rx *rx, uint32_t epoch)
{
	for (int i = 0; i < SEQ_RETIRED_EPOCHS; i++)
		if (rx->retired[i] == epoch)
			return 1;
	return 0;
}

static void follow_epoch(struct seq_rx *rx, uint32_t epoch)
{
	if (rx->epoch) {
		memmove(rx->retired + 1, rx->retired,
			sizeof(rx->retired) - sizeof(rx->retired[0]));
		rx->retired[0] = rx->epoch;
		rx->restarts++;
	}
	rx->epoch = epoch;
	window_reset(&rx->win);
}

void seq_rx_start(struct seq_rx *rx, uint32_t epoch)
{
	if (epoch != rx->epoch)
		follow_epoch(rx, epoch);
	else
		window_reset(&rx->win);
}

enum seq_verdict seq_rx_accept(struct seq_rx *rx, uint32_t epoch, uint64_t seq)
{
	if (epoch != rx->epoch) {
		if (is_retired(rx, epoch))
			return SEQ_STALE_EPOCH;
		follow_epoch(rx, epoch);
	}
	switch (window_check(&rx->win, seq)) {
	case WINDOW_NEW:
		return SEQ_ACCEPT;
	case WINDOW_DUP:
		return SEQ_DUP;
	case WINDOW_OLD:
		break;
	}
	return SEQ_OLD;
}
