/* Options both programs take, handled in one place so their meaning and
 * limits cannot drift apart. */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <getopt.h>

#include "log.h"
#include "sched.h"

enum {
	CLI_IDLE_TIMEOUT_S_DEFAULT = 120,
	CLI_IDLE_TIMEOUT_S_MAX = 86400,
	CLI_MAX_SESSIONS_LIMIT = 65536,
};

/* getopt_long codes for long-only options */
enum {
	OPT_MODE = 0x100,
	OPT_BIND,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_SESSIONS,
	OPT_VERSION,
	OPT_HELP,
};

#define CLI_COMMON_LONGOPTS                                          \
	{ "mode", required_argument, NULL, OPT_MODE },               \
	{ "bind", required_argument, NULL, OPT_BIND },               \
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT }, \
	{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS }, \
	{ "verbose", no_argument, NULL, 'v' },                       \
	{ "quiet", no_argument, NULL, 'q' },                         \
	{ "version", no_argument, NULL, OPT_VERSION },               \
	{ "help", no_argument, NULL, 'h' }

#define CLI_COMMON_SHORTOPTS "vqh"

#define CLI_COMMON_USAGE                                                      \
	"  --mode M             duplicate (default), roundrobin or weighted\n"    \
	"  --idle-timeout SEC   forget a session idle this long (default 120)\n"  \
	"  --max-sessions N     at most N sessions at once\n"                     \
	"  -v, --verbose        more log (repeat for debug)\n"                    \
	"  -q, --quiet          errors only\n"                                    \
	"  -h, --help           this text\n"                                      \
	"      --version        print the version\n"

struct cli_common {
	enum sched_mode mode;
	const char *bind;		/* NULL = the program's default */
	unsigned idle_timeout_s;
	unsigned max_sessions;
	enum log_level level;
	int version, help;
};

void cli_common_init(struct cli_common *c, unsigned max_sessions);
/* Handles one getopt result. Returns 1 if it was a common option, 0 if
 * not ours, -1 (after printing why) if its argument is bad. */
int cli_common_option(struct cli_common *c, int opt, const char *arg);
/* Parses a port number argument; returns 0..65535 or -1. */
int cli_port(const char *s);

#endif
