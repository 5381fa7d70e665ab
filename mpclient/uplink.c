/* mpclient's bridge paths as sockets: opened when they can be (a name that
 * resolves, an interface and an address that exist), re-opened when what
 * they stand on changes (a name that resolves elsewhere, an interface
 * re-created, an address gone and back), retried with backoff while they
 * cannot. A path keeps its slot, its fd number and its counters through it
 * all: sessions index paths by slot, the engine's send list is registered
 * by fd. Health (paths.c) is what the peer answers; this is only whether
 * we can send at all. Names are resolved off the loop (getaddrinfo_a): a
 * slow DNS server must not hold the datagrams of the other paths. */
#include <errno.h>
#include <netdb.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "log.h"
#include "pace.h"

/* A name being resolved: the request and what it points at live until
 * glibc's resolver thread is done with them. */
struct lookup {
	struct gaicb req;
	struct addrinfo hints;
	char host[CONFIG_HOST_MAX + 1];
	char port[8];
};

/* Lookups still under way when their path went: the resolver thread
 * still writes into them, so they are kept (and reachable) until exit. */
static struct lookup *abandoned[MP_MAX_PATHS * 4];

static int is_literal(const char *host)
{
	struct mp_addr a;
	char err[8];

	return !net_resolve(host, 1, 1, &a, err, sizeof(err));
}

/* The path's socket becomes fd, at the same fd number: the engine and
 * the watcher keep pointing at it. */
static void replace_fd(struct client *c, struct path *p, int fd)
{
	ev_io_stop(c->e.loop, &p->io);
	if (dup2(fd, p->fd) < 0)
		log_warn("path %s: dup2", p->name);
	close(fd);
	ev_io_set(&p->io, p->fd, EV_READ);
}

/* In every session's flow, or in none: a path we cannot send on takes
 * no datagrams, no probes, and leaves the schedulers at once. */
static void join_sessions(struct client *c, unsigned id)
{
	struct path *p = &c->paths[id];
	struct session *s;

	list_for_each(s, &c->sessions, struct session, link) {
		s->f.path[id].weight = p->cfg.weight;
		s->f.path[id].backup = p->cfg.backup;
		flow_path_add(&s->f, id, &p->link);
	}
}

static void leave_sessions(struct client *c, unsigned id)
{
	struct path *p = &c->paths[id];
	struct session *s;

	list_for_each(s, &c->sessions, struct session, link) {
		if (!(s->f.known & 1u << id))
			continue;
		pace_purge(&p->link.pace, &s->f.path[id]);
		s->f.known &= ~(1u << id);
		s->f.view_dirty = 1;
	}
}

static int socket_options(int fd, struct path *p, char *why, size_t whylen)
{
	const struct config_path *cp = &p->cfg;

	if (cp->dev[0]) {
		p->ifindex = if_nametoindex(cp->dev);
		if (!p->ifindex) {
			p->missing = 1;
			snprintf(why, whylen, "interface %s not there", cp->dev);
			return -1;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cp->dev,
			       (socklen_t)strlen(cp->dev))) {
			snprintf(why, whylen, "dev=%s: %s", cp->dev, strerror(errno));
			return -1;
		}
	}
	if (cp->has_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &cp->mark, sizeof(cp->mark))) {
		snprintf(why, whylen, "mark=%u: %s", cp->mark, strerror(errno));
		return -1;
	}
	return 0;
}

/* Binds to bind=/sport= when given: a stable source port lets a bridge that
 * follows only its first peer (socat without fork) survive our restart. */
static int bind_source(int fd, struct path *p, int family, char *why, size_t whylen)
{
	const struct config_path *cp = &p->cfg;
	char err[160];
	struct mp_addr src;

	if (!cp->bind[0] && !cp->sport)
		return 0;
	if (cp->bind[0]) {
		if (net_resolve(cp->bind, cp->sport, 1, &src, err, sizeof(err))) {
			snprintf(why, whylen, "bind=%s: not an address", cp->bind);
			return -1;
		}
	} else {
		net_resolve(family == AF_INET ? "0.0.0.0" : "::", cp->sport, 1, &src,
			    err, sizeof(err));
	}
	if (src.u.sa.sa_family != family) {
		snprintf(why, whylen, "bind=%s is not of the bridge's address family", cp->bind);
		return -1;
	}
	if (bind(fd, &src.u.sa, src.len)) {
		p->missing = errno == EADDRNOTAVAIL;
		if (p->missing)
			snprintf(why, whylen, "address %s not there", cp->bind);
		else
			snprintf(why, whylen, "bind %s port %u: %s", cp->bind[0] ? cp->bind : "*",
				 cp->sport, strerror(errno));
		return -1;
	}
	return 0;
}

