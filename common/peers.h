/* mpserver's per-client keys: the `client NAME PUBKEY [allowed-ips=CIDR,...]
 * [psk-file=FILE]` lines of its config file, parsed and checked as a whole
 * (docs/PROTOCOL.md, "Per-client keys"). Strict: a bad name, key, prefix or
 * option, a repeated name or key, and allowed-ips that overlap another
 * client's are errors. Fed one line's values at a time and never opens a
 * file (peers_load_psks is the thin reader of the psk files), so it is fuzzed
 * with the config parser. Fixed size: at most PEERS_MAX clients. */
#ifndef MP_PEERS_H
#define MP_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "ip.h"
#include "noise.h"

enum {
	PEERS_MAX = 256,		/* client lines in one config */
	PEER_NAME_MAX = 31,		/* [A-Za-z0-9._-], as a bridge's name= */
	PEER_ALLOWED_MAX = 8,		/* prefixes in one allowed-ips= */
	PEER_PATH_MAX = 255,		/* psk-file= */
	PEER_ARGS_MIN = 2,		/* NAME PUBKEY */
	PEER_ARGS_MAX = 4,		/* ... allowed-ips= psk-file= */
	PEERS_ERR_MAX = 200,
};

struct peer {
	char name[PEER_NAME_MAX + 1];
	uint8_t pub[NOISE_KEY_LEN];
	struct ip_prefix allowed[PEER_ALLOWED_MAX];
	unsigned nallowed;
	char psk_file[PEER_PATH_MAX + 1];	/* "" = plain IK */
	uint8_t psk[NOISE_KEY_LEN];		/* once peers_load_psks read it */
	unsigned line;				/* where it was defined */
};

struct peers {
	struct peer p[PEERS_MAX];
	unsigned n;
};

void peers_init(struct peers *ps);
/* One client line's values (after the word "client"): 2..4 of them. line
 * is where it is, for errors that name an earlier line. 0, or -1 with the
 * reason in err; nothing of a refused line is kept. */
int peers_add(struct peers *ps, const char *const *arg, unsigned nargs, unsigned line,
	      char err[static PEERS_ERR_MAX]);
/* Reads each client's psk-file (the key-file format and checks). 0, or -1
 * with the client and the reason in err. */
int peers_load_psks(struct peers *ps, char err[static PEERS_ERR_MAX]);
/* The client whose allowed-ips hold a, by longest prefix, or -1. */
long peers_route(const struct peers *ps, const struct ip_addr *a);
/* 1 if a is inside prefix pf. */
int peer_allows_prefix(const struct ip_prefix *pf, const struct ip_addr *a);
/* 1 if a is inside one of p's allowed-ips. */
int peer_allows(const struct peer *p, const struct ip_addr *a);
/* Canonical text of every client, one line each (golden tests). */
void peers_print(const struct peers *ps, char *out, size_t outlen);
/* Wipes the psks. */
void peers_wipe(struct peers *ps);

#endif
