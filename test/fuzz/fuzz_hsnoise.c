/* libFuzzer harness for the per-client handshake's wire messages
 * (common/hsnoise.c) behind wire_parse, as the two programs receive them,
 * with fixed keys and ephemerals:
 *
 *   1. The input as a datagram: wire_parse with a key, then by its type the
 *      server's path for a HELLO (hsn_init_check under the server's mac1
 *      key, noise_read_msg1_peer, the client key looked up, noise_read_msg1,
 *      hsn_msg1_payload_parse) or the client's for a WELCOME (hsn_resp_check
 *      under the client's mac1 key, noise_read_msg2 after the reference
 *      initiation, hsn_msg2_payload_check). Whatever gets through must be
 *      the reference message itself (from byte 1; mac2 is not mac1's) --
 *      nobody without the keys makes one. A RESET goes to hsn_cookie_open
 *      as the client reads a cookie reply: only the reference one opens.
 *      Nothing may crash.
 *   2. The reference initiation, or response (first byte's low bit), with
 *      one byte (picked by the input's sum) XORed with a nonzero mask (its
 *      last byte): refused, unless the byte is byte 0 (the path id, never
 *      authenticated) or, in an initiation, inside mac2 (checked only
 *      under load, with a cookie), where it passes unchanged otherwise.
 *
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsnoise.h"
#include "noise.h"
#include "wire.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_hsnoise: invariant failed: %s "   \
				"(line %d)\n", #cond, __LINE__);                 \
			abort();                                                 \
		}                                                                \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { SESSION = 0x11223344, CLIENT_EPOCH = 0x55667788, SERVER_EPOCH = 0x99aabbcc };

static struct noise_keypair server, client;
static uint8_t e_client[NOISE_KEY_LEN], e_server[NOISE_KEY_LEN];
static uint8_t mac1_server[NOISE_KEY_LEN], mac1_client[NOISE_KEY_LEN];
static uint8_t init_ref[HSN_INIT_LEN], resp_ref[HSN_RESP_LEN];
static struct noise_hs after_init;	/* the initiator once init_ref is out */
static uint8_t cookie_key[NOISE_KEY_LEN], cookie_ref[HSN_MAC_LEN], cookie_reply[HSN_COOKIE_LEN];

static void fill(uint8_t *k, uint8_t v)
{
	memset(k, v, NOISE_KEY_LEN);
}

