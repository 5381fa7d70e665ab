/* Shared option handling for mpclient and mpserver. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <unistd.h>

#include "wire.h"

void cli_common_init(struct cli_common *c, unsigned max_sessions)
{
	*c = (struct cli_common){
		.mode = SCHED_DUPLICATE,
		.idle_timeout_s = CLI_IDLE_TIMEOUT_S_DEFAULT,
		.max_sessions = max_sessions,
		.level = LOG_INFO,
		.copies = 1,
		.recover = 1,
		.target_loss_ppm = CLI_TARGET_LOSS_PPM_DEFAULT,
		.small_bytes = CLI_SMALL_BYTES_DEFAULT,
	};
}

static int number(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return (errno || end == s || *end || *out < min || *out > max) ? -1 : 0;
}

int cli_port(const char *s)
{
	long v;

	return number(s, 1, 65535, &v) ? -1 : (int)v;
}

/* The options that decide how datagrams are put on paths; 1 taken, 0 not
 * ours, -1 bad (said on stderr). */
static int sched_option(struct cli_common *c, int opt, const char *arg)
{
	long v;

	switch (opt) {
	case OPT_MODE:
		if (sched_mode_parse(arg, &c->mode)) {
			fprintf(stderr, "--mode: expected duplicate, roundrobin, weighted, "
				"adaptive or bond, got '%s'\n", arg);
			return -1;
		}
		c->mode_set = 1;
		return 1;
	case OPT_COPIES:
		c->copies_set = 1;
		if (!strcmp(arg, "auto")) {
			c->copies = SCHED_COPIES_AUTO;
		} else if (number(arg, 1, MP_MAX_PATHS, &v)) {
			fprintf(stderr, "--copies: expected 1..%d or auto, got '%s'\n",
				MP_MAX_PATHS, arg);
			return -1;
		} else {
			c->copies = (unsigned)v;
		}
		return 1;
	case OPT_TARGET_LOSS: {
		char *end;
		errno = 0;
		double pct = strtod(arg, &end);
		if (errno || end == arg || *end || !(pct >= 0.001 && pct <= 50)) {
			fprintf(stderr, "--target-loss: expected a percentage from 0.001 "
				"to 50, got '%s'\n", arg);
			return -1;
		}
		c->target_loss_ppm = (uint32_t)(pct * 10000 + 0.5);
		return 1;
	}
	case OPT_REORDER_MS:
		c->reorder_set = 1;
		if (!strcmp(arg, "auto")) {
			c->reorder_ms = CLI_REORDER_AUTO;
		} else if (number(arg, 0, CLI_REORDER_MS_MAX, &v)) {
			fprintf(stderr, "--reorder-ms: expected 0..%d or auto, got '%s'\n",
				CLI_REORDER_MS_MAX, arg);
			return -1;
		} else {
			c->reorder_ms = (int)v;
		}
		return 1;
	case OPT_RECOVER:
		if (strcmp(arg, "on") && strcmp(arg, "off")) {
			fprintf(stderr, "--recover: expected on or off, got '%s'\n", arg);
			return -1;
		}
		c->recover = !strcmp(arg, "on");
		return 1;
	case OPT_SMALL_BYTES:
		if (number(arg, 0, MP_MAX_PAYLOAD, &v)) {
			fprintf(stderr, "--small-bytes: expected 0..%d, got '%s'\n",
				MP_MAX_PAYLOAD, arg);
			return -1;
		}
		c->small_bytes = (unsigned)v;
		return 1;
	}
	return 0;
}

