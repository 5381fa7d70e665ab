/* Unit tests of common/metrics.c, the Prometheus exposition, over a fake
 * program of three paths and five sessions: every family has one HELP and
 * one TYPE, before its samples and all its samples together; label values
 * are escaped; figures are those of the source (units converted: seconds,
 * ratio, bytes/s); written through buffers of every size from the
 * smallest that holds the largest piece, the concatenation is the same
 * text, and smaller buffers are refused (-1) rather than cut; and sessions
 * that come and go between two buffers are neither repeated nor missed
 * when they were there throughout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "metrics.h"

#define NSESS 5
#define NPATHS 3
#define BIG (256 * 1024)

static const char *const names[NPATHS] = { "a\"b\\c\nd", "lte", "wifi" };

struct fake {
	struct flow f[NSESS];		/* [0] newest */
	uint64_t serial[NSESS];
	int gone[NSESS];
	struct drops drops;
};

static struct fake fk;

static int path(const void *ctx, unsigned i, struct metrics_path *out)
{
	const struct fake *k = ctx;

	memset(out, 0, sizeof(*out));
	out->name = names[i];
	out->state = i == 2 ? HEALTH_DOWN : HEALTH_UP;
	out->h = i == 1 ? &k->f[0].path[1].h : NULL;
	out->tx_pkts = 10 + i;
	out->tx_bytes = 1000 + i;
	out->rx_pkts = 20 + i;
	out->rx_bytes = 2000 + i;
	if (i == 1) {
		out->drops[0].reason = "send_fail";
		out->drops[0].n = 9;
		out->ndrops = 1;
	}
	return 1;
}

static const struct flow *session(const void *ctx, const struct flow *prev,
				  uint64_t before, uint64_t *serial)
{
	const struct fake *k = ctx;

	for (int i = prev ? (int)(prev - k->f) + 1 : 0; i < NSESS; i++) {
		if (k->gone[i] || k->serial[i] >= before)
			continue;
		*serial = k->serial[i];
		return &k->f[i];
	}
	return NULL;
}

static const char *path_name(const void *ctx, unsigned p, char *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return names[p];
}

static struct metrics_source source(void)
{
	return (struct metrics_source){
		.ctx = &fk, .program = "mptest", .uptime_s = 42, .sessions = NSESS,
		.next_serial = fk.gone[0] ? NSESS : NSESS + 1,
		.drops = &fk.drops, .deduplicated = 77, .npaths = NPATHS,
		.path = path, .session = session, .path_name = path_name,
	};
}

static void setup_fake(void)
{
	memset(&fk, 0, sizeof(fk));
	fk.drops.n[DROP_BAD_TAG] = 5;
	for (int i = 0; i < NSESS; i++) {
		struct flow *f = &fk.f[i];

		fk.serial[i] = NSESS - i;	/* the newest has the highest */
		f->id = 0xa0000000u + (unsigned)i;
		f->known = 0x3;			/* paths 0 and 1 */
		f->sent_pkts = 100u + (unsigned)i;
		f->sent_bytes = 10000u + (unsigned)i;
		f->delivered_pkts = 200;
		f->delivered_bytes = 20000;
		f->dedup = 7;
		for (int p = 0; p < 2; p++) {
			struct flow_path *fp = &f->path[p];
			fp->h.state = p ? HEALTH_DEGRADED : HEALTH_UP;
			fp->h.has_rtt = 1;
			fp->h.srtt_us = 12500;
			fp->h.send.ppm = 15000;
			fp->est.bw_bps = 8000000;
			fp->tx_pkts = 3;
			fp->tx_bytes = 300;
		}
	}
}

static int fill_all(char *out, size_t outcap, size_t cap, size_t *len)
{
	static char buf[BIG];
	struct metrics_source src = source();
	struct metrics_pos pos = { 0 };
	struct mtext t;
	int rc, calls = 0;

	*len = 0;
	do {
		mtext_init(&t, buf, cap);
		rc = metrics_fill(&src, &t, &pos);
		assert_true(t.len <= cap);
		assert_true(*len + t.len <= outcap);
		memcpy(out + *len, buf, t.len);
		*len += t.len;
		assert_true(++calls < 100000);
	} while (rc == 0);
	out[*len] = '\0';
	return rc;
}

