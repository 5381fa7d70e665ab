/* The sequencing layer shared by both programs: numbering what a session
 * sends, and deciding what a session accepts. A sender instance is named by
 * a random epoch; when the peer's epoch changes (the peer restarted) the
 * receive window starts over, and the epochs it replaced are refused so that
 * stragglers from before the restart cannot reopen the old window. */
#ifndef MP_SEQ_H
#define MP_SEQ_H

#include <stdint.h>

#include "window.h"

enum { SEQ_RETIRED_EPOCHS = 4 };

enum seq_verdict {
	SEQ_ACCEPT = 0,
	SEQ_DUP,		/* seen before */
	SEQ_OLD,		/* behind the window */
	SEQ_STALE_EPOCH,	/* from a peer instance that has been replaced */
};

struct seq_tx {
	uint32_t epoch;		/* our instance, never 0 */
	uint64_t next;		/* next sequence number to send, from 1 */
};

struct seq_rx {
	uint32_t epoch;		/* peer instance we follow; 0 = none yet */
	uint32_t retired[SEQ_RETIRED_EPOCHS];
	uint64_t restarts;	/* times the peer's epoch changed */
	struct window win;
};

void seq_tx_init(struct seq_tx *tx, uint32_t epoch);
/* Returns the number for the next packet. At the end of the 48-bit space
 * the sender starts a new epoch (after ~9 years at 1 Mpkt/s). */
uint64_t seq_tx_next(struct seq_tx *tx);

void seq_rx_init(struct seq_rx *rx);
/* Starts a fresh window for a peer epoch known in advance (a keyed
 * session's): packets of other epochs must be refused before this. */
void seq_rx_start(struct seq_rx *rx, uint32_t epoch);
/* Call only for packets that passed every other check. */
enum seq_verdict seq_rx_accept(struct seq_rx *rx, uint32_t epoch, uint64_t seq);

#endif
