/* Unit tests of common/config.c, the line-fed parser: golden output, good
 * lines, bad lines with their reasons. config_load: test_config_load.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define LIT(s) s, sizeof(s) - 1

static struct config C;
static char out[8192];

static int feed(struct config *c, const char *line, char err[static CONFIG_ERR_MAX])
{
	return config_feed(c, line, strlen(line), err);
}

/* What config_print writes parses back to the same config (mpclient -n
 * shows it, and an operator may save it as the config). */
static void assert_reparses(const char *printed)
{
	static struct config again;
	static char out2[sizeof(out)];
	char err[CONFIG_ERR_MAX];
	const char *line = printed;

	config_init(&again);
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		if (config_feed(&again, line, len, err))
			fail_msg("'%.*s' printed, not parsed back: %s", (int)len, line, err);
		line += len;
	}
	config_print(&again, out2, sizeof(out2));
	assert_string_equal(out2, printed);
	assert_int_equal(again.npaths, C.npaths);
	for (unsigned i = 0; i < C.npaths; i++) {
		assert_int_equal(again.paths[i].rate_bps, C.paths[i].rate_bps);
		assert_int_equal(again.paths[i].backup, C.paths[i].backup);
		assert_int_equal(again.paths[i].weight, C.paths[i].weight);
	}
}

/* ---- golden ------------------------------------------------------------ */

static const char *const golden_lines[] = {
	"# mprelay bridges, mptunnel style\r\n",
	"127.0.0.1 4001\r\n",
	"\r\n",
	"   # an indented comment\n",
	"[::1] 4002\n",
	"::1 4003   # trailing comment\n",
	"relay.example.net\t4004\tweight=2\n",
	"\t \t\n",
	"10.0.0.1 4005 weight=3 name=lte bind=192.168.1.2 sport=5000 dev=wwan0 mark=0x10\n",
	"\t10.0.0.2  4006 mark=42 bind=[fe80::1%eth0] name=wifi-2\r\n",
	"#10.0.0.3 4007\n",
	"10.0.0.4 4008 dev=eth0.100 sport=65535 weight=1000 mark=0xffffffff\n",
	"10.0.0.5 4009 rate=1.5mbit backup name=slow\n",
	"10.0.0.6 4010 weight=2 rate=0.5gbit",
};

static const char golden_print[] =
	"127.0.0.1 4001 name=path0 weight=1\n"
	"[::1] 4002 name=path1 weight=1\n"
	"[::1] 4003 name=path2 weight=1\n"
	"relay.example.net 4004 name=path3 weight=2\n"
	"10.0.0.1 4005 name=lte weight=3 bind=192.168.1.2 sport=5000 dev=wwan0 mark=16\n"
	"10.0.0.2 4006 name=wifi-2 weight=1 bind=fe80::1%eth0 mark=42\n"
	"10.0.0.4 4008 name=path6 weight=1000 sport=65535 dev=eth0.100 mark=4294967295\n"
	"10.0.0.5 4009 name=slow weight=1 rate=1.5mbit backup\n"
	"10.0.0.6 4010 name=path8 weight=2 rate=500mbit\n";

static const unsigned golden_path_lines[] = { 2, 5, 6, 7, 9, 10, 12, 13, 14 };

static void test_golden(void **state)
{
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_init(&C);
	for (size_t i = 0; i < N_ELEMS(golden_lines); i++) {
		err[0] = '\0';
		if (feed(&C, golden_lines[i], err))
			fail_msg("line %zu: %s", i + 1, err);
		assert_int_equal(C.lineno, i + 1);	/* comments count too */
	}
	assert_int_equal(config_finish(&C, err), 0);
	assert_int_equal(C.npaths, N_ELEMS(golden_path_lines));
	for (size_t i = 0; i < C.npaths; i++)
		assert_int_equal(C.paths[i].line, golden_path_lines[i]);
	config_print(&C, out, sizeof(out));
	assert_string_equal(out, golden_print);
	assert_reparses(out);

	const struct config_path *p = &C.paths[4];
	assert_string_equal(p->host, "10.0.0.1");
	assert_int_equal(p->port, 4005);
	assert_int_equal(p->weight, 3);
	assert_string_equal(p->name, "lte");
	assert_string_equal(p->bind, "192.168.1.2");
	assert_int_equal(p->sport, 5000);
	assert_string_equal(p->dev, "wwan0");
	assert_int_equal(p->mark, 0x10);
	assert_int_equal(p->has_mark, 1);
	assert_int_equal(C.paths[0].has_mark, 0);
	assert_int_equal(C.paths[7].rate_bps, 1500000);
	assert_int_equal(C.paths[7].backup, 1);
	assert_int_equal(C.paths[8].rate_bps, 500000000);
}