static void one_shot(void **state)
{
	static char text[BIG];
	size_t len;

	(void)state;
	setup_fake();
	assert_int_equal(fill_all(text, sizeof(text) - 1, BIG, &len), 1);
	assert_non_null(strstr(text, "mprelay_info{program=\"mptest\",version=\""));
	assert_non_null(strstr(text, "\nmprelay_uptime_seconds 42\n"));
	assert_non_null(strstr(text, "\nmprelay_drops_total{reason=\"bad_tag\"} 5\n"));
	assert_non_null(strstr(text, "\nmprelay_deduplicated_total 77\n"));
	assert_null(strstr(text, "reason=\"duplicate\""));
	/* escaped: backslash, quote, newline */
	assert_non_null(strstr(text, "\nmprelay_path_state{path=\"a\\\"b\\\\c\\nd\",state=\"up\"} 1\n"));
	assert_non_null(strstr(text, "\nmprelay_path_state{path=\"wifi\",state=\"down\"} 1\n"));
	assert_non_null(strstr(text, "\nmprelay_path_state{path=\"wifi\",state=\"up\"} 0\n"));
	assert_non_null(strstr(text, "\nmprelay_path_received_bytes_total{path=\"lte\"} 2001\n"));
	assert_non_null(strstr(text, "\nmprelay_path_drops_total{path=\"lte\",reason=\"send_fail\"} 9\n"));
	assert_null(strstr(text, "mprelay_path_drops_total{path=\"wifi\""));
	/* only path 1 has figures: rtt of path 0 is absent, not 0 */
	assert_non_null(strstr(text, "\nmprelay_path_rtt_seconds{path=\"lte\"} 0.0125\n"));
	assert_null(strstr(text, "mprelay_path_rtt_seconds{path=\"wifi\""));
	assert_non_null(strstr(text, "\nmprelay_session_sent_bytes_total{session=\"a0000004\"} 10004\n"));
	assert_non_null(strstr(text, "\nmprelay_session_deduplicated_total{session=\"a0000000\"} 7\n"));
	assert_non_null(strstr(text, "\nmprelay_session_path_state{session=\"a0000002\",path=\"lte\",state=\"degraded\"} 1\n"));
	assert_non_null(strstr(text, "\nmprelay_session_path_loss_ratio{session=\"a0000002\",path=\"lte\"} 0.015\n"));
	assert_non_null(strstr(text, "\nmprelay_session_path_capacity_bytes_per_second{session=\"a0000003\",path=\"a\\\"b\\\\c\\nd\"} 1000000\n"));
	assert_null(strstr(text, "path=\"wifi\",state=\"up\"} 1"));	/* not known to sessions */
	assert_null(strstr(text, "session=\"a0000001\",path=\"wifi\""));

	/* each family: HELP then TYPE once, then only its own samples */
	char *save, *line, seen[64][128];
	unsigned nseen = 0;
	char cur[128] = "";

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[160];

		if (!strncmp(line, "# HELP ", 7)) {
			sscanf(line + 7, "%127s", cur);
			for (unsigned i = 0; i < nseen; i++)
				assert_string_not_equal(seen[i], cur);
			assert_true(nseen < 64);
			strcpy(seen[nseen++], cur);
			line = strtok_r(NULL, "\n", &save);
			assert_non_null(line);
			snprintf(name, sizeof(name), "# TYPE %s ", cur);
			assert_memory_equal(line, name, strlen(name));
			assert_true(!strcmp(line + strlen(name), "gauge") ||
				    !strcmp(line + strlen(name), "counter"));
			if (!strcmp(line + strlen(name), "counter"))
				assert_non_null(strstr(cur, "_total"));
			continue;
		}
		sscanf(line, "%159[^{ ]", name);
		assert_string_equal(name, cur);
	}
	assert_true(nseen >= 20);
}

static void every_buffer_size(void **state)
{
	static char ref[BIG], text[BIG];
	size_t ref_len, len, min_ok = 0;

	(void)state;
	setup_fake();
	assert_int_equal(fill_all(ref, sizeof(ref) - 1, BIG, &ref_len), 1);
	for (size_t cap = 1; cap <= 4096; cap++) {
		int rc = fill_all(text, sizeof(text) - 1, cap, &len);

		if (rc == 1) {
			assert_int_equal(len, ref_len);
			assert_memory_equal(text, ref, len);
			if (!min_ok)
				min_ok = cap;
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(min_ok, 0);	/* never refused above a size that worked */
		}
	}
	/* the largest piece: the drop reasons (~1.6 KiB) */
	assert_true(min_ok > 500 && min_ok < 3000);
}

/* Between two buffers, in the middle of a family of sessions, a session not
 * yet written closes and a new one opens: the new one is in no family, the
 * closed one at most once in each, the others exactly once in each. Run at
 * every buffer size from 1.6 KiB up, so that the change falls at many
 * points. */
static void sessions_come_and_go(void **state)
{
	static char buf[BIG], text[BIG];
	static const char *const fams[] = {
		"mprelay_session_sent_packets_total", "mprelay_session_deduplicated_total",
		"mprelay_session_path_sent_bytes_total",
	};
	unsigned changed = 0;

	(void)state;
	for (size_t cap = 1600; cap < 4000; cap += 7) {
		struct metrics_source src;
		struct metrics_pos pos = { 0 };
		struct mtext t;
		size_t len = 0;
		int rc, mutated = 0;

		setup_fake();
		fk.gone[0] = 1;			/* the newest does not exist yet */
		src = source();
		do {
			mtext_init(&t, buf, cap);
			rc = metrics_fill(&src, &t, &pos);
			assert_true(rc >= 0);
			memcpy(text + len, buf, t.len);
			len += t.len;
			if (!mutated && pos.before >= 2 && pos.before <= NSESS - 1) {
				mutated = 1;
				fk.gone[4] = 1;		/* the oldest closes */
				fk.gone[0] = 0;		/* a new one opens */
			}
		} while (rc == 0);
		text[len] = '\0';
		changed += mutated;
		for (size_t fi = 0; fi < sizeof(fams) / sizeof(fams[0]); fi++) {
			for (int i = 0; i < NSESS; i++) {
				char want[128];
				int n = 0;

				snprintf(want, sizeof(want), "\n%s{session=\"a000000%d\"", fams[fi], i);
				for (const char *p = text; (p = strstr(p, want)); p++)
					n++;
				if (fi == 2)
					n /= 2;		/* two paths a session */
				if (i == 0)
					assert_int_equal(n, 0);
				else if (i == 4)
					assert_true(n <= 1);
				else
					assert_int_equal(n, 1);
			}
		}
	}
	assert_true(changed > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_shot),
		cmocka_unit_test(every_buffer_size),
		cmocka_unit_test(sessions_come_and_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
