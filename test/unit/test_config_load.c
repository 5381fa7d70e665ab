/* Unit tests of config_load() (common/config.c): the file reader around
 * the line-fed parser, whose own tests are in test_config.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static char tmp_path[256];

static const char *write_tmp(const char *data, size_t len)
{
	const char *dir = getenv("TMPDIR");

	snprintf(tmp_path, sizeof(tmp_path), "%s/mprelay-test-config-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

struct load_case {
	const char *what;
	const char *data;
	size_t len;		/* 0 = strlen */
	int rc;
	unsigned lineno;	/* where it stopped */
	unsigned npaths;
};

static char long_ok[CONFIG_LINE_MAX + 64];
static char long_bad[CONFIG_LINE_MAX + 256];
static char huge_bad[3 * CONFIG_LINE_MAX];

static void test_load(void **state)
{
	/* 512 characters, then a newline: the longest accepted line */
	memset(long_ok, ' ', CONFIG_LINE_MAX);
	memcpy(long_ok, "h 1 #", 5);
	strcpy(long_ok + CONFIG_LINE_MAX, "\nh 2\n");
	/* 513 characters: too long, and the rest of it must not become a line */
	memset(long_bad, 'x', CONFIG_LINE_MAX + 1);
	memcpy(long_bad, "h 1 #", 5);
	strcpy(long_bad + CONFIG_LINE_MAX + 1, "\nh 2\n");
	memset(huge_bad, ' ', sizeof(huge_bad) - 1);
	memcpy(huge_bad + CONFIG_LINE_MAX + 20, "h 1", 3);

	const struct load_case cases[] = {
		{ "ok", "127.0.0.1 4001\n# c\n[::1] 4002 weight=2\n", 0, 0, 3, 2 },
		{ "no final newline", "h 1\nh 2", 0, 0, 2, 2 },
		{ "crlf", "h 1\r\n\r\nh 2\r\n", 0, 0, 3, 2 },
		{ "bad line 3", "h 1\n\nh 0\nh 3\n", 0, -1, 3, 1 },
		{ "only comments", "# a\n\n# b\n", 0, -1, 3, 0 },
		{ "empty", "", 0, -1, 0, 0 },
		{ "512 chars", long_ok, 0, 0, 2, 2 },
		{ "513 chars", long_bad, 0, -1, 1, 0 },
		{ "1535 spaces, no newline", huge_bad, 0, -1, 1, 0 },
	};
	struct config c;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		const struct load_case *lc = &cases[i];
		const char *path = write_tmp(lc->data,
					     lc->len ? lc->len : strlen(lc->data));

		memset(&c, 0x55, sizeof(c));	/* load must start afresh */
		int rc = config_load(&c, path);
		unlink(path);
		if (rc != lc->rc || c.lineno != lc->lineno || c.npaths != lc->npaths)
			fail_msg("%s: rc %d lineno %u npaths %u; expected %d %u %u",
				 lc->what, rc, c.lineno, c.npaths, lc->rc,
				 lc->lineno, lc->npaths);
	}
}

static void test_load_golden(void **state)
{
	static const char data[] =
		"# bridges\r\n"
		"127.0.0.1 4001\r\n"
		"\r\n"
		"[::1] 4002  # v6\n"
		"\t::1\t4003\n"
		"relay.example.net 4004 weight=3 name=lte bind=192.168.1.2 "
		"sport=5000 dev=wwan0 mark=0x10";
	static const char want[] =
		"127.0.0.1 4001 name=path0 weight=1\n"
		"[::1] 4002 name=path1 weight=1\n"
		"[::1] 4003 name=path2 weight=1\n"
		"relay.example.net 4004 name=lte weight=3 bind=192.168.1.2 "
		"sport=5000 dev=wwan0 mark=16\n";
	struct config c;
	char out[1024];

	(void)state;
	const char *path = write_tmp(data, sizeof(data) - 1);
	assert_int_equal(config_load(&c, path), 0);
	unlink(path);
	assert_int_equal(c.lineno, 6);
	assert_int_equal(c.paths[3].line, 6);
	config_print(&c, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_load_missing_file(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(config_load(&c, "/nonexistent/mprelay/none.conf"), -1);
}

/* config_feed refuses a NUL byte in a line; reading a file must not lose
 * that check (fgets + strlen would cut the line at the NUL and accept it). */
static void test_load_nul_byte(void **state)
{
	static const char data[] = "h 1\n10.0.0.1 4001\0 weight=2 name=x\n";
	struct config c;

	(void)state;
	const char *path = write_tmp(data, sizeof(data) - 1);
	int rc = config_load(&c, path);
	unlink(path);
	if (rc != -1)
		fail_msg("file with a NUL byte on line 2: config_load returned %d "
			 "(npaths %u, paths[1].weight %u); expected -1 at line 2",
			 rc, c.npaths, c.npaths > 1 ? c.paths[1].weight : 0);
	assert_int_equal(c.lineno, 2);
}

static int quiet(void **state)
{
	(void)state;
	log_init("test_config_load", LOG_QUIET);	/* config_load logs errors */
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_golden),
		cmocka_unit_test(test_load_missing_file),
		/* a known bug in common/config.c, see the message */
		cmocka_unit_test(test_load_nul_byte),
	};

	return cmocka_run_group_tests_name("config_load", tests, quiet, NULL);
}
