/* libFuzzer harness for common/config.c: config_feed, config_finish,
 * config_print.
 *
 * The input is a config file. It is split on '\n' and fed line by line, each
 * line with its '\n' as config_load passes it, stopping at the first error as
 * config_load does. Then:
 *   - every accepted bridge must be well formed (port, name, weight, strings
 *     terminated inside their arrays, names unique, line numbers in order);
 *   - config_finish must agree with npaths;
 *   - config_print's text, fed back through config_feed, must be accepted
 *     whole and give the same bridges, every field (rate= included) equal
 *     (round trip: parse, print, parse, equal), and printing that again
 *     must give the same text;
 *   - printing into a short buffer must give a terminated prefix of the full
 *     text;
 *   - config_load, reading the same bytes from a file, must agree with the
 *     line-by-line feed (same result, same line number, same bridges).
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz_config: invariant failed: %s " \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);    \
			abort();                                            \
		}                                                           \
	} while (0)

/* Large enough for MP_MAX_PATHS lines of the longest form config_print can
 * write (about 650 bytes each); a truncated print is itself a failure. */
enum { PRINT_MAX = 32768 };

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int is_label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
}

static int all_of(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!is_label_char(*s) && !strchr(extra, *s))
			return 0;
	return 1;
}

static void check_paths(const struct config *c)
{
	CHECK(c->npaths <= MP_MAX_PATHS);
	for (unsigned i = 0; i < c->npaths; i++) {
		const struct config_path *p = &c->paths[i];

		CHECK(terminated(p->host, sizeof(p->host)));
		CHECK(terminated(p->name, sizeof(p->name)));
		CHECK(terminated(p->bind, sizeof(p->bind)));
		CHECK(terminated(p->dev, sizeof(p->dev)));
		CHECK(p->host[0] != '\0');
		CHECK(all_of(p->host, ":%"));
		CHECK(p->port >= 1);
		CHECK(p->name[0] != '\0');
		CHECK(all_of(p->name, ""));
		CHECK(p->weight >= 1 && p->weight <= CONFIG_WEIGHT_MAX);
		CHECK(all_of(p->bind, ":%"));
		CHECK(all_of(p->dev, ""));
		CHECK(p->has_mark == 0 || p->has_mark == 1);
		CHECK(p->has_mark || p->mark == 0);
		CHECK(p->rate_bps == 0 || (p->rate_bps >= CONFIG_RATE_MIN_BPS &&
					   p->rate_bps <= CONFIG_RATE_MAX_BPS));
		CHECK(p->down_bps == 0 || (p->down_bps >= CONFIG_RATE_MIN_BPS &&
					   p->down_bps <= CONFIG_RATE_MAX_BPS));
		CHECK(p->backup == 0 || p->backup == 1);
		CHECK(p->line >= 1 && p->line <= c->lineno);
		if (i)
			CHECK(p->line > c->paths[i - 1].line);
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(p->name, c->paths[j].name) != 0);
	}
}

/* Every field that says what the path is (not line or has_weight: where
 * it was written, and whether the weight was spelled out, which the
 * printer always does). */
static int same_path(const struct config_path *a, const struct config_path *b)
{
	return !strcmp(a->host, b->host) && a->port == b->port &&
	       !strcmp(a->name, b->name) && a->weight == b->weight &&
	       !strcmp(a->bind, b->bind) && a->sport == b->sport &&
	       !strcmp(a->dev, b->dev) && a->has_mark == b->has_mark &&
	       a->mark == b->mark && a->rate_bps == b->rate_bps &&
	       a->down_bps == b->down_bps && a->backup == b->backup;
}

/* Feeds text[0..size) line by line as config_load would; returns 0 when
 * every line was accepted, else -1 with c->lineno at the failing line. */
