/* libFuzzer harness for common/wire.c (wire_parse, wire_put_hdr,
 * wire_seal_plain, the PROBE/ACK body) and, behind it, what receives each
 * message type: common/seq.c + common/window.c, and for PROBE and ACK
 * common/health.c and common/pmtu.c on both sides (fuzz_proto.h).
 *
 * Each input is used five ways:
 *   1. as a plaintext datagram, straight into wire_parse (keyed = 0);
 *   2. as the same datagram with its CRC32C trailer recomputed, so that the
 *      checks behind the CRC (type, path, zero fields) and the code behind a
 *      valid packet are reached without the fuzzer having to solve a CRC;
 *      a valid one then goes where its type goes (receive_plain): DATA to
 *      the window, PROBE to the passive side's health (mpserver, which
 *      answers; the answer goes to the active side), ACK to the active
 *      side's health and path MTU search (mpclient), padding included;
 *   3. as a sealed datagram (keyed = 1: header and length are checked, the
 *      AEAD tag is left to the caller; fuzz_sealed opens them);
 *   4. when a packet is valid, its (epoch, seq) opens a seq_rx, and its
 *      payload is read as a script of further (epoch, seq) arrivals, checked
 *      against a plain model of the receive window and of the epoch rules;
 *   5. as a script of PROBE/ACK bodies, padded or not, and exchanges
 *      between the two sides over time (fuzz_health).
 * Also, over the raw bytes, crc32c (the SSE4.2 path on x86-64) must equal
 * crc32c_portable (the slice-by-8 table), whole and chained at any split.
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "health.h"
#include "seq.h"
#include "window.h"
#include "wire.h"

#define FUZZ_NAME "fuzz_wire"
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PKT_OVERHEAD = MP_HDR_LEN + MP_CRC_LEN };

/* ---- model of seq_rx: epochs ---------------------------------------------- */

struct model {
	uint32_t epoch;
	uint32_t retired[SEQ_RETIRED_EPOCHS];
	uint64_t restarts;
	uint64_t top;
	uint32_t gen;		/* bumps on every window reset */
};

/* The set of sequence numbers accepted under the current epoch: an open
 * addressing table whose slots are valid only for the current generation,
 * so a reset costs nothing. At most MAX_OPS + 2 insertions per input. */
enum { MAX_OPS = 4096, SET_SLOTS = 16384 };

static struct {
	uint64_t key;
	uint32_t gen;
} set[SET_SLOTS];
static uint32_t set_gen;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

/* Returns 1 if seq was already in the set, else adds it and returns 0. */
static int set_test_add(uint64_t seq)
{
	for (size_t i = mix(seq) % SET_SLOTS;; i = (i + 1) % SET_SLOTS) {
		if (set[i].gen != set_gen) {
			set[i].gen = set_gen;
			set[i].key = seq;
			return 0;
		}
		if (set[i].key == seq)
			return 1;
	}
}

static void model_reset_window(struct model *m)
{
	m->top = 0;
	/* gen 0 never marks a live slot: the table starts zeroed. */
	if (++set_gen == 0)
		set_gen = 1;
}

static void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	model_reset_window(m);
}

/* What seq_rx_accept must answer, from the documented rules: a new peer
 * epoch restarts the window unless it is one of the last
 * SEQ_RETIRED_EPOCHS replaced epochs; the window accepts each number once,
 * anything above the top, and nothing WINDOW_SIZE or more behind it. */
static enum seq_verdict model_accept(struct model *m, uint32_t epoch,
				     uint64_t seq)
{
	if (epoch != m->epoch) {
		for (int i = 0; i < SEQ_RETIRED_EPOCHS; i++)
			if (m->retired[i] == epoch)
				return SEQ_STALE_EPOCH;
		if (m->epoch) {
			for (int i = SEQ_RETIRED_EPOCHS - 1; i > 0; i--)
				m->retired[i] = m->retired[i - 1];
			m->retired[0] = m->epoch;
			m->restarts++;
		}
		m->epoch = epoch;
		model_reset_window(m);
	}
	if (seq > m->top) {
		m->top = seq;
		/* above the old top: cannot have been seen under this epoch */
		CHECK(!set_test_add(seq));
		return SEQ_ACCEPT;
	}
	if (m->top - seq >= WINDOW_SIZE)
		return SEQ_OLD;
	return set_test_add(seq) ? SEQ_DUP : SEQ_ACCEPT;
}

