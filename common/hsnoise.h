/* The wire messages of the per-client (Noise IK) handshake: the initiation,
 * the response and (under load) the cookie reply, built and checked as whole
 * packets, header included (docs/PROTOCOL.md, "Per-client keys"). They reuse
 * HELLO, WELCOME and RESET with lengths the shared-key messages never have,
 * and a kind byte:
 *
 *   initiation  HELLO    hdr | kind 1|2, 0,0,0 | Noise msg 1 (112) | mac1 | mac2   164 B
 *   response    WELCOME  hdr | kind 1, 0,0,0   | Noise msg 2 (56)  | mac1          92 B
 *   cookie      RESET    hdr | kind 3, 0,0,0   | nonce (12) | cookie sealed (32)   64 B
 *
 * mac1 and mac2 cover bytes 1 .. before themselves (byte 0, the path id,
 * is left out as everywhere). The Noise protocol itself is noise.c; what to
 * do with a message (state, replay, sessions) is the programs'. Nothing
 * here keeps state or allocates. */
#ifndef MP_HSNOISE_H
#define MP_HSNOISE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "noise.h"
#include "wire.h"

enum {
	HSN_KIND_IK = 1,
	HSN_KIND_IKPSK2 = 2,
	HSN_KIND_COOKIE = 3,
	HSN_MAC_LEN = 16,		/* mac1, mac2, the cookie: HMAC-SHA256 cut */
	/* TAI64N timestamp | flags (2) | zero (2) */
	HSN_MSG1_PAYLOAD_LEN = NOISE_TIMESTAMP_LEN + 4,
	/* server epoch (4) | zero (4) */
	HSN_MSG2_PAYLOAD_LEN = 8,
	HSN_MSG1_LEN = NOISE_MSG1_OVERHEAD + HSN_MSG1_PAYLOAD_LEN,	/* 112 */
	HSN_MSG2_LEN = NOISE_MSG2_OVERHEAD + HSN_MSG2_PAYLOAD_LEN,	/* 56 */
	HSN_BODY_OFF = MP_HDR_LEN + 4,	/* after kind and its 3 zero bytes */
	HSN_INIT_MAC1_OFF = HSN_BODY_OFF + HSN_MSG1_LEN,
	HSN_INIT_MAC2_OFF = HSN_INIT_MAC1_OFF + HSN_MAC_LEN,
	HSN_INIT_LEN = HSN_INIT_MAC2_OFF + HSN_MAC_LEN,			/* 164 */
	HSN_RESP_MAC1_OFF = HSN_BODY_OFF + HSN_MSG2_LEN,
	HSN_RESP_LEN = HSN_RESP_MAC1_OFF + HSN_MAC_LEN,			/* 92 */
	HSN_COOKIE_NONCE_LEN = 12,
	HSN_COOKIE_LEN = HSN_BODY_OFF + HSN_COOKIE_NONCE_LEN + HSN_MAC_LEN + 16,	/* 64 */
	/* "mprelay v1 noise" | kind (1) | session (4) | client epoch (4) */
	HSN_PROLOGUE_LEN = 16 + 1 + 4 + 4,
	/* message 1's flags */
	HSN_FLAG_REKEY = 1,		/* new keys for this live session */
	HSN_FLAG_TUN = 2,
};

/* SHA-256(label | pub): the keys that the labels "mprelay v1 mac1",
 * "mprelay v1 cookie" and "mprelay v1 reset" derive from a public key. */
void hsn_label_key(const char *label, const uint8_t pub[static NOISE_KEY_LEN],
		   uint8_t out[static NOISE_KEY_LEN]);
/* The RESET MAC key of per-client mode in a crypto_master (its mac_key;
 * its key, never used in this mode, zero): handshake.c's RESET then works
 * unchanged. */
void hsn_reset_master(const uint8_t server_pub[static NOISE_KEY_LEN],
		      struct crypto_master *m);
/* The prologue both sides give noise_init_*: a message 1 cannot be moved to
 * another session or epoch. Returns HSN_PROLOGUE_LEN. */
size_t hsn_prologue(uint8_t kind, uint32_t session, uint32_t client_epoch,
		    uint8_t out[static HSN_PROLOGUE_LEN]);

