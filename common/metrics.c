/* The Prometheus exposition. Owns the series' names, types, help and the
 * text format (label escaping, number formatting); not the walk over a
 * program's sessions, which the program's metrics_source does. The format
 * wants every series of a name in one group under its HELP and TYPE, so
 * the document is written family after family, and a family of sessions
 * walks them all; the position (struct metrics_pos) is the family and the
 * serial the walk has reached, so that a buffer's worth is written at a
 * time and nothing is held between pieces. Every family shows the sessions
 * that existed when the exposition started (and are still there). */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "stats.h"
#include "util.h"
#include "version.h"

enum scope { PROGRAM, PATH, SESSION, SESSION_PATH };

enum what {
	W_INFO, W_UPTIME, W_SESSIONS, W_DROPS, W_DEDUP,
	W_STATE, W_RTT, W_LOSS, W_CAPACITY,
	W_TX_PKTS, W_TX_BYTES, W_RX_PKTS, W_RX_BYTES,
	W_SENT_PKTS, W_SENT_BYTES, W_DELIVERED_PKTS, W_DELIVERED_BYTES,
	W_ASKED, W_ASKED_IN_VAIN, W_RESENT, W_RESEND_REFUSED, W_RECOVERY_BYTES,
	W_PARITY_SENT, W_PARITY_RECEIVED, W_FEC_RECOVERED, W_FEC_UNDECODABLE, W_PATH_PARITY,
};

struct family {
	const char *name, *type, *help;
	enum scope scope;
	enum what what;
};