/* Every rate in range prints in a form that parses back to the same bit/s:
 * the edges, each unit's boundary +-1, and a spread of others. */
static void test_rate_round_trip(void **state)
{
	static const uint64_t edges[] = {
		CONFIG_RATE_MIN_BPS, CONFIG_RATE_MIN_BPS + 1, 99999, 100000, 999999,
		1000000, 1000001, 1500000, 999999999, 1000000000, 1000000001,
		4294967295, 4294967296, 21000000000, 21000000001, 99999999999,
		CONFIG_RATE_MAX_BPS - 1, CONFIG_RATE_MAX_BPS,
	};
	char err[CONFIG_ERR_MAX], line[64];
	uint64_t x = 88172645463325252ull;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(edges) + 20000; i++) {
		uint64_t bps;
		if (i < N_ELEMS(edges)) {
			bps = edges[i];
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;	/* xorshift64 */
			/* as many small rates as large: a random exponent */
			uint64_t span = 1;
			for (uint64_t k = x % 12; k; k--)
				span *= 10;
			bps = CONFIG_RATE_MIN_BPS + (x >> 8) % span;
			if (bps > CONFIG_RATE_MAX_BPS)
				bps = CONFIG_RATE_MAX_BPS;
		}
		snprintf(line, sizeof(line), "h 1 rate=%llubit", (unsigned long long)bps);
		config_init(&C);
		if (feed(&C, line, err))
			fail_msg("'%s': %s", line, err);
		assert_int_equal(C.paths[0].rate_bps, bps);
		config_print(&C, out, sizeof(out));
		assert_reparses(out);
	}
}

/* A print into any smaller buffer is a terminated prefix of the full one. */
static void test_print_truncates(void **state)
{
	char err[CONFIG_ERR_MAX];
	char small[sizeof(golden_print) + 8];

	(void)state;
	config_init(&C);
	for (size_t i = 0; i < N_ELEMS(golden_lines); i++)
		assert_int_equal(feed(&C, golden_lines[i], err), 0);
	for (size_t n = 1; n <= sizeof(small); n++) {
		memset(small, 'Z', sizeof(small));
		config_print(&C, small, n);
		size_t got = strnlen(small, n);
		assert_true(got < n);
		assert_int_equal(got, n - 1 < sizeof(golden_print) - 1 ?
				      n - 1 : sizeof(golden_print) - 1);
		assert_memory_equal(small, golden_print, got);
		for (size_t k = n; k < sizeof(small); k++)
			assert_int_equal(small[k], 'Z');
	}
	config_init(&C);
	config_print(&C, small, sizeof(small));
	assert_string_equal(small, "");
}

/* ---- single good lines ------------------------------------------------- */

