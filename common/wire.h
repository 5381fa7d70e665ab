/* The wire format: one 16-byte header, the payload, one trailer. Every size
 * and limit of the protocol lives in the enum below; docs/PROTOCOL.md is the
 * prose version and must stay in step with this file. */
#ifndef MP_WIRE_H
#define MP_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum {
	MP_VERSION = 1,
	MP_HDR_LEN = 16,
	MP_CRC_LEN = 4,		/* plaintext trailer: CRC32C */
	MP_TAG_LEN = 16,	/* sealed trailer: AES-256-GCM tag (reserved) */
	MP_MAX_TRAILER = MP_TAG_LEN,
	/* Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP). */
	MP_MAX_DATAGRAM = 65507,
	/* Largest application datagram, the same with and without a key so
	 * that turning the key on never changes what an application may send. */
	MP_MAX_PAYLOAD = MP_MAX_DATAGRAM - MP_HDR_LEN - MP_MAX_TRAILER,
	MP_BUF_LEN = 65536,	/* one receive slot: any UDP datagram fits */
	MP_MAX_PATHS = 16,	/* path ids are 0..MP_MAX_PATHS-1 */
	MP_SEQ_BITS = 48,
};

#define MP_SEQ_MAX ((UINT64_C(1) << MP_SEQ_BITS) - 1)

enum mp_type {
	MP_T_DATA = 1,		/* payload is an application datagram */
	MP_T_PROBE = 2,		/* sent on one path alone; payload ignored */
	/* The key handshake (sealed packets only): see handshake.h. */
	MP_T_HELLO = 3,		/* client -> server: start a keyed session */
	MP_T_WELCOME = 4,	/* server -> client: its half of the keys */
	MP_T_RESET = 5,		/* server -> client: no such session here */
	MP_T_ACK = 6,		/* answers a PROBE on the path it came by */
	/* Loss recovery (bond mode): a kind byte, then that kind's body.
	 * Numbered with PROBE/ACK, so it is never a hole in the DATA. */
	MP_T_RECOVER = 7,
	/* 0 reserved */
};

/* MP_T_RECOVER bodies (docs/PROTOCOL.md, "Loss recovery"). */
enum {
	MP_RECOVER_NACK = 1,	/* the receiver's holes: send these again */
	/* kind, flags (0), bits (2 bytes), base seq (6 bytes), then the map */
	MP_NACK_HDR_LEN = 10,
	MP_NACK_MAX_BITS = 1024,
	MP_NACK_MAX_LEN = MP_NACK_HDR_LEN + MP_NACK_MAX_BITS / 8,
	/* parity over a group of DATA (forward error correction): kind,
	 * flags (0), base seq (6 bytes), k, m, index, then the shard */
	MP_RECOVER_PARITY = 2,
	MP_PARITY_HDR_LEN = 11,
	MP_PARITY_MAX_K = 16,	/* data datagrams per group (FEC_MAX_DATA) */
	MP_PARITY_MAX_M = 4,	/* parity shards per group (FEC_MAX_PARITY) */
	/* A group holds sealed DATA of up to this many bytes, the path byte
	 * left out (the rescue ring's slot: larger ones are in no group). */
	MP_PARITY_DATAGRAM_MAX = 2047,
	/* A shard: a 2-byte length, then as many bytes as the group's
	 * longest sealed DATA (path byte left out); the shortest DATA is a
	 * header and a CRC. */
	MP_PARITY_SHARD_MIN = 2 + MP_HDR_LEN - 1 + MP_CRC_LEN,
	MP_PARITY_SHARD_MAX = 2 + MP_PARITY_DATAGRAM_MAX,
	MP_PARITY_MAX_LEN = MP_PARITY_HDR_LEN + MP_PARITY_SHARD_MAX,
};

/* A parity shard of the group of DATA seqs [base, base + k): shard `index`
 * of m. shard points into the body it was read from. Canonical on the
 * wire: 1 <= k <= MP_PARITY_MAX_K, 1 <= m <= MP_PARITY_MAX_M, index < m,
 * base >= 1 and base + k - 1 <= MP_SEQ_MAX, a shard length within
 * MP_PARITY_SHARD_MIN..MP_PARITY_SHARD_MAX. */
struct mp_parity {
	uint64_t base;
	unsigned k, m, index;
	const uint8_t *shard;
	size_t shard_len;
};

/* A NACK: bit i of map (byte i / 8, bit i % 8) set = DATA seq base + i is
 * missing. Canonical on the wire: the first and the last bit are set, the
 * bits past `bits` in the last byte are zero. */
struct mp_nack {
	uint64_t base;
	unsigned bits;		/* 1..MP_NACK_MAX_BITS */
	uint8_t map[MP_NACK_MAX_BITS / 8];
};

/* The body of a PROBE and of an ACK: the same fields both ways, so each
 * side measures both directions from what it receives (docs/PROTOCOL.md,
 * "Path health"). Counters are per session and path, modulo 2^32; times
 * are the sender's monotonic clock in microseconds, modulo 2^32. A PROBE
 * may be longer (padding); the extra bytes are ignored. */
enum {
	MP_PROBE_LEN = 52,
	/* What the first release sent: a body this long is taken, its later
	 * fields read as zero (unknown). */
	MP_PROBE_LEN_V1 = 40,
	MP_PROBE_FIELDS_LEN = 49,	/* then 3 reserved bytes, never read */
	/* state byte: the sender's view of this path */
	MP_PROBE_STATE = 0x03,	/* enum health_state */
	MP_PROBE_SUSPECT = 0x04,	/* an answer is overdue: avoid for now */
	MP_PROBE_BACKUP = 0x08,	/* use only when no other path is up */
};