static const struct family families[] = {
	{ "mprelay_info", "gauge", "Which program and version answers (always 1).", PROGRAM, W_INFO },
	{ "mprelay_uptime_seconds", "gauge", "Seconds since the program started.", PROGRAM, W_UPTIME },
	{ "mprelay_sessions", "gauge", "Sessions open now.", PROGRAM, W_SESSIONS },
	{ "mprelay_drops_total", "counter", "Packets dropped, by reason.", PROGRAM, W_DROPS },
	{ "mprelay_deduplicated_total", "counter",
	  "Expected duplicate copies received and discarded (not drops).", PROGRAM, W_DEDUP },
	{ "mprelay_path_state", "gauge", "1 for the path's state now, 0 for the others.", PATH, W_STATE },
	{ "mprelay_path_rtt_seconds", "gauge", "Smoothed round-trip time of the path.", PATH, W_RTT },
	{ "mprelay_path_loss_ratio", "gauge", "Recent loss toward the peer, 0..1.", PATH, W_LOSS },
	{ "mprelay_path_drops_total", "counter",
	  "Packets dropped on the path, by reason (included in mprelay_drops_total).", PATH, W_DROPS },
	{ "mprelay_path_sent_packets_total", "counter", "Datagrams sent on the path.", PATH, W_TX_PKTS },
	{ "mprelay_path_sent_bytes_total", "counter", "Bytes of datagrams sent on the path (UDP payload).", PATH, W_TX_BYTES },
	{ "mprelay_path_received_packets_total", "counter", "Datagrams received on the path.", PATH, W_RX_PKTS },
	{ "mprelay_path_received_bytes_total", "counter", "Bytes of datagrams received on the path (UDP payload).", PATH, W_RX_BYTES },
	{ "mprelay_session_sent_packets_total", "counter",
	  "Datagrams from the local side (application, target or tun) sent to the peer.", SESSION, W_SENT_PKTS },
	{ "mprelay_session_sent_bytes_total", "counter",
	  "Payload bytes from the local side sent to the peer.", SESSION, W_SENT_BYTES },
	{ "mprelay_session_delivered_packets_total", "counter",
	  "Datagrams from the peer delivered to the local side.", SESSION, W_DELIVERED_PKTS },
	{ "mprelay_session_delivered_bytes_total", "counter",
	  "Payload bytes from the peer delivered to the local side.", SESSION, W_DELIVERED_BYTES },
	{ "mprelay_session_deduplicated_total", "counter",
	  "Expected duplicate copies the session received and discarded.", SESSION, W_DEDUP },
	{ "mprelay_session_recovery_asked_total", "counter",
	  "Lost datagrams the session asked the peer for (bond mode; again included).", SESSION, W_ASKED },
	{ "mprelay_session_recovery_asked_in_vain_total", "counter",
	  "Datagrams the session asked for that then came twice (late, not lost).", SESSION, W_ASKED_IN_VAIN },
	{ "mprelay_session_resent_packets_total", "counter",
	  "Datagrams the session sent again because the peer asked.", SESSION, W_RESENT },
	{ "mprelay_session_resend_refused_total", "counter",
	  "Datagrams the peer asked for that were not sent again, by reason.", SESSION, W_RESEND_REFUSED },
	{ "mprelay_session_parity_sent_total", "counter",
	  "Parity shards the session sent (bond mode, forward error correction).", SESSION, W_PARITY_SENT },
	{ "mprelay_session_parity_received_total", "counter",
	  "Parity shards the session took from the peer.", SESSION, W_PARITY_RECEIVED },
	{ "mprelay_session_fec_recovered_total", "counter",
	  "Datagrams the session rebuilt from parity and delivered.", SESSION, W_FEC_RECOVERED },
	{ "mprelay_session_fec_undecodable_total", "counter",
	  "Parity groups the session gave up with datagrams missing.", SESSION, W_FEC_UNDECODABLE },
	{ "mprelay_session_path_state", "gauge", "1 for the session path's state now, 0 for the others.", SESSION_PATH, W_STATE },
	{ "mprelay_session_path_rtt_seconds", "gauge", "Smoothed round-trip time of the session path.", SESSION_PATH, W_RTT },
	{ "mprelay_session_path_loss_ratio", "gauge", "Recent loss toward the peer, 0..1.", SESSION_PATH, W_LOSS },
	{ "mprelay_session_path_capacity_bytes_per_second", "gauge",
	  "Estimated capacity toward the peer (bond mode; 0 before any sample).", SESSION_PATH, W_CAPACITY },
	{ "mprelay_session_path_sent_packets_total", "counter",
	  "The session's datagrams (data and probes) handed to the path.", SESSION_PATH, W_TX_PKTS },
	{ "mprelay_session_path_sent_bytes_total", "counter",
	  "Bytes of the session's datagrams handed to the path (UDP payload).", SESSION_PATH, W_TX_BYTES },
	{ "mprelay_session_path_received_packets_total", "counter",
	  "The session's datagrams authenticated from the path.", SESSION_PATH, W_RX_PKTS },
	{ "mprelay_session_path_received_bytes_total", "counter",
	  "Bytes of the session's datagrams authenticated from the path (UDP payload).", SESSION_PATH, W_RX_BYTES },
	{ "mprelay_session_path_resent_packets_total", "counter",
	  "Datagrams sent again on the path (loss recovery; on mpclient, every session's).", SESSION_PATH, W_RESENT },
	{ "mprelay_session_path_recovery_bytes_total", "counter",
	  "Bytes of resends, NACKs and parity sent on the path (on mpclient, every session's).", SESSION_PATH, W_RECOVERY_BYTES },
	{ "mprelay_session_path_parity_sent_total", "counter",
	  "Parity shards sent on the path (on mpclient, every session's).", SESSION_PATH, W_PATH_PARITY },
};

static const enum health_state states[] = {
	HEALTH_UNKNOWN, HEALTH_UP, HEALTH_DEGRADED, HEALTH_DOWN,
};

void mtext_init(struct mtext *t, char *buf, size_t cap)
{
	t->buf = buf;
	t->cap = cap;
	t->len = 0;
	t->overflow = 0;
}

