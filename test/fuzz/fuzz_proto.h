/* What fuzz_wire and fuzz_sealed share: the list of message types they
 * handle, and the receive side of a PROBE/ACK body as both programs run it
 * (mpserver's paths_probe_in, mpclient's paths_ack and its timer: the body
 * decoded, its path checked against the header's, a padded ACK answering
 * path MTU discovery, then path health), with what must hold whatever the
 * peer claims. Static functions; each harness includes this once, after
 * defining FUZZ_NAME.
 *
 * New message types cannot slip past the harnesses: every switch on a type
 * in them is over enum mp_type with no default, so -Wswitch (an error
 * here) fails the build when wire.h grows a type without a case; and
 * fuzz_types_check, on the first input, fails if wire_parse accepts any
 * value of the type field that fuzz_type_known does not list. */
#ifndef FUZZ_PROTO_H
#define FUZZ_PROTO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "pmtu.h"
#include "wire.h"

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, FUZZ_NAME ": invariant failed: %s "  \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

/* The type field is 3 bits: fuzz_types_check tries all of them. */
_Static_assert(MP_VTS_TYPE == 7, "the type field grew: widen fuzz_types_check");

enum {
	/* The active side's path MTU search runs up to an Ethernet path's
	 * (1500 - IPv4 - UDP), as mpclient's does on such a link. */
	FUZZ_PMTU_MAX = 1472,
	/* mpclient's probe interval while a session is busy (--probe-ms). */
	FUZZ_PROBE_US = 50000,
};

/* Padding after a PROBE/ACK body, picked by 4 bits of input: small ones,
 * path MTU probes at the floor and at the search's first size (plaintext
 * and keyed, and one byte either side), jumbo, and the largest datagram
 * and one more (which mpserver answers unpadded). */
static const size_t fuzz_pad_len[16] = {
	0, 1, 4, 24, 100,
	PMTU_FLOOR - MP_HDR_LEN - MP_CRC_LEN - MP_PROBE_LEN,
	PMTU_FLOOR - MP_HDR_LEN - MP_TAG_LEN - MP_PROBE_LEN,
	1000,
	FUZZ_PMTU_MAX - MP_HDR_LEN - MP_TAG_LEN - MP_PROBE_LEN,
	FUZZ_PMTU_MAX - MP_HDR_LEN - MP_CRC_LEN - MP_PROBE_LEN - 1,
	FUZZ_PMTU_MAX - MP_HDR_LEN - MP_CRC_LEN - MP_PROBE_LEN,
	FUZZ_PMTU_MAX - MP_HDR_LEN - MP_CRC_LEN - MP_PROBE_LEN + 1,
	9000 - 28 - MP_HDR_LEN - MP_CRC_LEN - MP_PROBE_LEN,
	30000,
	MP_MAX_PAYLOAD - MP_PROBE_LEN,
	MP_MAX_PAYLOAD - MP_PROBE_LEN + 1,
};

/* The types the harnesses take, plaintext and keyed (the handshake is
 * keyed only). */
static int fuzz_type_known(enum mp_type t, int keyed)
{
	switch (t) {
	case MP_T_DATA:
	case MP_T_PROBE:
	case MP_T_ACK:
	case MP_T_RECOVER:
		return 1;
	case MP_T_HELLO:
	case MP_T_WELCOME:
	case MP_T_RESET:
		return keyed;
	}
	return 0;
}

/* wire_parse accepts exactly the types above, each way. */
static void fuzz_types_check(void)
{
	static int done;
	uint8_t pkt[MP_HDR_LEN + MP_PROBE_LEN + MP_MAX_TRAILER];
	struct mp_hdr h = { .session = 1, .epoch = 1, .seq = 1 }, got;
	size_t plen, len;

	if (done)
		return;
	for (unsigned t = 0; t <= MP_VTS_TYPE; t++)
		for (int keyed = 0; keyed <= 1; keyed++) {
			h.type = (uint8_t)t;
			h.sealed = (uint8_t)keyed;
			wire_put_hdr(pkt, &h);
			memset(pkt + MP_HDR_LEN, 0, MP_PROBE_LEN + MP_MAX_TRAILER);
			len = keyed ? MP_HDR_LEN + MP_PROBE_LEN + MP_TAG_LEN
				    : wire_seal_plain(pkt, MP_PROBE_LEN);
			enum wire_err err = wire_parse(pkt, len, keyed, &got, &plen);
			if ((err == WIRE_OK) != fuzz_type_known((enum mp_type)t, keyed)) {
				fprintf(stderr, FUZZ_NAME ": wire_parse says %s to type %u "
					"(%s): give it a case in the harnesses\n",
					wire_err_name(err), t, keyed ? "keyed" : "plaintext");
				abort();
			}
			CHECK(err == WIRE_OK || err == WIRE_TYPE);
		}
	done = 1;
}

