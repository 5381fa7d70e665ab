/* Options both programs take, handled in one place so their meaning and
 * limits cannot drift apart. */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <getopt.h>

#include "ip.h"
#include "tunables.h"
#include "log.h"
#include "sched.h"


/* --reorder-ms auto */
enum { CLI_REORDER_AUTO = -1 };

/* getopt_long codes for long-only options */
enum {
	OPT_MODE = 0x100,
	OPT_BIND,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_SESSIONS,
	OPT_VERSION,
	OPT_HELP,
	OPT_KEY_FILE,
	OPT_GENKEY,
	OPT_PUBKEY,
	OPT_USER,
	OPT_COPIES,
	OPT_TARGET_LOSS,
	OPT_REORDER_MS,
	OPT_SMALL_BYTES,
	OPT_RECOVER,
	OPT_STATUS,
	OPT_METRICS,
	OPT_PATH_SCRIPT,
	/* tun mode (struct cli_tun) */
	OPT_TUN,
	OPT_TUN_ADDR,
	OPT_MTU,
	OPT_PATH_MTU,
	OPT_UP,
	OPT_DOWN,
};

#define CLI_COMMON_LONGOPTS                                          \
	{ "mode", required_argument, NULL, OPT_MODE },               \
	{ "bind", required_argument, NULL, OPT_BIND },               \
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT }, \
	{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS }, \
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },       \
	{ "genkey", required_argument, NULL, OPT_GENKEY },           \
	{ "pubkey", required_argument, NULL, OPT_PUBKEY },           \
	{ "user", required_argument, NULL, OPT_USER },               \
	{ "copies", required_argument, NULL, OPT_COPIES },           \
	{ "target-loss", required_argument, NULL, OPT_TARGET_LOSS }, \
	{ "reorder-ms", required_argument, NULL, OPT_REORDER_MS },   \
	{ "small-bytes", required_argument, NULL, OPT_SMALL_BYTES }, \
	{ "recover", required_argument, NULL, OPT_RECOVER },         \
	{ "status", required_argument, NULL, OPT_STATUS },           \
	{ "metrics", required_argument, NULL, OPT_METRICS },         \
	{ "path-script", required_argument, NULL, OPT_PATH_SCRIPT }, \
	{ "verbose", no_argument, NULL, 'v' },                       \
	{ "quiet", no_argument, NULL, 'q' },                         \
	{ "version", no_argument, NULL, OPT_VERSION },               \
	{ "help", no_argument, NULL, 'h' }

#define CLI_COMMON_SHORTOPTS "vqh"

#define CLI_COMMON_USAGE                                                      \
	"  --mode M             duplicate (default), roundrobin, weighted, adaptive\n" \
	"                       or bond (bandwidth: the sum of the paths)\n"     \
	"  --copies N|auto      modes that spread: each datagram on N paths, the\n" \
	"                       mode's pick plus the best others (default 1)\n"  \
	"  --target-loss PCT    with --copies auto: as few copies as keep the\n" \
	"                       expected loss under PCT %% (default 1)\n"        \
	"  --reorder-ms N|auto  hold out-of-order datagrams up to N ms (default:\n" \
	"                       auto in the modes that spread, 0 in duplicate)\n" \
	"  --small-bytes N      datagrams up to N bytes are latency-critical: the\n" \
	"                       fastest path first (default 160, 0 = none)\n"    \
	"  --recover on|off     bond mode: ask for lost datagrams and send them\n" \
	"                       again on another path (default on)\n"          \
	"  --status PATH        answer a JSON status document on UNIX socket PATH\n" \
	"  --metrics [ADDR:]PORT\n"                                               \
	"                       Prometheus metrics at http://ADDR:PORT/metrics\n" \
	"                       (ADDR default 127.0.0.1; IPv6 as [::1]:PORT)\n" \
	"  --path-script FILE   run FILE on path state changes (see README)\n"   \
	"  --idle-timeout SEC   forget a session idle this long (default 120)\n"  \
	"  --max-sessions N     at most N sessions at once\n"                     \
	"  --key-file FILE      AES-256-GCM with the shared key in FILE (both sides)\n" \
	"  --genkey FILE|-      write a new random key to FILE (mode 0600), or print\n" \
	"                       it with -, and exit\n"                          \
	"  --pubkey FILE|-      print the public key of the private key in FILE\n" \
	"                       (- reads it from stdin), and exit\n"          \
	"  --user NAME          drop root for user NAME once the sockets are open\n" \
	"  -v, --verbose        more log (repeat for debug)\n"                    \
	"  -q, --quiet          errors only\n"                                    \
	"  -h, --help           this text\n"                                      \
	"      --version        print the version\n"

