/* mpclient: application datagrams in on one local socket, out over every
 * bridge path; replies back to the application that sent the session's
 * first datagram. */
#ifndef MP_CLIENT_H
#define MP_CLIENT_H

#include "cli.h"
#include "config.h"
#include "crypto.h"
#include "noise.h"

struct ev_loop;
struct client;

struct client_opts {
	struct cli_common common;
	int port;			/* local listen port (UDP mode) */
	struct cli_tun tun;		/* tun mode when tun.name is set */
	const struct config *config;
	const struct crypto_master *key;	/* NULL = plaintext */
	/* per-client keys (--server-pubkey): key is then only the RESET MAC
	 * key, ident this client's key pair, psk the optional second factor */
	int per_client;
	uint8_t server_pub[NOISE_KEY_LEN];
	const char *psk_file;
	const struct noise_keypair *ident;
	const uint8_t *psk;			/* NULL = plain IK */
	unsigned probe_ms;		/* probe interval of busy sessions */
	/* latency cut-off: a path slower than this is demoted to backup;
	 * absolute, or a multiple of the best path's RTT; 0 = none */
	uint32_t cutoff_us;
	unsigned cutoff_pct;		/* 300 = 3x the best */
};

/* Opens the local socket and every path; logs and returns NULL on error. */
struct client *client_open(struct ev_loop *loop, const struct client_opts *o);
void client_close(struct client *c);
/* SIGHUP: the bridge list read again (mpclient/uplink.c says how paths
 * are matched, added, removed and changed). */
void client_reload(struct client *c, const struct config *next);
/* Writes every counter to the log (SIGUSR1 and exit). */
void client_log_stats(const struct client *c);

#endif
