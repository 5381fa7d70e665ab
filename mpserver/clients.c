/* mpserver's client table in per-client mode: one fixed slot per `client`
 * line (peers.h), with what the handshake keeps of that client between
 * initiations (the last accepted timestamp, initiation and response, for
 * replay protection and resends), found by public key. A reload (SIGHUP)
 * matches slots by key: a kept client keeps its slot, its sessions and its
 * last timestamp (so a reload reopens no replay); a removed one loses its
 * sessions at once; a new one takes a free slot. Bounded: PEERS_MAX slots
 * in struct server, nothing allocated. */
#include <string.h>

#include <openssl/crypto.h>

#include "hsnoise.h"
#include "internal.h"
#include "log.h"

static void slot_set(struct cslot *c, const struct peer *p)
{
	c->cfg = *p;
	hsn_label_key("mprelay v1 mac1", p->pub, c->mac1_key);
}

static void slot_clear(struct server *srv, struct cslot *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
	/* a key no initiation can claim: noise_read_msg1_peer refuses weak keys */
	memset(srv->client_keys[c - srv->clients], 0, NOISE_KEY_LEN);
}

static void slot_fill(struct server *srv, struct cslot *c, const struct peer *p)
{
	memset(c, 0, sizeof(*c));
	c->used = 1;
	slot_set(c, p);
	memcpy(srv->client_keys[c - srv->clients], p->pub, NOISE_KEY_LEN);
}

void clients_init(struct server *srv, const struct peers *ps)
{
	for (unsigned i = 0; i < ps->n; i++)
		slot_fill(srv, &srv->clients[i], &ps->p[i]);
	srv->per_client = ps->n > 0;
	if (srv->per_client)
		log_info("per-client keys: %u client%s", ps->n, ps->n == 1 ? "" : "s");
}

struct cslot *clients_find(struct server *srv, const uint8_t pub[static NOISE_KEY_LEN])
{
	long i = noise_peer_find((const uint8_t(*)[NOISE_KEY_LEN])srv->client_keys, PEERS_MAX,
				 pub);

	return i >= 0 && srv->clients[i].used ? &srv->clients[i] : NULL;
}

/* Ends every session of c (revoked). */
static unsigned end_sessions(struct server *srv, struct cslot *c)
{
	struct session *s;
	unsigned n = 0;

	list_for_each(s, &srv->sessions, struct session, link) {
		if (s->client != c)
			continue;
		log_net(LOG_INFO, "session %08x: client '%s' revoked, closed", s->f.id,
			c->cfg.name);
		session_free(srv, s);
		n++;
	}
	return n;
}

void clients_reload(struct server *srv, const struct peers *next)
{
	unsigned kept = 0, added = 0, removed = 0, ended = 0;
	int seen[PEERS_MAX] = { 0 };

	if (!srv->per_client != !next->n) {
		log_warnx("reload: per-client keys (client lines) cannot be turned %s without "
			  "a restart; the running clients stay", next->n ? "on" : "off");
		return;
	}
	for (unsigned i = 0; i < PEERS_MAX; i++) {
		struct cslot *c = &srv->clients[i];
		long j = -1;

		if (!c->used)
			continue;
		for (unsigned k = 0; k < next->n && j < 0; k++)
			if (noise_key_equal(next->p[k].pub, c->cfg.pub))
				j = (long)k;
		if (j < 0) {
			log_info("reload: client '%s' removed", c->cfg.name);
			ended += end_sessions(srv, c);
			slot_clear(srv, c);
			removed++;
			continue;
		}
		seen[j] = 1;
		slot_set(c, &next->p[j]);	/* name, allowed-ips, psk may change */
		kept++;
	}
	for (unsigned k = 0; k < next->n; k++) {
		if (seen[k])
			continue;
		for (unsigned i = 0; i < PEERS_MAX; i++)
			if (!srv->clients[i].used) {
				slot_fill(srv, &srv->clients[i], &next->p[k]);
				log_info("reload: client '%s' added", next->p[k].name);
				added++;
				break;
			}
	}
	log_info("reload: clients: %u kept, %u added, %u removed (%u session%s ended)", kept,
		 added, removed, ended, ended == 1 ? "" : "s");
}

struct cslot *clients_route(struct server *srv, const struct ip_addr *a)
{
	struct cslot *best = NULL;
	unsigned best_len = 0;

	for (unsigned i = 0; i < PEERS_MAX; i++) {
		const struct peer *p = &srv->clients[i].cfg;

		if (!srv->clients[i].used)
			continue;
		for (unsigned j = 0; j < p->nallowed; j++)
			if (p->allowed[j].len >= best_len && peer_allows_prefix(&p->allowed[j], a)) {
				best = &srv->clients[i];
				best_len = p->allowed[j].len;
			}
	}
	return best;
}

void clients_session_new(struct cslot *c, struct session *s)
{
	c->latest = s;
}

void clients_session_gone(struct server *srv, struct session *s)
{
	struct cslot *c = s->client;
	struct session *o;

	if (!c || c->latest != s)
		return;
	c->latest = NULL;
	/* the list is newest first: the first other one of c's is its latest */
	list_for_each(o, &srv->sessions, struct session, link)
		if (o != s && o->client == c) {
			c->latest = o;
			break;
		}
}

void clients_wipe(struct server *srv)
{
	OPENSSL_cleanse(srv->clients, sizeof(srv->clients));
}
