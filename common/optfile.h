/* Option files: a program's long options as lines of a file, "name value"
 * (mpserver --config). One setting per line, the option's name without
 * its dashes, then its values (none for a flag, two for a few); '#' starts
 * a comment. The parser only splits and checks the form (a known name,
 * the right number of values, printable values, no repeat unless the
 * option repeats): the program gives each entry to the same handler as
 * its command line, which checks the value. Fed one line at a time, it
 * never opens a file (optfile_load is the thin reader), so it is fuzzed
 * and tested without one. */
#ifndef MP_OPTFILE_H
#define MP_OPTFILE_H

#include <getopt.h>
#include <stddef.h>

enum {
	OPTFILE_LINE_MAX = 512,
	/* "client NAME PUBKEY allowed-ips=... psk-file=..." */
	OPTFILE_ARGS_MAX = 4,
	/* settings of one file: the options, and one line per client of a
	 * per-client mpserver (peers.h: PEERS_MAX) */
	OPTFILE_ENTRIES_MAX = 320,
	OPTFILE_DEFS_MAX = 64,
	/* every value of a full file fits: 64 entries of two values of up to
	 * a line each would not, and need not (the file is refused) */
	OPTFILE_ARENA_BYTES = 131072,
	OPTFILE_NAME_MAX = 31,
	OPTFILE_ERR_MAX = 200,
};

struct optfile_def {
	const char *name;		/* the long option's name, no dashes */
	int code;			/* what getopt_long returns for it */
	unsigned nargs;			/* values after the name, 0..OPTFILE_ARGS_MAX */
	int repeat;			/* may be given more than once */
	unsigned nargs_max;		/* more values allowed, up to this (0: nargs) */
};

struct optfile_entry {
	int code;
	unsigned line;			/* where it was set */
	unsigned nargs;
	const char *arg[OPTFILE_ARGS_MAX];	/* in the arena; NULL past nargs */
};

struct optfile {
	const struct optfile_def *defs;
	unsigned ndefs;
	struct optfile_entry e[OPTFILE_ENTRIES_MAX];
	unsigned n;
	unsigned lineno;		/* lines fed so far */
	size_t used;			/* of the arena */
	char arena[OPTFILE_ARENA_BYTES];
};

/* The definitions of a getopt_long table: every option with a name,
 * except those named in skip (NULL-terminated); those named in repeat may
 * be given more than once. Returns how many were written to out. */
unsigned optfile_defs(const struct option *longopts, const char *const *skip,
		      const char *const *repeat, struct optfile_def *out, unsigned max);

/* Starts an empty file over defs (kept by reference). */
void optfile_init(struct optfile *f, const struct optfile_def *defs, unsigned ndefs);
/* Feeds one line (with or without its '\n'). Returns 0, or -1 with the
 * reason in err ("unknown setting 'mdoe'"); f->lineno is the line. */
int optfile_feed(struct optfile *f, const char *line, size_t len,
		 char err[static OPTFILE_ERR_MAX]);
/* Reads and parses a file; on error logs "FILE:LINE: reason", returns -1. */
int optfile_load(struct optfile *f, const char *path);
/* The entry that sets code (the last one), or NULL. */
const struct optfile_entry *optfile_find(const struct optfile *f, int code);
const struct optfile_def *optfile_def(const struct optfile *f, int code);
/* Prints the entries in canonical form, one per line, in file order. */
void optfile_print(const struct optfile *f, char *out, size_t outlen);

#endif
