/* mpclient: arguments, config, signals, the event loop, and unwinding. */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "client.h"
#include "config.h"
#include "daemon.h"
#include "hsnoise.h"
#include "log.h"
#include "noise.h"
#include "version.h"

enum {
	OPT_PROBE_INTERVAL = 0x200,
	OPT_RTT_CUTOFF,
	OPT_SERVER_PUBKEY,
	OPT_PSK_FILE,
};

/* --rtt-cutoff: "250" (ms) or "3x" (times the best path's RTT, 1.1..100). */
static int parse_cutoff(const char *arg, struct client_opts *o)
{
	size_t n = strlen(arg);
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg)
		return -1;
	if (n && arg[n - 1] == 'x' && end == arg + n - 1 && v >= 1.1 && v <= 100) {
		o->cutoff_pct = (unsigned)(v * 100 + 0.5);
		return 0;
	}
	if (*end || v < 1 || v > CUTOFF_MS_MAX)
		return -1;
	o->cutoff_us = (uint32_t)(v * 1000);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mpclient [options] LOCAL_PORT CONFIG_FILE\n"
		"       mpclient [options] --tun NAME [tun options] CONFIG_FILE\n"
		"\n"
		"Listens on LOCAL_PORT for a UDP application (or, with --tun, takes the\n"
		"IP packets routed into tun device NAME) and carries them over the\n"
		"bridges listed in CONFIG_FILE (one 'host port [key=value...]' per line)\n"
		"to an mpserver.\n"
		"\n"
		"options:\n"
		"  --bind ADDR          local address to listen on (default 127.0.0.1;\n"
		"                       not with --tun)\n"
		"  -n, --check-config   parse CONFIG_FILE, print it, and exit\n"
		"  --probe-interval MS  probe every path this often while traffic flows\n"
		"                       (default 50, 20 in bond mode; 1 s when idle)\n"
		"  --rtt-cutoff MS|Nx   demote a path to backup while its RTT is over MS\n"
		"                       milliseconds, or over N times the best path's\n"
		"                       RTT\n"
		"  --server-pubkey KEY  per-client keys: the server's public key (base64,\n"
		"                       its --pubkey); --key-file is then this client's\n"
		"                       private key (--genkey)\n"
		"  --psk-file FILE      with --server-pubkey: a pre-shared key mixed into\n"
		"                       the handshake (the server's psk-file= for us)\n"
		CLI_COMMON_USAGE
		CLI_TUN_USAGE);
}

static void log_stats(const void *ctx)
{
	client_log_stats(ctx);
}

/* What SIGHUP needs: the running config (the client points at it) and key. */
struct reload {
	struct client *c;
	const char *path;
	struct config *config;
	const struct cli_common *common;
	struct crypto_master *master;
};

/* SIGHUP: the config file read again; one with an error is refused and
 * the running one stays. The key file is read again too. */
static void reload(void *arg)
{
	static struct config next;
	struct reload *r = arg;

	log_info("SIGHUP: reading %s again", r->path);
	if (config_load(&next, r->path)) {
		log_error("reload refused: %s has an error (above); the running config stays",
			  r->path);
		return;
	}
	if (r->master)
		daemon_reload_key(r->common, r->master);
	client_reload(r->c, &next);
	*r->config = next;
}

/* mpclient's own options; -1 on a bad one (said on stderr). */
static int client_option(struct client_opts *o, int opt, const char *arg, int *check_only)
{
	if (opt == 'n') {
		*check_only = 1;
	} else if (opt == OPT_PROBE_INTERVAL) {
		char *end;
		errno = 0;
		long v = strtol(arg, &end, 10);
		if (errno || *end || end == arg || v < CLI_PROBE_MS_MIN || v > CLI_PROBE_MS_MAX) {
			fprintf(stderr, "--probe-interval: expected %d..%d ms, got '%s'\n",
				CLI_PROBE_MS_MIN, CLI_PROBE_MS_MAX, arg);
			return -1;
		}
		o->probe_ms = (unsigned)v;
	} else if (opt == OPT_SERVER_PUBKEY) {
		char err[CRYPTO_ERR_MAX];

		if (noise_pubkey_parse(arg, strlen(arg), o->server_pub, err, sizeof(err))) {
			fprintf(stderr, "--server-pubkey: %s\n", err);
			return -1;
		}
		o->per_client = 1;
	} else if (opt == OPT_PSK_FILE) {
		o->psk_file = arg;
	} else if (opt == OPT_RTT_CUTOFF) {
		if (parse_cutoff(arg, o)) {
			fprintf(stderr, "--rtt-cutoff: expected milliseconds (1..%d) or "
				"a multiple like 3x (1.1x..100x), got '%s'\n", CUTOFF_MS_MAX, arg);
			return -1;
		}
	} else {
		return -1;
	}
	return 0;
}

/* What follows the options: LOCAL_PORT CONFIG_FILE, or CONFIG_FILE alone in
 * tun mode. Returns the config file's index, or -1 (said on stderr). */
