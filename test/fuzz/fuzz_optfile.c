/* libFuzzer harness for common/optfile.c (mpserver --config): optfile_feed,
 * optfile_print, optfile_load, over mpserver's own option table.
 *
 * The input is a config file, split on '\n' and fed line by line with its
 * '\n', stopping at the first error as optfile_load does. Then:
 *   - every accepted entry is well formed: a known setting, as many values
 *     as it takes, each non-empty printable ASCII inside the arena, line
 *     numbers rising, a setting that does not repeat set once;
 *   - an error says why, and keeps nothing of its line;
 *   - optfile_print's text parses back whole to the same text (round trip);
 *   - optfile_load, reading the same bytes from a file, agrees.
 * Any violated invariant abort()s, which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "optfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_optfile: invariant failed: %s " \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

enum { F_LISTEN = 0x300, F_TARGET, PRINT_MAX = OPTFILE_ARENA_BYTES * 2 };

/* mpserver's table, as mpserver/main.c builds it. */
static const struct option longopts[] = {
	CLI_COMMON_LONGOPTS,
	CLI_TUN_LONGOPTS,
	{ "config", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};
static const char *const skip[] = { "config", "help", "version", "genkey", NULL };
static const char *const repeat[] = { "tun-addr", "verbose", NULL };
static struct optfile_def defs[OPTFILE_DEFS_MAX];
static unsigned ndefs;

static void init(struct optfile *f)
{
	if (!ndefs) {
		ndefs = optfile_defs(longopts, skip, repeat, defs, OPTFILE_DEFS_MAX - 2);
		defs[ndefs++] = (struct optfile_def){ "listen", F_LISTEN, 1, 0 };
		defs[ndefs++] = (struct optfile_def){ "target", F_TARGET, 2, 0 };
	}
	optfile_init(f, defs, ndefs);
}

static void check_entries(const struct optfile *f)
{
	CHECK(f->n <= OPTFILE_ENTRIES_MAX);
	CHECK(f->used <= sizeof(f->arena));
	for (unsigned i = 0; i < f->n; i++) {
		const struct optfile_entry *e = &f->e[i];
		const struct optfile_def *d = optfile_def(f, e->code);

		CHECK(d != NULL);
		CHECK(e->nargs == d->nargs && e->nargs <= OPTFILE_ARGS_MAX);
		CHECK(e->line >= 1 && e->line <= f->lineno);
		if (i)
			CHECK(e->line > f->e[i - 1].line);
		for (unsigned a = 0; a < OPTFILE_ARGS_MAX; a++) {
			const char *s = e->arg[a];
			if (a >= e->nargs) {
				CHECK(s == NULL);
				continue;
			}
			CHECK(s >= f->arena && s < f->arena + f->used);
			CHECK(memchr(s, '\0', (size_t)(f->arena + f->used - s)) != NULL);
			CHECK(*s);
			for (; *s; s++)
				CHECK(*s > 0x20 && *s < 0x7f);
		}
		if (!d->repeat)
			for (unsigned j = 0; j < i; j++)
				CHECK(f->e[j].code != e->code);
	}
}

static int feed_text(struct optfile *f, const char *text, size_t size)
{
	char err[OPTFILE_ERR_MAX];
	size_t pos = 0;

	while (pos < size) {
		const char *nl = memchr(text + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (text + pos)) + 1 : size - pos;
		unsigned n = f->n;
		size_t used = f->used;

		err[0] = '\0';
		if (optfile_feed(f, text + pos, len, err)) {
			CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
			CHECK(f->n == n && f->used == used);
			return -1;
		}
		CHECK(f->n == n || f->n == n + 1);
		pos += len;
	}
	return 0;
}

static void check_load(const struct optfile *f, int want_rc, const uint8_t *data, size_t size)
{
	static struct optfile fl;
	char path[64];
	int fd = memfd_create("fuzz_optfile", 0);

	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	init(&fl);
	int rc = optfile_load(&fl, path);
	close(fd);
	CHECK(rc == want_rc && fl.lineno == f->lineno && fl.n == f->n);
	for (unsigned i = 0; i < f->n; i++) {
		CHECK(fl.e[i].code == f->e[i].code && fl.e[i].line == f->e[i].line);
		for (unsigned a = 0; a < f->e[i].nargs; a++)
			CHECK(!strcmp(fl.e[i].arg[a], f->e[i].arg[a]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct optfile f, again;
	static char text[PRINT_MAX], text2[PRINT_MAX];

	log_set_level(LOG_QUIET);
	init(&f);
	int rc = feed_text(&f, (const char *)data, size);
	check_entries(&f);
	check_load(&f, rc, data, size);

	optfile_print(&f, text, sizeof(text));
	size_t len = strlen(text);
	CHECK(len < sizeof(text) - 1);
	init(&again);
	if (feed_text(&again, text, len)) {
		fprintf(stderr, "fuzz_optfile: printed text does not parse back:\n%s", text);
		abort();
	}
	CHECK(again.n == f.n);
	optfile_print(&again, text2, sizeof(text2));
	CHECK(!strcmp(text, text2));
	return 0;
}