static const struct { const char *line, *print; } good[] = {
	{ "127.0.0.1 1", "127.0.0.1 1 name=path0 weight=1\n" },
	{ "h 65535", "h 65535 name=path0 weight=1\n" },
	{ "h 0080", "h 80 name=path0 weight=1\n" },
	{ "h 1#comment", "h 1 name=path0 weight=1\n" },
	{ "h 1 # weight=5", "h 1 name=path0 weight=1\n" },
	{ "h\t1\r\n", "h 1 name=path0 weight=1\n" },
	{ "h 1 weight=1000", "h 1 name=path0 weight=1000\n" },
	{ "h 1 rate=8mbit", "h 1 name=path0 weight=1 rate=8mbit\n" },
	{ "h 1 rate=64000", "h 1 name=path0 weight=1 rate=64kbit\n" },
	{ "h 1 rate=64001bit", "h 1 name=path0 weight=1 rate=64.001kbit\n" },
	{ "h 1 rate=100gbit", "h 1 name=path0 weight=1 rate=100gbit\n" },
	{ "h 1 rate=512kbit backup", "h 1 name=path0 weight=1 rate=512kbit backup\n" },
	{ "h 1 rate=21gbit", "h 1 name=path0 weight=1 rate=21gbit\n" },
	{ "h 1 rate=21000000001", "h 1 name=path0 weight=1 rate=21.000000001gbit\n" },
	{ "h 1 rate=1.5mbit", "h 1 name=path0 weight=1 rate=1.5mbit\n" },
	/* issue 13's example: a decimal rate, and the same rate spelled in kbit */
	{ "h 1 rate=9.5mbit", "h 1 name=path0 weight=1 rate=9.5mbit\n" },
	{ "h 1 rate=9500kbit down=9.5mbit", "h 1 name=path0 weight=1 rate=9.5mbit down=9.5mbit\n" },
	{ "h 1 rate=0.5gbit", "h 1 name=path0 weight=1 rate=500mbit\n" },
	{ "h 1 rate=2.25mbit", "h 1 name=path0 weight=1 rate=2.25mbit\n" },
	{ "h 1 rate=2.250000000mbit", "h 1 name=path0 weight=1 rate=2.25mbit\n" },
	{ "h 1 rate=1000kbit", "h 1 name=path0 weight=1 rate=1mbit\n" },
	{ "h 1 rate=0.000064gbit", "h 1 name=path0 weight=1 rate=64kbit\n" },
	{ "h 1 rate=99.999999999gbit", "h 1 name=path0 weight=1 rate=99.999999999gbit\n" },
	{ "h 1 rate=007mbit", "h 1 name=path0 weight=1 rate=7mbit\n" },
	{ "h 1 rate=64000.000", "h 1 name=path0 weight=1 rate=64kbit\n" },
	{ "h 1 backup name=x", "h 1 name=x weight=1 backup\n" },
	{ "h 1 mark=0", "h 1 name=path0 weight=1 mark=0\n" },
	{ "h 1 mark=4294967295", "h 1 name=path0 weight=1 mark=4294967295\n" },
	{ "h 1 mark=0XaB", "h 1 name=path0 weight=1 mark=171\n" },
	{ "h 1 mark=0xFFFFFFFF", "h 1 name=path0 weight=1 mark=4294967295\n" },
	{ "h 1 sport=1 bind=::", "h 1 name=path0 weight=1 bind=:: sport=1\n" },
	{ "h 1 bind=[::1]", "h 1 name=path0 weight=1 bind=::1\n" },
	{ "fe80::1%eth0 9", "[fe80::1%eth0] 9 name=path0 weight=1\n" },
	{ "[2001:db8::1] 9 dev=a", "[2001:db8::1] 9 name=path0 weight=1 dev=a\n" },
	{ "h 1 name=A.b-c_9 dev=e.1-2_3",
	  "h 1 name=A.b-c_9 weight=1 dev=e.1-2_3\n" },
	{ "h 1 name=abcdefghijklmnopqrstuvwxyz01234 dev=abcdefghijklmno",
	  "h 1 name=abcdefghijklmnopqrstuvwxyz01234 weight=1 dev=abcdefghijklmno\n" },
	{ "my-host_1.example 7 mark=7 dev=d sport=2 bind=1.2.3.4 name=n weight=9",
	  "my-host_1.example 7 name=n weight=9 bind=1.2.3.4 sport=2 dev=d mark=7\n" },
};

static void test_good_lines(void **state)
{
	char err[CONFIG_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < N_ELEMS(good); i++) {
		config_init(&C);
		if (feed(&C, good[i].line, err))
			fail_msg("'%s': %s", good[i].line, err);
		assert_int_equal(C.npaths, 1);
		config_print(&C, out, sizeof(out));
		assert_string_equal(out, good[i].print);
		assert_reparses(out);
	}
}

/* ---- bad lines ------------------------------------------------------------ */

struct bad_case {
	const char *line;
	size_t len;
	const char *pre;	/* a line fed first, or NULL */
	int fill;		/* feed MP_MAX_PATHS bridges first */
	const char *phrase;	/* must appear in err */
};