/* Message 1's payload, and its parse (length, zero bytes): 0 or -1. */
void hsn_msg1_payload(uint8_t out[static HSN_MSG1_PAYLOAD_LEN],
		      const uint8_t ts[static NOISE_TIMESTAMP_LEN], uint16_t flags);
int hsn_msg1_payload_parse(const uint8_t *p, long len, uint8_t ts[static NOISE_TIMESTAMP_LEN],
			   uint16_t *flags);
/* Message 2's payload: the server epoch; the parse wants it equal to epoch. */
void hsn_msg2_payload(uint8_t out[static HSN_MSG2_PAYLOAD_LEN], uint32_t epoch);
int hsn_msg2_payload_check(const uint8_t *p, long len, uint32_t epoch);

/* The initiation: h gives path, session, client epoch, seq; msg1 is Noise
 * message 1; mac1 under mac1_key (the server's), mac2 under cookie or zero
 * (cookie NULL). Returns HSN_INIT_LEN. */
size_t hsn_init_build(uint8_t buf[static HSN_INIT_LEN], const struct mp_hdr *h, uint8_t kind,
		      const uint8_t msg1[static HSN_MSG1_LEN],
		      const uint8_t mac1_key[static NOISE_KEY_LEN], const uint8_t *cookie);
/* A HELLO wire_parse() accepted: exact length, kind 1 or 2 (to *kind), zero
 * bytes, mac1 under mac1_key (ours). 0 or -1. */
int hsn_init_check(const uint8_t *buf, size_t len, const uint8_t mac1_key[static NOISE_KEY_LEN],
		   uint8_t *kind);
/* mac2 of a checked initiation under cookie: 0 if it matches. */
int hsn_init_mac2_check(const uint8_t buf[static HSN_INIT_LEN],
			const uint8_t cookie[static HSN_MAC_LEN]);

/* mac2 of a built initiation under cookie (a path's own: each path's
 * source address has its cookie); mac1 and all before it unchanged. */
void hsn_init_set_mac2(uint8_t buf[static HSN_INIT_LEN], const uint8_t cookie[static HSN_MAC_LEN]);

/* The cookie reply to an initiation: h gives path, session, client epoch
 * and the initiation's seq; the cookie sealed with AES-256-GCM under
 * cookie_key (SHA-256 of "mprelay v1 cookie" and the server's public key),
 * a random nonce, and the initiation's mac1 as associated data. Returns
 * HSN_COOKIE_LEN, or 0 (the AEAD library failed). */
size_t hsn_cookie_build(uint8_t buf[static HSN_COOKIE_LEN], const struct mp_hdr *h,
			const uint8_t cookie[static HSN_MAC_LEN],
			const uint8_t cookie_key[static NOISE_KEY_LEN],
			const uint8_t mac1[static HSN_MAC_LEN]);
/* A RESET that may be a cookie reply: exact length, kind 3, zero bytes,
 * and it opens under cookie_key with mac1 (that of the initiation we
 * sent) as associated data. 0 and the cookie, or -1. */
int hsn_cookie_open(const uint8_t *buf, size_t len, const uint8_t cookie_key[static NOISE_KEY_LEN],
		    const uint8_t mac1[static HSN_MAC_LEN], uint8_t cookie[static HSN_MAC_LEN]);
/* The cookie of a source address: HMAC-SHA256(secret, addr)[0..16). */
void hsn_cookie_of(const uint8_t secret[static NOISE_KEY_LEN], const void *addr, size_t len,
		   uint8_t cookie[static HSN_MAC_LEN]);

/* The response: h gives path, session, server epoch (seq is 1 here);
 * mac1 under mac1_key (the client's). Returns HSN_RESP_LEN. */
size_t hsn_resp_build(uint8_t buf[static HSN_RESP_LEN], const struct mp_hdr *h,
		      const uint8_t msg2[static HSN_MSG2_LEN],
		      const uint8_t mac1_key[static NOISE_KEY_LEN]);
/* A WELCOME: exact length, kind 1, zero bytes, mac1 under mac1_key (ours). */
int hsn_resp_check(const uint8_t *buf, size_t len, const uint8_t mac1_key[static NOISE_KEY_LEN]);

#endif
