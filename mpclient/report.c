/* What mpclient tells about itself: the status document (--status, read by
 * scripts/mpstat) and the same figures as log lines (SIGUSR1 and exit).
 * Only reads state. A path's figures at the top level are those of the
 * session that used it last; every session also has its own. */
#include <stdio.h>

#include "internal.h"
#include "log.h"
#include "util.h"

static const char *keys_name(const struct client *c, const struct session *s)
{
	return !c->e.key ? "none" : s->keying == KEYS_READY ? "ready" : "waiting";
}

/* The session whose view of the paths is the freshest, or NULL. */
static const struct session *freshest(const struct client *c)
{
	const struct session *s, *best = NULL;

	list_for_each(s, &c->sessions, struct session, link)
		if (!best || s->last_active_ms > best->last_active_ms)
			best = s;
	return best;
}

static void json_paths(struct json *j, const struct client *c)
{
	const struct session *f = freshest(c);
	char str[NET_ADDRSTR];

	json_kv_arr_begin(j, "paths");
	for (unsigned p = 0; p < c->npaths; p++) {
		const struct path *path = &c->paths[p];
		if (!path->configured)
			continue;	/* a slot a reload emptied */
		json_obj_begin(j);
		json_kv_u64(j, "id", p);
		json_kv_str(j, "name", path->name);
		json_kv_str(j, "peer", net_ntop(&path->peer, str));
		json_kv_str(j, "state", health_state_name(path->state));
		/* whether we can send on it at all (uplink.c), and why not */
		json_kv_bool(j, "open", path->open);
		json_kv_str(j, "down_reason", path->why);
		json_kv_u64(j, "opens", path->opens);
		json_kv_bool(j, "backup", path->backup);
		if (f)
			stats_json_health(j, &f->f.path[p].h);
		stats_json_traffic(j, path->link.st.tx.pkts, path->link.st.tx.bytes,
				   path->st.rx_pkts, path->st.rx_bytes);
		json_kv_u64(j, "tx_fail", path->link.st.tx.fail);
		json_kv_u64(j, "rx_bad", path->st.rx_bad);
		json_kv_u64(j, "unreachable", path->st.unreachable);
		json_kv_u64(j, "probes", path->st.probes);
		json_kv_u64(j, "acks", path->st.acks);
		json_kv_u64(j, "state_changes", path->st.changes);
		json_kv_u64(j, "pmtu_bytes", pmtu_value(&path->pmtu));
		json_kv_bool(j, "pmtu_searching", pmtu_searching(&path->pmtu));
		json_kv_u64(j, "pmtu_probes", path->pmtu.probes);
		json_kv_u64(j, "pmtu_shrinks", path->pmtu.shrinks);
		json_kv_u64(j, "over_pmtu", path->link.st.over_pmtu);
		json_kv_u64(j, "rescued", path->link.st.rescued);
		json_kv_u64(j, "resent", path->link.st.resent);
		json_kv_u64(j, "parity_sent", path->link.st.parity);
		json_kv_u64(j, "recovery_bytes", path->link.st.recovery_bytes);
		json_kv_u64(j, "rate_bps", path->link.pace.rate_bps);
		json_kv_u64(j, "paced_skip", path->link.st.paced_skip);
		json_kv_u64(j, "paced_queued", path->link.pace.queued);
		json_kv_u64(j, "paced_dropped", path->link.pace.dropped);
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void json_session(struct json *j, const struct client *c, const struct session *s)
{
	char str[NET_ADDRSTR], id[9];

	const struct flow *f = &s->f;

	snprintf(id, sizeof(id), "%08x", f->id);
	json_obj_begin(j);
	json_kv_str(j, "id", id);
	json_kv_str(j, "app", net_ntop(&s->app, str));
	json_kv_str(j, "mode", sched_mode_name(f->sched.mode));
	json_kv_u64(j, "up_pkts", f->sent_pkts);
	json_kv_u64(j, "up_bytes", f->sent_bytes);
	json_kv_u64(j, "down_pkts", f->delivered_pkts);
	json_kv_u64(j, "down_bytes", f->delivered_bytes);
	json_kv_u64(j, "deduplicated", f->dedup);
	json_kv_u64(j, "old", f->old);
	json_kv_u64(j, "critical_over", f->crit.refused);
	json_kv_u64(j, "stale", f->stale);
	json_kv_u64(j, "bad_tag", f->bad_tag);
	json_kv_u64(j, "peer_restarts", f->rx.restarts);
	json_kv_str(j, "keys", keys_name(c, s));
	if (c->o.per_client) {
		json_kv_u64(j, "handshakes", s->handshakes);
		json_kv_u64(j, "rekeys", s->f.rekeys);
		json_kv_u64(j, "cookies", s->cookies);
	}
	json_kv_u64(j, "idle_ms", c->e.now_ms - s->last_active_ms);
	stats_json_reorder(j, f->ro, f->hold_us);
	stats_json_recover(j, &f->rec.st);
	stats_json_parity(j, &f->par);
	json_kv_arr_begin(j, "paths");
	for (unsigned p = 0; p < c->npaths; p++) {
		json_obj_begin(j);
		stats_json_flow_path(j, f, p);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
}

/* The document in pieces: the header (all but the sessions), then one
 * session at a time, newest first, then the end. *pos: 0 at the start,
 * then the serial below which sessions are still to be written, so that
 * sessions that come or go meanwhile are neither repeated nor a problem. */
int client_status_fill(void *ctx, struct json *j, uint64_t *pos)
{
	const struct client *c = ctx;
	const struct session *s;
	struct json_mark m;

	if (*pos == 0) {
		json_piece_begin(j, &m);
		stats_json_begin(j, "mpclient", c->started_ms, sched_mode_name(c->o.common.mode),
				 c->e.key != NULL);
		json_kv_u64(j, "probe_interval_ms", c->o.probe_ms);
		json_kv_obj_begin(j, "counters");
		json_kv_u64(j, "app_rx", c->app_rx);
		json_kv_u64(j, "app_tx", c->e.local_tx);
		json_kv_u64(j, "sessions", c->nsessions);
		json_kv_u64(j, "scripts_run", c->e.hook.started);
		json_kv_u64(j, "scripts_failed", c->e.hook.failed);
		json_kv_u64(j, "rescue_kept", c->e.rescue.kept);
		json_kv_u64(j, "rescued", c->e.rescue.resent);
		json_kv_u64(j, "deduplicated", c->e.deduplicated);
		json_obj_end(j);
		stats_json_drops(j, &c->e.drops);
		json_paths(j, c);
		json_kv_arr_begin(j, "sessions");
		if (!json_piece_end(j, &m))
			return status_full(j);
		*pos = c->next_serial + 1;
	}
	list_for_each(s, &c->sessions, struct session, link) {
		if (s->serial >= *pos)
			continue;
		json_piece_begin(j, &m);
		json_session(j, c, s);
		if (!json_piece_end(j, &m))
			return status_full(j);
		*pos = s->serial;
	}
	json_piece_begin(j, &m);
	json_arr_end(j);
	json_obj_end(j);
	return json_piece_end(j, &m) ? 1 : status_full(j);
}

/* ---- Prometheus (--metrics) ---------------------------------------------- */

static int metrics_path(const void *ctx, unsigned i, struct metrics_path *out)
{
	const struct client *c = ctx;
	const struct path *path = &c->paths[i];
	const struct session *f = freshest(c);

	out->name = path->name;
	out->state = path->state;
	out->h = f ? &f->f.path[i].h : NULL;
	out->tx_pkts = path->link.st.tx.pkts;
	out->tx_bytes = path->link.st.tx.bytes;
	out->rx_pkts = path->st.rx_pkts;
	out->rx_bytes = path->st.rx_bytes;
	/* the reasons of common/stats.h these counters are part of */
	out->drops[0].reason = stats_drop_name(DROP_SEND_FAIL);
	out->drops[0].n = path->link.st.tx.fail;
	out->drops[1].reason = stats_drop_name(DROP_PACED);
	out->drops[1].n = path->link.pace.dropped;
	out->drops[2].reason = "damaged";	/* wire checks or tag: several reasons */
	out->drops[2].n = path->st.rx_bad;
	out->ndrops = 3;
	return 1;
}

static const struct flow *metrics_session(const void *ctx, const struct flow *prev,
					  uint64_t before, uint64_t *serial)
{
	const struct client *c = ctx;
	const struct list *n = prev ? list_entry(prev, struct session, f)->link.next
				    : c->sessions.next;

	for (; n != &c->sessions; n = n->next) {
		const struct session *s = list_entry(n, struct session, link);
		if (s->serial < before) {
			*serial = s->serial;
			return &s->f;
		}
	}
	return NULL;
}

static const char *metrics_path_name(const void *ctx, unsigned p, char *buf, size_t len)
{
	const struct client *c = ctx;

	(void)buf;
	(void)len;
	return c->paths[p].name;
}

int client_metrics_fill(void *ctx, struct mtext *t, struct metrics_pos *pos)
{
	const struct client *c = ctx;
	const struct metrics_source src = {
		.ctx = c,
		.program = "mpclient",
		.uptime_s = (mono_ms() - c->started_ms) / 1000,
		.sessions = c->nsessions,
		.next_serial = c->next_serial + 1,
		.drops = &c->e.drops,
		.deduplicated = c->e.deduplicated,
		.npaths = c->npaths,
		.path = metrics_path,
		.session = metrics_session,
		.path_name = metrics_path_name,
	};

	return metrics_fill(&src, t, pos);
}

/* ---- the log (SIGUSR1, exit) -------------------------------------------- */

static void log_health(const char *what, const char *name, const struct health *h,
		       const char *extra)
{
	log_info("stats %s %s state=%s suspect=%d rtt_ms=%.3f rttvar_ms=%.3f "
		 "loss_pct=%.2f loss_rx_pct=%.2f probes_lost=%llu downs=%llu%s",
		 what, name, health_state_name(h->state), h->suspect,
		 h->srtt_us / 1000.0, h->rttvar_us / 1000.0, h->send.ppm / 1e4,
		 h->recv.ppm / 1e4, (unsigned long long)h->lost,
		 (unsigned long long)h->downs, extra);
}

void client_log_stats(const struct client *c)
{
	char line[1024], str[NET_ADDRSTR], name[64];
	uint64_t now = mono_ms();

	stats_format_drops(&c->e.drops, line, sizeof(line));
	log_info("stats mode=%s sessions=%u app_rx=%llu app_tx=%llu rescued=%llu deduplicated=%llu%s",
		 sched_mode_name(c->o.common.mode), c->nsessions,
		 (unsigned long long)c->app_rx, (unsigned long long)c->e.local_tx,
		 (unsigned long long)c->e.rescue.resent,
		 (unsigned long long)c->e.deduplicated, line);
	if (c->tun.fd >= 0)		/* tun mode */
		tunnel_log_stats(c);
	for (unsigned i = 0; i < c->npaths; i++) {
		const struct path *p = &c->paths[i];
		if (!p->configured)
			continue;
		log_info("stats path name=%s peer=%s state=%s backup=%d tx_pkts=%llu "
			 "tx_bytes=%llu tx_fail=%llu probes=%llu acks=%llu rx_pkts=%llu rx_bytes=%llu "
			 "rx_bad=%llu unreachable=%llu pmtu=%u over_pmtu=%llu rescued=%llu rate_bps=%llu "
			 "paced_skip=%llu paced_queued=%llu paced_dropped=%llu",
			 p->name, net_ntop(&p->peer, str), health_state_name(p->state),
			 p->backup, (unsigned long long)p->link.st.tx.pkts,
			 (unsigned long long)p->link.st.tx.bytes,
			 (unsigned long long)p->link.st.tx.fail,
			 (unsigned long long)p->st.probes,
			 (unsigned long long)p->st.acks,
			 (unsigned long long)p->st.rx_pkts,
			 (unsigned long long)p->st.rx_bytes,
			 (unsigned long long)p->st.rx_bad,
			 (unsigned long long)p->st.unreachable,
			 pmtu_value(&p->pmtu), (unsigned long long)p->link.st.over_pmtu,
			 (unsigned long long)p->link.st.rescued,
			 (unsigned long long)p->link.pace.rate_bps,
			 (unsigned long long)p->link.st.paced_skip,
			 (unsigned long long)p->link.pace.queued,
			 (unsigned long long)p->link.pace.dropped);
	}
	const struct session *s;
	list_for_each(s, &c->sessions, struct session, link) {
		log_info("stats session id=%08x app=%s up_pkts=%llu up_bytes=%llu "
			 "down_pkts=%llu down_bytes=%llu deduplicated=%llu old=%llu "
			 "stale=%llu bad_tag=%llu peer_restarts=%llu hellos=%llu "
			 "handshakes=%llu resets=%llu cookies=%llu rekeys=%llu keys=%s idle_ms=%llu",
			 s->f.id, net_ntop(&s->app, str),
			 (unsigned long long)s->f.sent_pkts,
			 (unsigned long long)s->f.sent_bytes,
			 (unsigned long long)s->f.delivered_pkts,
			 (unsigned long long)s->f.delivered_bytes,
			 (unsigned long long)s->f.dedup, (unsigned long long)s->f.old,
			 (unsigned long long)s->f.stale, (unsigned long long)s->f.bad_tag,
			 (unsigned long long)s->f.rx.restarts,
			 (unsigned long long)s->hellos,
			 (unsigned long long)s->handshakes,
			 (unsigned long long)s->resets, (unsigned long long)s->cookies,
			 (unsigned long long)s->f.rekeys, keys_name(c, s),
			 (unsigned long long)(now - s->last_active_ms));
		stats_log_reorder(s->f.id, s->f.ro);
		stats_log_recover(s->f.id, &s->f.rec.st);
		stats_log_parity(s->f.id, &s->f.par);
		for (unsigned p = 0; p < c->npaths; p++) {
			char extra[160];
			const struct flow_path *sp = &s->f.path[p];
			snprintf(name, sizeof(name), "id=%08x path=%s", s->f.id, c->paths[p].name);
			snprintf(extra, sizeof(extra),
				 " tx_pkts=%llu tx_bytes=%llu rx_pkts=%llu rx_bytes=%llu",
				 (unsigned long long)sp->tx_pkts,
				 (unsigned long long)sp->tx_bytes,
				 (unsigned long long)sp->rx_pkts,
				 (unsigned long long)sp->rx_bytes);
			log_health("session_path", name, &sp->h, extra);
		}
	}
}