/* len bytes that begin with head[0..head_len) and end exactly at the end
 * of a static buffer, so that ASan sees any read past len. The rest (the
 * padding) is whatever the buffer held: receivers never read it. */
static const uint8_t *fuzz_padded(const uint8_t *head, size_t head_len, size_t len)
{
	static uint8_t buf[MP_BUF_LEN];
	uint8_t *start;

	CHECK(head_len <= len && len <= sizeof(buf));
	start = buf + sizeof(buf) - len;
	memmove(start, head, head_len);
	return start;
}

/* A PROBE/ACK body holding p, padded to len. */
static const uint8_t *fuzz_body(const struct mp_probe *p, size_t len)
{
	uint8_t head[MP_PROBE_LEN];

	wire_put_probe(head, p);
	return fuzz_padded(head, sizeof(head), len);
}

/* ---- one path of one session, either side ------------------------------ */

struct fuzz_path {
	int passive;			/* mpserver's side; else mpclient's */
	struct health h;
	struct pmtu pmtu;		/* active side */
	uint32_t tx, rx;		/* the path's packet counters */
	uint64_t taken, refused;
	/* passive: the last PROBE taken, which the answer echoes */
	int heard;
	uint32_t probe_id;
	size_t probe_len;
};

static void fuzz_path_init(struct fuzz_path *fp, int passive, uint64_t now_us)
{
	memset(fp, 0, sizeof(*fp));
	fp->passive = passive;
	health_init(&fp->h, now_us);
	pmtu_init(&fp->pmtu, FUZZ_PMTU_MAX, now_us);
}

/* A PROBE (passive side) or ACK (active side) authenticated and accepted
 * by the window, which came in on `path` with a body of len bytes, padding
 * included, and a trailer of `trailer` bytes. Returns 0 if taken, -1 if
 * refused as the programs refuse it (short, or a path id out of range or
 * not the one it came by). */
static int fuzz_path_input(struct fuzz_path *fp, unsigned path, const uint8_t *body,
			   size_t len, size_t trailer, uint64_t now_us)
{
	struct mp_probe p, again;
	uint8_t buf[MP_PROBE_LEN];

	fp->rx++;		/* every authenticated arrival counts */
	if (wire_get_probe(body, len, &p)) {
		CHECK(len < MP_PROBE_LEN_V1 || body[0] >= MP_MAX_PATHS);
		fp->refused++;
		return -1;
	}
	/* The fields decode and re-encode exactly (a first-release body's
	 * later fields read as zero); the reserved bytes and the padding are
	 * never read. */
	wire_put_probe(buf, &p);
	CHECK(!memcmp(buf, body, len >= MP_PROBE_LEN ? MP_PROBE_FIELDS_LEN : MP_PROBE_LEN_V1));
	if (len < MP_PROBE_LEN)
		CHECK(!p.rx_bytes && !p.cap_kbps && !p.mode);
	CHECK(wire_get_probe(buf, sizeof(buf), &again) == 0);
	CHECK(!memcmp(&p, &again, sizeof(p)));
	if (p.path != path) {
		fp->refused++;
		return -1;
	}
	/* A padded ACK says which PROBE size went both ways (mpclient's
	 * paths_ack): at most what actually arrived here. */
	if (!fp->passive && p.echo_len > MP_PROBE_LEN) {
		size_t both = p.echo_len < len ? p.echo_len : len;
		pmtu_answered(&fp->pmtu, (unsigned)(MP_HDR_LEN + both + trailer), now_us);
	}
	health_input(&fp->h, &p, !fp->passive, now_us, fp->rx, (uint32_t)len);
	fp->taken++;
	if (fp->passive) {
		fp->heard = 1;
		fp->probe_id = p.id;
		fp->probe_len = len;
	}
	return 0;
}

