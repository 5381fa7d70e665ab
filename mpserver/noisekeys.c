/* mpserver's half of the per-client (Noise IK) handshake: an initiation is
 * checked in the order of docs/PROTOCOL.md, cheapest first, each drop
 * counted and none answered: exact length, kind and mac1 (one HMAC); the
 * HELLO limit, over which only a valid cookie passes (cookie.c); the
 * initiator's key (one DH) among the client lines; a copy of the latest
 * initiation (the same bytes from another path: the stored response again,
 * no more DH, while its session is unconfirmed and for HANDSHAKE_COPY_MS;
 * after, a replay); the second DH and the payload, whose timestamp must be newer than
 * that client's last accepted (replay); then a session, new or (the
 * client's retry, or a rekey) given new keys, and the response. The
 * transport keys from noise_split seal and open as in shared-key mode. */
#include <string.h>

#include <openssl/crypto.h>

#include "hsnoise.h"
#include "internal.h"
#include "log.h"

static void reply(struct server *srv, const uint8_t *pkt, size_t len,
		  const struct mp_addr *to)
{
	if (sendto(srv->fd, pkt, len, MSG_DONTWAIT, &to->u.sa, to->len) != (ssize_t)len)
		srv->e.drops.n[DROP_SEND_FAIL]++;
}

/* The session's two keys from the handshake: i2r opens what the client
 * sends, r2i seals what we send. For a rekey of a confirmed session they
 * are the next keys, current once a packet under them authenticates (key
 * confirmation: receive_open); before, they replace the keys at once. */