#define BAD(l, phrase) { LIT(l), NULL, 0, phrase }
static const struct bad_case bad[] = {
	BAD("127.0.0.1", "expected 'host port', got only '127.0.0.1'"),
	BAD("  127.0.0.1  # 4001", "expected 'host port'"),
	BAD("127.0.0.1 0", "port must be 1..65535, got '0'"),
	BAD("127.0.0.1 65536", "port must be 1..65535, got '65536'"),
	BAD("127.0.0.1 80x", "port must be 1..65535, got '80x'"),
	BAD("127.0.0.1 -1", "port must be 1..65535, got '-1'"),
	BAD("127.0.0.1 +80", "port must be 1..65535"),
	BAD("127.0.0.1 0x50", "port must be 1..65535"),
	BAD("127.0.0.1 99999999999999999999999", "port must be 1..65535"),
	BAD("h 1 color=red", "unknown option 'color'"),
	BAD("h 1 Weight=2", "unknown option 'Weight'"),
	BAD("h 1 =3", "unknown option ''"),
	BAD("h 1 weight", "expected key=value or 'backup', got 'weight'"),
	BAD("h 1 backup=1", "expected key=value or 'backup', got 'backup=1'"),
	BAD("h 1 backup backup", "option 'backup' given twice"),
	BAD("h 1 rate=", "rate must be a number of bit/s, kbit, mbit or gbit"),
	BAD("h 1 rate=mbit", "rate must be a number"),
	BAD("h 1 rate=8Mbit", "rate must be a number"),
	BAD("h 1 rate=8 mbit", "rate must be 64kbit..100gbit, got '8'"),
	BAD("h 1 rate=-8mbit", "rate must be a number"),
	BAD("h 1 rate=+8mbit", "rate must be a number"),
	BAD("h 1 rate=8mbps", "rate must be a number"),
	BAD("h 1 rate=1.2.3mbit", "got '1.2.3mbit'"),
	BAD("h 1 rate=.mbit", "rate must be a number"),
	BAD("h 1 rate=.5mbit", "rate must be a number"),
	BAD("h 1 rate=1.mbit", "rate must be a number"),
	BAD("h 1 rate=1,5mbit", "rate must be a number"),
	BAD("h 1 rate=1e6", "rate must be a number"),
	BAD("h 1 rate=0x10mbit", "rate must be a number"),
	BAD("h 1 rate=1.5mbit.", "rate must be a number"),
	BAD("h 1 rate=1.5", "rate must be a whole number of bit/s, got '1.5'"),
	BAD("h 1 rate=64.0001kbit", "rate must be a whole number of bit/s"),
	BAD("h 1 rate=1.0000000001gbit", "rate must be a whole number of bit/s"),
	BAD("h 1 rate=0", "rate must be 64kbit..100gbit, got '0'"),
	BAD("h 1 rate=0.0mbit", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=63999", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=63.999kbit", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=8kbit", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=101gbit", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=100.000000001gbit", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=4294967296kbit", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=18446744073709551617", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=99999999999999999999999999999gbit", "rate must be 64kbit..100gbit"),
	BAD("h 1 rate=8mbit rate=9mbit", "option 'rate' given twice"),
	BAD("h 1 weight=2 weight=2", "option 'weight' given twice"),
	BAD("h 1 name=a dev=e name=b", "option 'name' given twice"),
	BAD("h 1 mark=1 mark=1", "option 'mark' given twice"),
	BAD("h 1 weight=0", "weight must be 1..1000"),
	BAD("h 1 weight=1001", "weight must be 1..1000"),
	BAD("h 1 weight=", "weight must be 1..1000"),
	BAD("h 1 weight=0x2", "weight must be 1..1000"),
	BAD("h 1 weight=1.5", "weight must be 1..1000"),
	BAD("h 1 name=abcdefghijklmnopqrstuvwxyz012345", "name must be 1..31"),
	BAD("h 1 name=a/b", "name must be 1..31 of [A-Za-z0-9._-]"),
	BAD("h 1 name=", "name must be"),
	BAD("h 1 name=caf\xc3\xa9", "name must be"),
	BAD("h 1 bind=example.com", "bind must be an IP address"),
	BAD("h 1 bind=localhost", "bind must be an IP address"),
	BAD("h 1 bind=", "bind must be an IP address"),
	BAD("h 1 bind=[::1", "bind must be an IP address"),
	BAD("h 1 bind=1host.example", "bind must be an IP address"),
	BAD("h 1 bind=1.2.3", "bind must be an IP address"),
	BAD("h 1 sport=0", "sport must be 1..65535"),
	BAD("h 1 sport=65536", "sport must be 1..65535"),
	BAD("h 1 dev=abcdefghijklmnop", "dev must be an interface name (1..15 chars)"),
	BAD("h 1 dev=eth/0", "dev must be an interface name"),
	BAD("h 1 mark=0x1FFFFFFFF", "mark must be a 32-bit number"),
	BAD("h 1 mark=4294967296", "mark must be a 32-bit number"),
	BAD("h 1 mark=-1", "mark must be a 32-bit number"),
	BAD("h 1 mark=0x", "mark must be a 32-bit number"),
	BAD("h 1 mark=0xg", "mark must be a 32-bit number"),
	BAD("h 1 mark=0x-1", "mark must be a 32-bit number"),
	BAD("h 1 mark=ff", "mark must be a 32-bit number"),
	BAD("h 1 weight=1 name=a bind=1.2.3.4 sport=1 dev=e mark=1 rate=1mbit backup down=1mbit x",
	    "too many fields"),
	BAD("a b c d e f g h i j k l", "too many fields"),
	BAD("127.0.0.1 4001\0 weight=2", "NUL byte in line"),
	BAD("\0", "NUL byte in line"),
	BAD("[::1 4002", "bad host '[::1'"),
	BAD("::1] 4002", "bad host '::1]'"),
	BAD("[] 4002", "bad host"),
	BAD("[::1]:4002 1", "bad host"),
	BAD("a/b 1", "bad host 'a/b'"),
	BAD("h\x01 1", "bad host"),
	{ LIT("10.0.0.2 2 name=lte"), "10.0.0.1 1 name=lte", 0,
	  "name 'lte' already used on line 1" },
	{ LIT("10.0.0.2 2 name=path0"), "10.0.0.1 1", 0,
	  "name 'path0' already used on line 1" },
	{ LIT("10.0.0.99 99"), NULL, 1, "more than 16 bridges" },
};

