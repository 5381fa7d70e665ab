/* Unit tests of common/crypto.c: the key file (generation, loading and every
 * way a key file can be wrong), the key schedule (HKDF-SHA256, pinned to
 * values computed independently with Python's hmac/hashlib per RFC 5869),
 * the handshake MAC, and AES-256-GCM sealing of packets (checked against a
 * direct OpenSSL EVP computation, and against tampering). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "wire.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The key 00 01 02 .. 1f and its key file text. */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static uint8_t pkt[MP_HDR_LEN + MP_MAX_PAYLOAD + MP_TAG_LEN];
static uint8_t ref[MP_HDR_LEN + MP_MAX_PAYLOAD + MP_TAG_LEN];

static void fill_seq(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

/* ---- key files: helpers ---------------------------------------------------- */

/* A fresh file under /tmp holding text[0..len) with the given mode; its path
 * is written to path (which must hold 64 bytes). */
static void key_file(char path[static 64], const void *text, size_t len, mode_t mode)
{
	int fd;

	snprintf(path, 64, "/tmp/mprelay_test_key_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* A name under /tmp that does not exist (yet). */
static void fresh_name(char path[static 64])
{
	int fd;

	snprintf(path, 64, "/tmp/mprelay_test_gen_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unlink(path), 0);
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

/* An independent base64 encoder (RFC 4648, with padding). */
static void b64_encode(const uint8_t *in, size_t len, char *out)
{
	static const char al[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = al[v >> 6 & 63];
		out[o++] = al[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = al[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* ---- key files: generation ------------------------------------------------- */

static void test_key_b64_helper(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN];
	char text[CRYPTO_KEY_B64_LEN + 1];

	(void)state;
	fill_seq(key, sizeof(key), 0);
	b64_encode(key, sizeof(key), text);
	assert_string_equal(text, KEY_B64);
}

static void test_key_generate(void **state)
{
	char path[64], path2[64], err[CRYPTO_ERR_MAX];
	uint8_t text[128], text2[128], key[CRYPTO_KEY_LEN], key2[CRYPTO_KEY_LEN];
	char want[CRYPTO_KEY_B64_LEN + 1];
	struct stat st;
	size_t n;

	(void)state;
	fresh_name(path);
	fresh_name(path2);
	assert_int_equal(crypto_key_generate(path, err), 0);
	assert_int_equal(crypto_key_generate(path2, err), 0);

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	n = slurp(path, text, sizeof(text));
	assert_int_equal(n, CRYPTO_KEY_B64_LEN + 1);
	assert_int_equal(text[CRYPTO_KEY_B64_LEN], '\n');
	assert_int_equal(text[CRYPTO_KEY_B64_LEN - 1], '=');
	for (size_t i = 0; i < CRYPTO_KEY_B64_LEN - 1; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789+/", text[i]) || !text[i])
			fail_msg("generated key byte %zu is 0x%02x", i, text[i]);

	/* loading it gives the key the text encodes */
	memset(key, 0, sizeof(key));
	assert_int_equal(crypto_key_load(path, key, err), 0);
	b64_encode(key, sizeof(key), want);
	assert_memory_equal(text, want, CRYPTO_KEY_B64_LEN);

	/* two keys are different */
	assert_int_equal(crypto_key_load(path2, key2, err), 0);
	assert_memory_not_equal(key, key2, sizeof(key));
	n = slurp(path2, text2, sizeof(text2));
	assert_int_equal(n, CRYPTO_KEY_B64_LEN + 1);
	assert_memory_not_equal(text, text2, CRYPTO_KEY_B64_LEN);

	/* never overwritten: the second generation on the same path fails and
	 * the file is unchanged */
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_generate(path, err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "exists"));
	n = slurp(path, text2, sizeof(text2));
	assert_int_equal(n, CRYPTO_KEY_B64_LEN + 1);
	assert_memory_equal(text, text2, n);

	unlink(path);
	unlink(path2);
}

/* Any existing file, even one that is no key, is left alone. */
static void test_key_generate_existing(void **state)
{
	static const char precious[] = "not a key, but precious\n";
	char path[64], err[CRYPTO_ERR_MAX];
	uint8_t text[128];
	struct stat st;

	(void)state;
	key_file(path, precious, sizeof(precious) - 1, 0644);
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_generate(path, err), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(slurp(path, text, sizeof(text)), sizeof(precious) - 1);
	assert_memory_equal(text, precious, sizeof(precious) - 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	unlink(path);
}

/* A dangling symlink is an existing path: its target is not created. */
static void test_key_generate_symlink(void **state)
{
	char link[64], target[64], err[CRYPTO_ERR_MAX];
	struct stat st;

	(void)state;
	fresh_name(link);
	fresh_name(target);
	assert_int_equal(symlink(target, link), 0);
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_generate(link, err), -1);
	assert_non_null(strstr(err, link));
	assert_int_equal(lstat(target, &st), -1);
	unlink(link);
}

static void test_key_generate_no_dir(void **state)
{
	char err[CRYPTO_ERR_MAX];
	static const char path[] = "/nonexistent-mprelay-dir/key";

	(void)state;
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_generate(path, err), -1);
	assert_non_null(strstr(err, path));
}

/* ---- key files: loading ---------------------------------------------------- */

struct load_case {
	const char *name;
	const char *text;
	size_t len;		/* 0: strlen(text) */
	mode_t mode;
	int ok;
	const char *msg;	/* a part of the error message, or NULL */
};

static const struct load_case loads[] = {
	{ "with newline", KEY_B64 "\n", 0, 0600, 1, NULL },
	{ "without newline", KEY_B64, 0, 0600, 1, NULL },
	{ "mode 0400", KEY_B64 "\n", 0, 0400, 1, NULL },
	{ "mode 0700", KEY_B64 "\n", 0, 0700, 1, NULL },

	{ "mode 0640", KEY_B64 "\n", 0, 0640, 0, "chmod 600" },
	{ "mode 0604", KEY_B64 "\n", 0, 0604, 0, "chmod 600" },
	{ "mode 0644", KEY_B64 "\n", 0, 0644, 0, "chmod 600" },
	{ "mode 0660", KEY_B64 "\n", 0, 0660, 0, "chmod 600" },
	{ "mode 0610", KEY_B64 "\n", 0, 0610, 0, "chmod 600" },
	{ "mode 0601", KEY_B64 "\n", 0, 0601, 0, "chmod 600" },

	{ "43 characters", "AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0, 0600, 0, "44" },
	{ "43 characters, no newline", "AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 0, 0600, 0, "44" },
	{ "45 characters", "A" KEY_B64 "\n", 0, 0600, 0, "44" },
	{ "45 characters, no newline", KEY_B64 "A", 0, 0600, 0, "44" },
	{ "no padding", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A\n", 0, 0600, 0, NULL },
	{ "two pad characters", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==\n", 0, 0600, 0, NULL },
	{ "non-canonical last char", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n", 0, 0600, 0, NULL },
	{ "leading space", " AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0, 0600, 0, NULL },
	{ "leading newline", "\nAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0, 0600, 0, NULL },
	{ "empty", "", 0, 0600, 0, "44" },
	{ "only a newline", "\n", 0, 0600, 0, "44" },
	{ "two newlines", KEY_B64 "\n\n", 0, 0600, 0, NULL },
	{ "CR LF", KEY_B64 "\r\n", 0, 0600, 0, NULL },
	{ "trailing space", KEY_B64 " \n", 0, 0600, 0, NULL },
	{ "junk after newline", KEY_B64 "\nX", 0, 0600, 0, NULL },
	{ "junk line after", KEY_B64 "\n# comment\n", 0, 0600, 0, NULL },
	{ "key twice", KEY_B64 "\n" KEY_B64 "\n", 0, 0600, 0, NULL },
	{ "key and a lot", KEY_B64 "\n" KEY_B64 "\n" KEY_B64 "\n" KEY_B64 "\n", 0, 0600, 0, NULL },
};

static void test_key_load_table(void **state)
{
	uint8_t want[CRYPTO_KEY_LEN];

	(void)state;
	fill_seq(want, sizeof(want), 0);
	for (size_t i = 0; i < N_ELEMS(loads); i++) {
		const struct load_case *c = &loads[i];
		size_t len = c->len ? c->len : strlen(c->text);
		char path[64], err[CRYPTO_ERR_MAX];
		uint8_t key[CRYPTO_KEY_LEN];
		int rc;

		key_file(path, c->text, len, c->mode);
		memset(key, 0xee, sizeof(key));
		memset(err, 0, sizeof(err));
		rc = crypto_key_load(path, key, err);
		unlink(path);
		if (c->ok) {
			if (rc != 0)
				fail_msg("%s: refused (%s)", c->name, err);
			assert_memory_equal(key, want, sizeof(key));
			continue;
		}
		if (rc != -1)
			fail_msg("%s: accepted (rc %d)", c->name, rc);
		if (!strstr(err, path))
			fail_msg("%s: message does not name the file: \"%s\"", c->name, err);
		if (c->msg && !strstr(err, c->msg))
			fail_msg("%s: message lacks \"%s\": \"%s\"", c->name, c->msg, err);
	}
}

/* One character of a good key file replaced by something that is not base64
 * (or by '=' where no padding may be): each must be refused. All failures
 * are listed before the test fails. */
/* A systemd credential under an ACL shows mode 0440 (the mask in the group
 * bits): taken directly in $CREDENTIALS_DIRECTORY, nowhere else, and no
 * other bit with it. */
static void test_key_load_credential(void **state)
{
	static const struct { const char *where; mode_t mode; int ok; } cases[] = {
		{ "", 0440, 1 },
		{ "", 0400, 1 },
		{ "", 0460, 0 },
		{ "", 0444, 0 },
		{ "", 0442, 0 },
		{ "", 0450, 0 },
		{ "sub/", 0440, 0 },	/* not directly in it */
		{ "-", 0440, 0 },	/* a sibling whose name starts alike */
	};
	char dir[] = "/tmp/mprelay_test_cred_XXXXXX";
	char path[128], sub[160], err[CRYPTO_ERR_MAX];
	uint8_t key[CRYPTO_KEY_LEN];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s-", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int fd;

		if (!strcmp(cases[i].where, "-"))
			snprintf(path, sizeof(path), "%s-/key", dir);
		else
			snprintf(path, sizeof(path), "%s/%skey", dir, cases[i].where);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, KEY_B64 "\n", 45), 45);
		assert_int_equal(fchmod(fd, cases[i].mode), 0);
		close(fd);
		if ((crypto_key_load(path, key, err) == 0) != cases[i].ok)
			fail_msg("%s mode %04o: %s", path, (unsigned)cases[i].mode,
				 cases[i].ok ? err : "accepted");
		/* Without the variable, the same file is an ordinary key file. */
		assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
		if (cases[i].mode & 077)
			assert_int_equal(crypto_key_load(path, key, err), -1);
		assert_int_equal(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
		unlink(path);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s-", dir);
	rmdir(sub);
	rmdir(dir);
}

static void test_key_load_bad_char(void **state)
{
	static const char bad[] = { '*', '-', '_', '.', ' ', '\t', '\n', '\r', '\0',
				    '@', '"', '\\', (char)0x80, (char)0xff, '=' };
	static const size_t pos[] = { 0, 1, 2, 3, 10, 20, 39, 40, 41, 42, 43 };
	unsigned accepted = 0;

	(void)state;
	for (size_t p = 0; p < N_ELEMS(pos); p++)
		for (size_t c = 0; c < N_ELEMS(bad); c++) {
			char text[] = KEY_B64 "\n", path[64], err[CRYPTO_ERR_MAX];
			uint8_t key[CRYPTO_KEY_LEN];
			int rc;

			if (pos[p] == 43 && bad[c] == '=')
				continue;	/* that is the good file */
			text[pos[p]] = bad[c];
			key_file(path, text, CRYPTO_KEY_B64_LEN + 1, 0600);
			memset(err, 0, sizeof(err));
			rc = crypto_key_load(path, key, err);
			unlink(path);
			if (rc != -1) {
				print_error("character %zu replaced by 0x%02x ('%c'): accepted\n",
					    pos[p], (unsigned)(uint8_t)bad[c],
					    bad[c] >= ' ' && bad[c] < 0x7f ? bad[c] : '?');
				accepted++;
			} else if (!strstr(err, path)) {
				fail_msg("message does not name the file: \"%s\"", err);
			}
		}
	if (accepted)
		fail_msg("%u key files with a non-base64 character were accepted", accepted);
}

/* Every other character but the 43rd (which must encode two zero bits) may
 * be any of the 64 base64 characters: all round-trip. */
static void test_key_load_alphabet(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN];
	char text[CRYPTO_KEY_B64_LEN + 2];

	(void)state;
	for (unsigned v = 0; v < 256; v++) {
		char path[64], err[CRYPTO_ERR_MAX];
		uint8_t got[CRYPTO_KEY_LEN];

		for (size_t i = 0; i < sizeof(key); i++)
			key[i] = (uint8_t)(v * 31 + i * 97);
		b64_encode(key, sizeof(key), text);
		strcat(text, "\n");
		key_file(path, text, strlen(text), 0600);
		memset(got, 0, sizeof(got));
		if (crypto_key_load(path, got, err))
			fail_msg("key %u (%s) refused: %s", v, text, err);
		unlink(path);
		assert_memory_equal(got, key, sizeof(key));
	}
}

static void test_key_load_not_regular(void **state)
{
	char dir[64], path[64], link[64], err[CRYPTO_ERR_MAX];
	uint8_t key[CRYPTO_KEY_LEN];

	(void)state;
	/* a directory */
	snprintf(dir, sizeof(dir), "/tmp/mprelay_test_dir_XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0700), 0);
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_load(dir, key, err), -1);
	assert_non_null(strstr(err, dir));
	assert_int_equal(rmdir(dir), 0);

	/* a symlink to a good key file */
	key_file(path, KEY_B64 "\n", CRYPTO_KEY_B64_LEN + 1, 0600);
	assert_int_equal(crypto_key_load(path, key, err), 0);	/* the file is fine */
	fresh_name(link);
	assert_int_equal(symlink(path, link), 0);
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_load(link, key, err), -1);
	assert_non_null(strstr(err, link));
	unlink(link);
	unlink(path);

	/* a missing file */
	fresh_name(path);
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_load(path, key, err), -1);
	assert_non_null(strstr(err, path));

	/* /dev/null: a character device */
	memset(err, 0, sizeof(err));
	assert_int_equal(crypto_key_load("/dev/null", key, err), -1);
	assert_non_null(strstr(err, "/dev/null"));
}

/* A FIFO is not a regular file either: it must be refused, not waited on
 * (open() without O_NONBLOCK blocks until a writer appears). Run in a child
 * with a one-second alarm so that a hang fails the test instead of the run. */
static void test_key_load_fifo(void **state)
{
	char path[64];
	pid_t pid;
	int status;

	(void)state;
	fresh_name(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[CRYPTO_ERR_MAX];
		uint8_t key[CRYPTO_KEY_LEN];
		int rc;

		alarm(1);
		rc = crypto_key_load(path, key, err);
		_exit(rc == -1 && strstr(err, path) ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		fail_msg("crypto_key_load blocked on a FIFO (killed after 1 s)");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- key schedule ---------------------------------------------------------- */

/* Computed with Python (hmac, hashlib), RFC 5869 HKDF-SHA256:
 *   key = 00..1f, client random = a0..af, server random = b0..bf,
 *   session 0x01020304, client epoch 0x11223344, server epoch 0xdeadbeef
 *   okm = HKDF(ikm=key, salt=cr||sr,
 *              info="mprelay v1 session keys"||be32(session)||be32(ce)||be32(se),
 *              L=64); c2s = okm[:32], s2c = okm[32:]
 *   mac_key = HKDF(ikm=key, salt=32 zero bytes, info="mprelay v1 handshake mac", L=32)
 *   MAC = HMAC-SHA256(mac_key, data)[:16] */
static const uint8_t kat_c2s[CRYPTO_KEY_LEN] = {
	0x5e, 0x00, 0xf3, 0x11, 0xff, 0x53, 0xd8, 0xe9, 0x75, 0x74, 0x91, 0x1b,
	0xe0, 0xc6, 0xb1, 0x02, 0x19, 0x71, 0xcd, 0x0a, 0xf4, 0xac, 0xa9, 0x5f,
	0x1c, 0xbb, 0x89, 0xed, 0xce, 0x9c, 0x07, 0x39,
};
static const uint8_t kat_s2c[CRYPTO_KEY_LEN] = {
	0x2e, 0x39, 0xf1, 0x8c, 0xf5, 0xf9, 0x8c, 0xc5, 0x97, 0x07, 0x2d, 0x10,
	0x97, 0xde, 0xba, 0xc3, 0xde, 0x9f, 0xf9, 0x2a, 0xe2, 0xaa, 0xd3, 0xda,
	0xf2, 0xd5, 0xbc, 0x41, 0x9a, 0x19, 0xeb, 0x62,
};
static const uint8_t kat_mac_key[CRYPTO_KEY_LEN] = {
	0x97, 0xe9, 0x8b, 0x41, 0xf1, 0xfe, 0xca, 0xf7, 0x05, 0xa8, 0xd5, 0x4c,
	0x3e, 0x1b, 0xf8, 0x5a, 0x08, 0x78, 0x60, 0x3e, 0x19, 0xf3, 0x4c, 0x5f,
	0x7f, 0x78, 0x89, 0xeb, 0x07, 0x70, 0xc3, 0xd0,
};
static const char kat_mac_data[] = "mprelay handshake test vector";
static const uint8_t kat_mac[CRYPTO_MAC_LEN] = {
	0x31, 0x26, 0xcd, 0x38, 0x11, 0xde, 0x9b, 0x68, 0xa4, 0xb7, 0xf1, 0xc5,
	0xf8, 0x90, 0x12, 0xb9,
};
static const uint8_t kat_mac_empty[CRYPTO_MAC_LEN] = {
	0x2f, 0x61, 0xca, 0xd9, 0x9c, 0x70, 0x19, 0xdb, 0xba, 0x68, 0x4a, 0x6b,
	0x5d, 0x89, 0x12, 0xfe,
};

struct sched_in {
	uint8_t key[CRYPTO_KEY_LEN];
	uint8_t cr[CRYPTO_RANDOM_LEN], sr[CRYPTO_RANDOM_LEN];
	uint32_t session, ce, se;
};

static struct sched_in sched_base(void)
{
	struct sched_in in = {
		.session = 0x01020304u, .ce = 0x11223344u, .se = 0xdeadbeefu,
	};

	fill_seq(in.key, sizeof(in.key), 0);
	fill_seq(in.cr, sizeof(in.cr), 0xa0);
	fill_seq(in.sr, sizeof(in.sr), 0xb0);
	return in;
}

static struct session_keys schedule(const struct sched_in *in)
{
	struct crypto_master m;
	struct session_keys k;

	memset(&k, 0xee, sizeof(k));
	assert_int_equal(crypto_master_init(&m, in->key), 0);
	assert_int_equal(crypto_session_keys(&m, in->cr, in->sr, in->session, in->ce,
					     in->se, &k), 0);
	crypto_master_wipe(&m);
	return k;
}

static void test_master_init_kat(void **state)
{
	struct crypto_master m;
	uint8_t key[CRYPTO_KEY_LEN];
	static const uint8_t zero[sizeof(m)];

	(void)state;
	fill_seq(key, sizeof(key), 0);
	memset(&m, 0xee, sizeof(m));
	assert_int_equal(crypto_master_init(&m, key), 0);
	assert_memory_equal(m.key, key, sizeof(key));
	assert_memory_equal(m.mac_key, kat_mac_key, sizeof(kat_mac_key));
	crypto_master_wipe(&m);
	assert_memory_equal(&m, zero, sizeof(m));
}

static void test_mac_kat(void **state)
{
	struct crypto_master m;
	uint8_t key[CRYPTO_KEY_LEN], mac[CRYPTO_MAC_LEN];

	(void)state;
	fill_seq(key, sizeof(key), 0);
	assert_int_equal(crypto_master_init(&m, key), 0);
	crypto_mac(&m, (const uint8_t *)kat_mac_data, sizeof(kat_mac_data) - 1, mac);
	assert_memory_equal(mac, kat_mac, sizeof(mac));
	assert_int_equal(crypto_mac_check(&m, (const uint8_t *)kat_mac_data,
					  sizeof(kat_mac_data) - 1, kat_mac), 0);
	crypto_mac(&m, (const uint8_t *)"", 0, mac);
	assert_memory_equal(mac, kat_mac_empty, sizeof(mac));
	crypto_master_wipe(&m);
}

static void test_session_keys_kat(void **state)
{
	struct sched_in in = sched_base();
	struct session_keys k;

	(void)state;
	k = schedule(&in);
	assert_memory_equal(k.c2s, kat_c2s, sizeof(kat_c2s));
	assert_memory_equal(k.s2c, kat_s2c, sizeof(kat_s2c));
}

/* One change to the inputs: which field, and how. */
enum sched_field { F_KEY, F_CR, F_SR, F_SESSION, F_CE, F_SE, F_SWAP };

struct sched_change {
	const char *name;
	enum sched_field field;
	size_t byte;		/* for arrays: which byte */
	uint32_t x;		/* xor for arrays (low 8 bits) and for ids */
};

static const struct sched_change changes[] = {
	{ "key byte 0", F_KEY, 0, 0x01 },
	{ "key byte 31", F_KEY, 31, 0x80 },
	{ "key byte 17", F_KEY, 17, 0xff },
	{ "client random byte 0", F_CR, 0, 0x01 },
	{ "client random byte 15", F_CR, 15, 0x80 },
	{ "server random byte 0", F_SR, 0, 0x01 },
	{ "server random byte 15", F_SR, 15, 0x80 },
	{ "session low bit", F_SESSION, 0, 0x00000001u },
	{ "session high bit", F_SESSION, 0, 0x80000000u },
	{ "client epoch low bit", F_CE, 0, 0x00000001u },
	{ "client epoch high bit", F_CE, 0, 0x80000000u },
	{ "server epoch low bit", F_SE, 0, 0x00000001u },
	{ "server epoch high bit", F_SE, 0, 0x80000000u },
	{ "randoms swapped", F_SWAP, 0, 0 },
};

static void apply(struct sched_in *in, const struct sched_change *c)
{
	uint8_t tmp[CRYPTO_RANDOM_LEN];

	switch (c->field) {
	case F_KEY: in->key[c->byte] ^= (uint8_t)c->x; break;
	case F_CR: in->cr[c->byte] ^= (uint8_t)c->x; break;
	case F_SR: in->sr[c->byte] ^= (uint8_t)c->x; break;
	case F_SESSION: in->session ^= c->x; break;
	case F_CE: in->ce ^= c->x; break;
	case F_SE: in->se ^= c->x; break;
	case F_SWAP:
		memcpy(tmp, in->cr, sizeof(tmp));
		memcpy(in->cr, in->sr, sizeof(tmp));
		memcpy(in->sr, tmp, sizeof(tmp));
		break;
	}
}

static void test_session_keys_properties(void **state)
{
	struct sched_in base = sched_base();
	struct session_keys k0 = schedule(&base), k1 = schedule(&base);

	(void)state;
	/* deterministic; the two directions differ */
	assert_memory_equal(&k0, &k1, sizeof(k0));
	assert_memory_not_equal(k0.c2s, k0.s2c, CRYPTO_KEY_LEN);

	for (size_t i = 0; i < N_ELEMS(changes); i++) {
		struct sched_in in = base;
		struct session_keys k;

		apply(&in, &changes[i]);
		k = schedule(&in);
		if (!memcmp(k.c2s, k0.c2s, CRYPTO_KEY_LEN))
			fail_msg("%s: c2s unchanged", changes[i].name);
		if (!memcmp(k.s2c, k0.s2c, CRYPTO_KEY_LEN))
			fail_msg("%s: s2c unchanged", changes[i].name);
		if (!memcmp(k.c2s, k.s2c, CRYPTO_KEY_LEN))
			fail_msg("%s: c2s == s2c", changes[i].name);
		/* the ids are not interchangeable: the same values in
		 * another field give other keys (checked by the table's
		 * distinct changes giving distinct keys) */
		for (size_t j = 0; j < i; j++) {
			struct sched_in o = base;
			struct session_keys ko;

			apply(&o, &changes[j]);
			ko = schedule(&o);
			if (!memcmp(k.c2s, ko.c2s, CRYPTO_KEY_LEN))
				fail_msg("%s and %s give the same c2s",
					 changes[i].name, changes[j].name);
		}
	}
}

/* Epochs and session are bound in their places: swapping client and server
 * epochs changes the keys. */
static void test_session_keys_epoch_order(void **state)
{
	struct sched_in a = sched_base(), b = sched_base();
	struct session_keys ka, kb;

	(void)state;
	b.ce = a.se;
	b.se = a.ce;
	ka = schedule(&a);
	kb = schedule(&b);
	assert_memory_not_equal(ka.c2s, kb.c2s, CRYPTO_KEY_LEN);
	assert_memory_not_equal(ka.s2c, kb.s2c, CRYPTO_KEY_LEN);
}

/* ---- the handshake MAC ----------------------------------------------------- */

static void test_mac_check_flips(void **state)
{
	struct crypto_master m, other;
	uint8_t key[CRYPTO_KEY_LEN], data[48], mac[CRYPTO_MAC_LEN], mac2[CRYPTO_MAC_LEN];

	(void)state;
	fill_seq(key, sizeof(key), 0x40);
	assert_int_equal(crypto_master_init(&m, key), 0);
	key[0] ^= 1;
	assert_int_equal(crypto_master_init(&other, key), 0);
	fill_seq(data, sizeof(data), 7);

	crypto_mac(&m, data, sizeof(data), mac);
	crypto_mac(&m, data, sizeof(data), mac2);
	assert_memory_equal(mac, mac2, sizeof(mac));	/* deterministic */
	assert_int_equal(crypto_mac_check(&m, data, sizeof(data), mac), 0);
	assert_int_equal(crypto_mac_check(&other, data, sizeof(data), mac), -1);

	for (size_t i = 0; i < sizeof(data); i++)
		for (int b = 0; b < 8; b++) {
			data[i] ^= (uint8_t)(1u << b);
			if (crypto_mac_check(&m, data, sizeof(data), mac) != -1)
				fail_msg("data byte %zu bit %d flip accepted", i, b);
			data[i] ^= (uint8_t)(1u << b);
		}
	for (size_t i = 0; i < sizeof(mac); i++)
		for (int b = 0; b < 8; b++) {
			mac[i] ^= (uint8_t)(1u << b);
			if (crypto_mac_check(&m, data, sizeof(data), mac) != -1)
				fail_msg("MAC byte %zu bit %d flip accepted", i, b);
			mac[i] ^= (uint8_t)(1u << b);
		}
	/* a shorter or longer message with the same MAC */
	assert_int_equal(crypto_mac_check(&m, data, sizeof(data) - 1, mac), -1);
	assert_int_equal(crypto_mac_check(&m, data, 0, mac), -1);
	/* all zeros never matches */
	memset(mac2, 0, sizeof(mac2));
	assert_int_equal(crypto_mac_check(&m, data, sizeof(data), mac2), -1);
	assert_int_equal(crypto_mac_check(&m, data, sizeof(data), mac), 0);
	crypto_master_wipe(&m);
	crypto_master_wipe(&other);
}

/* ---- AES-256-GCM ------------------------------------------------------------ */

static const uint8_t aead_key_a[CRYPTO_KEY_LEN] = {
	0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0,
	0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7,
	0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
};

static void make_packet(uint8_t *buf, uint8_t path, uint32_t session, uint32_t epoch,
			uint64_t seq, size_t plen)
{
	struct mp_hdr h = {
		.path = path, .type = MP_T_DATA, .sealed = 1,
		.session = session, .epoch = epoch, .seq = seq,
	};

	wire_put_hdr(buf, &h);
	for (size_t i = 0; i < plen; i++)
		buf[MP_HDR_LEN + i] = (uint8_t)(i * 13 + plen + 1);
}

static void aead_pair(struct aead *enc, struct aead *dec, const uint8_t *key)
{
	assert_int_equal(aead_init(enc, key, 1), 0);
	assert_int_equal(aead_init(dec, key, 0), 0);
}

static const size_t aead_lens[] = { 0, 1, 15, 16, 17, 1400, MP_MAX_PAYLOAD };

static void test_aead_round_trip(void **state)
{
	static uint8_t plain[MP_HDR_LEN + MP_MAX_PAYLOAD + MP_TAG_LEN];
	struct aead enc, dec;

	(void)state;
	assert_int_equal(MP_MAX_PAYLOAD, 65475);
	aead_pair(&enc, &dec, aead_key_a);
	for (size_t l = 0; l < N_ELEMS(aead_lens); l++) {
		size_t plen = aead_lens[l], len;

		make_packet(pkt, 2, 0x01020304u, 0xa1b2c3d4u, 1000 + l, plen);
		memset(pkt + MP_HDR_LEN + plen, 0xee, MP_TAG_LEN);
		memcpy(plain, pkt, MP_HDR_LEN + plen);
		len = aead_seal(&enc, pkt, plen);
		assert_int_equal(len, MP_HDR_LEN + plen + MP_TAG_LEN);
		/* the header is not touched; the payload is encrypted */
		assert_memory_equal(pkt, plain, MP_HDR_LEN);
		if (plen)
			assert_memory_not_equal(pkt + MP_HDR_LEN, plain + MP_HDR_LEN, plen);
		if (plen >= 16)	/* no long run of plaintext survives */
			for (size_t i = 0; i + 8 <= plen; i += 8)
				if (!memcmp(pkt + MP_HDR_LEN + i, plain + MP_HDR_LEN + i, 8))
					fail_msg("plen %zu: 8 bytes at %zu unencrypted", plen, i);
		assert_int_equal(aead_open(&dec, pkt, len), 0);
		assert_memory_equal(pkt, plain, MP_HDR_LEN + plen);
	}
	aead_free(&enc);
	aead_free(&dec);
	assert_null(enc.ctx);
	assert_null(dec.ctx);
}

/* The same packet computed with EVP directly, following the documented
 * construction: nonce = hdr[6..9] || 00 || space || hdr[10..15] (space 0
 * for DATA, 1 for PROBE/ACK), AAD = hdr[1..15],
 * ciphertext in place after the header, then the 16-byte tag. */
static size_t ref_seal(const uint8_t *key, uint8_t *buf, size_t plen)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t nonce[12];
	int n;

	assert_non_null(ctx);
	memcpy(nonce, buf + 6, 4);
	nonce[4] = 0;
	nonce[5] = (buf[1] & MP_VTS_TYPE) != MP_T_DATA;
	memcpy(nonce + 6, buf + 10, 6);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, buf + 1, 15), 1);
	assert_int_equal(n, 15);
	if (plen) {
		assert_int_equal(EVP_EncryptUpdate(ctx, buf + 16, &n, buf + 16, (int)plen), 1);
		assert_int_equal(n, (int)plen);
	}
	assert_int_equal(EVP_EncryptFinal_ex(ctx, buf + 16 + plen, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16,
					     buf + 16 + plen), 1);
	EVP_CIPHER_CTX_free(ctx);
	return 16 + plen + 16;
}

static void test_aead_reference(void **state)
{
	struct aead enc, dec;

	(void)state;
	aead_pair(&enc, &dec, aead_key_a);
	for (size_t l = 0; l < N_ELEMS(aead_lens); l++) {
		size_t plen = aead_lens[l], len;

		make_packet(pkt, 5, 0xcafef00du, 0x80000001u,
			    UINT64_C(0xa1b2c3d4e5f6) + l, plen);
		memcpy(ref, pkt, MP_HDR_LEN + plen);
		len = aead_seal(&enc, pkt, plen);
		assert_int_equal(ref_seal(aead_key_a, ref, plen), len);
		assert_memory_equal(pkt, ref, len);
		/* and aead_open takes the reference's packet */
		assert_int_equal(aead_open(&dec, ref, len), 0);
	}
	aead_free(&enc);
	aead_free(&dec);
}

static size_t sealed_100(struct aead *enc, uint8_t *buf)
{
	size_t len;

	make_packet(buf, 1, 0x11111111u, 0x22222222u, 0x333333333333u, 100 - 32);
	len = aead_seal(enc, buf, 100 - 32);
	assert_int_equal(len, 100);
	return len;
}

static void test_aead_tamper(void **state)
{
	static uint8_t good[100], t[100], plain[100];
	struct aead enc, dec;
	size_t len;

	(void)state;
	aead_pair(&enc, &dec, aead_key_a);
	make_packet(plain, 1, 0x11111111u, 0x22222222u, 0x333333333333u, 100 - 32);
	len = sealed_100(&enc, good);

	for (size_t i = 1; i < len; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(t, good, len);
			t[i] ^= (uint8_t)(1u << b);
			if (aead_open(&dec, t, len) != -1)
				fail_msg("byte %zu bit %d flip accepted", i, b);
		}
	/* a failure leaves the context usable */
	memcpy(t, good, len);
	assert_int_equal(aead_open(&dec, t, len), 0);
	assert_memory_equal(t, plain, len - MP_TAG_LEN);

	/* byte 0, the path id, is not authenticated */
	for (int b = 0; b < 8; b++) {
		memcpy(t, good, len);
		t[0] ^= (uint8_t)(1u << b);
		if (aead_open(&dec, t, len) != 0)
			fail_msg("path byte bit %d flip refused", b);
		assert_memory_equal(t + 1, plain + 1, len - MP_TAG_LEN - 1);
	}

	/* truncated by 1..17 bytes, and anything below header + tag */
	for (size_t cut = 1; cut <= 17; cut++) {
		memcpy(t, good, len);
		if (aead_open(&dec, t, len - cut) != -1)
			fail_msg("truncated by %zu accepted", cut);
	}
	for (size_t l = 0; l < MP_HDR_LEN + MP_TAG_LEN; l++) {
		memcpy(t, good, len);
		assert_int_equal(aead_open(&dec, t, l), -1);
	}
	/* the tag moved: the last 16 bytes of a shorter packet */
	memcpy(t, good, len);
	memmove(t + len - 1 - MP_TAG_LEN, good + len - MP_TAG_LEN, MP_TAG_LEN);
	assert_int_equal(aead_open(&dec, t, len - 1), -1);
	/* zero tag */
	memcpy(t, good, len);
	memset(t + len - MP_TAG_LEN, 0, MP_TAG_LEN);
	assert_int_equal(aead_open(&dec, t, len), -1);

	memcpy(t, good, len);
	assert_int_equal(aead_open(&dec, t, len), 0);
	aead_free(&enc);
	aead_free(&dec);
}

static void test_aead_wrong_key(void **state)
{
	uint8_t key_b[CRYPTO_KEY_LEN];
	static uint8_t good[100], t[100];
	struct aead enc, dec_a, dec_b;
	size_t len;

	(void)state;
	memcpy(key_b, aead_key_a, sizeof(key_b));
	key_b[31] ^= 0x01;
	assert_int_equal(aead_init(&enc, aead_key_a, 1), 0);
	assert_int_equal(aead_init(&dec_a, aead_key_a, 0), 0);
	assert_int_equal(aead_init(&dec_b, key_b, 0), 0);
	len = sealed_100(&enc, good);
	memcpy(t, good, len);
	assert_int_equal(aead_open(&dec_b, t, len), -1);
	memcpy(t, good, len);
	assert_int_equal(aead_open(&dec_a, t, len), 0);

	/* also for an empty payload (tag only) */
	make_packet(t, 0, 9, 9, 9, 0);
	len = aead_seal(&enc, t, 0);
	assert_int_equal(len, 32);
	memcpy(good, t, len);
	assert_int_equal(aead_open(&dec_b, t, len), -1);
	assert_int_equal(aead_open(&dec_a, good, len), 0);
	aead_free(&enc);
	aead_free(&dec_a);
	aead_free(&dec_b);
}

static void test_aead_nonce(void **state)
{
	static uint8_t a[200], b[200], c[200], d[200], e[200];
	struct aead enc, enc2;
	const size_t plen = 200 - 32;
	size_t len;

	(void)state;
	assert_int_equal(aead_init(&enc, aead_key_a, 1), 0);
	assert_int_equal(aead_init(&enc2, aead_key_a, 1), 0);

	/* same key, same header, same payload: the same bytes, whether the
	 * context is fresh or has been used */
	make_packet(a, 3, 77, 88, 99, plen);
	make_packet(b, 3, 77, 88, 99, plen);
	len = aead_seal(&enc, a, plen);
	assert_int_equal(aead_seal(&enc, b, plen), len);
	assert_memory_equal(a, b, len);
	make_packet(b, 3, 77, 88, 99, plen);
	assert_int_equal(aead_seal(&enc2, b, plen), len);
	assert_memory_equal(a, b, len);

	/* another sequence number: another key stream and tag */
	make_packet(c, 3, 77, 88, 100, plen);
	assert_int_equal(aead_seal(&enc, c, plen), len);
	assert_memory_not_equal(a + MP_HDR_LEN, c + MP_HDR_LEN, plen);
	assert_memory_not_equal(a + len - MP_TAG_LEN, c + len - MP_TAG_LEN, MP_TAG_LEN);

	/* another epoch: likewise */
	make_packet(d, 3, 77, 89, 99, plen);
	assert_int_equal(aead_seal(&enc, d, plen), len);
	assert_memory_not_equal(a + MP_HDR_LEN, d + MP_HDR_LEN, plen);

	/* the same numbers in the PROBE/ACK sequence: another nonce (space 1),
	 * another key stream; and it matches the documented construction */
	for (unsigned t = MP_T_PROBE; t <= MP_T_ACK; t += MP_T_ACK - MP_T_PROBE) {
		static uint8_t f[200], g[200];
		make_packet(f, 3, 77, 88, 99, plen);
		f[1] = (uint8_t)((f[1] & ~MP_VTS_TYPE) | t);
		memcpy(g, f, sizeof(g));
		assert_int_equal(aead_seal(&enc, f, plen), len);
		assert_memory_not_equal(a + MP_HDR_LEN, f + MP_HDR_LEN, plen);
		assert_int_equal(ref_seal(aead_key_a, g, plen), len);
		assert_memory_equal(f, g, len);
	}

	/* another session only (not in the nonce): the same key stream, but the
	 * tag differs since the header is authenticated */
	make_packet(e, 3, 78, 88, 99, plen);
	assert_int_equal(aead_seal(&enc, e, plen), len);
	assert_memory_equal(a + MP_HDR_LEN, e + MP_HDR_LEN, plen);
	assert_memory_not_equal(a + len - MP_TAG_LEN, e + len - MP_TAG_LEN, MP_TAG_LEN);

	/* another path byte only: identical apart from byte 0 */
	make_packet(e, 4, 77, 88, 99, plen);
	assert_int_equal(aead_seal(&enc, e, plen), len);
	assert_memory_equal(a + 1, e + 1, len - 1);

	aead_free(&enc);
	aead_free(&enc2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_b64_helper),
		cmocka_unit_test(test_key_generate),
		cmocka_unit_test(test_key_generate_existing),
		cmocka_unit_test(test_key_generate_symlink),
		cmocka_unit_test(test_key_generate_no_dir),
		cmocka_unit_test(test_key_load_table),
		cmocka_unit_test(test_key_load_credential),
		cmocka_unit_test(test_key_load_bad_char),
		cmocka_unit_test(test_key_load_alphabet),
		cmocka_unit_test(test_key_load_not_regular),
		cmocka_unit_test(test_key_load_fifo),
		cmocka_unit_test(test_master_init_kat),
		cmocka_unit_test(test_mac_kat),
		cmocka_unit_test(test_session_keys_kat),
		cmocka_unit_test(test_session_keys_properties),
		cmocka_unit_test(test_session_keys_epoch_order),
		cmocka_unit_test(test_mac_check_flips),
		cmocka_unit_test(test_aead_round_trip),
		cmocka_unit_test(test_aead_reference),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_aead_wrong_key),
		cmocka_unit_test(test_aead_nonce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