static int install(struct session *s, struct noise_hs *hs, int next)
{
	struct aead *seal = next ? &s->f.seal_next : &s->f.seal;
	struct aead *open = next ? &s->f.open_next : &s->f.open;
	struct noise_keys keys;
	int rc = noise_split(hs, &keys);

	if (!rc) {
		aead_free(seal);
		aead_free(open);
		rc = aead_init(seal, keys.r2i, 1) || aead_init(open, keys.i2r, 0);
		if (!next) {
			flow_keys_set(&s->f);
			s->f.reject_ms = (uint64_t)REJECT_AFTER_S * 1000;
		}
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	return rc ? -1 : 0;
}

/* The session this initiation is for: a new one, or ours again (a retry
 * before any packet confirmed it, or a rekey) when it is the same
 * client's. NULL (counted) otherwise. *fresh says it was made here. */
static struct session *target(struct server *srv, const struct mp_hdr *h, struct cslot *c,
			      uint16_t flags, int *fresh)
{
	struct session *s = session_find(srv, h->session, h->epoch);

	*fresh = 0;
	if (s) {
		if (s->client == c && (!s->confirmed || flags & HSN_FLAG_REKEY))
			return s;
		srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return NULL;
	}
	if (!(s = session_new(srv, h))) {
		srv->e.drops.n[DROP_SESSION_LIMIT]++;
		return NULL;
	}
	s->client = c;
	clients_session_new(c, s);
	*fresh = 1;
	return s;
}

/* Steps 3 to 5 once mac1 and the limit passed; hs is wiped on return. */
static void accept_init(struct server *srv, struct noise_hs *hs, const uint8_t *pkt,
			uint8_t kind, const struct mp_hdr *h, const struct mp_addr *from)
{
	uint8_t peer[NOISE_KEY_LEN], payload[NOISE_PAYLOAD_MAX], ts[NOISE_TIMESTAMP_LEN];
	uint8_t p2[HSN_MSG2_PAYLOAD_LEN], msg2[HSN_MSG2_LEN];
	const uint8_t *msg1 = pkt + HSN_BODY_OFF;
	struct session *s;
	struct cslot *c;
	uint16_t flags;
	long plen;
	int fresh;

	if (noise_read_msg1_peer(hs, msg1, HSN_MSG1_LEN, peer)) {
		srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return;
	}
	if (!(c = clients_find(srv, peer))) {
		srv->e.drops.n[DROP_UNKNOWN_KEY]++;
		srv->hs.unknown_key++;
		return;
	}
	/* IKpsk2 exactly when the client's line has a psk-file */
	if ((kind == HSN_KIND_IKPSK2) != (c->cfg.psk_file[0] != '\0')) {
		srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return;
	}
	if (c->has_last && !CRYPTO_memcmp(c->last_init, pkt + 1, sizeof(c->last_init))) {
		/* The same from another path, while the client may still be
		 * waiting for its answer: the same answer. Later, or once a
		 * packet under its keys came, a replay: none. Its keys are the
		 * session's, or for a rekey of a confirmed session its next
		 * ones until a packet confirms them. */
		struct session *was = session_find(srv, h->session, h->epoch);
		if (!was || (was->confirmed && !was->f.open_next.ctx) ||
		    srv->e.now_ms - c->last_ms >= HANDSHAKE_COPY_MS) {
			srv->e.drops.n[DROP_REPLAYED_HANDSHAKE]++;
			srv->hs.replayed++;
			return;
		}
		c->last_resp[0] = h->path;
		reply(srv, c->last_resp, HSN_RESP_LEN, from);
		srv->hs.resent++;
		return;
	}
	plen = noise_read_msg1(hs, msg1, HSN_MSG1_LEN, c->cfg.psk_file[0] ? c->cfg.psk : NULL,
			       payload);
	if (plen < 0 || hsn_msg1_payload_parse(payload, plen, ts, &flags)) {
		srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return;
	}
	if (!noise_timestamp_newer(ts, c->last_ts)) {
		srv->e.drops.n[DROP_REPLAYED_HANDSHAKE]++;
		srv->hs.replayed++;
		return;
	}
	if (!(s = target(srv, h, c, flags, &fresh)))
		return;
	hsn_msg2_payload(p2, s->f.tx.epoch);
	if (noise_write_msg2(hs, p2, sizeof(p2), msg2, sizeof(msg2)) != HSN_MSG2_LEN ||
	    install(s, hs, !fresh && s->confirmed)) {
		log_warnx("session %08x: cannot set up its keys", s->f.id);
		if (fresh)
			session_free(srv, s);
		return;
	}
	struct mp_hdr rh = { .path = h->path, .session = s->f.id, .epoch = s->f.tx.epoch, .seq = 1 };
	memcpy(c->last_ts, ts, sizeof(ts));
	memcpy(c->last_init, pkt + 1, sizeof(c->last_init));
	hsn_resp_build(c->last_resp, &rh, msg2, c->mac1_key);
	c->has_last = 1;
	c->last_ms = srv->e.now_ms;
	c->handshakes++;
	srv->hs.accepted++;
	if (fresh)
		log_net(LOG_INFO, "session %08x: client '%s'", s->f.id, c->cfg.name);
	reply(srv, c->last_resp, HSN_RESP_LEN, from);
	srv->welcomes_sent++;
}

void noisekeys_hello(struct server *srv, const uint8_t *pkt, size_t len,
		     const struct mp_hdr *h, const struct mp_addr *from)
{
	uint8_t prologue[HSN_PROLOGUE_LEN], kind;
	struct noise_hs hs;

	if (hsn_init_check(pkt, len, srv->mac1_key, &kind)) {
		srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		srv->hs.bad_mac1++;
		srv->bad_hello_from = *from;
		return;
	}
	/* The limit comes before any DH: a flood costs an HMAC each. Over it,
	 * and for UNDER_LOAD_MS after, the cookies decide (cookie.c). */
	if (srv->e.now_ms < srv->under_load_until_ms ||
	    !ratelimit_allow(&srv->hello_limit, srv->e.now_ms)) {
		if (srv->e.now_ms >= srv->under_load_until_ms)
			srv->under_load_until_ms = srv->e.now_ms + UNDER_LOAD_MS;
		if (!cookie_admit(srv, pkt, h, from))
			return;
	}
	hsn_prologue(kind, h->session, h->epoch, prologue);
	if (noise_init_responder(&hs, srv->o.ident, kind == HSN_KIND_IKPSK2, prologue,
				 sizeof(prologue))) {
		srv->e.drops.n[DROP_BAD_HANDSHAKE]++;
		return;
	}
	accept_init(srv, &hs, pkt, kind, h, from);
	noise_hs_wipe(&hs);
}
