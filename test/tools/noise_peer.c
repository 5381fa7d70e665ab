/* noise_peer: common/noise.c as one side of a Noise IK handshake driven
 * over stdin/stdout, for test/integration/test_noise.py to play against an
 * independent implementation. Test instrument only. One hex value a line
 * ("-" for none or empty), one "name HEX" a line out:
 *
 *   noise_peer initiator [EPHEMERAL]        noise_peer responder [EPHEMERAL]
 *     in:  static private key                 in:  static private key
 *          responder's public key                  psk or -
 *          psk or -                                prologue or -
 *          prologue or -                           message 1
 *          payload of message 1 or -          out: peer (initiator's static key)
 *     out: msg1                                    payload
 *     in:  message 2                          in:  payload of message 2 or -
 *     out: payload                            out: msg2
 *     out: i2r, r2i, hash                     out: i2r, r2i, hash
 *
 * Any failure prints "error WHAT" and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"

enum { LINE_MAX_BYTES = 1024 };

static void fail(const char *what)
{
	printf("error %s\n", what);
	exit(1);
}

/* One line of hex into buf (at most cap bytes); "-" gives 0 bytes. Returns
 * the length, or -1 for "-" when dash_is_null. */
static long read_hex(uint8_t *buf, size_t cap, const char *what)
{
	char line[LINE_MAX_BYTES];
	size_t n;

	if (!fgets(line, sizeof(line), stdin))
		fail(what);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (!strcmp(line, "-"))
		return 0;
	if (n % 2 || n / 2 > cap)
		fail(what);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(line + 2 * i, "%2x", &v) != 1)
			fail(what);
		buf[i] = (uint8_t)v;
	}
	return (long)(n / 2);
}

static void read_key(uint8_t key[static NOISE_KEY_LEN], const char *what)
{
	if (read_hex(key, NOISE_KEY_LEN, what) != NOISE_KEY_LEN)
		fail(what);
}

static void put(const char *name, const uint8_t *p, size_t n)
{
	printf("%s ", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("%s\n", n ? "" : "-");
	fflush(stdout);
}

static void put_keys(struct noise_hs *hs)
{
	struct noise_keys k;

	if (noise_split(hs, &k))
		fail("split");
	put("i2r", k.i2r, sizeof(k.i2r));
	put("r2i", k.r2i, sizeof(k.r2i));
	put("hash", k.hash, sizeof(k.hash));
}

static void set_ephemeral(struct noise_hs *hs, const char *hex)
{
	uint8_t e[NOISE_KEY_LEN];

	if (!hex)
		return;
	for (size_t i = 0; i < NOISE_KEY_LEN; i++) {
		unsigned v;
		if (strlen(hex) != 2 * NOISE_KEY_LEN || sscanf(hex + 2 * i, "%2x", &v) != 1)
			fail("ephemeral key");
		e[i] = (uint8_t)v;
	}
	if (noise_hs_set_ephemeral(hs, e))
		fail("ephemeral key");
}

static void initiator(const char *ephemeral)
{
	uint8_t priv[NOISE_KEY_LEN], rs[NOISE_KEY_LEN], psk[NOISE_KEY_LEN];
	uint8_t prologue[NOISE_PROLOGUE_MAX], payload[NOISE_PAYLOAD_MAX];
	uint8_t msg[NOISE_MSG2_MAX + NOISE_MSG1_MAX];
	struct noise_keypair s;
	struct noise_hs hs;
	long plen, prlen, mlen, have_psk;

	read_key(priv, "static key");
	read_key(rs, "responder key");
	have_psk = read_hex(psk, sizeof(psk), "psk");
	if (have_psk && have_psk != NOISE_KEY_LEN)
		fail("psk");
	prlen = read_hex(prologue, sizeof(prologue), "prologue");
	plen = read_hex(payload, sizeof(payload), "payload");
	if (noise_keypair_from_private(&s, priv) ||
	    noise_init_initiator(&hs, &s, rs, have_psk ? psk : NULL, prologue, (size_t)prlen))
		fail("init");
	set_ephemeral(&hs, ephemeral);
	mlen = noise_write_msg1(&hs, payload, (size_t)plen, msg, NOISE_MSG1_MAX);
	if (mlen < 0)
		fail("write message 1");
	put("msg1", msg, (size_t)mlen);
	mlen = read_hex(msg, sizeof(msg), "message 2");
	plen = noise_read_msg2(&hs, msg, (size_t)mlen, payload);
	if (plen < 0)
		fail("read message 2");
	put("payload", payload, (size_t)plen);
	put_keys(&hs);
}

static void responder(const char *ephemeral)
{
	uint8_t priv[NOISE_KEY_LEN], psk[NOISE_KEY_LEN], peer[NOISE_KEY_LEN];
	uint8_t prologue[NOISE_PROLOGUE_MAX], payload[NOISE_PAYLOAD_MAX];
	uint8_t msg[NOISE_MSG2_MAX + NOISE_MSG1_MAX], out[NOISE_MSG2_MAX];
	struct noise_keypair s;
	struct noise_hs hs;
	long plen, prlen, mlen, have_psk;

	read_key(priv, "static key");
	have_psk = read_hex(psk, sizeof(psk), "psk");
	if (have_psk && have_psk != NOISE_KEY_LEN)
		fail("psk");
	prlen = read_hex(prologue, sizeof(prologue), "prologue");
	if (noise_keypair_from_private(&s, priv) ||
	    noise_init_responder(&hs, &s, have_psk != 0, prologue, (size_t)prlen))
		fail("init");
	set_ephemeral(&hs, ephemeral);
	mlen = read_hex(msg, sizeof(msg), "message 1");
	if (noise_read_msg1_peer(&hs, msg, (size_t)mlen, peer))
		fail("read message 1 (static key)");
	put("peer", peer, sizeof(peer));
	plen = noise_read_msg1(&hs, msg, (size_t)mlen, have_psk ? psk : NULL, payload);
	if (plen < 0)
		fail("read message 1");
	put("payload", payload, (size_t)plen);
	plen = read_hex(payload, sizeof(payload), "payload");
	mlen = noise_write_msg2(&hs, payload, (size_t)plen, out, sizeof(out));
	if (mlen < 0)
		fail("write message 2");
	put("msg2", out, (size_t)mlen);
	put_keys(&hs);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (strcmp(argv[1], "initiator") && strcmp(argv[1], "responder"))) {
		fprintf(stderr, "usage: noise_peer initiator|responder [EPHEMERAL_HEX]\n");
		return 2;
	}
	if (!strcmp(argv[1], "initiator"))
		initiator(argc == 3 ? argv[2] : NULL);
	else
		responder(argc == 3 ? argv[2] : NULL);
	return 0;
}
