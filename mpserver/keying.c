/* mpserver's side of the key handshake. An authenticated HELLO makes a
 * session (or, repeated, gets the same WELCOME again): a fresh server
 * random and epoch, the session's two keys, and a WELCOME back to where the
 * HELLO came from. A sealed packet for a session we do not have (we
 * restarted) gets a RESET, so the client starts over at once. Both replies
 * are rate-limited and never larger than what caused them. */
#include <openssl/crypto.h>
#include <string.h>

#include "handshake.h"
#include "internal.h"
#include "log.h"
#include "rand.h"

static void reply(struct server *srv, const uint8_t *pkt, size_t len,
		  const struct mp_addr *to)
{
	if (sendto(srv->fd, pkt, len, MSG_DONTWAIT, &to->u.sa, to->len) != (ssize_t)len)
		srv->e.drops.n[DROP_SEND_FAIL]++;
}

static void send_welcome(struct server *srv, const struct session *s,
			 uint8_t path, const struct mp_addr *to)
{
	uint8_t pkt[HS_WELCOME_LEN];
	struct mp_hdr h = {
		.path = path,
		.session = s->f.id,
		.epoch = s->f.tx.epoch,
		.seq = 1,
	};

	reply(srv, pkt, hs_welcome_build(pkt, srv->e.key, &h, s->client_random,
					 s->server_random), to);
	srv->welcomes_sent++;
}

static int derive(struct server *srv, struct session *s)
{
	struct session_keys keys;
	int rc;

	rand_bytes(s->server_random, sizeof(s->server_random));
	rc = crypto_session_keys(srv->e.key, s->client_random, s->server_random, s->f.id,
				 s->client_epoch, s->f.tx.epoch, &keys) ||
	     aead_init(&s->f.seal, keys.s2c, 1) || aead_init(&s->f.open, keys.c2s, 0);
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc;
}

void keying_hello(struct server *srv, const uint8_t *pkt, size_t len,
		  const struct mp_hdr *h, const struct mp_addr *from)
{
	uint8_t client_random[CRYPTO_RANDOM_LEN];
	struct session *s;

	if (srv->per_client) {
		noisekeys_hello(srv, pkt, len, h, from);
		return;
	}
	/* The limit comes before the MAC: a flood of HELLOs costs a counter. */
	if (!ratelimit_allow(&srv->hello_limit, srv->e.now_ms)) {
		srv->e.drops.n[DROP_RATE_LIMITED]++;
		return;
	}
	if (hs_hello_check(pkt, len, srv->e.key, client_random)) {
		srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		srv->bad_hello_from = *from;
		return;
	}
	s = session_find(srv, h->session, h->epoch);
	if (s) {
		/* A resent HELLO (our WELCOME was lost) or the same HELLO from
		 * another path: the same answer. A different random under the
		 * same ids is not our client's. */
		if (CRYPTO_memcmp(client_random, s->client_random, CRYPTO_RANDOM_LEN))
			srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		else
			send_welcome(srv, s, h->path, from);
		return;
	}
	s = session_new(srv, h);
	if (!s) {
		srv->e.drops.n[DROP_SESSION_LIMIT]++;
		return;
	}
	memcpy(s->client_random, client_random, CRYPTO_RANDOM_LEN);
	if (derive(srv, s)) {
		log_warnx("session %08x: cannot set up its keys", s->f.id);
		session_free(srv, s);
		return;
	}
	send_welcome(srv, s, h->path, from);
}

void keying_reset(struct server *srv, const struct mp_hdr *h, const struct mp_addr *from)
{
	uint8_t pkt[HS_RESET_LEN];

	if (!ratelimit_allow(&srv->reset_limit, srv->e.now_ms))
		return;
	/* Echoes the session, epoch and sequence number it answers: the
	 * client believes a RESET only for one of its recent packets. */
	reply(srv, pkt, hs_reset_build(pkt, srv->e.key, h), from);
	srv->resets_sent++;
}

void keying_report(struct server *srv)
{
	uint64_t bad = srv->e.drops.n[DROP_BAD_HANDSHAKE];
	char str[NET_ADDRSTR];

	if (bad == srv->bad_hellos_reported ||
	    srv->e.now_ms - srv->last_report_ms < REPORT_INTERVAL_MS)
		return;
	log_warnx(srv->per_client
		  ? "%llu handshake message%s refused (the last from %s): a wrong server key, "
		    "or forged (unknown keys and replays are counted apart)"
		  : "%llu handshake message%s failed authentication (the last from %s): "
		    "a client with a different key?",
		  (unsigned long long)(bad - srv->bad_hellos_reported),
		  bad - srv->bad_hellos_reported == 1 ? "" : "s",
		  net_ntop(&srv->bad_hello_from, str));
	srv->bad_hellos_reported = bad;
	srv->last_report_ms = srv->e.now_ms;
}