/* A socket for p toward peer, configured and connected; -1 with why. */
static int open_socket(struct path *p, const struct mp_addr *peer, char *why, size_t whylen)
{
	int family = peer->u.sa.sa_family;
	int fd = net_udp_socket(family);

	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	p->missing = 0;
	if (socket_options(fd, p, why, whylen) || bind_source(fd, p, family, why, whylen))
		goto fail;
	/* Connected: the kernel drops datagrams from anyone but the bridge. */
	if (connect(fd, &peer->u.sa, peer->len)) {
		snprintf(why, whylen, "connect: %s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static void set_down(struct client *c, unsigned id, const char *why)
{
	struct path *p = &c->paths[id];

	if (p->open || !p->downs) {
		if (p->open || p->opens)
			log_warnx("path %s down: %s", p->name, why);
		else
			log_warnx("path %s (line %u) down: %s", p->name, p->cfg.line, why);
		p->downs++;
		p->backoff_ms = 0;
	} else if (strcmp(p->why, why)) {
		log_debug("path %s: still down: %s", p->name, why);
	}
	snprintf(p->why, sizeof(p->why), "%s", why);
	if (p->open) {
		p->open = 0;
		ev_io_stop(c->e.loop, &p->io);
		leave_sessions(c, id);
		if (p->state != HEALTH_DOWN) {
			p->state = HEALTH_DOWN;
			p->st.changes++;
			paths_script(c, p, why);
		}
	}
	p->state = HEALTH_DOWN;
	/* 1 s, doubling to 30 s: a name that does not resolve is not asked
	 * for many times a second, one that comes back is seen soon. */
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : UPLINK_RETRY_MIN_MS;
	if (p->backoff_ms > UPLINK_RETRY_MAX_MS)
		p->backoff_ms = UPLINK_RETRY_MAX_MS;
	p->retry_ms = c->e.now_ms + p->backoff_ms;
}

/* Opens p toward peer (re-opens it when it was open); 0 or -1 (down). */
static int try_open(struct client *c, unsigned id, const struct mp_addr *peer)
{
	struct path *p = &c->paths[id];
	char why[sizeof(p->why)], str[NET_ADDRSTR];
	int was_open = p->open;
	int fd = open_socket(p, peer, why, sizeof(why));

	if (fd < 0) {
		set_down(c, id, why);
		return -1;
	}
	if (was_open)
		leave_sessions(c, id);	/* a new socket: health starts over */
	replace_fd(c, p, fd);
	p->peer = *peer;
	p->link.family = peer->u.sa.sa_family;
	p->fail_seen = p->link.st.tx.fail + p->st.unreachable;
	p->open = 1;
	p->why[0] = '\0';
	p->backoff_ms = 0;
	p->checked_ms = c->e.now_ms;
	p->opens++;
	if (p->state == HEALTH_DOWN)
		p->state = HEALTH_UNKNOWN;
	ev_io_start(c->e.loop, &p->io);
	join_sessions(c, id);
	if (was_open)
		log_info("path %s re-opened: bridge %s", p->name, net_ntop(peer, str));
	else if (p->downs)
		log_info("path %s back: bridge %s", p->name, net_ntop(peer, str));
	else
		log_info("path %s: bridge %s weight %u", p->name, net_ntop(peer, str),
			 p->cfg.weight);
	return 0;
}

/* ---- name resolution --------------------------------------------------- */

static void lookup_start(struct client *c, struct path *p)
{
	struct lookup *l = calloc(1, sizeof(*l));
	struct gaicb *list[1];
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };

	if (!l)
		return;
	snprintf(l->host, sizeof(l->host), "%s", p->cfg.host);
	snprintf(l->port, sizeof(l->port), "%u", p->cfg.port);
	l->hints = (struct addrinfo){ .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				      .ai_flags = AI_NUMERICSERV };
	l->req = (struct gaicb){ .ar_name = l->host, .ar_service = l->port,
				 .ar_request = &l->hints };
	list[0] = &l->req;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev)) {
		free(l);
		return;
	}
	p->lookup = l;
	p->resolved_ms = c->e.now_ms;
	p->resolve_ms = c->e.now_ms + UPLINK_RESOLVE_MS;
}