static void test_bad_lines(void **state)
{
	char err[CONFIG_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		const struct bad_case *b = &bad[i];
		unsigned before;

		config_init(&C);
		if (b->pre)
			assert_int_equal(feed(&C, b->pre, err), 0);
		for (int k = 0; b->fill && k < MP_MAX_PATHS; k++) {
			char line[64];
			snprintf(line, sizeof(line), "10.0.0.%d %d", k + 1, k + 1);
			assert_int_equal(feed(&C, line, err), 0);
		}
		before = C.npaths;
		memset(err, 0, sizeof(err));
		int rc = config_feed(&C, b->line, b->len, err);
		if (rc != -1 || !strstr(err, b->phrase))
			fail_msg("case %zu '%s': rc %d err '%s', expected -1 and '%s'",
				 i, b->line, rc, err, b->phrase);
		assert_int_equal(C.npaths, before);
		assert_int_equal(C.lineno, before + 1);
		/* the same line with a newline is refused for the same reason */
		char line2[CONFIG_LINE_MAX + 2];
		char err2[CONFIG_ERR_MAX];
		memcpy(line2, b->line, b->len);
		line2[b->len] = '\n';
		C.lineno = 0;
		assert_int_equal(config_feed(&C, line2, b->len + 1, err2), -1);
		assert_string_equal(err2, err);
	}
}

/* A default name never takes a name already given by hand: an explicit
 * "path1" on line 1 pushes line 2's default to path2. */
static void test_default_names_unique(void **state)
{
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_init(&C);
	assert_int_equal(feed(&C, "10.0.0.1 1 name=path1", err), 0);
	assert_int_equal(feed(&C, "10.0.0.2 2", err), 0);
	assert_int_equal(feed(&C, "10.0.0.3 3", err), 0);
	assert_string_equal(C.paths[0].name, "path1");
	assert_string_equal(C.paths[1].name, "path2");
	assert_string_equal(C.paths[2].name, "path3");
}

/* parse_number promises "no junk": a second 0x prefix is junk. */
static void test_mark_double_hex_prefix(void **state)
{
	char err[CONFIG_ERR_MAX] = "";

	(void)state;
	config_init(&C);
	int rc = feed(&C, "h 1 mark=0x0x10", err);
	if (rc != -1)
		fail_msg("'mark=0x0x10' accepted as mark=%u; expected -1 "
			 "'mark must be a 32-bit number'", C.paths[0].mark);
	assert_non_null(strstr(err, "mark must be a 32-bit number"));
}

/* ---- lengths and counting ---------------------------------------------- */