static int positional(struct client_opts *o, int argc, char **argv, int first)
{
	if (o->tun.name) {		/* tun mode: no local socket */
		if (o->common.bind) {
			fprintf(stderr, "mpclient: --bind makes no sense with --tun "
				"(there is no local socket)\n");
			return -1;
		}
		if (argc - first != 1) {
			fprintf(stderr, "mpclient: with --tun, expected CONFIG_FILE only\n");
			return -1;
		}
		return first;
	}
	if (argc - first != 2) {
		fprintf(stderr, "mpclient: expected LOCAL_PORT CONFIG_FILE\n");
		return -1;
	}
	o->port = cli_port(argv[first]);
	if (o->port < 0) {
		fprintf(stderr, "mpclient: LOCAL_PORT must be 1..65535, got '%s'\n", argv[first]);
		return -1;
	}
	return first + 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		CLI_TUN_LONGOPTS,
		{ "check-config", no_argument, NULL, 'n' },
		{ "probe-interval", required_argument, NULL, OPT_PROBE_INTERVAL },
		{ "rtt-cutoff", required_argument, NULL, OPT_RTT_CUTOFF },
		{ "server-pubkey", required_argument, NULL, OPT_SERVER_PUBKEY },
		{ "psk-file", required_argument, NULL, OPT_PSK_FILE },
		{ NULL, 0, NULL, 0 },
	};
	struct client_opts o = { .probe_ms = 0 };	/* 0: the mode's default */
	struct config config;
	struct crypto_master master = { 0 };
	static struct noise_keypair ident;
	static uint8_t psk[CRYPTO_KEY_LEN];
	int check_only = 0, opt;

	log_init("mpclient", LOG_INFO);
	cli_common_init(&o.common, CLIENT_MAX_SESSIONS_DEFAULT);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "n", longopts,
				  NULL)) != -1) {
		int r = cli_common_option(&o.common, opt, optarg);
		if (r < 0)
			goto bad_usage;
		if (r > 0)
			continue;
		r = cli_tun_option(&o.tun, opt, optarg);
		if (r < 0)
			goto bad_usage;
		if (r > 0)
			continue;
		if (client_option(&o, opt, optarg, &check_only))
			goto bad_usage;
	}
	if (o.common.help) {
		usage(stdout);
		return 0;
	}
	if (o.common.version) {
		printf("mpclient %s\n", MPRELAY_VERSION);
		return 0;
	}
	if (o.common.genkey)
		return daemon_genkey(o.common.genkey);
	if (o.common.pubkey)
		return daemon_pubkey(o.common.pubkey);
	if (cli_common_finish(&o.common))
		goto bad_usage;
	if (!o.probe_ms)
		o.probe_ms = o.common.mode == SCHED_BOND ? CLI_PROBE_MS_BOND_DEFAULT
							 : CLI_PROBE_MS_DEFAULT;
	if (o.psk_file && !o.per_client) {
		fprintf(stderr, "mpclient: --psk-file goes with --server-pubkey (per-client keys)\n");
		goto bad_usage;
	}
	if (o.per_client && !o.common.key_file) {
		fprintf(stderr, "mpclient: --server-pubkey needs --key-file, this client's "
			"private key (--genkey)\n");
		goto bad_usage;
	}
	log_set_level(o.common.level);
	if (cli_tun_check(&o.tun, "mpclient"))
		goto bad_usage;
	if ((optind = positional(&o, argc, argv, optind)) < 0)
		goto bad_usage;
	if (!o.common.bind)
		o.common.bind = "127.0.0.1";
	if (config_load(&config, argv[optind]))
		return 1;
	if (check_only) {
		char out[MP_MAX_PATHS * 256];
		config_print(&config, out, sizeof(out));
		printf("%s: OK\n%s", argv[optind], out);
		return 0;
	}
	o.config = &config;
	if (o.per_client) {
		char err[CRYPTO_ERR_MAX];

		/* per-client keys: the key file is our private key; the RESET
		 * MAC key comes from the server's public key */
		if (daemon_load_identity(o.common.key_file, &ident))
			return 1;
		if (o.psk_file && crypto_key_load(o.psk_file, psk, err)) {
			log_error("--psk-file: %s", err);
			noise_keypair_wipe(&ident);
			return 1;
		}
		hsn_reset_master(o.server_pub, &master);
		o.key = &master;
		o.ident = &ident;
		o.psk = o.psk_file ? psk : NULL;
	} else if (daemon_load_key(&o.common, &master, &o.key)) {
		return 1;
	}

	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	if (!loop)
		fatalx("cannot start the event loop");
	struct client *c = client_open(loop, &o);
	int rc = 1;
	struct reload r = { c, argv[optind], &config, &o.common,
			    o.key && !o.per_client ? &master : NULL };
	if (c && !daemon_drop_privileges(o.common.user)) {
		daemon_on_reload(reload, &r);
		daemon_run(loop, log_stats, c);
		rc = 0;
	}
	client_close(c);
	ev_loop_destroy(loop);
	crypto_master_wipe(&master);
	noise_keypair_wipe(&ident);
	OPENSSL_cleanse(psk, sizeof(psk));
	return rc;

bad_usage:
	usage(stderr);
	return 2;
}
