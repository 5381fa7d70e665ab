/* The mpclient config: one bridge per line, "host port [key=value ...]",
 * '#' comments and blank lines; mptunnel's files parse unchanged. The parser
 * is fed one line at a time and never opens a file, so it can be fuzzed and
 * tested without one; config_load() is the thin file reader around it. */
#ifndef MP_CONFIG_H
#define MP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum {
	CONFIG_LINE_MAX = 512,
	CONFIG_HOST_MAX = 255,	/* DNS name limit */
	CONFIG_NAME_MAX = 31,
	CONFIG_IFNAME_MAX = 15,	/* IFNAMSIZ - 1 */
	CONFIG_WEIGHT_MAX = 1000,
	CONFIG_ERR_MAX = 160,
};

/* rate= bounds, bits per second */
#define CONFIG_RATE_MIN_BPS 8000ull
#define CONFIG_RATE_MAX_BPS 100000000000ull

struct config_path {
	char host[CONFIG_HOST_MAX + 1];
	uint16_t port;
	char name[CONFIG_NAME_MAX + 1];
	unsigned weight;		/* 1..CONFIG_WEIGHT_MAX, default 1 */
	int has_weight;			/* given, not defaulted */
	uint64_t rate_bps;		/* pace sends to this, 0 = unpaced */
	uint64_t down_bps;		/* mpserver sends at most this, 0 = no cap */
	int backup;			/* used only when no other path is up */
	char bind[CONFIG_HOST_MAX + 1];	/* source address literal, or "" */
	uint16_t sport;			/* source port, 0 = any */
	char dev[CONFIG_IFNAME_MAX + 1];	/* SO_BINDTODEVICE, or "" */
	uint32_t mark;			/* SO_MARK */
	int has_mark;
	unsigned line;			/* where it was defined */
};

struct config {
	struct config_path paths[MP_MAX_PATHS];
	unsigned npaths;
	unsigned lineno;		/* lines fed so far */
};

void config_init(struct config *c);

/* Feeds one line (without or with its '\n'). Returns 0, or -1 with the
 * reason in err ("port must be 1..65535, got '0'"); c->lineno is the line. */
int config_feed(struct config *c, const char *line, size_t len,
		char err[static CONFIG_ERR_MAX]);

/* Checks what only the whole file can tell (at least one bridge), and
 * when every path has a rate= and none a weight=, makes the weights
 * follow the rates. */
int config_finish(struct config *c, char err[static CONFIG_ERR_MAX]);

/* Reads and parses a file; on error logs "FILE:LINE: reason" and returns -1. */
int config_load(struct config *c, const char *path);

/* Prints the parsed config in canonical form, one bridge per line (golden
 * tests compare this, and `-n` shows it). */
void config_print(const struct config *c, char *out, size_t outlen);

#endif
