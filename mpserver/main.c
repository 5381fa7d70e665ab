/* mpserver: arguments and the config file, limits, signals, the event
 * loop, and unwinding. */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "hsnoise.h"
#include "optfile.h"
#include "peers.h"
#include "server.h"
#include "util.h"
#include "version.h"

/* The positional arguments as settings of the config file. */
enum { OPT_LISTEN = 0x300, OPT_TARGET, OPT_CLIENT };

static const struct option longopts[] = {
	CLI_COMMON_LONGOPTS,
	CLI_TUN_LONGOPTS,
	{ "config", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};

/* The file takes every long option but these; tun-addr and verbose may
 * repeat, as on the command line. */
static const char *const file_skip[] = { "config", "help", "version", "genkey", "pubkey", NULL };
static const char *const file_repeat[] = { "tun-addr", "verbose", NULL };

/* What the command line said, kept to be applied over the file's settings
 * (again at each reload). */
struct cmdline {
	const char *config;
	int n;
	int code[64];
	const char *arg[64];
	char **pos;			/* positional arguments */
	int npos;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mpserver [options] LISTEN_PORT TARGET_HOST TARGET_PORT\n"
		"       mpserver [options] --tun NAME [tun options] LISTEN_PORT\n"
		"       mpserver -c FILE [options] [LISTEN_PORT [TARGET_HOST TARGET_PORT]]\n"
		"\n"
		"Receives datagrams from mpclient over the bridges on LISTEN_PORT, drops\n"
		"duplicates and forwards them to TARGET_HOST:TARGET_PORT, one source port\n"
		"per session; replies go back over the bridges. With --tun, the sessions\n"
		"carry IP packets to and from tun device NAME instead, each session\n"
		"receiving the packets for the inner addresses it sends from.\n"
		"\n"
		"options:\n"
		"  -c, --config FILE    settings from FILE, one 'name value' a line: every\n"
		"                       long option by its name, and 'listen PORT', 'target\n"
		"                       HOST PORT' (see README); the command line overrides\n"
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

/* One setting, from the command line or the file: 0, or -1 (said on
 * stderr by the option's handler, as for the command line). */
static int apply(struct server_opts *o, int code, const char *const *arg, unsigned nargs,
		 unsigned line)
{
	if (code == OPT_CLIENT) {
		char err[PEERS_ERR_MAX];

		if (peers_add(&o->peers, arg, nargs, line, err)) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
		return 0;
	}
	if (code == OPT_LISTEN) {
		if ((o->port = cli_port(arg[0])) < 0) {
			fprintf(stderr, "listen: expected a port, 1..65535, got '%s'\n", arg[0]);
			return -1;
		}
		return 0;
	}
	if (code == OPT_TARGET) {
		o->target_host = arg[0];
		if ((o->target_port = cli_port(arg[1])) < 0) {
			fprintf(stderr, "target: expected HOST PORT (1..65535), got '%s'\n", arg[1]);
			return -1;
		}
		return 0;
	}
	int r = cli_common_option(&o->common, code, arg[0]);
	if (r == 0)
		r = cli_tun_option(&o->tun, code, arg[0]);
	return r > 0 ? 0 : -1;
}

static int on_cmdline(const struct cmdline *cl, int code)
{
	for (int i = 0; i < cl->n; i++)
		if (cl->code[i] == code)
			return 1;
	return 0;
}

/* The options: the file's settings (file may be NULL), then the command
 * line's, which replace any the file gave (all of a repeated one), then
 * the positional arguments (LISTEN_PORT replaces 'listen', TARGET_HOST
 * TARGET_PORT 'target'). 0; 1 for a bad value in the file; -1 for a bad
 * command line; each after saying why on stderr. */
static int server_options(struct server_opts *o, const struct optfile *file,
			  const struct cmdline *cl)
{
	memset(o, 0, sizeof(*o));
	cli_common_init(&o->common, SERVER_MAX_SESSIONS_DEFAULT);
	o->port = o->target_port = -1;
	for (unsigned i = 0; file && i < file->n; i++) {
		const struct optfile_entry *e = &file->e[i];
		if (on_cmdline(cl, e->code))
			continue;
		if (apply(o, e->code, e->arg, e->nargs, e->line)) {
			fprintf(stderr, "mpserver: %s:%u: bad value for '%s' (above)\n",
				cl->config, e->line, optfile_def(file, e->code)->name);
			return 1;
		}
	}
	for (int i = 0; i < cl->n; i++)
		if (apply(o, cl->code[i], (const char *[]){ cl->arg[i], NULL }, 1, 0))
			return -1;
	if (cl->npos == 1 || cl->npos == 3) {
		if (apply(o, OPT_LISTEN, (const char *const *)cl->pos, 1, 0) ||
		    (cl->npos == 3 &&
		     apply(o, OPT_TARGET, (const char *const *)cl->pos + 1, 2, 0)))
			return -1;
	} else if (cl->npos) {
		fprintf(stderr, "mpserver: expected LISTEN_PORT [TARGET_HOST TARGET_PORT]\n");
		return -1;
	}
	if (o->common.help || o->common.version || o->common.genkey || o->common.pubkey)
		return 0;		/* nothing else matters */
	if (cli_common_finish(&o->common) || cli_tun_check(&o->tun, "mpserver"))
		return -1;
	if (o->port < 0) {
		fprintf(stderr, cl->config ? "mpserver: no listening port (LISTEN_PORT, or "
			"'listen' in the config file)\n" :
			"mpserver: expected LISTEN_PORT TARGET_HOST TARGET_PORT\n");
		return -1;
	}
	if (o->tun.name && o->target_host) {
		fprintf(stderr, "mpserver: with --tun, expected LISTEN_PORT only (no target: "
			"the tun device is it)\n");
		return -1;
	}
	if (o->peers.n && !o->common.key_file) {
		fprintf(stderr, "mpserver: 'client' lines (per-client keys) need --key-file, "
			"the server's private key (--genkey)\n");
		return -1;
	}
	if (!o->tun.name && !o->target_host) {
		fprintf(stderr, "mpserver: no target (TARGET_HOST TARGET_PORT, or 'target' "
			"in the config file)\n");
		return -1;
	}
	return 0;
}

/* The config file's settings; -1 after logging why. */
static int load_file(const char *path, struct optfile *f, struct optfile_def *defs)
{
	unsigned n = optfile_defs(longopts, file_skip, file_repeat, defs, OPTFILE_DEFS_MAX - 3);

	defs[n++] = (struct optfile_def){ "listen", OPT_LISTEN, 1, 0, 0 };
	defs[n++] = (struct optfile_def){ "target", OPT_TARGET, 2, 0, 0 };
	defs[n++] = (struct optfile_def){ "client", OPT_CLIENT, PEER_ARGS_MIN, 1, PEER_ARGS_MAX };
	optfile_init(f, defs, n);
	return optfile_load(f, path);
}

/* What SIGHUP needs. */
struct reload {
	struct server *srv;
	const struct cmdline *cl;
	struct optfile_def *defs;
	const struct cli_common *common;
	struct crypto_master *master;
};

/* SIGHUP: the config file read again, under the same command line; a file
 * or a setting with an error is refused and the running options stay.
 * The key file is read again too. */
static void reload(void *arg)
{
	static struct optfile next_file;
	struct reload *r = arg;
	static struct server_opts next;

	if (!r->cl->config) {
		log_info("SIGHUP: no --config; the key file is read again");
	} else {
		log_info("SIGHUP: reading %s again", r->cl->config);
		if (load_file(r->cl->config, &next_file, r->defs)) {
			log_error("reload refused: %s has an error (above); the running "
				  "options stay", r->cl->config);
			return;
		}
	}
	if (server_options(&next, r->cl->config ? &next_file : NULL, r->cl)) {
		log_error("reload refused: a bad setting (above); the running options stay");
		return;
	}
	if (next.peers.n) {
		char err[PEERS_ERR_MAX];

		if (peers_load_psks(&next.peers, err)) {
			log_error("reload refused: %s; the running options stay", err);
			peers_wipe(&next.peers);
			return;
		}
	}
	if (r->master)
		daemon_reload_key(r->common, r->master);
	fit_fd_limit(&next.common.max_sessions);
	server_reload(r->srv, &next);
	peers_wipe(&next.peers);
}

int main(int argc, char **argv)
{
	static struct optfile_def defs[OPTFILE_DEFS_MAX];
	static struct optfile file;
	struct cmdline cl = { 0 };
	static struct server_opts o;
	static struct noise_keypair ident;
	struct crypto_master master = { 0 };
	int opt;

	log_init("mpserver", LOG_INFO);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "c:", longopts,
				  NULL)) != -1) {
		if (opt == '?' || opt == ':')
			goto bad_usage;
		if (opt == 'c') {
			cl.config = optarg;
			continue;
		}
		if (cl.n == (int)ARRAY_LEN(cl.code)) {
			fprintf(stderr, "mpserver: too many options\n");
			goto bad_usage;
		}
		cl.code[cl.n] = opt;
		cl.arg[cl.n++] = optarg;
	}
	cl.pos = argv + optind;
	cl.npos = argc - optind;
	if (cl.config && load_file(cl.config, &file, defs))
		return 1;
	int r = server_options(&o, cl.config ? &file : NULL, &cl);
	if (r > 0)
		return 1;
	if (r < 0)
		goto bad_usage;
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
	if (o.common.pubkey)
		return daemon_pubkey(o.common.pubkey);
	log_set_level(o.common.level);
	fit_fd_limit(&o.common.max_sessions);
	if (o.peers.n) {
		char err[PEERS_ERR_MAX];

		/* per-client keys: the key file is our private key; the only
		 * MAC key of our own is the RESET's, from our public key */
		if (daemon_load_identity(o.common.key_file, &ident))
			return 1;
		if (peers_load_psks(&o.peers, err)) {
			log_error("%s", err);
			return 1;
		}
		hsn_reset_master(ident.pub, &master);
		o.key = &master;
		o.ident = &ident;
	} else if (daemon_load_key(&o.common, &master, &o.key)) {
		return 1;
	}

	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	if (!loop)
		fatalx("cannot start the event loop");
	struct server *srv = server_open(loop, &o);
	int rc = 1;
	struct reload hup = { srv, &cl, defs, &o.common,
			      o.key && !o.peers.n ? &master : NULL };
	if (srv && !daemon_drop_privileges(o.common.user)) {
		daemon_on_reload(reload, &hup);
		daemon_run(loop, log_stats, srv);
		rc = 0;
	}
	server_close(srv);
	ev_loop_destroy(loop);
	crypto_master_wipe(&master);
	noise_keypair_wipe(&ident);
	peers_wipe(&o.peers);
	return rc;

bad_usage:
	usage(stderr);
	return 2;
}