void mtext_put(struct mtext *t, const char *s, size_t n)
{
	if (t->overflow)
		return;
	if (n > t->cap - t->len) {
		t->overflow = 1;
		return;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

static void puts_(struct mtext *t, const char *s)
{
	mtext_put(t, s, strlen(s));
}

void metrics_put_label_value(struct mtext *t, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			mtext_put(t, "\\\\", 2);
		else if (*p == '"')
			mtext_put(t, "\\\"", 2);
		else if (*p == '\n')
			mtext_put(t, "\\n", 2);
		else
			mtext_put(t, p, 1);
	}
}

/* The labels of one sample: name="value" pairs, NULL-terminated. */
static void put_labels(struct mtext *t, const char *const *kv)
{
	if (!kv[0])
		return;
	puts_(t, "{");
	for (unsigned i = 0; kv[i]; i += 2) {
		if (i)
			puts_(t, ",");
		puts_(t, kv[i]);
		puts_(t, "=\"");
		metrics_put_label_value(t, kv[i + 1]);
		puts_(t, "\"");
	}
	puts_(t, "}");
}

static void sample_u64(struct mtext *t, const char *name, const char *const *kv, uint64_t v)
{
	char num[32];

	puts_(t, name);
	put_labels(t, kv);
	snprintf(num, sizeof(num), " %" PRIu64 "\n", v);
	puts_(t, num);
}

/* The programs never call setlocale, so "%g" writes a '.' point. */
static void sample_double(struct mtext *t, const char *name, const char *const *kv, double v)
{
	char num[48];

	puts_(t, name);
	put_labels(t, kv);
	if (isnan(v))
		puts_(t, " NaN\n");
	else {
		snprintf(num, sizeof(num), " %.9g\n", v);
		puts_(t, num);
	}
}

static void put_header(struct mtext *t, const struct family *fam)
{
	puts_(t, "# HELP ");
	puts_(t, fam->name);
	puts_(t, " ");
	puts_(t, fam->help);
	puts_(t, "\n# TYPE ");
	puts_(t, fam->name);
	puts_(t, " ");
	puts_(t, fam->type);
	puts_(t, "\n");
}

/* The figures of one path (program-wide or of a session): kv holds its
 * labels with room for one more pair (state) before the NULL. */
static void put_path(struct mtext *t, const struct family *fam, const char **kv,
		     unsigned nkv, enum health_state state, const struct health *h,
		     const struct flow_path *fp, uint64_t tx_pkts, uint64_t tx_bytes,
		     uint64_t rx_pkts, uint64_t rx_bytes)
{
	switch (fam->what) {
	case W_STATE:
		for (size_t i = 0; i < ARRAY_LEN(states); i++) {
			kv[nkv] = "state";
			kv[nkv + 1] = health_state_name(states[i]);
			kv[nkv + 2] = NULL;
			sample_u64(t, fam->name, kv, states[i] == state);
		}
		kv[nkv] = NULL;
		break;
	case W_RTT:
		if (h && h->has_rtt)
			sample_double(t, fam->name, kv, h->srtt_us / 1e6);
		break;
	case W_LOSS:
		if (h)
			sample_double(t, fam->name, kv, h->send.ppm / 1e6);
		break;
	case W_CAPACITY:
		sample_u64(t, fam->name, kv, fp ? fp->est.bw_bps / 8 : 0);
		break;
	case W_TX_PKTS: sample_u64(t, fam->name, kv, tx_pkts); break;
	case W_TX_BYTES: sample_u64(t, fam->name, kv, tx_bytes); break;
	case W_RX_PKTS: sample_u64(t, fam->name, kv, rx_pkts); break;
	case W_RX_BYTES: sample_u64(t, fam->name, kv, rx_bytes); break;
	case W_RESENT:
		sample_u64(t, fam->name, kv, fp && fp->link ? fp->link->st.resent : 0);
		break;
	case W_RECOVERY_BYTES:
		sample_u64(t, fam->name, kv, fp && fp->link ? fp->link->st.recovery_bytes : 0);
		break;
	case W_PATH_PARITY:
		sample_u64(t, fam->name, kv, fp && fp->link ? fp->link->st.parity : 0);
		break;
	default:
		break;
	}
}

static void put_program(struct mtext *t, const struct family *fam,
			const struct metrics_source *src)
{
	const char *kv[8] = { NULL };

	switch (fam->what) {
	case W_INFO:
		kv[0] = "program";
		kv[1] = src->program;
		kv[2] = "version";
		kv[3] = MPRELAY_VERSION;
		sample_u64(t, fam->name, kv, 1);
		break;
	case W_UPTIME: sample_u64(t, fam->name, kv, src->uptime_s); break;
	case W_SESSIONS: sample_u64(t, fam->name, kv, src->sessions); break;
	case W_DEDUP: sample_u64(t, fam->name, kv, src->deduplicated); break;
	case W_DROPS:
		kv[0] = "reason";
		for (int r = 1; r < DROP_MAX; r++) {
			kv[1] = stats_drop_name(r);
			sample_u64(t, fam->name, kv, src->drops->n[r]);
		}
		break;
	default:
		break;
	}
}

static void put_paths(struct mtext *t, const struct family *fam,
		      const struct metrics_source *src)
{
	const char *kv[8] = { "path", NULL, NULL };
	struct metrics_path mp;

	for (unsigned i = 0; i < src->npaths; i++) {
		if (!src->path(src->ctx, i, &mp))
			continue;
		kv[1] = mp.name;
		if (fam->what == W_DROPS) {
			kv[2] = "reason";
			for (unsigned r = 0; r < mp.ndrops; r++) {
				kv[3] = mp.drops[r].reason;
				sample_u64(t, fam->name, kv, mp.drops[r].n);
			}
			kv[2] = NULL;
			continue;
		}
		put_path(t, fam, kv, 2, mp.state, mp.h, NULL, mp.tx_pkts,
			 mp.tx_bytes, mp.rx_pkts, mp.rx_bytes);
	}
}

static void put_session(struct mtext *t, const struct family *fam,
			const struct metrics_source *src, const struct flow *f)
{
	char id[9], name[32];
	const char *kv[8] = { "session", id, NULL };

	snprintf(id, sizeof(id), "%08x", f->id);
	if (fam->scope == SESSION) {
		const struct recover_stats *rs = &f->rec.st;
		if (fam->what == W_RESEND_REFUSED) {
			static const char *const reasons[] = { "not_kept", "spent", "over_budget" };
			const uint64_t n[] = { rs->not_kept, rs->spent, rs->over_budget };
			kv[2] = "reason";
			for (size_t i = 0; i < ARRAY_LEN(reasons); i++) {
				kv[3] = reasons[i];
				sample_u64(t, fam->name, kv, n[i]);
			}
			return;
		}
		uint64_t v = fam->what == W_SENT_PKTS ? f->sent_pkts :
			     fam->what == W_SENT_BYTES ? f->sent_bytes :
			     fam->what == W_DELIVERED_PKTS ? f->delivered_pkts :
			     fam->what == W_DELIVERED_BYTES ? f->delivered_bytes :
			     fam->what == W_ASKED ? rs->asked :
			     fam->what == W_ASKED_IN_VAIN ? rs->asked_in_vain :
			     fam->what == W_RESENT ? rs->resent :
			     fam->what == W_PARITY_SENT ? f->par.sent :
			     fam->what == W_PARITY_RECEIVED ? f->par.received :
			     fam->what == W_FEC_RECOVERED ? f->par.recovered :
			     fam->what == W_FEC_UNDECODABLE ? f->par.undecodable : f->dedup;
		sample_u64(t, fam->name, kv, v);
		return;
	}
	kv[2] = "path";
	for (unsigned p = 0; p < MP_MAX_PATHS; p++) {
		const struct flow_path *fp = &f->path[p];

		if (!(f->known & 1u << p))
			continue;
		kv[3] = src->path_name(src->ctx, p, name, sizeof(name));
		kv[4] = NULL;
		put_path(t, fam, kv, 4, fp->h.state, &fp->h, fp, fp->tx_pkts,
			 fp->tx_bytes, fp->rx_pkts, fp->rx_bytes);
	}
}

/* Sessions of the family from serial *before down, one piece each. */
static int put_sessions(struct mtext *t, const struct family *fam,
			const struct metrics_source *src, uint64_t *before)
{
	const struct flow *f = NULL;
	uint64_t serial;

	while ((f = src->session(src->ctx, f, *before, &serial))) {
		size_t mark = t->len;

		put_session(t, fam, src, f);
		if (t->overflow) {
			t->len = mark;
			t->overflow = 0;
			return 0;
		}
		*before = serial;
	}
	return 1;
}

int metrics_fill(const struct metrics_source *src, struct mtext *t, struct metrics_pos *pos)
{
	if (pos->bound == 0)
		pos->bound = src->next_serial;	/* >= 1: serials start at 1 */
	while (pos->family < ARRAY_LEN(families)) {
		const struct family *fam = &families[pos->family];
		size_t mark = t->len;

		if (pos->before == 0) {
			/* The header, and a family that is not per session, whole. */
			put_header(t, fam);
			if (fam->scope == PROGRAM)
				put_program(t, fam, src);
			else if (fam->scope == PATH)
				put_paths(t, fam, src);
			if (t->overflow) {
				t->len = mark;
				t->overflow = 0;
				return t->len == 0 ? -1 : 0;
			}
			if (fam->scope < SESSION) {
				pos->family++;
				continue;
			}
			pos->before = pos->bound;
		}
		if (!put_sessions(t, fam, src, &pos->before))
			return t->len == 0 ? -1 : 0;
		pos->family++;
		pos->before = 0;
	}
	return 1;
}