static void lookup_free(struct lookup *l)
{
	if (l->req.ar_result)
		freeaddrinfo(l->req.ar_result);
	free(l);
}

static void lookup_abandon(struct lookup *l)
{
	/* Those the resolver has finished with since are freed first, so
	 * that reloads over a long life do not fill the list. */
	for (unsigned i = 0; i < ARRAY_LEN(abandoned); i++)
		if (abandoned[i] && gai_error(&abandoned[i]->req) != EAI_INPROGRESS) {
			lookup_free(abandoned[i]);
			abandoned[i] = NULL;
		}
	if (gai_cancel(&l->req) != EAI_NOTCANCELED) {
		lookup_free(l);
		return;
	}
	for (unsigned i = 0; i < ARRAY_LEN(abandoned); i++)
		if (!abandoned[i]) {
			abandoned[i] = l;
			return;
		}
	/* Nowhere to keep it: better a leak than a write into freed memory. */
}

/* A finished lookup: a new address re-opens the path, a failure leaves an
 * open path on the address it has (DNS trouble is not a dead uplink). */
static void lookup_done(struct client *c, unsigned id)
{
	struct path *p = &c->paths[id];
	struct lookup *l = p->lookup;
	int rc = gai_error(&l->req);
	struct mp_addr peer;
	char why[sizeof(p->why)], str[NET_ADDRSTR];

	if (rc == EAI_INPROGRESS)
		return;
	p->lookup = NULL;
	if (rc || !l->req.ar_result) {
		snprintf(why, sizeof(why), "cannot resolve '%s': %s", p->cfg.host,
			 gai_strerror(rc ? rc : EAI_NONAME));
		if (!p->open)
			set_down(c, id, why);
		else
			log_debug("path %s: %s (keeps %s)", p->name, why, net_ntop(&p->peer, str));
	} else {
		memset(&peer, 0, sizeof(peer));
		memcpy(&peer.u, l->req.ar_result->ai_addr, l->req.ar_result->ai_addrlen);
		peer.len = l->req.ar_result->ai_addrlen;
		if (!p->open || !net_addr_equal(&peer, &p->peer)) {
			if (p->open)
				log_info("path %s: %s now resolves to %s", p->name, p->cfg.host,
					 net_ntop(&peer, str));
			try_open(c, id, &peer);
		}
	}
	lookup_free(l);
}

/* ---- what a path stands on --------------------------------------------- */

/* Whether bind='s address is no longer one of ours: a socket bound to it
 * would be refused. */