/* seq_rx_start: a fresh window for an epoch known in advance; a different
 * epoch is followed as on a restart, retired or not. */
static void model_start(struct model *m, uint32_t epoch)
{
	if (epoch != m->epoch) {
		if (m->epoch) {
			for (int i = SEQ_RETIRED_EPOCHS - 1; i > 0; i--)
				m->retired[i] = m->retired[i - 1];
			m->retired[0] = m->epoch;
			m->restarts++;
		}
		m->epoch = epoch;
	}
	model_reset_window(m);
}

static void check_rx(const struct seq_rx *rx, const struct model *m)
{
	CHECK(rx->epoch == m->epoch);
	CHECK(rx->restarts == m->restarts);
	CHECK(rx->win.top == m->top);
	CHECK(!memcmp(rx->retired, m->retired, sizeof(m->retired)));
}

static void arrive(struct seq_rx *rx, struct model *m, uint32_t epoch,
		   uint64_t seq)
{
	enum seq_verdict want, got;

	if (!epoch || !seq || seq > MP_SEQ_MAX)
		return;		/* wire_parse never lets these through */
	want = model_accept(m, epoch, seq);
	got = seq_rx_accept(rx, epoch, seq);
	if (got != want) {
		fprintf(stderr, "fuzz_wire: seq_rx_accept(epoch=%#x, seq=%llu) "
			"= %d, model says %d (top %llu)\n", epoch,
			(unsigned long long)seq, got, want,
			(unsigned long long)m->top);
		abort();
	}
	check_rx(rx, m);
}