static void setup(void)
{
	static int done;
	uint8_t priv[NOISE_KEY_LEN], prologue[HSN_PROLOGUE_LEN], ts[NOISE_TIMESTAMP_LEN];
	uint8_t p1[HSN_MSG1_PAYLOAD_LEN], m1[HSN_MSG1_LEN], p2[HSN_MSG2_PAYLOAD_LEN];
	uint8_t m2[HSN_MSG2_LEN], peer[NOISE_KEY_LEN], pl[NOISE_PAYLOAD_MAX];
	struct noise_hs resp;

	if (done)
		return;
	done = 1;
	fill(priv, 0x11);
	CHECK(!noise_keypair_from_private(&server, priv));
	fill(priv, 0x22);
	CHECK(!noise_keypair_from_private(&client, priv));
	fill(e_client, 0x33);
	fill(e_server, 0x44);
	hsn_label_key("mprelay v1 mac1", server.pub, mac1_server);
	hsn_label_key("mprelay v1 mac1", client.pub, mac1_client);
	memset(ts, 0, sizeof(ts));
	ts[0] = 0x40;
	ts[11] = 1;
	hsn_msg1_payload(p1, ts, HSN_FLAG_TUN);
	hsn_prologue(HSN_KIND_IK, SESSION, CLIENT_EPOCH, prologue);
	CHECK(!noise_init_initiator(&after_init, &client, server.pub, NULL, prologue,
				    sizeof(prologue)));
	CHECK(!noise_hs_set_ephemeral(&after_init, e_client));
	CHECK(noise_write_msg1(&after_init, p1, sizeof(p1), m1, sizeof(m1)) == HSN_MSG1_LEN);
	struct mp_hdr h = { .path = 2, .session = SESSION, .epoch = CLIENT_EPOCH, .seq = 1 };
	hsn_init_build(init_ref, &h, HSN_KIND_IK, m1, mac1_server, NULL);

	CHECK(!noise_init_responder(&resp, &server, 0, prologue, sizeof(prologue)));
	CHECK(!noise_hs_set_ephemeral(&resp, e_server));
	CHECK(!noise_read_msg1_peer(&resp, m1, sizeof(m1), peer));
	CHECK(noise_read_msg1(&resp, m1, sizeof(m1), NULL, pl) == HSN_MSG1_PAYLOAD_LEN);
	hsn_msg2_payload(p2, SERVER_EPOCH);
	CHECK(noise_write_msg2(&resp, p2, sizeof(p2), m2, sizeof(m2)) == HSN_MSG2_LEN);
	struct mp_hdr rh = { .path = 2, .session = SESSION, .epoch = SERVER_EPOCH, .seq = 1 };
	hsn_resp_build(resp_ref, &rh, m2, mac1_client);
	noise_hs_wipe(&resp);
	hsn_label_key("mprelay v1 cookie", server.pub, cookie_key);
	memset(cookie_ref, 0x66, sizeof(cookie_ref));
	struct mp_hdr ch = { .path = 2, .session = SESSION, .epoch = CLIENT_EPOCH, .seq = 1 };
	CHECK(hsn_cookie_build(cookie_reply, &ch, cookie_ref, cookie_key,
			       init_ref + HSN_INIT_MAC1_OFF) == HSN_COOKIE_LEN);
}

/* The server's path for a HELLO: 1 if it would make a session. */
static int server_takes(const uint8_t *pkt, size_t len)
{
	uint8_t kind, prologue[HSN_PROLOGUE_LEN], peer[NOISE_KEY_LEN], pl[NOISE_PAYLOAD_MAX];
	uint8_t ts[NOISE_TIMESTAMP_LEN];
	struct noise_hs hs;
	struct mp_hdr h;
	size_t plen;
	uint16_t flags;
	long n;
	int ok = 0;

	if (wire_parse(pkt, len, 1, &h, &plen) || h.type != MP_T_HELLO ||
	    hsn_init_check(pkt, len, mac1_server, &kind))
		return 0;
	CHECK(len == HSN_INIT_LEN && (kind == HSN_KIND_IK || kind == HSN_KIND_IKPSK2));
	hsn_prologue(kind, h.session, h.epoch, prologue);
	if (noise_init_responder(&hs, &server, kind == HSN_KIND_IKPSK2, prologue,
				 sizeof(prologue)))
		return 0;
	if (!noise_read_msg1_peer(&hs, pkt + HSN_BODY_OFF, HSN_MSG1_LEN, peer) &&
	    noise_key_equal(peer, client.pub) && kind == HSN_KIND_IK) {
		n = noise_read_msg1(&hs, pkt + HSN_BODY_OFF, HSN_MSG1_LEN, NULL, pl);
		ok = n >= 0 && !hsn_msg1_payload_parse(pl, n, ts, &flags);
	}
	noise_hs_wipe(&hs);
	return ok;
}

