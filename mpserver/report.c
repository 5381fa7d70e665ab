/* What mpserver tells about itself: the status document (--status, read by
 * scripts/mpstat) and the same figures as log lines (SIGUSR1 and exit).
 * Only reads state. Paths belong to sessions here (each client has its own
 * addresses); the top-level paths sum them up per path id. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "util.h"

/* Per path id over all sessions: counters summed, state and figures from
 * the most recently heard session. */
static void json_paths(struct json *j, const struct server *srv)
{
	json_kv_arr_begin(j, "paths");
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct session *fresh = NULL;
		uint64_t tx_pkts = 0, tx_bytes = 0, rx_pkts = 0, rx_bytes = 0;
		const struct session *s;
		char str[NET_ADDRSTR], name[8];

		list_for_each(s, &srv->sessions, struct session, link) {
			const struct flow_path *fp = &s->f.path[p];
			if (!(s->f.known & 1u << p))
				continue;
			tx_pkts += fp->tx_pkts;
			tx_bytes += fp->tx_bytes;
			rx_pkts += fp->rx_pkts;
			rx_bytes += fp->rx_bytes;
			if (!fresh || s->paths[p].last_rx_ms > fresh->paths[p].last_rx_ms)
				fresh = s;
		}
		if (!fresh)
			continue;
		const struct health *h = &fresh->f.path[p].h;
		snprintf(name, sizeof(name), "%u", p);
		json_obj_begin(j);
		json_kv_u64(j, "id", p);
		json_kv_str(j, "name", name);
		json_kv_str(j, "peer", net_ntop(&fresh->paths[p].addr, str));
		json_kv_str(j, "state", health_state_name(h->state));
		json_kv_bool(j, "backup", (h->peer_state & MP_PROBE_BACKUP) != 0);
		stats_json_health(j, h);
		stats_json_traffic(j, tx_pkts, tx_bytes, rx_pkts, rx_bytes);
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void json_session(struct json *j, const struct server *srv, const struct session *s)
{
	char str[NET_ADDRSTR], id[9], epoch[9];

	snprintf(id, sizeof(id), "%08x", s->f.id);
	snprintf(epoch, sizeof(epoch), "%08x", s->client_epoch);
	json_obj_begin(j);
	json_kv_str(j, "id", id);
	json_kv_str(j, "epoch", epoch);
	if (s->client)			/* per-client mode */
		json_kv_str(j, "client", s->client->cfg.name);
	json_kv_str(j, "mode", sched_mode_name(s->f.sched.mode));
	json_kv_str(j, "target", net_ntop(&srv->target, str));
	json_kv_u64(j, "target_port", s->local_port);
	json_kv_u64(j, "up_pkts", s->f.delivered_pkts);
	json_kv_u64(j, "up_bytes", s->f.delivered_bytes);
	json_kv_u64(j, "down_pkts", s->f.sent_pkts);
	json_kv_u64(j, "down_bytes", s->f.sent_bytes);
	json_kv_u64(j, "deduplicated", s->f.dedup);
	json_kv_u64(j, "old", s->f.old);
	json_kv_u64(j, "critical_over", s->f.crit.refused);
	json_kv_u64(j, "probes", s->probes);
	json_kv_u64(j, "bad_tag", s->f.bad_tag);
	json_kv_u64(j, "target_unreachable", s->unreachable);
	json_kv_u64(j, "idle_ms", srv->e.now_ms - s->last_active_ms);
	stats_json_reorder(j, s->f.ro, s->f.hold_us);
	stats_json_recover(j, &s->f.rec.st);
	stats_json_parity(j, &s->f.par);
	json_kv_arr_begin(j, "paths");
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct spath *sp = &s->paths[p];
		if (!(s->f.known & 1u << p))
			continue;
		json_obj_begin(j);
		stats_json_flow_path(j, &s->f, p);
		json_kv_str(j, "addr", net_ntop(&sp->addr, str));
		json_kv_bool(j, "backup", (s->f.path[p].h.peer_state & MP_PROBE_BACKUP) != 0);
		json_kv_u64(j, "tx_fail", sp->link.st.tx.fail);
		json_kv_u64(j, "addr_changes", sp->addr_changes);
		json_kv_u64(j, "rescued", sp->link.st.rescued);
		json_kv_u64(j, "pmtu_bytes", sp->pmtu);
		json_kv_u64(j, "last_rx_ms", srv->e.now_ms - sp->last_rx_ms);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
}

/* The document in pieces: the header (all but the sessions), then one
 * session at a time, newest first, then the end. *pos: 0 at the start,
 * then the serial below which sessions are still to be written, so that
 * sessions that come or go meanwhile are neither repeated nor a problem. */
int server_status_fill(void *ctx, struct json *j, uint64_t *pos)
{
	const struct server *srv = ctx;
	const struct session *s;
	struct json_mark m;

	if (*pos == 0) {
		json_piece_begin(j, &m);
		stats_json_begin(j, "mpserver", srv->started_ms, sched_mode_name(srv->o.common.mode),
				 srv->e.key != NULL);
		json_kv_obj_begin(j, "counters");
		json_kv_u64(j, "rx_pkts", srv->rx_pkts);
		json_kv_u64(j, "sessions", srv->nsessions);
		json_kv_u64(j, "sessions_opened", srv->sessions_opened);
		json_kv_u64(j, "welcomes_sent", srv->welcomes_sent);
		json_kv_u64(j, "resets_sent", srv->resets_sent);
		json_kv_u64(j, "hello_limited", srv->hello_limit.refused);
		json_kv_u64(j, "reset_limited", srv->reset_limit.refused);
		json_kv_u64(j, "handshakes_accepted", srv->hs.accepted);
		json_kv_u64(j, "handshakes_resent", srv->hs.resent);
		json_kv_u64(j, "handshakes_unknown_key", srv->hs.unknown_key);
		json_kv_u64(j, "handshakes_replayed", srv->hs.replayed);
		json_kv_u64(j, "handshakes_bad_mac1", srv->hs.bad_mac1);
		json_kv_u64(j, "cookies_sent", srv->hs.cookies_sent);
		json_kv_u64(j, "target_tx", srv->e.local_tx);
		json_kv_u64(j, "scripts_run", srv->e.hook.started);
		json_kv_u64(j, "scripts_failed", srv->e.hook.failed);
		json_kv_u64(j, "rescue_kept", srv->e.rescue.kept);
		json_kv_u64(j, "rescued", srv->e.rescue.resent);
		json_kv_u64(j, "deduplicated", srv->e.deduplicated);
		json_obj_end(j);
		stats_json_drops(j, &srv->e.drops);
		json_paths(j, srv);
		json_kv_arr_begin(j, "sessions");
		if (!json_piece_end(j, &m))
			return status_full(j);
		*pos = srv->next_serial + 1;
	}
	list_for_each(s, &srv->sessions, struct session, link) {
		if (s->serial >= *pos)
			continue;
		json_piece_begin(j, &m);
		json_session(j, srv, s);
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

/* As json_paths: per path id, summed over the sessions that know it. */
static int metrics_path(const void *ctx, unsigned p, struct metrics_path *out)
{
	const struct server *srv = ctx;
	const struct session *s, *fresh = NULL;
	memset(out, 0, sizeof(*out));
	list_for_each(s, &srv->sessions, struct session, link) {
		const struct flow_path *fp = &s->f.path[p];
		if (!(s->f.known & 1u << p))
			continue;
		out->tx_pkts += fp->tx_pkts;
		out->tx_bytes += fp->tx_bytes;
		out->rx_pkts += fp->rx_pkts;
		out->rx_bytes += fp->rx_bytes;
		out->drops[0].n += s->paths[p].link.st.tx.fail;
		out->drops[1].n += s->paths[p].link.pace.dropped;
		if (!fresh || s->paths[p].last_rx_ms > fresh->paths[p].last_rx_ms)
			fresh = s;
	}
	if (!fresh)
		return 0;
	snprintf(out->name_buf, sizeof(out->name_buf), "%u", p);
	out->name = out->name_buf;
	out->h = &fresh->f.path[p].h;
	out->state = out->h->state;
	out->drops[0].reason = stats_drop_name(DROP_SEND_FAIL);
	out->drops[1].reason = stats_drop_name(DROP_PACED);
	out->ndrops = 2;
	return 1;
}

static const struct flow *metrics_session(const void *ctx, const struct flow *prev,
					  uint64_t before, uint64_t *serial)
{
	const struct server *srv = ctx;
	const struct list *n = prev ? list_entry(prev, struct session, f)->link.next
				    : srv->sessions.next;

	for (; n != &srv->sessions; n = n->next) {
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
	(void)ctx;
	snprintf(buf, len, "%u", p);
	return buf;
}

int server_metrics_fill(void *ctx, struct mtext *t, struct metrics_pos *pos)
{
	const struct server *srv = ctx;
	const struct metrics_source src = {
		.ctx = srv,
		.program = "mpserver",
		.uptime_s = (mono_ms() - srv->started_ms) / 1000,
		.sessions = srv->nsessions,
		.next_serial = srv->next_serial + 1,
		.drops = &srv->e.drops,
		.deduplicated = srv->e.deduplicated,
		.npaths = MP_MAX_PATHS,
		.path = metrics_path,
		.session = metrics_session,
		.path_name = metrics_path_name,
	};

	return metrics_fill(&src, t, pos);
}

/* ---- the log (SIGUSR1, exit) -------------------------------------------- */

void server_log_stats(const struct server *srv)
{
	char line[1024], str[NET_ADDRSTR];
	uint64_t now = mono_ms();

	stats_format_drops(&srv->e.drops, line, sizeof(line));
	log_info("stats mode=%s sessions=%u sessions_opened=%llu rx_pkts=%llu "
		 "welcomes_sent=%llu resets_sent=%llu hello_limited=%llu "
		 "reset_limited=%llu target_tx=%llu rescued=%llu deduplicated=%llu "
		 "handshakes_accepted=%llu handshakes_resent=%llu handshakes_unknown_key=%llu "
		 "handshakes_replayed=%llu handshakes_bad_mac1=%llu cookies_sent=%llu%s",
		 sched_mode_name(srv->o.common.mode), srv->nsessions,
		 (unsigned long long)srv->sessions_opened,
		 (unsigned long long)srv->rx_pkts,
		 (unsigned long long)srv->welcomes_sent,
		 (unsigned long long)srv->resets_sent,
		 (unsigned long long)srv->hello_limit.refused,
		 (unsigned long long)srv->reset_limit.refused,
		 (unsigned long long)srv->e.local_tx,
		 (unsigned long long)srv->e.rescue.resent,
		 (unsigned long long)srv->e.deduplicated,
		 (unsigned long long)srv->hs.accepted, (unsigned long long)srv->hs.resent,
		 (unsigned long long)srv->hs.unknown_key, (unsigned long long)srv->hs.replayed,
		 (unsigned long long)srv->hs.bad_mac1, (unsigned long long)srv->hs.cookies_sent,
		 line);
	if (srv->tun.fd >= 0)		/* tun mode */
		tunnel_log_stats(srv);
	const struct session *s;
	list_for_each(s, &srv->sessions, struct session, link) {
		log_info("stats session id=%08x epoch=%08x target_port=%u up_pkts=%llu "
			 "up_bytes=%llu down_pkts=%llu down_bytes=%llu deduplicated=%llu "
			 "old=%llu probes=%llu bad_tag=%llu target_unreachable=%llu "
			 "idle_ms=%llu%s%s",
			 s->f.id, s->client_epoch, s->local_port,
			 (unsigned long long)s->f.delivered_pkts,
			 (unsigned long long)s->f.delivered_bytes,
			 (unsigned long long)s->f.sent_pkts,
			 (unsigned long long)s->f.sent_bytes,
			 (unsigned long long)s->f.dedup, (unsigned long long)s->f.old,
			 (unsigned long long)s->probes, (unsigned long long)s->f.bad_tag,
			 (unsigned long long)s->unreachable,
			 (unsigned long long)(now - s->last_active_ms),
			 s->client ? " client=" : "", s->client ? s->client->cfg.name : "");
		stats_log_reorder(s->f.id, s->f.ro);
		stats_log_recover(s->f.id, &s->f.rec.st);
		stats_log_parity(s->f.id, &s->f.par);
		for (int p = 0; p < MP_MAX_PATHS; p++) {
			const struct spath *sp = &s->paths[p];
			const struct flow_path *fp = &s->f.path[p];
			if (!(s->f.known & 1u << p))
				continue;
			log_info("stats session_path id=%08x path=%d addr=%s state=%s "
				 "suspect=%d rtt_ms=%.3f loss_pct=%.2f loss_rx_pct=%.2f "
				 "rx_pkts=%llu rx_bytes=%llu tx_pkts=%llu tx_bytes=%llu "
				 "addr_changes=%llu rescued=%llu last_rx_ms=%llu",
				 s->f.id, p, net_ntop(&sp->addr, str),
				 health_state_name(fp->h.state), fp->h.suspect,
				 fp->h.srtt_us / 1000.0, fp->h.send.ppm / 1e4,
				 fp->h.recv.ppm / 1e4,
				 (unsigned long long)fp->rx_pkts,
				 (unsigned long long)fp->rx_bytes,
				 (unsigned long long)fp->tx_pkts,
				 (unsigned long long)fp->tx_bytes,
				 (unsigned long long)sp->addr_changes,
				 (unsigned long long)sp->link.st.rescued,
				 (unsigned long long)(now - sp->last_rx_ms));
		}
	}
}
