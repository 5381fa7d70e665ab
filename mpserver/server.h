/* mpserver: bridge datagrams in on one listening socket, one session per
 * client flow, each with its own socket toward the target; replies go back
 * over the paths the session was recently heard on. */
#ifndef MP_SERVER_H
#define MP_SERVER_H

#include "cli.h"
#include "crypto.h"
#include "peers.h"

struct ev_loop;
struct server;

struct server_opts {
	struct cli_common common;
	int port;
	const char *target_host;	/* UDP mode; NULL in tun mode */
	int target_port;
	struct cli_tun tun;		/* tun mode when tun.name is set */
	const struct crypto_master *key;	/* NULL = plaintext */
	/* per-client mode when peers.n > 0 (the config's client lines): key
	 * is then only the RESET MAC key, and ident the server's key pair */
	struct peers peers;
	const struct noise_keypair *ident;
};

struct server *server_open(struct ev_loop *loop, const struct server_opts *o);
void server_close(struct server *s);
/* SIGHUP: options read again. What can change does (the mode and how
 * sessions spread and hold, for new sessions; the target, for new
 * sessions; the idle timeout; the log level); what cannot (sockets, the
 * device, the session table, privileges) is said and kept. */
void server_reload(struct server *s, const struct server_opts *next);
void server_log_stats(const struct server *s);

#endif
