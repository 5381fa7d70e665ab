/* Encoding and validation of the 16-byte header and the plaintext trailer.
 * Owns byte order and exact lengths; knows nothing of sessions or sockets.
 *
 *   0      path      sender's path index (not covered by the check: the same
 *                    bytes go out on every path, only this byte differs)
 *   1      vts       version << 4 | SEALED << 3 | type
 *   2..5   session   big endian
 *   6..9   epoch     big endian
 *   10..15 seq       48 bits, big endian
 *   16..   payload, then the trailer: CRC32C over bytes 1..end of payload,
 *          or (sealed) the AEAD tag */
#include "wire.h"

#include <string.h>

#include "crc32c.h"

static const char *const err_names[WIRE_ERR_MAX] = {
	[WIRE_OK] = "ok",
	[WIRE_RUNT] = "runt",
	[WIRE_VERSION] = "bad_version",
	[WIRE_TYPE] = "bad_type",
	[WIRE_PATH] = "bad_path",
	[WIRE_FIELD] = "bad_field",
	[WIRE_SEALED] = "key_mismatch",
	[WIRE_CHECK] = "bad_check",
};

const char *wire_err_name(enum wire_err err)
{
	return err < WIRE_ERR_MAX ? err_names[err] : "?";
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

void wire_put_hdr(uint8_t buf[static MP_HDR_LEN], const struct mp_hdr *h)
{
	buf[0] = h->path;
	buf[1] = (uint8_t)(MP_VERSION << 4 | (h->sealed ? MP_VTS_SEALED : 0) |
			   (h->type & MP_VTS_TYPE));
	put_be(buf + 2, h->session, 4);
	put_be(buf + 6, h->epoch, 4);
	put_be(buf + 10, h->seq, 6);
}

static uint32_t packet_crc(const uint8_t *buf, size_t covered_end)
{
	return crc32c(0, buf + 1, covered_end - 1);
}

size_t wire_seal_plain(uint8_t *buf, size_t payload_len)
{
	size_t end = MP_HDR_LEN + payload_len;

	put_be(buf + end, packet_crc(buf, end), MP_CRC_LEN);
	return end + MP_CRC_LEN;
}

static int type_ok(unsigned type, int keyed)
{
	if (type == MP_T_DATA || type == MP_T_PROBE || type == MP_T_ACK || type == MP_T_RECOVER)
		return 1;
	return keyed && (type == MP_T_HELLO || type == MP_T_WELCOME || type == MP_T_RESET);
}

/* The order matters: nothing from the header is believed before the check
 * has passed, so a corrupted packet is reported as bad_check, not as
 * whatever its damaged fields happen to say. (A sealed packet's check is
 * its tag, which needs the session's key: the caller's job.) */
enum wire_err wire_parse(const uint8_t *buf, size_t len, int keyed,
			 struct mp_hdr *h, size_t *payload_len)
{
	size_t trailer = wire_trailer_len(keyed);

	if (len < MP_HDR_LEN + MP_CRC_LEN)
		return WIRE_RUNT;
	if (buf[1] >> 4 != MP_VERSION)
		return WIRE_VERSION;
	if (!(buf[1] & MP_VTS_SEALED) != !keyed)
		return WIRE_SEALED;	/* one side has a key, the other not */
	if (len < MP_HDR_LEN + trailer)
		return WIRE_RUNT;
	if (!keyed && get_be(buf + len - MP_CRC_LEN, MP_CRC_LEN) !=
			      packet_crc(buf, len - MP_CRC_LEN))
		return WIRE_CHECK;
	h->path = buf[0];
	h->type = buf[1] & MP_VTS_TYPE;
	h->sealed = (uint8_t)!!keyed;
	h->session = (uint32_t)get_be(buf + 2, 4);
	h->epoch = (uint32_t)get_be(buf + 6, 4);
	h->seq = get_be(buf + 10, 6);
	if (!type_ok(h->type, keyed))
		return WIRE_TYPE;
	if (h->path >= MP_MAX_PATHS)
		return WIRE_PATH;
	if (!h->session || !h->epoch || !h->seq)
		return WIRE_FIELD;
	*payload_len = len - MP_HDR_LEN - trailer;
	return WIRE_OK;
}

void wire_put_probe(uint8_t buf[static MP_PROBE_LEN], const struct mp_probe *p)
{
	buf[0] = p->path;
	buf[1] = p->state;
	put_be(buf + 2, p->interval_ms, 2);
	put_be(buf + 4, p->id, 4);
	put_be(buf + 8, p->ts_us, 4);
	put_be(buf + 12, p->tx, 4);
	put_be(buf + 16, p->echo_ts_us, 4);
	put_be(buf + 20, p->echo_hold_us, 4);
	put_be(buf + 24, p->echo_tx, 4);
	put_be(buf + 28, p->echo_rx, 4);
	put_be(buf + 32, p->echo_len, 4);
	put_be(buf + 36, p->avoid, 2);
	put_be(buf + 38, p->pmtu, 2);
	put_be(buf + 40, p->rx_bytes, 4);
	put_be(buf + 44, p->cap_kbps, 4);
	buf[48] = p->mode;
	memset(buf + MP_PROBE_FIELDS_LEN, 0, MP_PROBE_LEN - MP_PROBE_FIELDS_LEN);
}

int wire_get_probe(const uint8_t *buf, size_t len, struct mp_probe *p)
{
	if (len < MP_PROBE_LEN_V1 || buf[0] >= MP_MAX_PATHS)
		return -1;
	memset(p, 0, sizeof(*p));
	p->path = buf[0];
	p->state = buf[1];
	p->interval_ms = (uint16_t)get_be(buf + 2, 2);
	p->id = (uint32_t)get_be(buf + 4, 4);
	p->ts_us = (uint32_t)get_be(buf + 8, 4);
	p->tx = (uint32_t)get_be(buf + 12, 4);
	p->echo_ts_us = (uint32_t)get_be(buf + 16, 4);
	p->echo_hold_us = (uint32_t)get_be(buf + 20, 4);
	p->echo_tx = (uint32_t)get_be(buf + 24, 4);
	p->echo_rx = (uint32_t)get_be(buf + 28, 4);
	p->echo_len = (uint32_t)get_be(buf + 32, 4);
	p->avoid = (uint16_t)get_be(buf + 36, 2);
	p->pmtu = (uint16_t)get_be(buf + 38, 2);
	if (len < MP_PROBE_LEN)
		return 0;
	p->rx_bytes = (uint32_t)get_be(buf + 40, 4);
	p->cap_kbps = (uint32_t)get_be(buf + 44, 4);
	p->mode = buf[48];
	return 0;
}

static int nack_bit(const struct mp_nack *n, unsigned i)
{
	return n->map[i / 8] >> (i % 8) & 1;
}

size_t wire_put_nack(uint8_t buf[static MP_NACK_MAX_LEN], const struct mp_nack *n)
{
	size_t maplen = (n->bits + 7) / 8;

	buf[0] = MP_RECOVER_NACK;
	buf[1] = 0;
	put_be(buf + 2, n->bits, 2);
	put_be(buf + 4, n->base, 6);
	memcpy(buf + MP_NACK_HDR_LEN, n->map, maplen);
	return MP_NACK_HDR_LEN + maplen;
}

int wire_get_nack(const uint8_t *buf, size_t len, struct mp_nack *n)
{
	if (len < MP_NACK_HDR_LEN || buf[0] != MP_RECOVER_NACK || buf[1])
		return -1;
	n->bits = (unsigned)get_be(buf + 2, 2);
	n->base = get_be(buf + 4, 6);
	if (!n->bits || n->bits > MP_NACK_MAX_BITS || len != MP_NACK_HDR_LEN + (n->bits + 7) / 8)
		return -1;
	if (!n->base || n->base > MP_SEQ_MAX - (n->bits - 1))
		return -1;
	memcpy(n->map, buf + MP_NACK_HDR_LEN, len - MP_NACK_HDR_LEN);
	if (n->bits % 8 && n->map[n->bits / 8] >> (n->bits % 8))
		return -1;
	if (!nack_bit(n, 0) || !nack_bit(n, n->bits - 1))
		return -1;
	return 0;
}

size_t wire_put_parity(uint8_t buf[static MP_PARITY_MAX_LEN], const struct mp_parity *p)
{
	buf[0] = MP_RECOVER_PARITY;
	buf[1] = 0;
	put_be(buf + 2, p->base, 6);
	buf[8] = (uint8_t)p->k;
	buf[9] = (uint8_t)p->m;
	buf[10] = (uint8_t)p->index;
	memcpy(buf + MP_PARITY_HDR_LEN, p->shard, p->shard_len);
	return MP_PARITY_HDR_LEN + p->shard_len;
}

int wire_get_parity(const uint8_t *buf, size_t len, struct mp_parity *p)
{
	if (len < MP_PARITY_HDR_LEN + MP_PARITY_SHARD_MIN || len > MP_PARITY_MAX_LEN ||
	    buf[0] != MP_RECOVER_PARITY || buf[1])
		return -1;
	p->base = get_be(buf + 2, 6);
	p->k = buf[8];
	p->m = buf[9];
	p->index = buf[10];
	p->shard = buf + MP_PARITY_HDR_LEN;
	p->shard_len = len - MP_PARITY_HDR_LEN;
	if (!p->k || p->k > MP_PARITY_MAX_K || !p->m || p->m > MP_PARITY_MAX_M || p->index >= p->m)
		return -1;
	if (!p->base || p->base > MP_SEQ_MAX - (p->k - 1))
		return -1;
	return 0;
}
