/* Unit tests of common/optfile.c, the option-file parser (mpserver
 * --config): the definitions taken from a getopt table, golden output,
 * good lines, bad lines with their reasons and line numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "optfile.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

enum { T_LISTEN = 0x300, T_TARGET, T_CLIENT };

/* mpserver's table (mpserver/main.c builds its definitions the same way). */
static const struct option longopts[] = {
	CLI_COMMON_LONGOPTS,
	CLI_TUN_LONGOPTS,
	{ "config", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};
static const char *const skip[] = { "config", "help", "version", "genkey", NULL };
static const char *const repeat[] = { "tun-addr", "verbose", NULL };

static struct optfile_def defs[OPTFILE_DEFS_MAX];
static struct optfile F;
static char out[OPTFILE_ARENA_BYTES * 2];

static void start(void)
{
	unsigned n = optfile_defs(longopts, skip, repeat, defs, OPTFILE_DEFS_MAX - 3);

	defs[n++] = (struct optfile_def){ "listen", T_LISTEN, 1, 0, 0 };
	defs[n++] = (struct optfile_def){ "target", T_TARGET, 2, 0, 0 };
	defs[n++] = (struct optfile_def){ "client", T_CLIENT, 2, 1, 4 };
	optfile_init(&F, defs, n);
}

static int feed(const char *line, char err[static OPTFILE_ERR_MAX])
{
	return optfile_feed(&F, line, strlen(line), err);
}

static void test_defs(void **state)
{
	(void)state;
	start();
	const struct optfile_def *d = optfile_def(&F, OPT_MODE);
	assert_non_null(d);
	assert_string_equal(d->name, "mode");
	assert_int_equal(d->nargs, 1);
	assert_false(d->repeat);
	d = optfile_def(&F, 'v');
	assert_non_null(d);
	assert_string_equal(d->name, "verbose");
	assert_int_equal(d->nargs, 0);
	assert_true(d->repeat);
	assert_true(optfile_def(&F, OPT_TUN_ADDR)->repeat);
	assert_int_equal(optfile_def(&F, T_TARGET)->nargs, 2);
	assert_null(optfile_def(&F, 'c'));
	assert_null(optfile_def(&F, OPT_GENKEY));
	assert_null(optfile_def(&F, 'h'));
	assert_null(optfile_def(&F, OPT_VERSION));
}

static void test_golden(void **state)
{
	static const char *const lines[] = {
		"# mpserver.conf\n",
		"\n",
		"listen 2000\n",
		"  target\t127.0.0.1   1194  # the app\r\n",
		"mode bond\n",
		"key-file /etc/mprelay/key\n",
		"verbose\n",
		"verbose   # twice: debug\n",
		"tun-addr 10.0.0.1/24\n",
		"tun-addr fd00::1/64\n",
		"   \t\r\n",
		"status /run/mprelay/s.sock",
	};
	char err[OPTFILE_ERR_MAX];

	(void)state;
	start();
	for (size_t i = 0; i < N_ELEMS(lines); i++)
		if (feed(lines[i], err))
			fail_msg("line %zu '%s': %s", i + 1, lines[i], err);
	assert_int_equal(F.lineno, N_ELEMS(lines));
	assert_int_equal(F.n, 9);
	optfile_print(&F, out, sizeof(out));
	assert_string_equal(out,
			    "listen 2000\n"
			    "target 127.0.0.1 1194\n"
			    "mode bond\n"
			    "key-file /etc/mprelay/key\n"
			    "verbose\n"
			    "verbose\n"
			    "tun-addr 10.0.0.1/24\n"
			    "tun-addr fd00::1/64\n"
			    "status /run/mprelay/s.sock\n");
	const struct optfile_entry *e = optfile_find(&F, T_TARGET);
	assert_non_null(e);
	assert_int_equal(e->line, 4);
	assert_int_equal(e->nargs, 2);
	assert_string_equal(e->arg[0], "127.0.0.1");
	assert_string_equal(e->arg[1], "1194");
	e = optfile_find(&F, OPT_TUN_ADDR);	/* the last one */
	assert_int_equal(e->line, 10);
	assert_string_equal(e->arg[0], "fd00::1/64");
	assert_null(optfile_find(&F, OPT_USER));
	assert_null(optfile_find(&F, 'q'));

	/* what it printed parses back to the same text */
	static struct optfile again;
	static char out2[sizeof(out)];
	optfile_init(&again, defs, F.ndefs);
	for (const char *l = out; *l;) {
		const char *nl = strchr(l, '\n');
		assert_int_equal(optfile_feed(&again, l, (size_t)(nl - l) + 1, err), 0);
		l = nl + 1;
	}
	optfile_print(&again, out2, sizeof(out2));
	assert_string_equal(out, out2);
}

static void test_bad_lines(void **state)
{
	static const struct {
		const char *before, *line, *says;
	} cases[] = {
		{ "", "mdoe bond", "unknown setting 'mdoe'" },
		{ "", "--mode bond", "unknown setting '--mode'" },
		{ "", "Mode bond", "unknown setting 'Mode'" },
		{ "", "config other.conf", "unknown setting 'config'" },
		{ "", "genkey /tmp/k", "unknown setting 'genkey'" },
		{ "", "help", "unknown setting 'help'" },
		{ "", "mode", "'mode' takes 1 value, got 0" },
		{ "", "mode bond duplicate", "'mode' takes 1 value, got 2" },
		{ "", "mode a b c", "'mode' takes 1 value, got 3" },
		{ "", "target a 1 b c", "'target' takes 2 values, got 4" },
		{ "", "target a 1 b c d e", "too many values" },
		{ "", "verbose 2", "'verbose' takes 0 values, got 1" },
		{ "", "target 127.0.0.1", "'target' takes 2 values, got 1" },
		{ "", "listen", "'listen' takes 1 value, got 0" },
		{ "mode bond\n", "mode duplicate", "'mode' already set on line 1" },
		{ "listen 1\n\n", "listen 2", "'listen' already set on line 1" },
		{ "", "status /tmp/\x01s", "'status': a value must be printable ASCII" },
		{ "", "status /tmp/\xc3\xa9", "'status': a value must be printable ASCII" },
		{ "mode bond\n", "target 127.0.0.1 \x01", "'target': a value must be printable ASCII" },
		{ "", "mo\x7f" "de bond", "expected a setting's name" },
		{ "", "this-name-is-far-too-long-to-be-any-option 1", "expected a setting's name" },
	};
	char err[OPTFILE_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		start();
		unsigned want_line = 1, want_n = 0;
		for (const char *b = cases[i].before; *b; b = strchr(b, '\n') + 1) {
			assert_int_equal(optfile_feed(&F, b, (size_t)(strchr(b, '\n') - b) + 1, err), 0);
			want_line++;
			want_n += *b != '\n';
		}
		size_t used = F.used;
		err[0] = '\0';
		if (!feed(cases[i].line, err))
			fail_msg("'%s' accepted", cases[i].line);
		if (!strstr(err, cases[i].says))
			fail_msg("'%s': said '%s', not '%s'", cases[i].line, err, cases[i].says);
		assert_int_equal(F.lineno, want_line);
		assert_int_equal(F.n, want_n);	/* nothing of the bad line kept */
		assert_int_equal(F.used, used);
	}
}

/* A setting with a range of values (client NAME KEY [opt [opt]]): each
 * count in the range is kept as given, outside it refused with the range. */
static void test_value_range(void **state)
{
	char err[OPTFILE_ERR_MAX];

	(void)state;
	start();
	assert_int_equal(feed("client a K", err), 0);
	assert_int_equal(feed("client b K x=1", err), 0);
	assert_int_equal(feed("client c K x=1 y=2", err), 0);
	assert_int_equal(F.n, 3);
	assert_int_equal(F.e[0].nargs, 2);
	assert_int_equal(F.e[2].nargs, 4);
	assert_string_equal(F.e[2].arg[3], "y=2");
	assert_null(F.e[0].arg[2]);
	assert_int_equal(feed("client d", err), -1);
	assert_string_equal(err, "'client' takes 2 to 4 values, got 1");
	assert_int_equal(feed("client d K 1 2 3", err), -1);
	assert_string_equal(err, "'client' takes 2 to 4 values, got 5");
	assert_int_equal(feed("client d K 1 2 3 4", err), -1);
	assert_string_equal(err, "too many values");
	assert_int_equal(F.n, 3);
	optfile_print(&F, out, sizeof(out));
	assert_string_equal(out, "client a K\nclient b K x=1\nclient c K x=1 y=2\n");
}

static void test_limits(void **state)
{
	char line[OPTFILE_LINE_MAX + 2], err[OPTFILE_ERR_MAX];

	(void)state;
	/* a line of exactly OPTFILE_LINE_MAX is taken, one more is not */
	start();
	memset(line, 'a', sizeof(line));
	memcpy(line, "status /", 8);
	assert_int_equal(optfile_feed(&F, line, OPTFILE_LINE_MAX, err), 0);
	assert_int_equal(strlen(F.e[0].arg[0]), OPTFILE_LINE_MAX - 7);
	start();
	assert_int_equal(optfile_feed(&F, line, OPTFILE_LINE_MAX + 1, err), -1);
	assert_non_null(strstr(err, "line longer than 512 bytes"));
	/* ... its '\n' not counted */
	start();
	line[OPTFILE_LINE_MAX] = '\n';
	assert_int_equal(optfile_feed(&F, line, OPTFILE_LINE_MAX + 1, err), 0);

	start();
	assert_int_equal(optfile_feed(&F, "mode\0bond", 9, err), -1);
	assert_string_equal(err, "NUL byte in line");

	/* OPTFILE_ENTRIES_MAX settings, then one more */
	start();
	for (int i = 0; i < OPTFILE_ENTRIES_MAX; i++)
		assert_int_equal(feed("verbose", err), 0);
	assert_int_equal(feed("verbose", err), -1);
	assert_non_null(strstr(err, "more than 320 settings"));
	assert_int_equal(F.n, OPTFILE_ENTRIES_MAX);

	/* values beyond the arena are refused, and leave nothing behind */
	start();
	memset(line, 'b', sizeof(line));
	memcpy(line, "tun-addr ", 9);
	line[OPTFILE_LINE_MAX] = '\0';
	size_t each = OPTFILE_LINE_MAX - 9 + 1, fit = OPTFILE_ARENA_BYTES / each;
	for (size_t i = 0; i < fit; i++)
		assert_int_equal(feed(line, err), 0);
	size_t used = F.used;
	assert_int_equal(feed(line, err), -1);
	assert_non_null(strstr(err, "bytes of values"));
	assert_int_equal(F.used, used);
	assert_int_equal(F.n, fit);
	assert_int_equal(feed("mode bond", err), 0);	/* a short one still fits */
}

static void test_load(void **state)
{
	char path[] = "/tmp/test_optfile.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	const char text[] = "listen 2000\nmode bond\nmode duplicate\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	start();
	log_set_level(LOG_QUIET);
	assert_int_equal(optfile_load(&F, path), -1);
	assert_int_equal(F.lineno, 3);		/* where it stopped */
	unlink(path);
	assert_int_equal(optfile_load(&F, path), -1);	/* gone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defs),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_value_range),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
