/* Names and formatting of the counters: the drop reasons, and what the
 * status document shows of them and of a path's health. */
#include "stats.h"

#include <stdio.h>
#include <unistd.h>

#include "engine.h"
#include "health.h"
#include "json.h"
#include "log.h"
#include "reorder.h"
#include "util.h"
#include "version.h"

const char *stats_drop_name(int reason)
{
	static const char *const names[DROP_MAX] = {
		[DROP_UNKNOWN_SESSION] = "unknown_session",
		[DROP_OLD] = "too_old",
		[DROP_STALE_EPOCH] = "stale_epoch",
		[DROP_OVERSIZE] = "oversize",
		[DROP_SESSION_LIMIT] = "session_limit",
		[DROP_SEND_FAIL] = "send_fail",
		[DROP_SEAL_FAIL] = "seal_fail",
		[DROP_NO_MEMORY] = "no_memory",
		[DROP_TARGET_FAIL] = "target_fail",
		[DROP_BAD_TAG] = "bad_tag",
		[DROP_BAD_HANDSHAKE] = "bad_handshake",
		[DROP_KEYS_WAIT] = "keys_wait",
		[DROP_RATE_LIMITED] = "rate_limited",
		[DROP_BAD_PROBE] = "bad_probe",
		[DROP_PACED] = "paced",
		[DROP_TOO_BIG] = "too_big",
		[DROP_NOT_IP] = "not_ip",
		[DROP_NO_ROUTE] = "no_route",
		[DROP_ROUTE_CONFLICT] = "route_conflict",
		[DROP_ROUTE_FULL] = "route_full",
		[DROP_BAD_RECOVER] = "bad_recover",
		[DROP_UNKNOWN_KEY] = "unknown_key",
		[DROP_REPLAYED_HANDSHAKE] = "replayed_handshake",
		[DROP_NOT_ALLOWED_IP] = "not_allowed_ip",
		[DROP_KEYS_EXPIRED] = "keys_expired",
	};

	return reason < WIRE_ERR_MAX ? wire_err_name((enum wire_err)reason)
				     : names[reason];
}