/* The client's path for a WELCOME after init_ref: 1 if it gives keys. */
static int client_takes(const uint8_t *pkt, size_t len)
{
	uint8_t pl[NOISE_PAYLOAD_MAX];
	struct noise_keys keys;
	struct noise_hs hs = after_init;
	struct mp_hdr h;
	size_t plen;
	long n;
	int ok;

	if (wire_parse(pkt, len, 1, &h, &plen) || h.type != MP_T_WELCOME ||
	    hsn_resp_check(pkt, len, mac1_client)) {
		noise_hs_wipe(&hs);
		return 0;
	}
	CHECK(len == HSN_RESP_LEN);
	n = noise_read_msg2(&hs, pkt + HSN_BODY_OFF, HSN_MSG2_LEN, pl);
	ok = n >= 0 && !hsn_msg2_payload_check(pl, n, h.epoch) && !noise_split(&hs, &keys);
	noise_hs_wipe(&hs);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[HSN_INIT_LEN];
	unsigned sum = 0;

	setup();
	/* 1 */
	if (server_takes(data, size))
		CHECK(size == HSN_INIT_LEN &&
		      !memcmp(data + 1, init_ref + 1, HSN_INIT_MAC2_OFF - 1));
	if (client_takes(data, size))
		CHECK(size == HSN_RESP_LEN && !memcmp(data + 1, resp_ref + 1, HSN_RESP_LEN - 1));
	{
		/* a cookie reply, as the client reads one: only the reference
		 * (sealed under the server's cookie key for init_ref's mac1)
		 * opens, to the reference cookie */
		uint8_t cookie[HSN_MAC_LEN];
		struct mp_hdr h;
		size_t plen;

		if (!wire_parse(data, size, 1, &h, &plen) && h.type == MP_T_RESET &&
		    !hsn_cookie_open(data, size, cookie_key, init_ref + HSN_INIT_MAC1_OFF, cookie))
			CHECK(size == HSN_COOKIE_LEN && !memcmp(cookie, cookie_ref, HSN_MAC_LEN));
	}
	/* 2 */
	if (size < 2 || !data[size - 1])
		return 0;
	for (size_t i = 0; i < size; i++)
		sum += data[i];
	if (data[0] & 1) {
		size_t at = sum % HSN_RESP_LEN;

		memcpy(buf, resp_ref, HSN_RESP_LEN);
		buf[at] ^= data[size - 1];
		CHECK(client_takes(buf, HSN_RESP_LEN) == (at == 0 && buf[0] < MP_MAX_PATHS));
	} else {
		size_t at = sum % HSN_INIT_LEN;

		memcpy(buf, init_ref, HSN_INIT_LEN);
		buf[at] ^= data[size - 1];
		CHECK(server_takes(buf, HSN_INIT_LEN) ==
		      ((at == 0 && buf[0] < MP_MAX_PATHS) || at >= HSN_INIT_MAC2_OFF));
	}
	return 0;
}

#ifdef FUZZ_HSNOISE_SEEDS
/* The seeds of test/fuzz/corpus/hsnoise: the two reference messages, and
 * each with the bit that part 2 flips (a mask byte appended). Built once by
 * hand: cc -DFUZZ_HSNOISE_SEEDS -D_GNU_SOURCE -iquote common
 * test/fuzz/fuzz_hsnoise.c common/{hsnoise,noise,wire,crc32c,rand,log,ratelimit}.c
 * -lcrypto -o seeds && ./seeds test/fuzz/corpus/hsnoise */
static void put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f && fwrite(p, 1, n, f) == n && !fclose(f));
}

int main(int argc, char **argv)
{
	uint8_t b[HSN_INIT_LEN + 1];

	CHECK(argc == 2);
	setup();
	put(argv[1], "initiation", init_ref, HSN_INIT_LEN);
	put(argv[1], "response", resp_ref, HSN_RESP_LEN);
	put(argv[1], "cookie-reply", cookie_reply, HSN_COOKIE_LEN);
	memcpy(b, init_ref, HSN_INIT_LEN);
	b[0] = 0;		/* part 2 on the initiation */
	b[HSN_INIT_LEN] = 0x80;
	put(argv[1], "initiation-flip", b, HSN_INIT_LEN + 1);
	memcpy(b, resp_ref, HSN_RESP_LEN);
	b[0] = 1;		/* part 2 on the response */
	b[HSN_RESP_LEN] = 0x01;
	put(argv[1], "response-flip", b, HSN_RESP_LEN + 1);
	return 0;
}
#endif