static int address_gone(const struct config_path *cp)
{
	char err[160];
	struct mp_addr src;

	if (!cp->bind[0] || net_resolve(cp->bind, 0, 1, &src, err, sizeof(err)))
		return 0;
	int fd = socket(src.u.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int gone = bind(fd, &src.u.sa, src.len) && errno == EADDRNOTAVAIL;
	close(fd);
	return gone;
}

/* Whether what a down path stands on (dev=, bind=) is there again. */
static int present(const struct path *p)
{
	return (!p->cfg.dev[0] || if_nametoindex(p->cfg.dev)) && !address_gone(&p->cfg);
}

/* Why an open path's socket no longer works, or NULL: its interface went
 * (or came back as another: a socket stays bound to the old index), or
 * its source address is no longer ours. */
static const char *lost(const struct path *p, char *why, size_t whylen)
{
	const struct config_path *cp = &p->cfg;

	if (cp->dev[0]) {
		unsigned idx = if_nametoindex(cp->dev);
		if (idx != p->ifindex) {
			snprintf(why, whylen, idx ? "interface %s re-created" :
				 "interface %s gone", cp->dev);
			return why;
		}
	}
	if (address_gone(cp)) {
		snprintf(why, whylen, "address %s gone", cp->bind);
		return why;
	}
	return NULL;
}

static void retry(struct client *c, unsigned id)
{
	struct path *p = &c->paths[id];
	struct mp_addr peer;
	char err[160];

	if (p->lookup)
		return;
	if (p->named) {
		lookup_start(c, p);
		if (p->lookup)
			p->retry_ms = UINT64_MAX;	/* lookup_done decides */
		else
			set_down(c, id, "cannot start a name lookup");
		return;
	}
	net_resolve(p->cfg.host, p->cfg.port, 1, &peer, err, sizeof(err));
	try_open(c, id, &peer);
}

/* Opens p now, or (a name) as soon as it resolves: off the loop, even
 * at start-up, where a DNS server that does not answer would otherwise
 * hold up every other path for its timeouts. */
static void open_now(struct client *c, unsigned id)
{
	struct path *p = &c->paths[id];
	char err[160];
	struct mp_addr peer;

	if (p->named) {
		snprintf(p->why, sizeof(p->why), "%s", "its name is being resolved");
		retry(c, id);
	} else if (net_resolve(p->cfg.host, p->cfg.port, 0, &peer, err, sizeof(err))) {
		set_down(c, id, err);
	} else {
		try_open(c, id, &peer);
	}
}

void uplink_tick(struct client *c)
{
	uint64_t now = c->e.now_ms;
	char why[sizeof(c->paths[0].why)];

	for (unsigned id = 0; id < c->npaths; id++) {
		struct path *p = &c->paths[id];
		int local = p->cfg.dev[0] || p->cfg.bind[0];

		if (!p->configured)
			continue;
		if (p->lookup) {
			lookup_done(c, id);
			continue;
		}
		if (!p->open) {
			/* A missing interface or address costs a syscall or two
			 * to look for: every second, whatever the backoff. */
			int look = p->missing && now - p->checked_ms >= UPLINK_CHECK_MS;
			if (look)
				p->checked_ms = now;
			if (now >= p->retry_ms || (look && present(p)))
				retry(c, id);
			continue;
		}
		/* Sends refused (by the send, or by an ICMP error the receive
		 * picked up first): look soon at what the path stands on. A
		 * path refused or down asks for its name again (at most every
		 * UPLINK_RESOLVE_FAIL_MS): its bridge may have moved. */
		uint64_t refusals = p->link.st.tx.fail + p->st.unreachable;
		int failing = refusals != p->fail_seen;
		p->fail_seen = refusals;
		if (local && now - p->checked_ms >= (failing ? UPLINK_FAIL_CHECK_MS : UPLINK_CHECK_MS)) {
			p->checked_ms = now;
			if (lost(p, why, sizeof(why))) {
				p->missing = 1;
				set_down(c, id, why);
				if (present(p))	/* re-created already */
					retry(c, id);
				continue;
			}
		}
		if (p->named && (now >= p->resolve_ms ||
				 ((failing || p->state == HEALTH_DOWN) &&
				  now - p->resolved_ms >= UPLINK_RESOLVE_FAIL_MS)))
			lookup_start(c, p);
	}
}

/* The slot's socket, link and send list, once for the program's life:
 * the engine keeps its send list by fd, and a path that goes and another
 * that comes later in the same slot use them again. */
static int slot_init(struct client *c, unsigned id, const char *name)
{
	struct path *p = &c->paths[id];

	p->c = c;
	p->id = (uint8_t)id;
	/* A socket from the start, even for a path that cannot open yet:
	 * its fd number is what the engine flushes the path's list on. */
	p->fd = net_udp_socket(AF_INET6);
	if (p->fd < 0) {
		log_warn("path %s: socket", name);
		return -1;
	}
	if (link_init(&p->link, &c->e, p->fd, NULL, AF_INET6, &p->out, 0)) {
		log_warn("path %s: pacing queues", name);
		close(p->fd);
		p->fd = -1;
		return -1;
	}
	engine_add_out(&c->e, p->fd, &p->out);
	ev_io_init(&p->io, down_readable, p->fd, EV_READ);
	p->slot = 1;
	return 0;
}

/* rate=: a path's pace. A rate taken away leaves the largest one, which
 * paces nothing (the pacer's queues may hold datagrams of every flow). */
static void set_rate(struct client *c, struct path *p, uint64_t bps)
{
	if (!bps && !p->link.pace.rate_bps)
		return;
	if (!bps)
		bps = CONFIG_RATE_MAX_BPS;
	if (pace_set_rate(&p->link.pace, bps, c->e.now_us))
		log_warnx("path %s: rate=: no memory for the pacing queues", p->name);
	else
		c->e.paced = 1;
}

int uplink_add(struct client *c, unsigned id, const struct config_path *cp)
{
	struct path *p = &c->paths[id];

	if (!p->slot && slot_init(c, id, cp->name))
		return -1;
	/* a new path in the slot: its own counters and state */
	memset(&p->st, 0, sizeof(p->st));
	memset(&p->link.st, 0, sizeof(p->link.st));
	p->state = HEALTH_UNKNOWN;
	p->opens = p->downs = 0;
	p->missing = 0;
	p->why[0] = '\0';
	p->backoff_ms = 0;
	p->cfg = *cp;
	p->backup = cp->backup;
	snprintf(p->name, sizeof(p->name), "%s", cp->name);
	set_rate(c, p, cp->rate_bps);
	p->configured = 1;
	p->named = !is_literal(cp->host);
	p->resolved_ms = c->e.now_ms;
	p->resolve_ms = c->e.now_ms + UPLINK_RESOLVE_MS;
	open_now(c, id);
	paths_reset(c, id);		/* for the family it opened with */
	return 0;
}

/* The path leaves every session and the slot is empty; its socket is
 * closed (a fresh one that sends nowhere keeps the fd number). */
static void remove_path(struct client *c, unsigned id)
{
	struct path *p = &c->paths[id];
	int fd = net_udp_socket(AF_INET6);

	if (p->lookup)
		lookup_abandon(p->lookup);
	p->lookup = NULL;
	if (p->open)
		leave_sessions(c, id);
	ev_io_stop(c->e.loop, &p->io);
	if (fd >= 0)
		replace_fd(c, p, fd);
	p->open = 0;
	p->configured = 0;
	log_info("path %s removed", p->name);
}

/* Whether the socket must be made again for cp (where it goes and what
 * it leaves by), rather than changed in place. */
static int socket_changed(const struct config_path *a, const struct config_path *b)
{
	return strcmp(a->host, b->host) || a->port != b->port || strcmp(a->bind, b->bind) ||
	       a->sport != b->sport || strcmp(a->dev, b->dev) || a->has_mark != b->has_mark ||
	       a->mark != b->mark;
}

/* A path still in the config: what changed in place, or re-opened. */
static int change_path(struct client *c, unsigned id, const struct config_path *cp)
{
	struct path *p = &c->paths[id];
	struct config_path old = p->cfg;
	struct session *s;

	if (!memcmp(&old, cp, offsetof(struct config_path, line)))
		return 0;
	p->cfg = *cp;
	p->backup = cp->backup;
	if (old.rate_bps != cp->rate_bps)
		set_rate(c, p, cp->rate_bps);
	list_for_each(s, &c->sessions, struct session, link) {
		s->f.path[id].weight = cp->weight;
		s->f.path[id].backup = cp->backup;
		s->f.view_dirty = 1;
	}
	if (socket_changed(&old, cp)) {
		p->named = !is_literal(cp->host);
		if (p->lookup)
			lookup_abandon(p->lookup);
		p->lookup = NULL;
		p->backoff_ms = 0;
		if (p->open)
			leave_sessions(c, id);	/* not on the old socket meanwhile */
		p->open = 0;
		p->downs = 0;			/* "back" would mislead: it is new */
		p->missing = 0;
		p->opens = 0;
		open_now(c, id);
	}
	log_info("path %s changed%s", p->name, socket_changed(&old, cp) ? ", re-opened" : "");
	return 1;
}

void uplink_reload(struct client *c, const struct config *next)
{
	unsigned taken = 0, added = 0, removed = 0, changed = 0;

	for (unsigned id = 0; id < c->npaths; id++) {
		struct path *p = &c->paths[id];
		unsigned j;

		if (!p->configured)
			continue;
		for (j = 0; j < next->npaths; j++)
			if (!strcmp(next->paths[j].name, p->name))
				break;
		if (j == next->npaths) {
			remove_path(c, id);
			removed++;
			continue;
		}
		taken |= 1u << j;
		changed += (unsigned)change_path(c, id, &next->paths[j]);
	}
	for (unsigned j = 0; j < next->npaths; j++) {
		unsigned id = 0;

		if (taken >> j & 1)
			continue;
		while (c->paths[id].configured)	/* a free slot: there are as many */
			id++;			/* as paths, MP_MAX_PATHS at most */
		if (id >= c->npaths)
			c->npaths = id + 1;
		log_info("path %s added", next->paths[j].name);
		if (uplink_add(c, id, &next->paths[j]))
			continue;
		added++;
	}
	log_info("reloaded: %u path%s added, %u removed, %u changed", added,
		 added == 1 ? "" : "s", removed, changed);
}

void uplink_free(struct client *c, unsigned id)
{
	struct path *p = &c->paths[id];

	if (p->lookup)
		lookup_abandon(p->lookup);
	p->lookup = NULL;
	if (p->fd >= 0) {
		ev_io_stop(c->e.loop, &p->io);
		close(p->fd);
	}
	p->fd = -1;
	if (p->slot)
		link_free(&p->link);
	p->slot = 0;
	p->configured = 0;
	p->open = 0;
}