struct mp_probe {
	uint8_t path;		/* the path it was sent on (authenticated) */
	uint8_t state;		/* MP_PROBE_* bits */
	uint16_t interval_ms;	/* the sender's probe interval now */
	uint32_t id;		/* PROBE: sender's counter; ACK: the PROBE's */
	uint32_t ts_us;		/* sender's clock when sent */
	uint32_t tx;		/* packets the sender sent on the path, this one included */
	uint32_t echo_ts_us;	/* ts_us of the last PROBE/ACK received on the path; 0 = none */
	uint32_t echo_hold_us;	/* how long ago that one arrived */
	uint32_t echo_tx;	/* its tx field */
	uint32_t echo_rx;	/* packets received on the path when it arrived, it included */
	uint32_t echo_len;	/* its payload length (path MTU discovery) */
	uint16_t avoid;		/* paths the sender avoids now (bit i = path i) */
	uint16_t pmtu;		/* the path's MTU as the sender found it (UDP
				 * payload bytes), 0 = not known */
	/* bonding (docs/PROTOCOL.md, "Capacity"): */
	uint32_t rx_bytes;	/* bytes received on the path when sent (its
				 * delivery rate, for the peer's estimate) */
	uint32_t cap_kbps;	/* mpclient: the most mpserver may send on the
				 * path (down=), kbit/s; 0 = no cap */
	uint8_t mode;		/* mpclient: its --mode + 1; 0 = not said */
};

/* Byte 1: version in the high nibble, SEALED flag, type in the low 3 bits. */
#define MP_VTS_SEALED 0x08u
#define MP_VTS_TYPE 0x07u

struct mp_hdr {
	uint8_t path;		/* sender's path index; not covered by the check */
	uint8_t type;		/* enum mp_type */
	uint8_t sealed;		/* 1 = AEAD trailer, 0 = CRC32C trailer */
	uint32_t session;	/* chosen at random by mpclient, per application flow */
	uint32_t epoch;		/* chosen at random by the sender, per session instance */
	uint64_t seq;		/* per session, per direction, starts at 1 */
};

/* Why a datagram was refused: each has its own counter. */
enum wire_err {
	WIRE_OK = 0,
	WIRE_RUNT,		/* shorter than header + trailer */
	WIRE_VERSION,		/* not our version */
	WIRE_TYPE,		/* unknown type */
	WIRE_PATH,		/* path id out of range */
	WIRE_FIELD,		/* a zero session, epoch or sequence */
	WIRE_SEALED,		/* sealed, and we have no key; or the reverse */
	WIRE_CHECK,		/* CRC (or, later, tag) mismatch */
	WIRE_ERR_MAX
};

const char *wire_err_name(enum wire_err err);

/* Writes the header into buf[0..MP_HDR_LEN). */
void wire_put_hdr(uint8_t buf[static MP_HDR_LEN], const struct mp_hdr *h);

/* Parses and validates buf[0..len) as a packet of our version. Without a
 * key (keyed = 0) the packet must be plaintext and its CRC32C is checked;
 * with one it must be sealed, and the caller must authenticate it before
 * believing anything beyond the ids it uses to find the key. On success
 * fills h and *payload_len (the bytes between header and trailer). */
enum wire_err wire_parse(const uint8_t *buf, size_t len, int keyed,
			 struct mp_hdr *h, size_t *payload_len);

/* Appends the CRC32C trailer to a plaintext packet whose header and payload
 * fill buf[0..MP_HDR_LEN+payload_len); returns the total length. */
size_t wire_seal_plain(uint8_t *buf, size_t payload_len);
/* The trailer's length: the AEAD tag when keyed, else the CRC32C. */
static inline size_t wire_trailer_len(int keyed)
{
	return keyed ? MP_TAG_LEN : MP_CRC_LEN;
}

/* PROBE/ACK bodies: put writes MP_PROBE_LEN bytes; get returns -1 if len is
 * shorter than MP_PROBE_LEN_V1 or the path field is out of range. */
void wire_put_probe(uint8_t buf[static MP_PROBE_LEN], const struct mp_probe *p);
/* The payload length of the ACK answering a PROBE of probe_len bytes: as
 * long (a padded path MTU probe's answer shows the size went both ways),
 * but never shorter than a body (a first-release PROBE is shorter) nor
 * longer than a datagram can carry. */
static inline size_t wire_ack_len(size_t probe_len)
{
	return probe_len < MP_PROBE_LEN || probe_len > MP_MAX_PAYLOAD ? MP_PROBE_LEN : probe_len;
}
int wire_get_probe(const uint8_t *buf, size_t len, struct mp_probe *p);

/* NACK bodies: put writes a canonical nack (the caller's map is canonical)
 * and returns its length; get takes exactly one canonical body, or returns
 * -1 (a wrong kind or flags, a length other than the map's, a base of 0, a
 * range past MP_SEQ_MAX, a first or last bit clear, a stray bit). */
size_t wire_put_nack(uint8_t buf[static MP_NACK_MAX_LEN], const struct mp_nack *n);
int wire_get_nack(const uint8_t *buf, size_t len, struct mp_nack *n);

/* PARITY bodies: put writes a canonical one (the caller's fields are in
 * range) and returns its length; get takes exactly one canonical body
 * (the shard is the rest of it), or returns -1. */
size_t wire_put_parity(uint8_t buf[static MP_PARITY_MAX_LEN], const struct mp_parity *p);
int wire_get_parity(const uint8_t *buf, size_t len, struct mp_parity *p);

#endif
