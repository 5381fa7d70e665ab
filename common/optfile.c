/* The option-file parser: splits a line into a name and its values and
 * checks their form, strictly (an unknown name, a value missing or one
 * too many, a control byte, a repeated setting are errors with the line).
 * What a value means is the option handler's to check, not this file's. */
#include "optfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line.h"
#include "log.h"
#include "util.h"

#define fail(err, ...) errorf(err, OPTFILE_ERR_MAX, __VA_ARGS__)

static int listed(const char *name, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(name, *list))
			return 1;
	return 0;
}

unsigned optfile_defs(const struct option *longopts, const char *const *skip,
		      const char *const *repeat, struct optfile_def *out, unsigned max)
{
	unsigned n = 0;

	for (const struct option *o = longopts; o->name && n < max; o++) {
		if (listed(o->name, skip))
			continue;
		out[n++] = (struct optfile_def){
			.name = o->name,
			.code = o->val,
			.nargs = o->has_arg == no_argument ? 0 : 1,
			.repeat = listed(o->name, repeat),
		};
	}
	return n;
}

void optfile_init(struct optfile *f, const struct optfile_def *defs, unsigned ndefs)
{
	f->defs = defs;
	f->ndefs = ndefs;
	f->n = 0;
	f->lineno = 0;
	f->used = 0;
}

const struct optfile_def *optfile_def(const struct optfile *f, int code)
{
	for (unsigned i = 0; i < f->ndefs; i++)
		if (f->defs[i].code == code)
			return &f->defs[i];
	return NULL;
}

const struct optfile_entry *optfile_find(const struct optfile *f, int code)
{
	for (unsigned i = f->n; i-- > 0;)
		if (f->e[i].code == code)
			return &f->e[i];
	return NULL;
}

static const struct optfile_def *by_name(const struct optfile *f, const char *name)
{
	for (unsigned i = 0; i < f->ndefs; i++)
		if (!strcmp(f->defs[i].name, name))
			return &f->defs[i];
	return NULL;
}

/* Printable ASCII, no space: a value is one token; a path with a space
 * in it cannot be written (and is refused rather than half read). */
static int printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return 0;
	return 1;
}

static const char *keep(struct optfile *f, const char *s)
{
	size_t n = strlen(s) + 1;
	char *at = f->arena + f->used;

	if (n > sizeof(f->arena) - f->used)
		return NULL;
	memcpy(at, s, n);
	f->used += n;
	return at;
}

int optfile_feed(struct optfile *f, const char *line, size_t len,
		 char err[static OPTFILE_ERR_MAX])
{
	char buf[OPTFILE_LINE_MAX + 1];
	char *tok[2 + OPTFILE_ARGS_MAX];
	int rc;
	unsigned n;

	f->lineno++;
	rc = line_split(line, len, buf, sizeof(buf), tok, ARRAY_LEN(tok), err,
			OPTFILE_ERR_MAX);
	if (rc == LINE_TOO_MANY)
		return fail(err, "too many values");
	if (rc <= 0)
		return rc;
	n = (unsigned)rc;
	if (strlen(tok[0]) > OPTFILE_NAME_MAX || !printable(tok[0]))
		return fail(err, "expected a setting's name, got '%.*s'", OPTFILE_NAME_MAX,
			    tok[0]);
	const struct optfile_def *d = by_name(f, tok[0]);
	if (!d)
		return fail(err, "unknown setting '%s'", tok[0]);
	unsigned max = d->nargs_max > d->nargs ? d->nargs_max : d->nargs;
	if (n - 1 < d->nargs || n - 1 > max) {
		if (max > d->nargs)
			return fail(err, "'%s' takes %u to %u values, got %u", d->name, d->nargs,
				    max, n - 1);
		return fail(err, "'%s' takes %u value%s, got %u", d->name, d->nargs,
			    d->nargs == 1 ? "" : "s", n - 1);
	}
	const struct optfile_entry *before = optfile_find(f, d->code);
	if (before && !d->repeat)
		return fail(err, "'%s' already set on line %u", d->name, before->line);
	if (f->n == OPTFILE_ENTRIES_MAX)
		return fail(err, "more than %d settings", OPTFILE_ENTRIES_MAX);

	struct optfile_entry *e = &f->e[f->n];
	size_t used = f->used;
	*e = (struct optfile_entry){ .code = d->code, .line = f->lineno, .nargs = n - 1 };
	for (unsigned i = 0; i < n - 1; i++) {
		if (!printable(tok[1 + i])) {
			f->used = used;		/* nothing of a bad line is kept */
			return fail(err, "'%s': a value must be printable ASCII", d->name);
		}
		e->arg[i] = keep(f, tok[1 + i]);
		if (!e->arg[i]) {
			f->used = used;
			return fail(err, "more than %d bytes of values", OPTFILE_ARENA_BYTES);
		}
	}
	f->n++;
	return 0;
}

int optfile_load(struct optfile *f, const char *path)
{
	char err[OPTFILE_ERR_MAX];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *in = fopen(path, "r");
	int rc = 0;

	if (!in) {
		log_warn("%s", path);
		return -1;
	}
	optfile_init(f, f->defs, f->ndefs);
	/* getline, not fgets: the true length, so a NUL byte is seen. */
	while ((len = getline(&line, &cap, in)) >= 0) {
		if (optfile_feed(f, line, (size_t)len, err)) {
			log_error("%s:%u: %s", path, f->lineno, err);
			rc = -1;
			break;
		}
	}
	if (!rc && ferror(in)) {
		log_error("%s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(in);
	return rc;
}

void optfile_print(const struct optfile *f, char *out, size_t outlen)
{
	size_t used = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < f->n && used < outlen; i++) {
		const struct optfile_entry *e = &f->e[i];
		int k = snprintf(out + used, outlen - used, "%s", optfile_def(f, e->code)->name);

		for (unsigned a = 0; a < e->nargs && k >= 0 && used + (size_t)k < outlen; a++)
			k += snprintf(out + used + (size_t)k, outlen - used - (size_t)k, " %s",
				      e->arg[a]);
		if (k >= 0 && used + (size_t)k < outlen)
			k += snprintf(out + used + (size_t)k, outlen - used - (size_t)k, "\n");
		if (k < 0)
			break;
		used += (size_t)k;
	}
}