/* What the active side sends, as mpclient fills it: a PROBE, or a path
 * MTU probe (the ACK form with id 0, which no timeout counts against; the
 * caller pads it to the size pmtu_next asked for). */
static void fuzz_path_probe(struct fuzz_path *fp, struct mp_probe *p, unsigned path,
			    int pmtu_probe, uint64_t now_us)
{
	CHECK(!fp->passive);
	health_fill(&fp->h, p, pmtu_probe, (uint8_t)path, now_us, FUZZ_PROBE_US, ++fp->tx);
	if (pmtu_probe)
		p->id = 0;
	p->state = health_state_byte(&fp->h, 0);
}

/* The passive side's answer to the last PROBE it took, as mpserver's
 * send_ack fills it: its id, padded to its length (so that a path MTU
 * probe's answer shows the size went both ways). Returns the body length,
 * or 0 if there is nothing to answer. */
static size_t fuzz_path_answer(struct fuzz_path *fp, struct mp_probe *p, unsigned path,
			       uint64_t now_us)
{
	CHECK(fp->passive);
	if (!fp->heard)
		return 0;
	fp->heard = 0;
	health_fill(&fp->h, p, 1, (uint8_t)path, now_us, 0, ++fp->tx);
	p->id = fp->probe_id;
	p->state = health_state_byte(&fp->h, 0);
	return wire_ack_len(fp->probe_len);
}

/* The side's timer: timeouts, the state, the path MTU search (active),
 * then the bounds every estimate keeps whatever the peer sent. Returns the
 * size of a path MTU probe to send now (active), else 0. */
static unsigned fuzz_path_tick(struct fuzz_path *fp, uint64_t now_us)
{
	const struct health *h = &fp->h;
	unsigned size = 0;

	if (!fp->passive) {
		health_timeouts(&fp->h, now_us);
		/* a probe is due at least every interval */
		CHECK(health_probe_due(h, now_us, FUZZ_PROBE_US) ||
		      now_us - h->last_probe_us < FUZZ_PROBE_US);
	}
	health_eval(&fp->h, now_us, fp->passive);
	if (!fp->passive && h->state != HEALTH_DOWN)
		size = pmtu_next(&fp->pmtu, now_us, health_rto_us(h));

	CHECK(h->state >= HEALTH_UP && h->state <= HEALTH_DOWN);
	CHECK(strcmp(health_state_name(h->state), "?") != 0);
	CHECK(h->send.ppm <= 1000000 && h->recv.ppm <= 1000000);
	CHECK(health_rto_us(h) >= HEALTH_RTO_MIN_US || !h->has_rtt);
	CHECK(health_rto_us(h) <= HEALTH_RTO_MAX_US ||
	      health_rto_us(h) == HEALTH_RTO_INITIAL_US);
	CHECK(h->cap_ppm >= 50000 && h->cap_ppm <= 1000000);
	CHECK(health_down_after(h) >= HEALTH_DOWN_AFTER_MIN &&
	      health_down_after(h) <= HEALTH_DOWN_AFTER_MAX);
	CHECK(h->good_needed >= HEALTH_GOOD_MIN && h->good_needed <= HEALTH_GOOD_MAX);
	CHECK(h->next_id - h->check_id <= HEALTH_RING);
	CHECK(memchr(h->reason, '\0', sizeof(h->reason)) != NULL);
	uint64_t since = health_rescue_since(h);
	CHECK(since == 0 || (since < h->last_heard_us && h->last_heard_us <= now_us));
	CHECK((health_state_byte(h, 0) & MP_PROBE_STATE) == h->state);
	/* The search stays between the floor and the largest size asked for,
	 * and what it offers to send lies in that range too. */
	const struct pmtu *m = &fp->pmtu;
	CHECK(m->lo >= PMTU_FLOOR && m->lo <= m->max);
	CHECK(pmtu_searching(m) || m->hi - m->lo <= PMTU_GRAIN || m->lo >= m->max);
	CHECK(m->hi > m->lo && m->hi <= m->max + 1);
	CHECK(pmtu_value(m) == m->lo);
	CHECK(size == 0 || (size > PMTU_FLOOR && size <= m->max));
	return size;
}

#endif