struct cli_common {
	enum sched_mode mode;
	int mode_set;			/* --mode given (mpserver: else it follows) */
	const char *bind;		/* NULL = the program's default */
	unsigned idle_timeout_s;
	unsigned max_sessions;
	enum log_level level;
	const char *key_file;		/* NULL = plaintext */
	const char *genkey;		/* write a key there and exit */
	const char *pubkey;		/* print that key's public key and exit */
	const char *user;		/* drop privileges to this user */
	int copies_set;
	unsigned copies;		/* SCHED_COPIES_AUTO or 1..MP_MAX_PATHS */
	uint32_t target_loss_ppm;
	int reorder_ms;			/* CLI_REORDER_AUTO, or 0.. */
	int reorder_set;
	unsigned small_bytes;
	int recover;			/* bond mode: loss recovery (recover.h) */
	const char *status_path;
	const char *metrics;		/* --metrics [ADDR:]PORT, or NULL */
	const char *path_script;
	int version, help;
};

/* ---- tun mode: options both programs take ------------------------------ */

enum {
	CLI_TUN_MAX_ADDRS = 4,		/* --tun-addr given at most this often */
	CLI_MTU_MIN = 68,		/* IPv4's minimum (RFC 791) */
	CLI_PATH_MTU_MIN = 576,
	CLI_PATH_MTU_MAX = 65535,
};

#define CLI_TUN_LONGOPTS                                             \
	{ "tun", required_argument, NULL, OPT_TUN },                 \
	{ "tun-addr", required_argument, NULL, OPT_TUN_ADDR },       \
	{ "mtu", required_argument, NULL, OPT_MTU },                 \
	{ "path-mtu", required_argument, NULL, OPT_PATH_MTU },       \
	{ "up", required_argument, NULL, OPT_UP },                   \
	{ "down", required_argument, NULL, OPT_DOWN }

#define CLI_TUN_USAGE                                                         \
	"\ntun mode (carries IP packets instead of an application's datagrams):\n" \
	"  --tun NAME           use tun device NAME (made if absent; needs root)\n" \
	"  --tun-addr A/PREFIX  give the device this address (IPv4 or IPv6;\n"   \
	"                       repeat for both)\n"                              \
	"  --mtu N              device MTU (default: what fits the paths)\n"     \
	"  --path-mtu N         MTU of the paths (default 1500)\n"               \
	"  --up PROG            run PROG DEV MTU ADDR... once the device is up\n" \
	"  --down PROG          run PROG DEV MTU ADDR... at exit\n"

struct cli_tun {
	const char *name;		/* NULL = not tun mode */
	struct ip_prefix addr[CLI_TUN_MAX_ADDRS];
	unsigned naddr;
	unsigned mtu;			/* 0 = what fits */
	unsigned path_mtu;		/* 0 = TUN_PATH_MTU_DEFAULT */
	const char *up, *down;		/* hook programs, or NULL */
};

/* Like cli_common_option, for the tun options. */
int cli_tun_option(struct cli_tun *t, int opt, const char *arg);
/* Refuses tun options given without --tun. Returns 0, or -1 after printing
 * why (prog names the program). */
int cli_tun_check(const struct cli_tun *t, const char *prog);

void cli_common_init(struct cli_common *c, unsigned max_sessions);
/* Handles one getopt result. Returns 1 if it was a common option, 0 if
 * not ours, -1 (after printing why) if its argument is bad. */
int cli_common_option(struct cli_common *c, int opt, const char *arg);
/* Checks combinations once all options are in; -1 after printing why. */
int cli_common_finish(struct cli_common *c);
/* Parses a port number argument; returns 0..65535 or -1. */
int cli_port(const char *s);

#endif