int cli_common_option(struct cli_common *c, int opt, const char *arg)
{
	long v;

	switch (opt) {
	case OPT_BIND:
		c->bind = arg;
		return 1;
	case OPT_IDLE_TIMEOUT:
		if (number(arg, 1, CLI_IDLE_TIMEOUT_S_MAX, &v)) {
			fprintf(stderr, "--idle-timeout: expected 1..%d seconds, got '%s'\n",
				CLI_IDLE_TIMEOUT_S_MAX, arg);
			return -1;
		}
		c->idle_timeout_s = (unsigned)v;
		return 1;
	case OPT_MAX_SESSIONS:
		if (number(arg, 1, CLI_MAX_SESSIONS_LIMIT, &v)) {
			fprintf(stderr, "--max-sessions: expected 1..%d, got '%s'\n",
				CLI_MAX_SESSIONS_LIMIT, arg);
			return -1;
		}
		c->max_sessions = (unsigned)v;
		return 1;
	case OPT_KEY_FILE:
		c->key_file = arg;
		return 1;
	case OPT_GENKEY:
		c->genkey = arg;
		return 1;
	case OPT_PUBKEY:
		c->pubkey = arg;
		return 1;
	case OPT_USER:
		c->user = arg;
		return 1;
	case OPT_STATUS:
		c->status_path = arg;
		return 1;
	case OPT_METRICS:
		c->metrics = arg;
		return 1;
	case OPT_PATH_SCRIPT:
		c->path_script = arg;
		return 1;
	case 'v':
		if (c->level < LOG_DEBUG)
			c->level++;
		return 1;
	case 'q':
		c->level = LOG_ERROR;
		return 1;
	case 'h':
		c->help = 1;
		return 1;
	case OPT_VERSION:
		c->version = 1;
		return 1;
	}
	return sched_option(c, opt, arg);
}

int cli_common_finish(struct cli_common *c)
{
	if (c->mode == SCHED_DUPLICATE && c->copies_set) {
		fprintf(stderr, "--copies: duplicate mode already sends on every path; "
			"use it with roundrobin, weighted, adaptive or bond\n");
		return -1;
	}
	if (!c->reorder_set)
		c->reorder_ms = c->mode == SCHED_DUPLICATE ? 0 : CLI_REORDER_AUTO;
	if (c->path_script && access(c->path_script, X_OK)) {
		fprintf(stderr, "--path-script: %s: %s\n", c->path_script, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- tun mode ------------------------------------------------------------ */

int cli_tun_option(struct cli_tun *t, int opt, const char *arg)
{
	long v;

	switch (opt) {
	case OPT_TUN:
		if (!*arg || strlen(arg) >= IFNAMSIZ || strchr(arg, '/')) {
			fprintf(stderr, "--tun: expected an interface name (1..%d characters), got '%s'\n",
				IFNAMSIZ - 1, arg);
			return -1;
		}
		t->name = arg;
		return 1;
	case OPT_TUN_ADDR:
		if (t->naddr == CLI_TUN_MAX_ADDRS) {
			fprintf(stderr, "--tun-addr: at most %d\n", CLI_TUN_MAX_ADDRS);
			return -1;
		}
		if (ip_parse_prefix(arg, &t->addr[t->naddr])) {
			fprintf(stderr, "--tun-addr: expected ADDR/PREFIX (10.0.0.1/24, fd00::1/64), got '%s'\n",
				arg);
			return -1;
		}
		t->naddr++;
		return 1;
	case OPT_MTU:
		if (number(arg, CLI_MTU_MIN, MP_MAX_PAYLOAD, &v)) {
			fprintf(stderr, "--mtu: expected %d..%d, got '%s'\n", CLI_MTU_MIN,
				MP_MAX_PAYLOAD, arg);
			return -1;
		}
		t->mtu = (unsigned)v;
		return 1;
	case OPT_PATH_MTU:
		if (number(arg, CLI_PATH_MTU_MIN, CLI_PATH_MTU_MAX, &v)) {
			fprintf(stderr, "--path-mtu: expected %d..%d, got '%s'\n",
				CLI_PATH_MTU_MIN, CLI_PATH_MTU_MAX, arg);
			return -1;
		}
		t->path_mtu = (unsigned)v;
		return 1;
	case OPT_UP:
		t->up = arg;
		return 1;
	case OPT_DOWN:
		t->down = arg;
		return 1;
	}
	return 0;
}

int cli_tun_check(const struct cli_tun *t, const char *prog)
{
	if (t->name)
		return 0;
	if (t->naddr || t->mtu || t->path_mtu || t->up || t->down) {
		fprintf(stderr, "%s: --tun-addr, --mtu, --path-mtu, --up and --down "
			"need --tun\n", prog);
		return -1;
	}
	return 0;
}
