/* Forward error correction in bond mode: which DATA a flow groups for
 * parity and how much parity a group gets (the sender), and the sealed DATA
 * and parity shards a flow keeps to rebuild what is missing (the receiver).
 *
 * Bookkeeping over fec.c only: no sockets, no sealing, no clock of its own.
 * send.c sends the parity a group gets; receive.c feeds what comes in and
 * runs what is rebuilt through the normal receive path. NACKs go on as
 * without parity (recover.c): a hole rebuilt first is never asked for, and
 * the resend of one asked for first is dropped as a copy.
 *
 * A group is the DATA seqs [base, base + k) of one flow, coded as sealed
 * (bytes 1..len: without the path byte, which is outside the check), so a
 * rebuilt datagram is authenticated by its own tag or CRC like any other.
 *
 * Memory: the sender's coder is allocated once per flow, when it first
 * needs parity; the receiver's state (a ring of the last PARITY_RING_SLOTS
 * sealed DATA, PARITY_GROUPS groups' parity, a decoder) once per flow, at
 * its first valid parity. send.c and receive.c cap how many flows of an
 * engine hold either (PARITY_TX_FLOWS_MAX, PARITY_RX_FLOWS_MAX). */
#ifndef MP_PARITY_H
#define MP_PARITY_H

#include <stddef.h>
#include <stdint.h>

#include "fec.h"
#include "tunables.h"
#include "wire.h"

_Static_assert((int)MP_PARITY_MAX_K == (int)FEC_MAX_DATA &&
	       (int)MP_PARITY_MAX_M == (int)FEC_MAX_PARITY,
	       "the wire's group limits are the coder's");

struct parity_stats {
	uint64_t sent;			/* parity shards sent */
	uint64_t sent_bytes;		/* their packets' bytes */
	uint64_t groups;		/* groups that got parity */
	uint64_t over_budget;		/* shards not sent: the budget was spent */
	uint64_t no_memory;		/* coders not had: the engine's cap, or malloc */
	uint64_t received;		/* parity shards taken */
	uint64_t bad;			/* parity bodies refused (malformed, conflicting) */
	uint64_t stale;			/* parity of a group older than every one kept */
	uint64_t recovered;		/* DATA rebuilt and taken by the window */
	uint64_t undecodable;		/* groups given up with DATA missing */
};

/* ---- the sender -------------------------------------------------------- */

struct parity_tx {
	struct fec_enc enc;
	int ready;			/* enc is allocated */
	uint64_t base;			/* the open group's first seq; 0: none */
	uint64_t opened_us;
	uint32_t on[MP_MAX_PATHS];	/* the open group's datagrams per path */
	uint64_t credit;		/* bytes of parity it may send now */
	uint64_t credited_sent;		/* the flow's sent bytes when last credited */
};

/* The parity shards for a group of k datagrams whose shards are each lost
 * with probability loss_ppm: none below PARITY_LOSS_MIN_PPM; else the
 * fewest that leave at most PARITY_RESIDUAL_PPM of groups undecodable, at
 * most k * PARITY_SHARE_MAX_PCT / 100 (at least 1) and FEC_MAX_PARITY. */
unsigned parity_rate(unsigned k, uint32_t loss_ppm);
/* Opens a group at seq; allocates the coder the first time (-1: no
 * memory). */
int parity_tx_open(struct parity_tx *t, uint64_t seq, uint64_t now_us);
/* Adds the sealed DATA seq (pkt[0..len), the path byte included), sent on
 * the paths in mask, to the open group: 1 when the group is full, 0 when
 * it is not, -1 when seq does not follow the group or does not fit (the
 * caller closes the group first). */
int parity_tx_add(struct parity_tx *t, uint64_t seq, uint32_t mask, const uint8_t *pkt,
		  size_t len);
/* Datagrams in the open group. */
unsigned parity_tx_count(const struct parity_tx *t);
/* Codes the open group's m parity shards (m >= 1) and closes it; 0, or -1
 * if no group is open. Then fec_enc_parity gives the shards. */
int parity_tx_seal(struct parity_tx *t, unsigned m);
/* Forgets the open group (it gets no parity). */
void parity_tx_drop(struct parity_tx *t);
/* The parity budget grows by PARITY_BUDGET_PCT of what the flow sent
 * since (sent_bytes), up to PARITY_BUDGET_BURST; takes len from it if it
 * holds that much (0), else -1. */
int parity_tx_spend(struct parity_tx *t, uint64_t sent_bytes, size_t len);
void parity_tx_free(struct parity_tx *t);

/* ---- the receiver ------------------------------------------------------ */

struct parity_rx;

/* NULL without memory. */
struct parity_rx *parity_rx_new(void);
void parity_rx_free(struct parity_rx *rx);
/* The peer restarted: nothing kept belongs to its new numbering. */
void parity_rx_reset(struct parity_rx *rx);
/* Keyed mode: a sealed packet about to be decrypted in place (pkt[0..len),
 * the path byte included); a DATA one is copied aside for parity_rx_keep. */
void parity_rx_stash(struct parity_rx *rx, const uint8_t *pkt, size_t len);
/* Keyed mode: the stashed copy of DATA seq (NULL if it is not that one). */
const uint8_t *parity_rx_stashed(const struct parity_rx *rx, uint64_t seq, size_t *len);

/* What was rebuilt: a sealed DATA packet without its path byte. */
typedef void parity_rebuilt_fn(void *ctx, uint64_t seq, const uint8_t *bytes, size_t len);

/* DATA seq was taken by the window: its sealed bytes (without the path
 * byte) are kept; if that completes what a group with parity needs, the
 * missing ones are rebuilt and given to fn. */
void parity_rx_keep(struct parity_rx *rx, uint64_t seq, const uint8_t *bytes, size_t len,
		    struct parity_stats *st, parity_rebuilt_fn *fn, void *ctx);
/* A parity shard (authenticated, parsed) came: kept with its group, and
 * the group rebuilt if it can be. */
void parity_rx_add(struct parity_rx *rx, const struct mp_parity *p,
		   struct parity_stats *st, parity_rebuilt_fn *fn, void *ctx);

#endif