size_t stats_format_drops(const struct drops *d, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (int r = 1; r < DROP_MAX && used < len; r++) {
		int n = snprintf(buf + used, len - used, " drop_%s=%llu",
				 stats_drop_name(r), (unsigned long long)d->n[r]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return used < len ? used : len - 1;
}

void stats_json_drops(struct json *j, const struct drops *d)
{
	json_kv_obj_begin(j, "drops");
	for (int r = 1; r < DROP_MAX; r++)
		json_kv_u64(j, stats_drop_name(r), d->n[r]);
	json_obj_end(j);
}

void stats_json_health(struct json *j, const struct health *h)
{
	if (h->has_rtt) {
		json_kv_double(j, "rtt_ms", h->srtt_us / 1000.0, 3);
		json_kv_double(j, "rttvar_ms", h->rttvar_us / 1000.0, 3);
		json_kv_double(j, "min_rtt_ms", h->min_rtt_us / 1000.0, 3);
		json_kv_double(j, "queue_out_ms", h->out_queue_us / 1000.0, 3);
	} else {
		json_key(j, "rtt_ms");
		json_null(j);
	}
	json_kv_double(j, "loss_pct", h->send.ppm / 1e4, 2);
	json_kv_double(j, "loss_rx_pct", h->recv.ppm / 1e4, 2);
	json_kv_bool(j, "suspect", h->suspect);
	json_kv_bool(j, "demoted", h->demoted);
	json_kv_u64(j, "probes_lost", h->lost);
	json_kv_u64(j, "downs", h->downs);
	json_kv_str(j, "reason", h->reason);
}

void stats_json_begin(struct json *j, const char *program, uint64_t started_ms,
		      const char *mode, int keyed)
{
	json_obj_begin(j);
	json_kv_str(j, "program", program);
	json_kv_str(j, "version", MPRELAY_VERSION);
	json_kv_u64(j, "pid", (uint64_t)getpid());
	json_kv_u64(j, "uptime_s", (mono_ms() - started_ms) / 1000);
	json_kv_str(j, "mode", mode);
	json_kv_bool(j, "keyed", keyed);
}

void stats_json_reorder(struct json *j, const struct reorder *ro, uint64_t hold_us)
{
	json_kv_obj_begin(j, "reorder");
	json_kv_double(j, "hold_ms", hold_us / 1000.0, 1);
	if (ro) {
		const struct reorder_stats *st = reorder_stats_get(ro);
		json_kv_u64(j, "slots", reorder_slots(ro));
		json_kv_u64(j, "held_now", reorder_held(ro));
		json_kv_u64(j, "buffered", st->buffered);
		json_kv_u64(j, "filled", st->filled);
		json_kv_u64(j, "released_late", st->released_late);
		json_kv_u64(j, "overflow", st->overflow);
		json_kv_u64(j, "holes_skipped", st->holes_skipped);
		json_kv_u64(j, "late", st->late);
		json_kv_u64(j, "bypass", st->bypass);
	}
	json_obj_end(j);
}

void stats_log_reorder(uint32_t session, const struct reorder *ro)
{
	if (!ro)
		return;
	const struct reorder_stats *st = reorder_stats_get(ro);
	log_info("stats reorder id=%08x slots=%u buffered=%llu filled=%llu released_late=%llu "
		 "holes_skipped=%llu late=%llu bypass=%llu overflow=%llu", session, reorder_slots(ro),
		 (unsigned long long)st->buffered, (unsigned long long)st->filled,
		 (unsigned long long)st->released_late, (unsigned long long)st->holes_skipped,
		 (unsigned long long)st->late, (unsigned long long)st->bypass,
		 (unsigned long long)st->overflow);
}

void stats_json_recover(struct json *j, const struct recover_stats *st)
{
	json_kv_obj_begin(j, "recovery");
	json_kv_u64(j, "nacks_sent", st->nacks_tx);
	json_kv_u64(j, "asked", st->asked);
	json_kv_u64(j, "asked_in_vain", st->asked_in_vain);
	json_kv_u64(j, "nacks_received", st->nacks_rx);
	json_kv_u64(j, "bad_nacks", st->bad_nack);
	json_kv_u64(j, "resent", st->resent);
	json_kv_u64(j, "resent_bytes", st->resent_bytes);
	json_kv_u64(j, "not_kept", st->not_kept);
	json_kv_u64(j, "spent", st->spent);
	json_kv_u64(j, "over_budget", st->over_budget);
	json_kv_u64(j, "tail_probes", st->tail_probes);
	json_obj_end(j);
}

void stats_log_recover(uint32_t session, const struct recover_stats *st)
{
	if (!st->nacks_tx && !st->nacks_rx && !st->tail_probes)
		return;
	log_info("stats recovery id=%08x nacks_sent=%llu asked=%llu asked_in_vain=%llu "
		 "nacks_received=%llu "
		 "bad_nacks=%llu resent=%llu resent_bytes=%llu not_kept=%llu spent=%llu "
		 "over_budget=%llu tail_probes=%llu", session,
		 (unsigned long long)st->nacks_tx, (unsigned long long)st->asked,
		 (unsigned long long)st->asked_in_vain,
		 (unsigned long long)st->nacks_rx, (unsigned long long)st->bad_nack,
		 (unsigned long long)st->resent, (unsigned long long)st->resent_bytes,
		 (unsigned long long)st->not_kept, (unsigned long long)st->spent,
		 (unsigned long long)st->over_budget, (unsigned long long)st->tail_probes);
}

void stats_json_parity(struct json *j, const struct parity_stats *st)
{
	json_kv_obj_begin(j, "fec");
	json_kv_u64(j, "parity_sent", st->sent);
	json_kv_u64(j, "parity_sent_bytes", st->sent_bytes);
	json_kv_u64(j, "groups", st->groups);
	json_kv_u64(j, "over_budget", st->over_budget);
	json_kv_u64(j, "no_memory", st->no_memory);
	json_kv_u64(j, "parity_received", st->received);
	json_kv_u64(j, "bad_parity", st->bad);
	json_kv_u64(j, "stale", st->stale);
	json_kv_u64(j, "recovered", st->recovered);
	json_kv_u64(j, "undecodable", st->undecodable);
	json_obj_end(j);
}

void stats_log_parity(uint32_t session, const struct parity_stats *st)
{
	if (!st->sent && !st->received && !st->bad && !st->no_memory)
		return;
	log_info("stats fec id=%08x parity_sent=%llu parity_sent_bytes=%llu groups=%llu "
		 "over_budget=%llu no_memory=%llu parity_received=%llu bad_parity=%llu "
		 "stale=%llu recovered=%llu undecodable=%llu", session,
		 (unsigned long long)st->sent, (unsigned long long)st->sent_bytes,
		 (unsigned long long)st->groups, (unsigned long long)st->over_budget,
		 (unsigned long long)st->no_memory, (unsigned long long)st->received,
		 (unsigned long long)st->bad, (unsigned long long)st->stale,
		 (unsigned long long)st->recovered, (unsigned long long)st->undecodable);
}

void stats_json_traffic(struct json *j, uint64_t tx_pkts, uint64_t tx_bytes,
			uint64_t rx_pkts, uint64_t rx_bytes)
{
	json_kv_u64(j, "tx_pkts", tx_pkts);
	json_kv_u64(j, "tx_bytes", tx_bytes);
	json_kv_u64(j, "rx_pkts", rx_pkts);
	json_kv_u64(j, "rx_bytes", rx_bytes);
}

void stats_json_flow_path(struct json *j, const struct flow *f, unsigned p)
{
	const struct flow_path *fp = &f->path[p];

	json_kv_u64(j, "id", p);
	json_kv_str(j, "state", health_state_name(fp->h.state));
	json_kv_bool(j, "used", (f->view.usable >> p) & 1);
	stats_json_health(j, &fp->h);
	stats_json_traffic(j, fp->tx_pkts, fp->tx_bytes, fp->rx_pkts, fp->rx_bytes);
	/* bonding: the capacity estimate toward the peer, and the pacing */
	json_kv_u64(j, "capacity_bps", fp->est.bw_bps);
	json_kv_u64(j, "capacity_sample_bps", fp->est.last_bps);
	json_kv_str(j, "capacity_phase", fp->est.phase == RATE_STARTUP ? "startup" : "cruise");
	json_kv_u64(j, "capacity_samples", fp->est.samples);
	json_kv_u64(j, "capacity_cuts", fp->est.cuts);
	json_kv_u64(j, "pacing_bps", fp->link ? fp->link->pace.rate_bps : 0);
	/* loss recovery on the path's link (mpclient's links serve every
	 * session) */
	json_kv_u64(j, "resent", fp->link ? fp->link->st.resent : 0);
	json_kv_u64(j, "parity_sent", fp->link ? fp->link->st.parity : 0);
	json_kv_u64(j, "recovery_bytes", fp->link ? fp->link->st.recovery_bytes : 0);
}