static void start(struct seq_rx *rx, struct model *m, uint32_t epoch)
{
	if (!epoch)
		return;
	model_start(m, epoch);
	seq_rx_start(rx, epoch);
	check_rx(rx, m);
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t clamp_seq(int64_t v)
{
	if (v < 1)
		return 1;
	if ((uint64_t)v > MP_SEQ_MAX)
		return MP_SEQ_MAX;
	return (uint64_t)v;
}

/* The payload as a script of 8-byte records: op, then 7 argument bytes.
 *   op & 3        epoch: 0 same, 1 new (args 1..4), 2 a retired one
 *                 (args[0] % 4, skipped if that slot is empty), 3 the packet's
 *   op >> 2 & 7   seq:   0 top + int16, 1 top - WINDOW_SIZE + int8,
 *                        2 absolute 48 bit, 3 the previous seq again,
 *                        4 top - int16, 5 word boundary near top,
 *                        6 top + k * ring size, 7 top - ring size + int8
 *   op & 0x20     seq_rx_start(epoch) instead of an arrival */
static void run_script(struct seq_rx *rx, struct model *m, uint32_t pkt_epoch,
		       uint64_t pkt_seq, const uint8_t *p, size_t len)
{
	uint64_t prev = pkt_seq;
	size_t n = len / 8;

	if (n > MAX_OPS)
		n = MAX_OPS;
	for (size_t i = 0; i < n; i++, p += 8) {
		const uint8_t *a = p + 1;
		uint32_t epoch = m->epoch ? m->epoch : pkt_epoch;
		int64_t top = (int64_t)m->top;
		int16_t d16 = (int16_t)get_be(a + 4, 2);
		int8_t d8 = (int8_t)a[6];
		uint64_t seq;

		switch (p[0] & 3) {
		case 0:
			break;
		case 1:
			epoch = (uint32_t)get_be(a, 4);
			break;
		case 2:
			epoch = m->retired[a[0] % SEQ_RETIRED_EPOCHS];
			if (!epoch)
				continue;
			break;
		case 3:
			epoch = pkt_epoch;
			break;
		}
		switch (p[0] >> 2 & 7) {
		case 0:
			seq = clamp_seq(top + d16);
			break;
		case 1:
			seq = clamp_seq(top - WINDOW_SIZE + d8);
			break;
		case 2:
			seq = get_be(a, 6) & MP_SEQ_MAX;
			break;
		case 3:
			seq = prev;
			break;
		case 4:
			seq = clamp_seq(top - d16);
			break;
		case 5:
			seq = clamp_seq((top & ~(int64_t)63) + d8);
			break;
		case 6:
			seq = clamp_seq(top + (int64_t)(a[5] % 4) *
						      WINDOW_RING_BITS + d8);
			break;
		default:
			seq = clamp_seq(top - WINDOW_RING_BITS + d8);
			break;
		}
		if (p[0] & 0x20) {
			start(rx, m, epoch);
			continue;
		}
		arrive(rx, m, epoch, seq);
		prev = seq;
	}
}

/* ---- the checksum -------------------------------------------------------- */

static void check_crc(const uint8_t *data, size_t size)
{
	uint32_t whole = crc32c(0, data, size);
	size_t cut = size ? data[size - 1] % (size + 1) : 0;

	CHECK(crc32c_portable(0, data, size) == whole);
	CHECK(crc32c(crc32c(0, data, cut), data + cut, size - cut) == whole);
	CHECK(crc32c_portable(crc32c_portable(0, data, cut), data + cut,
			      size - cut) == whole);
}

/* ---- the packet ------------------------------------------------------------ */

/* What every WIRE_OK means, keyed or not: the fields are in range and the
 * header re-encodes to the same 16 bytes. */
static void check_hdr(const uint8_t *buf, size_t len, int keyed,
		      const struct mp_hdr *h, size_t payload_len)
{
	uint8_t hdr[MP_HDR_LEN];
	size_t trailer = keyed ? MP_TAG_LEN : MP_CRC_LEN;

	CHECK(len >= MP_HDR_LEN + trailer);
	CHECK(payload_len == len - MP_HDR_LEN - trailer);
	CHECK(h->session != 0);
	CHECK(h->epoch != 0);
	CHECK(h->seq != 0);
	CHECK(h->seq <= MP_SEQ_MAX);
	CHECK(h->path < MP_MAX_PATHS);
	CHECK(h->path == buf[0]);
	/* The type is the low bits of byte 1, and never 0. Which types are
	 * accepted is wire.c's business (DATA always, more as the protocol
	 * grows); see the WIRE_TYPE checks below. */
	CHECK(h->type == (buf[1] & MP_VTS_TYPE));
	CHECK(h->type != 0);
	CHECK(h->sealed == (keyed ? 1 : 0));
	CHECK(buf[1] >> 4 == MP_VERSION);
	CHECK(!(buf[1] & MP_VTS_SEALED) == !keyed);
	/* Byte 0 (path) and byte 1 (version, sealed, type) are fully
	 * determined by what was parsed: all 16 bytes must come back. */
	wire_put_hdr(hdr, h);
	CHECK(!memcmp(hdr, buf, MP_HDR_LEN));
}

/* A plaintext WIRE_OK, checked against the bytes themselves. */
static void check_plain_ok(const uint8_t *buf, size_t len,
			   const struct mp_hdr *h, size_t payload_len)
{
	struct mp_hdr h2;
	size_t pl2 = 0, relen;
	uint8_t *re;

	check_hdr(buf, len, 0, h, payload_len);
	CHECK(payload_len == len - PKT_OVERHEAD);

	/* Re-encode: header from the parsed fields, the same payload, a fresh
	 * trailer; the whole packet must come back byte for byte. */
	re = malloc(len);
	CHECK(re != NULL);
	wire_put_hdr(re, h);
	memcpy(re + MP_HDR_LEN, buf + MP_HDR_LEN, payload_len);
	relen = wire_seal_plain(re, payload_len);
	CHECK(relen == len);
	if (memcmp(re, buf, len)) {
		size_t i = 0;
		while (re[i] == buf[i])
			i++;
		fprintf(stderr, "fuzz_wire: re-encoded packet differs at byte "
			"%zu: %#x vs %#x\n", i, re[i], buf[i]);
		abort();
	}

	/* Byte 0 is outside the check: any other in-range path still parses,
	 * an out-of-range one is refused as such, and nothing else changes. */
	re[0] = (uint8_t)((h->path + 1) % MP_MAX_PATHS);
	CHECK(wire_parse(re, len, 0, &h2, &pl2) == WIRE_OK);
	CHECK(h2.path == re[0] && h2.type == h->type &&
	      h2.session == h->session && h2.epoch == h->epoch &&
	      h2.seq == h->seq && pl2 == payload_len);
	re[0] = (uint8_t)(MP_MAX_PATHS + h->path);
	CHECK(wire_parse(re, len, 0, &h2, &pl2) == WIRE_PATH);
	re[0] = h->path;
	/* A receiver with a key refuses a plaintext packet. */
	CHECK(wire_parse(re, len, 1, &h2, &pl2) == WIRE_SEALED);
	/* Setting the sealed flag turns it into a key mismatch. */
	re[1] |= MP_VTS_SEALED;
	CHECK(wire_parse(re, len, 0, &h2, &pl2) == WIRE_SEALED);
	free(re);
}

static void drive_seq(const uint8_t *buf, const struct mp_hdr *h,
		      size_t payload_len, int keyed)
{
	static struct seq_rx rx;	/* 1 KiB+: keep it off the stack */
	struct model m;

	seq_rx_init(&rx);
	model_init(&m);
	/* A keyed session learns its peer's epoch from the handshake. */
	if (keyed)
		start(&rx, &m, h->epoch);
	/* A fresh receiver takes the first packet, and then refuses it. */
	arrive(&rx, &m, h->epoch, h->seq);
	CHECK(rx.epoch == h->epoch && rx.win.top == h->seq);
	CHECK(seq_rx_accept(&rx, h->epoch, h->seq) == SEQ_DUP);
	run_script(&rx, &m, h->epoch, h->seq, buf + MP_HDR_LEN, payload_len);
}

/* wire_parse plus what holds for every answer. */
static enum wire_err parse(const uint8_t *buf, size_t len, int keyed,
			   struct mp_hdr *h, size_t *payload_len)
{
	enum wire_err err = wire_parse(buf, len, keyed, h, payload_len);
	const char *name;

	CHECK((unsigned)err < WIRE_ERR_MAX);
	name = wire_err_name(err);
	CHECK(name != NULL && strcmp(name, "?") != 0);
	if (len < PKT_OVERHEAD) {
		CHECK(err == WIRE_RUNT);
		return err;
	}
	/* The first two bytes are judged first, then the length, then the
	 * check (plaintext only: a tag is the caller's to verify). */
	if (buf[1] >> 4 != MP_VERSION)
		CHECK(err == WIRE_VERSION);
	else if (!(buf[1] & MP_VTS_SEALED) != !keyed)
		CHECK(err == WIRE_SEALED);
	else if (keyed && len < MP_HDR_LEN + MP_TAG_LEN)
		CHECK(err == WIRE_RUNT);
	else
		CHECK(err != WIRE_RUNT && err != WIRE_VERSION &&
		      err != WIRE_SEALED);
	if (keyed)
		CHECK(err != WIRE_CHECK);
	/* Refused as unknown exactly the types the harnesses do not know. */
	if (err == WIRE_TYPE)
		CHECK(!fuzz_type_known((enum mp_type)(buf[1] & MP_VTS_TYPE), keyed));
	if (err == WIRE_OK)
		CHECK(fuzz_type_known((enum mp_type)h->type, keyed));
	return err;
}

/* A plaintext packet wire_parse took, where its type goes in the
 * programs: DATA, and the control sequence of PROBE and ACK, through the
 * window; a PROBE's body into the passive side, whose answer (padded as
 * the PROBE was) goes to the active side; an ACK's body into the active
 * side, after a PROBE of its own (id 1) and a path MTU probe of the
 * search's first size, either of which the ACK may answer. */
static void receive_plain(const uint8_t *pkt, const struct mp_hdr *h, size_t plen)
{
	struct fuzz_path active, passive;
	const uint8_t *body = pkt + MP_HDR_LEN;
	uint64_t now = UINT64_C(1) << 40;
	struct mp_probe p;
	size_t len;

	switch ((enum mp_type)h->type) {
	case MP_T_DATA:
		drive_seq(pkt, h, plen, 0);
		return;
	case MP_T_PROBE:
		drive_seq(pkt, h, plen, 0);
		fuzz_path_init(&passive, 1, now);
		fuzz_path_init(&active, 0, now);
		if (fuzz_path_input(&passive, h->path, body, plen, MP_CRC_LEN, now) == 0) {
			len = fuzz_path_answer(&passive, &p, h->path, now + 10);
			CHECK(len == wire_ack_len(plen));
			now += 20000;
			fuzz_path_input(&active, h->path, fuzz_body(&p, len), len, MP_CRC_LEN, now);
		}
		fuzz_path_tick(&passive, now);
		fuzz_path_tick(&active, now);
		return;
	case MP_T_ACK:
		drive_seq(pkt, h, plen, 0);
		fuzz_path_init(&active, 0, now);
		fuzz_path_probe(&active, &p, h->path, 0, now);
		CHECK(p.id == 1);
		/* the path MTU search's first size goes out too */
		CHECK(fuzz_path_tick(&active, now) == FUZZ_PMTU_MAX);
		now += 20000;
		fuzz_path_input(&active, h->path, body, plen, MP_CRC_LEN, now);
		fuzz_path_tick(&active, now);
		return;
	case MP_T_RECOVER:
		/* numbered with PROBE/ACK; the body is fuzz_recover's (NACK and
		 * PARITY), but a body that parses must be written back the same */
		drive_seq(pkt, h, plen, 0);
		{
			struct mp_nack n;
			uint8_t out[MP_NACK_MAX_LEN];
			if (!wire_get_nack(body, plen, &n))
				CHECK(wire_put_nack(out, &n) == plen && !memcmp(out, body, plen));
		}
		{
			struct mp_parity par;
			static uint8_t out[MP_PARITY_MAX_LEN];
			if (!wire_get_parity(body, plen, &par))
				CHECK(wire_put_parity(out, &par) == plen && !memcmp(out, body, plen));
		}
		return;
	case MP_T_HELLO:
	case MP_T_WELCOME:
	case MP_T_RESET:
		CHECK(!"a handshake message parsed without a key");
		return;
	}
	CHECK(!"a type outside enum mp_type parsed");
}

/* Plaintext: the bytes as they came, then with the trailer fixed. */
static void fuzz_plain(const uint8_t *data, size_t size)
{
	struct mp_hdr h, hf;
	size_t pl = 0, plf = 0;
	enum wire_err err, errf;
	uint8_t *fixed;

	memset(&h, 0xa5, sizeof(h));
	err = parse(data, size, 0, &h, &pl);
	if (err == WIRE_OK)
		check_plain_ok(data, size, &h, pl);
	if (size < PKT_OVERHEAD)
		return;

	/* An exact-size heap copy, so any read past the end is an ASan
	 * report, with a correct CRC32C trailer. */
	fixed = malloc(size);
	CHECK(fixed != NULL);
	memcpy(fixed, data, size);
	CHECK(wire_seal_plain(fixed, size - PKT_OVERHEAD) == size);
	memset(&hf, 0x5a, sizeof(hf));
	errf = parse(fixed, size, 0, &hf, &plf);
	CHECK(errf != WIRE_CHECK);
	if (err == WIRE_OK) {
		/* it already had the right trailer */
		CHECK(errf == WIRE_OK && !memcmp(fixed, data, size));
		CHECK(hf.path == h.path && hf.type == h.type &&
		      hf.session == h.session && hf.epoch == h.epoch &&
		      hf.seq == h.seq && plf == pl);
	} else if (err != WIRE_CHECK) {
		/* refused before or after the check: the trailer is not the
		 * reason, so fixing it changes nothing */
		CHECK(errf == err);
	}
	if (errf == WIRE_OK) {
		check_plain_ok(fixed, size, &hf, plf);
		receive_plain(fixed, &hf, plf);
	}
	free(fixed);
}

/* Keyed: a sealed packet is parsed up to its tag, which wire.c leaves to
 * the caller; the payload is what lies between header and tag. */
static void fuzz_keyed(const uint8_t *data, size_t size)
{
	struct mp_hdr h;
	size_t pl = 0;

	memset(&h, 0xa5, sizeof(h));
	if (parse(data, size, 1, &h, &pl) != WIRE_OK)
		return;
	check_hdr(data, size, 1, &h, pl);
	switch ((enum mp_type)h.type) {
	case MP_T_DATA:
	case MP_T_PROBE:
	case MP_T_ACK:
	case MP_T_RECOVER:
		/* the window is checked before the tag is (the tag is the
		 * dearer check): the body is still ciphertext here */
		drive_seq(data, &h, pl, 1);
		return;
	case MP_T_HELLO:
	case MP_T_WELCOME:
	case MP_T_RESET:
		return;		/* no window: MAC and exact length, fuzz_sealed */
	}
	CHECK(!"a type outside enum mp_type parsed");
}

/* Path health over time, both sides of one path: the input as a script
 * of records, each a time step (2 bytes, microseconds * 64), an op byte,
 * an fx byte and a PROBE/ACK body (MP_PROBE_LEN bytes):
 *   op >> 2 & 3  first, the passive side (mpserver) receives: 0 nothing,
 *                1 the body as a PROBE, 2 a PROBE the active side sends
 *                now, 3 the path MTU probe the active side's search asks
 *                for (else a PROBE);
 *   op & 3       then the active side (mpclient) receives: 0 nothing, 1
 *                the body as an ACK, 2 the passive side's answer to the
 *                last PROBE it took, 3 both;
 *   op >> 4      the body's padding: fuzz_pad_len[op >> 4] bytes after it;
 *   fx & 1       what the active side sends is lost on the way;
 *   fx & 2       the passive side's answer is lost on the way;
 *   fx & 4       large datagrams went missing: mpclient asks for a path
 *                MTU re-check;
 *   fx & 8       the path is over mpclient's latency cut-off (demoted).
 * Both sides' timers run after every record, and must keep their bounds
 * (fuzz_path_tick) whatever the bodies say. */
enum { HEALTH_REC = 4 + MP_PROBE_LEN, HEALTH_MAX_RECS = 2048, PATH = 0 };

static void fuzz_health(const uint8_t *data, size_t size)
{
	struct fuzz_path active, passive;
	uint64_t now = UINT64_C(1) << 40;
	unsigned pmtu_size = 0, recs = 0;
	struct mp_probe p;
	size_t len;

	fuzz_path_init(&active, 0, now);
	fuzz_path_init(&passive, 1, now);
	for (; size >= HEALTH_REC && recs < HEALTH_MAX_RECS;
	     data += HEALTH_REC, size -= HEALTH_REC, recs++) {
		unsigned op = data[2], fx = data[3];
		const uint8_t *raw = data + 4;
		size_t raw_len = MP_PROBE_LEN + fuzz_pad_len[op >> 4];

		now += (uint64_t)(data[0] << 8 | data[1]) * 64;
		if (fx & 4)
			pmtu_recheck(&active.pmtu, now);
		active.h.demoted = (fx & 8) != 0;
		switch (op >> 2 & 3) {
		case 1:
			fuzz_path_input(&passive, PATH, fuzz_padded(raw, MP_PROBE_LEN, raw_len),
					raw_len, MP_CRC_LEN, now);
			break;
		case 3:
			if (pmtu_size) {
				fuzz_path_probe(&active, &p, PATH, 1, now);
				len = pmtu_size - MP_HDR_LEN - MP_CRC_LEN;
				pmtu_size = 0;
				if (!(fx & 1))
					fuzz_path_input(&passive, PATH, fuzz_body(&p, len), len,
							MP_CRC_LEN, now);
				break;
			}
			/* fall through */
		case 2:
			fuzz_path_probe(&active, &p, PATH, 0, now);
			if (!(fx & 1))
				fuzz_path_input(&passive, PATH, fuzz_body(&p, MP_PROBE_LEN),
						MP_PROBE_LEN, MP_CRC_LEN, now);
			break;
		}
		if (op & 1)
			fuzz_path_input(&active, PATH, fuzz_padded(raw, MP_PROBE_LEN, raw_len),
					raw_len, MP_CRC_LEN, now);
		if (op & 2 && (len = fuzz_path_answer(&passive, &p, PATH, now)) && !(fx & 2))
			fuzz_path_input(&active, PATH, fuzz_body(&p, len), len, MP_CRC_LEN, now);
		fuzz_path_tick(&passive, now);
		unsigned size_now = fuzz_path_tick(&active, now);
		if (size_now)
			pmtu_size = size_now;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_types_check();
	check_crc(data, size);
	fuzz_plain(data, size);
	fuzz_keyed(data, size);
	fuzz_health(data, size);
	return 0;
}
