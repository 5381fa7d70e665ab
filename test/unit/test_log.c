/* Unit tests of common/log.c's journal priorities: with JOURNAL_STREAM
 * naming stderr's device and inode, every line starts with its syslog
 * priority (<3> error, <4> warning, <6> info, <7> debug); without the
 * variable, with a malformed one, or with one that names another file (a
 * child whose stderr was redirected), no line does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char file[64];
static int saved_stderr = -1;

/* stderr to a fresh file; returns its "DEV:INO". */
static void capture(char *stream, size_t len)
{
	struct stat st;
	int fd;

	strcpy(file, "/tmp/test_log.XXXXXX");
	fd = mkstemp(file);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(stream, len, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
}

/* Restores stderr and returns what was logged (static buffer). */
static const char *captured(void)
{
	static char text[4096];
	FILE *f;
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	f = fopen(file, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(file);
	return text;
}

static void log_all(void)
{
	log_error("e1");
	log_warnx("w1");
	log_info("i1");
	log_debug("d1");
	log_net(LOG_WARN, "w2");
}

/* Each line's start, in order, for the five lines of log_all. */
static void expect_prefixes(const char *text, const char *const want[5])
{
	const char *line = text;

	for (int i = 0; i < 5; i++) {
		assert_non_null(line);
		if (want[i][0])
			assert_memory_equal(line, want[i], strlen(want[i]));
		else
			assert_true(line[0] >= '0' && line[0] <= '9');	/* the time */
		line = strchr(line, '\n');
		assert_non_null(line);
		line++;
	}
	assert_int_equal(*line, '\0');
}

static void with_journal(void **state)
{
	static const char *const want[5] = { "<3>", "<4>", "<6>", "<7>", "<4>" };
	char stream[64];

	(void)state;
	capture(stream, sizeof(stream));
	setenv("JOURNAL_STREAM", stream, 1);
	log_init("test_log", LOG_DEBUG);
	log_all();
	unsetenv("JOURNAL_STREAM");
	log_init("test_log", LOG_DEBUG);
	expect_prefixes(captured(), want);
}

static void without_journal(void **state)
{
	static const char *const none[5] = { "", "", "", "", "" };
	static const char *const bad[] = { NULL, "", "1", "1:", ":1", "1:2x", "x:y", "0:0" };
	char stream[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		capture(stream, sizeof(stream));
		if (bad[i])
			setenv("JOURNAL_STREAM", bad[i], 1);
		else
			unsetenv("JOURNAL_STREAM");
		log_init("test_log", LOG_DEBUG);
		log_all();
		unsetenv("JOURNAL_STREAM");
		log_init("test_log", LOG_DEBUG);
		expect_prefixes(captured(), none);
	}
	/* another file's device and inode: stderr was redirected */
	capture(stream, sizeof(stream));
	strcat(stream, "1");
	setenv("JOURNAL_STREAM", stream, 1);
	log_init("test_log", LOG_DEBUG);
	log_all();
	unsetenv("JOURNAL_STREAM");
	log_init("test_log", LOG_DEBUG);
	expect_prefixes(captured(), none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(with_journal),
		cmocka_unit_test(without_journal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