static void test_line_lengths(void **state)
{
	static char line[CONFIG_LINE_MAX + 64];
	char err[CONFIG_ERR_MAX];
	static const struct { size_t len; int nl; int rc; } cases[] = {
		{ CONFIG_LINE_MAX - 1, 0, 0 }, { CONFIG_LINE_MAX, 0, 0 },
		{ CONFIG_LINE_MAX, 1, 0 }, { CONFIG_LINE_MAX + 1, 0, -1 },
		{ CONFIG_LINE_MAX + 1, 1, -1 }, { CONFIG_LINE_MAX + 60, 0, -1 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		size_t len = cases[i].len;
		memset(line, ' ', len);
		memcpy(line, "h 1 #", 5);
		if (cases[i].nl)
			line[len] = '\n';
		config_init(&C);
		int rc = config_feed(&C, line, len + (size_t)cases[i].nl, err);
		assert_int_equal(rc, cases[i].rc);
		if (rc)
			assert_string_equal(err, "line longer than 512 bytes");
		else
			assert_int_equal(C.npaths, 1);
	}
	/* host names up to 255 characters */
	for (size_t n = 254; n <= 256; n++) {
		memset(line, 'a', n);
		memcpy(line + n, " 1", 3);
		config_init(&C);
		assert_int_equal(feed(&C, line, err), n <= CONFIG_HOST_MAX ? 0 : -1);
	}
}

/* weight= defaults to the rates only when every path has a rate and no
 * path a weight: a mix would compare bits per second with plain numbers. */
static void test_weights_follow_rates(void **state)
{
	static const struct {
		const char *lines[3];
		unsigned w[3];
	} cases[] = {
		{ { "a 1 rate=8mbit", "b 2 rate=2mbit", "c 3 rate=1mbit" }, { 1000, 250, 125 } },
		{ { "a 1 rate=8mbit", "b 2 rate=2mbit", "c 3" }, { 1, 1, 1 } },
		{ { "a 1 rate=8mbit", "b 2 rate=2mbit weight=7", "c 3 rate=1mbit" }, { 1, 7, 1 } },
		{ { "a 1 rate=100gbit", "b 2 rate=64kbit", "c 3 rate=50gbit" }, { 1000, 1, 500 } },
		{ { "a 1 rate=1.5mbit", "b 2 rate=0.5mbit", "c 3 rate=750kbit" }, { 1000, 333, 500 } },
	};
	char err[CONFIG_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		config_init(&C);
		for (int k = 0; k < 3; k++)
			assert_int_equal(feed(&C, cases[i].lines[k], err), 0);
		assert_int_equal(config_finish(&C, err), 0);
		for (int k = 0; k < 3; k++)
			assert_int_equal(C.paths[k].weight, cases[i].w[k]);
	}
}

static void test_finish_and_lineno(void **state)
{
	static const char *const lines[] = {
		"# only", "", "  ", "\t# comments", "\r\n", "#",
	};
	char err[CONFIG_ERR_MAX];

	(void)state;
	config_init(&C);
	assert_int_equal(config_finish(&C, err), -1);
	assert_non_null(strstr(err, "no bridges"));
	for (size_t i = 0; i < N_ELEMS(lines); i++) {
		assert_int_equal(feed(&C, lines[i], err), 0);
		assert_int_equal(C.lineno, i + 1);
	}
	assert_int_equal(C.npaths, 0);
	assert_int_equal(config_finish(&C, err), -1);
	assert_non_null(strstr(err, "no bridges"));
	assert_int_equal(feed(&C, "h 1", err), 0);
	assert_int_equal(C.lineno, N_ELEMS(lines) + 1);
	assert_int_equal(C.paths[0].line, N_ELEMS(lines) + 1);
	assert_int_equal(config_finish(&C, err), 0);
	/* 16 bridges is the limit, not more */
	for (int k = 1; k < MP_MAX_PATHS; k++)
		assert_int_equal(feed(&C, "h 1", err), 0);
	assert_int_equal(C.npaths, MP_MAX_PATHS);
	assert_int_equal(feed(&C, "# still fine", err), 0);
	assert_int_equal(feed(&C, "h 2", err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_print_truncates),
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_rate_round_trip),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_line_lengths),
		cmocka_unit_test(test_finish_and_lineno),
		cmocka_unit_test(test_weights_follow_rates),
		/* a known bug in common/config.c, see the message */
		cmocka_unit_test(test_mark_double_hex_prefix),
		cmocka_unit_test(test_default_names_unique),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