static int feed_text(struct config *c, const char *text, size_t size,
		     char err[static CONFIG_ERR_MAX])
{
	size_t pos = 0;

	while (pos < size) {
		const char *nl = memchr(text + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (text + pos)) + 1 : size - pos;

		err[0] = '\0';
		if (config_feed(c, text + pos, len, err)) {
			CHECK(terminated(err, CONFIG_ERR_MAX));
			CHECK(err[0] != '\0');	/* an error says why */
			return -1;
		}
		pos += len;
	}
	return 0;
}

static void round_trip(const struct config *c, const char *text)
{
	static struct config c2;
	static char text2[PRINT_MAX];
	char err[CONFIG_ERR_MAX];
	size_t len = strlen(text);

	config_init(&c2);
	if (feed_text(&c2, text, len, err)) {
		fprintf(stderr, "fuzz_config: printed config does not parse "
			"back: line %u: %s\n--- printed:\n%s---\n", c2.lineno,
			err, text);
		abort();
	}
	check_paths(&c2);
	CHECK(c2.npaths == c->npaths);
	for (unsigned i = 0; i < c->npaths; i++) {
		if (!same_path(&c->paths[i], &c2.paths[i])) {
			fprintf(stderr, "fuzz_config: bridge %u changed in the "
				"round trip\n--- printed:\n%s---\n", i, text);
			abort();
		}
	}
	config_print(&c2, text2, sizeof(text2));
	CHECK(!strcmp(text, text2));
}

/* config_load on the same bytes, through an in-memory file. */
static void check_load(const struct config *c, int want_rc,
		       const uint8_t *data, size_t size)
{
	static struct config cl;
	char path[64];
	int fd, rc;

	fd = memfd_create("fuzz_config", 0);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&cl, 0xa5, sizeof(cl));
	rc = config_load(&cl, path);
	close(fd);
	if (rc != want_rc || cl.lineno != c->lineno || cl.npaths != c->npaths) {
		fprintf(stderr, "fuzz_config: config_load says %d at line %u "
			"with %u bridges; the line feed says %d at line %u "
			"with %u\n", rc, cl.lineno, cl.npaths, want_rc,
			c->lineno, c->npaths);
		abort();
	}
	for (unsigned i = 0; i < c->npaths; i++)
		CHECK(same_path(&c->paths[i], &cl.paths[i]) &&
		      c->paths[i].line == cl.paths[i].line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c;
	static char text[PRINT_MAX];
	char err[CONFIG_ERR_MAX];
	char small[256];
	size_t len, cut;
	int rc;

	log_set_level(LOG_QUIET);	/* config_load reports errors */
	config_init(&c);
	rc = feed_text(&c, (const char *)data, size, err);
	check_paths(&c);
	if (rc == 0) {
		memset(err, 0, sizeof(err));
		if (config_finish(&c, err)) {
			CHECK(c.npaths == 0);
			CHECK(terminated(err, CONFIG_ERR_MAX) && err[0]);
			rc = -1;
		} else {
			CHECK(c.npaths > 0);
		}
	}
	check_load(&c, rc, data, size);

	/* A failed file still prints what it had accepted so far: the
	 * accepted bridges are complete, and must round-trip the same way. */
	config_print(&c, text, sizeof(text));
	len = strlen(text);
	CHECK(len < sizeof(text) - 1);		/* never truncated */
	if (c.npaths == 0)
		CHECK(len == 0);
	else
		CHECK(len > 0 && text[len - 1] == '\n');
	round_trip(&c, text);

	/* A short buffer gets a terminated prefix of the same text. */
	cut = 1 + (size ? data[0] : 0) % sizeof(small);
	memset(small, 'X', sizeof(small));
	config_print(&c, small, cut);
	CHECK(terminated(small, cut));
	CHECK(!strncmp(small, text, strlen(small)));
	CHECK(strlen(small) == (len < cut ? len : cut - 1));
	for (size_t i = cut; i < sizeof(small); i++)
		CHECK(small[i] == 'X');	/* nothing written past outlen */
	return 0;
}
