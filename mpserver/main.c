/* mpserver: arguments, limits, signals, the event loop, and unwinding. */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "server.h"
#include "version.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mpserver [options] LISTEN_PORT TARGET_HOST TARGET_PORT\n"
		"       mpserver [options] --tun NAME [tun options] LISTEN_PORT\n"
		"\n"
		"Receives datagrams from mpclient over the bridges on LISTEN_PORT, drops\n"
		"duplicates and forwards them to TARGET_HOST:TARGET_PORT, one source port\n"
		"per session; replies go back over the bridges. With --tun, the sessions\n"
		"carry IP packets to and from tun device NAME instead, each session\n"
		"receiving the packets for the inner addresses it sends from.\n"
		"\n"
		"options:\n"
		"  --bind ADDR          address to listen on (default: all, IPv6 and IPv4)\n"
		CLI_COMMON_USAGE
		CLI_TUN_USAGE);
}

/* Each session holds a socket: make sure the limit allows them all. */
static void fit_fd_limit(unsigned *max_sessions)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < *max_sessions + FDS_RESERVED) {
		unsigned fit = rl.rlim_cur > FDS_RESERVED ? (unsigned)rl.rlim_cur - FDS_RESERVED : 1;
		log_warnx("open-file limit %llu allows %u sessions, not %u",
			  (unsigned long long)rl.rlim_cur, fit, *max_sessions);
		*max_sessions = fit;
	}
}

static void log_stats(const void *ctx)
{
	server_log_stats(ctx);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		CLI_TUN_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct server_opts o = { 0 };
	struct crypto_master master;
	int opt;

	log_init("mpserver", LOG_INFO);
	cli_common_init(&o.common, SERVER_MAX_SESSIONS_DEFAULT);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts,
				  NULL)) != -1) {
		int r = cli_common_option(&o.common, opt, optarg);
		if (r == 0)
			r = cli_tun_option(&o.tun, opt, optarg);
		if (r <= 0)
			goto bad_usage;
	}
	if (o.common.help) {
		usage(stdout);
		return 0;
	}
	if (o.common.version) {
		printf("mpserver %s\n", MPRELAY_VERSION);
		return 0;
	}
	if (o.common.genkey)
		return daemon_genkey(o.common.genkey);
	if (cli_common_finish(&o.common))
		goto bad_usage;
	log_set_level(o.common.level);
	if (cli_tun_check(&o.tun, "mpserver"))
		goto bad_usage;
	if (o.tun.name && argc - optind != 1) {
		fprintf(stderr, "mpserver: with --tun, expected LISTEN_PORT only (no target)\n");
		goto bad_usage;
	}
	if (!o.tun.name && argc - optind != 3) {
		fprintf(stderr, "mpserver: expected LISTEN_PORT TARGET_HOST TARGET_PORT\n");
		goto bad_usage;
	}
	o.port = cli_port(argv[optind]);
	if (!o.tun.name) {
		o.target_host = argv[optind + 1];
		o.target_port = cli_port(argv[optind + 2]);
	}
	if (o.port < 0 || o.target_port < 0) {
		fprintf(stderr, "mpserver: ports must be 1..65535\n");
		goto bad_usage;
	}
	fit_fd_limit(&o.common.max_sessions);
	if (daemon_load_key(&o.common, &master, &o.key))
		return 1;

	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	if (!loop)
		fatalx("cannot start the event loop");
	struct server *srv = server_open(loop, &o);
	int rc = 1;
	if (srv && !daemon_drop_privileges(o.common.user)) {
		daemon_run(loop, log_stats, srv);
		rc = 0;
	}
	server_close(srv);
	ev_loop_destroy(loop);
	crypto_master_wipe(&master);
	return rc;

bad_usage:
	usage(stderr);
	return 2;
}
