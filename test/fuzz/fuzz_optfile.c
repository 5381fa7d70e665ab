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
 *   - optfile_load, reading the same bytes from a file, agrees;
 *   - the client lines, given to peers_add as mpserver does, make a table
 *     without repeats or overlaps whose printout parses back to itself.
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
#include "peers.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_optfile: invariant failed: %s " \
				"(%s:%d)\n", #cond, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

enum { F_LISTEN = 0x300, F_TARGET, F_CLIENT, PRINT_MAX = OPTFILE_ARENA_BYTES * 2 };

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
		ndefs = optfile_defs(longopts, skip, repeat, defs, OPTFILE_DEFS_MAX - 3);
		defs[ndefs++] = (struct optfile_def){ "listen", F_LISTEN, 1, 0, 0 };
		defs[ndefs++] = (struct optfile_def){ "target", F_TARGET, 2, 0, 0 };
		defs[ndefs++] = (struct optfile_def){ "client", F_CLIENT, PEER_ARGS_MIN, 1,
						      PEER_ARGS_MAX };
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
		CHECK(e->nargs >= d->nargs && e->nargs <= OPTFILE_ARGS_MAX &&
		      (e->nargs == d->nargs || e->nargs <= d->nargs_max));
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

/* The client lines, as mpserver gives them to peers_add: whatever is
 * accepted is a table with no repeated name or key and no overlapping
 * prefixes between clients, and its printout parses back to itself. */
static void check_peers(const struct optfile *f)
{
	static struct peers ps, again;
	static char text[PEERS_MAX * 600], text2[PEERS_MAX * 600];
	char err[PEERS_ERR_MAX];

	peers_init(&ps);
	for (unsigned i = 0; i < f->n; i++) {
		const struct optfile_entry *e = &f->e[i];
		unsigned n = ps.n;

		if (e->code != F_CLIENT)
			continue;
		err[0] = '\0';
		if (peers_add(&ps, e->arg, e->nargs, e->line, err)) {
			CHECK(err[0] && ps.n == n);
			continue;
		}
		CHECK(ps.n == n + 1);
	}
	for (unsigned i = 0; i < ps.n; i++) {
		const struct peer *p = &ps.p[i];

		CHECK(p->name[0] && p->nallowed <= PEER_ALLOWED_MAX);
		for (unsigned j = 0; j < p->nallowed; j++) {
			CHECK(peer_allows(p, &p->allowed[j].addr));
			CHECK(peers_route(&ps, &p->allowed[j].addr) == (long)i);
		}
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(p->name, ps.p[j].name) &&
			      !noise_key_equal(p->pub, ps.p[j].pub));
	}
	peers_print(&ps, text, sizeof(text));
	peers_init(&again);
	for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		const char *arg[PEER_ARGS_MAX + 2];
		unsigned n = 0;
		char *save = NULL;

		*nl = '\0';
		for (char *t = strtok_r(line, " ", &save); t && n < ARRAY_LEN(arg);
		     t = strtok_r(NULL, " ", &save))
			arg[n++] = t;
		CHECK(n >= 3 && !strcmp(arg[0], "client"));
		CHECK(!peers_add(&again, arg + 1, n - 1, 1, err));
	}
	CHECK(again.n == ps.n);
	peers_print(&ps, text, sizeof(text));
	peers_print(&again, text2, sizeof(text2));
	CHECK(!strcmp(text, text2));
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
	check_peers(&f);

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
