/* The Prometheus text exposition (format 0.0.4) of a program's figures:
 * the series both programs share (drops by reason, per path, per session,
 * per session path), written from a source the program describes, in
 * pieces that fit a bounded buffer, so that any number of sessions goes
 * out through a fixed-size buffer (http.c streams it). docs/STATUS.md,
 * "Prometheus metrics", names every series. */
#ifndef MP_METRICS_H
#define MP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "health.h"

struct drops;
struct flow;

enum { METRICS_PATH_DROPS_MAX = 4 };	/* reasons a program counts per path */

/* A bounded text buffer: a write that does not fit sets overflow and
 * writes nothing, so a piece is either whole or rolled back. */
struct mtext {
	char *buf;
	size_t cap, len;
	int overflow;
};

void mtext_init(struct mtext *t, char *buf, size_t cap);
void mtext_put(struct mtext *t, const char *s, size_t n);

/* One of the program's own paths (bridges on the client; path ids summed
 * over sessions on the server). */
struct metrics_path {
	const char *name;
	char name_buf[8];		/* for a name made up (a path id) */
	enum health_state state;
	const struct health *h;		/* NULL: no figures yet */
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
	/* what of mprelay_drops_total happened on this path, by reason */
	struct {
		const char *reason;
		uint64_t n;
	} drops[METRICS_PATH_DROPS_MAX];
	unsigned ndrops;
};

/* What a program shows. Sessions carry a serial number, unique and
 * growing with their creation, so that a walk resumes where it stopped
 * even if sessions came and went meanwhile. */
struct metrics_source {
	const void *ctx;
	const char *program;
	uint64_t uptime_s;
	unsigned sessions;
	uint64_t next_serial;		/* the serial the next session will get */
	const struct drops *drops;
	uint64_t deduplicated;
	unsigned npaths;
	/* Path i < npaths; 0 if it has nothing to show (no session uses it). */
	int (*path)(const void *ctx, unsigned i, struct metrics_path *out);
	/* prev NULL: the newest session whose serial is below `before`;
	 * otherwise the next older one after prev. NULL: no more. */
	const struct flow *(*session)(const void *ctx, const struct flow *prev,
				      uint64_t before, uint64_t *serial);
	/* The label of a session's path p (its name on the client). */
	const char *(*path_name)(const void *ctx, unsigned p, char *buf, size_t len);
};

/* Where an exposition stands; all zero at the start. */
struct metrics_pos {
	unsigned family;		/* the family being written */
	uint64_t before;		/* its sessions below this serial are to come;
					   0: its HELP and TYPE are not out yet */
	uint64_t bound;			/* the sessions shown: serials below this
					   (those that existed at the start) */
};

/* Writes the exposition from *pos on into t, while it fits. Returns 1 once
 * it is complete, 0 when t is full (call again with an emptied buffer:
 * *pos says where to go on), -1 if one piece alone does not fit t. */
int metrics_fill(const struct metrics_source *src, struct mtext *t, struct metrics_pos *pos);

/* A label value as the format wants it: '\\', '"' and newline escaped. */
void metrics_put_label_value(struct mtext *t, const char *v);

#endif
