/* Line-fed parser for the bridge list. Strict: every token is checked for
 * form and range, unknown keys and repeated keys are errors, and an error
 * names the line and the reason. Name resolution is not done here. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line.h"
#include "log.h"
#include "util.h"

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
}

/* All errors of this file go through here: err is CONFIG_ERR_MAX long. */
#define fail(err, ...) errorf(err, CONFIG_ERR_MAX, __VA_ARGS__)

/* Parses a whole number in [min, max], decimal or (with hex set) 0x-prefixed
 * hexadecimal: digits only, no sign, no spaces, no second prefix. */
static int parse_number(const char *s, int hex, unsigned long long min,
			unsigned long long max, unsigned long long *out)
{
	const char *digits = "0123456789";
	int base = 10;
	char *end;

	if (hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		digits = "0123456789abcdefABCDEF";
		base = 16;
		s += 2;
	}
	size_t n = strspn(s, digits);
	if (n == 0 || s[n] != '\0' || n > 20)
		return -1;
	errno = 0;
	*out = strtoull(s, &end, base);
	if (errno || *end || *out < min || *out > max)
		return -1;
	return 0;
}

static int parse_uint(const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *out)
{
	return parse_number(s, 0, min, max, out);
}

static int is_label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
}

static int is_label(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_label_char(s[i]))
			return 0;
	return 1;
}

/* Host names, IPv4 and bare IPv6 literals: letters, digits, '-', '.', '_',
 * ':' and '%' (zone). "[v6]" is unwrapped. Resolution decides the rest. */
static int parse_host(const char *tok, char out[static CONFIG_HOST_MAX + 1])
{
	size_t n = strlen(tok);

	if (tok[0] == '[') {
		if (n < 3 || tok[n - 1] != ']')
			return -1;
		tok++;
		n -= 2;
	}
	if (n == 0 || n > CONFIG_HOST_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!is_label_char(tok[i]) && tok[i] != ':' && tok[i] != '%')
			return -1;
	memcpy(out, tok, n);
	out[n] = '\0';
	return 0;
}

/* A dotted-quad IPv4 address (not the legacy "1.2.3" forms), or an IPv6
 * address with an optional zone (fe80::1%eth0). Never a name lookup. */
static int is_ip_literal(const char *s)
{
	struct addrinfo hints = {
		.ai_family = AF_INET6,
		.ai_flags = AI_NUMERICHOST,
		.ai_socktype = SOCK_DGRAM,
	};
	struct addrinfo *res;
	struct in_addr v4;

	if (!strchr(s, ':'))
		return inet_pton(AF_INET, s, &v4) == 1;
	if (getaddrinfo(s, NULL, &hints, &res))
		return 0;
	freeaddrinfo(res);
	return 1;
}

enum key { K_WEIGHT, K_NAME, K_BIND, K_SPORT, K_DEV, K_MARK, K_RATE, K_BACKUP, K_DOWN, K_MAX };
static const char *const key_names[K_MAX] = {
	"weight", "name", "bind", "sport", "dev", "mark", "rate", "backup", "down",
};

/* Rate units as tc writes them, largest first (config_print picks the
 * largest one a rate reaches); "" is bit/s. A unit of 10^k bit/s takes at
 * most k decimals, so every rate has one exact spelling per unit. */
static const struct {
	const char *name;
	uint64_t bps;
} rate_units[] = {
	{ "gbit", 1000000000 }, { "mbit", 1000000 }, { "kbit", 1000 }, { "bit", 1 }, { "", 1 },
};

enum rate_err { RATE_OK, RATE_FORM, RATE_FRACTION, RATE_RANGE };

/* A rate: digits, optionally a point and more digits (1.5mbit, 0.5gbit),
 * then a unit. No sign, no exponent, no bare point (".5", "1."), and a
 * whole number of bit/s (1.0005kbit is not). Integer arithmetic only, so
 * that what config_print writes comes back exact. */
static enum rate_err parse_rate(const char *s, uint64_t *out)
{
	static const char digits[] = "0123456789";
	size_t nwhole = strspn(s, digits), nfrac = 0;
	const char *frac = s + nwhole, *unit = frac;
	uint64_t v = 0, bps, scale;
	size_t u;

	if (nwhole == 0)
		return RATE_FORM;
	if (*frac == '.') {
		nfrac = strspn(++frac, digits);
		if (nfrac == 0)
			return RATE_FORM;
		unit = frac + nfrac;
	}
	for (u = 0; u < ARRAY_LEN(rate_units); u++)
		if (!strcmp(unit, rate_units[u].name))
			break;
	if (u == ARRAY_LEN(rate_units))
		return RATE_FORM;
	for (size_t i = 0; i < nwhole; i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > CONFIG_RATE_MAX_BPS)	/* and so never near overflow */
			return RATE_RANGE;
	}
	if (v > CONFIG_RATE_MAX_BPS / rate_units[u].bps)
		return RATE_RANGE;
	bps = v * rate_units[u].bps;
	scale = rate_units[u].bps;
	for (size_t i = 0; i < nfrac; i++) {
		uint64_t d = (uint64_t)(frac[i] - '0');
		scale /= 10;
		if (!scale && d)
			return RATE_FRACTION;	/* finer than 1 bit/s */
		bps += d * scale;
	}
	if (bps < CONFIG_RATE_MIN_BPS || bps > CONFIG_RATE_MAX_BPS)
		return RATE_RANGE;
	*out = bps;
	return RATE_OK;
}

/* key=RATE (rate=, down=): 0, or -1 with the reason in err. */
static int rate_value(const char *key, const char *val, uint64_t *out, char *err)
{
	switch (parse_rate(val, out)) {
	case RATE_OK:
		return 0;
	case RATE_FORM:
		return fail(err, "%s must be a number of bit/s, kbit, mbit or gbit "
			    "(e.g. %s=8mbit, %s=1.5mbit), got '%s'", key, key, key, val);
	case RATE_FRACTION:
		return fail(err, "%s must be a whole number of bit/s, got '%s'", key, val);
	case RATE_RANGE:
		break;
	}
	return fail(err, "%s must be %llukbit..%llugbit, got '%s'", key,
		    CONFIG_RATE_MIN_BPS / 1000, CONFIG_RATE_MAX_BPS / 1000000000, val);
}

static int parse_option(struct config_path *p, const char *tok, unsigned *seen,
			char err[static CONFIG_ERR_MAX])
{
	const char *eq = strchr(tok, '=');
	unsigned long long v;
	int k;

	if (!strcmp(tok, "backup"))
		eq = tok + strlen(tok);	/* the one flag without a value */
	else if (!eq || !strncmp(tok, "backup=", 7))
		return fail(err, "expected key=value or 'backup', got '%s'", tok);
	for (k = 0; k < K_MAX; k++)
		if ((size_t)(eq - tok) == strlen(key_names[k]) &&
		    !strncmp(tok, key_names[k], (size_t)(eq - tok)))
			break;
	if (k == K_MAX)
		return fail(err, "unknown option '%.*s'", (int)(eq - tok), tok);
	if (*seen & 1u << k)
		return fail(err, "option '%s' given twice", key_names[k]);
	*seen |= 1u << k;
	const char *val = eq + 1;

	switch (k) {
	case K_WEIGHT:
		if (parse_uint(val, 1, CONFIG_WEIGHT_MAX, &v))
			return fail(err, "weight must be 1..%d", CONFIG_WEIGHT_MAX);
		p->weight = (unsigned)v;
		p->has_weight = 1;
		break;
	case K_RATE:
		return rate_value("rate", val, &p->rate_bps, err);
	case K_DOWN:
		return rate_value("down", val, &p->down_bps, err);
	case K_BACKUP:
		p->backup = 1;
		break;
	case K_NAME:
		if (!is_label(val, CONFIG_NAME_MAX))
			return fail(err, "name must be 1..%d of [A-Za-z0-9._-]",
				    CONFIG_NAME_MAX);
		strcpy(p->name, val);
		break;
	case K_BIND:
		if (parse_host(val, p->bind) || !is_ip_literal(p->bind))
			return fail(err, "bind must be an IP address");
		break;
	case K_SPORT:
		if (parse_uint(val, 1, 65535, &v))
			return fail(err, "sport must be 1..65535");
		p->sport = (uint16_t)v;
		break;
	case K_DEV:
		if (!is_label(val, CONFIG_IFNAME_MAX))
			return fail(err, "dev must be an interface name (1..%d chars)",
				    CONFIG_IFNAME_MAX);
		strcpy(p->dev, val);
		break;
	case K_MARK:
		if (parse_number(val, 1, 0, UINT32_MAX, &v))
			return fail(err, "mark must be a 32-bit number (decimal or 0x hex)");
		p->mark = (uint32_t)v;
		p->has_mark = 1;
		break;
	}
	return 0;
}

static const struct config_path *find_name(const struct config *c,
					  const char *name)
{
	for (unsigned i = 0; i < c->npaths; i++)
		if (!strcmp(c->paths[i].name, name))
			return &c->paths[i];
	return NULL;
}

int config_feed(struct config *c, const char *line, size_t len,
		char err[static CONFIG_ERR_MAX])
{
	char buf[CONFIG_LINE_MAX + 1];
	char *tok[2 + K_MAX];
	unsigned long long port;
	unsigned seen = 0;

	c->lineno++;
	int n = line_split(line, len, buf, sizeof(buf), tok, ARRAY_LEN(tok), err,
			   CONFIG_ERR_MAX);
	if (n == LINE_TOO_MANY)
		return fail(err, "too many fields");
	if (n <= 0)
		return n;
	if (n == 1)
		return fail(err, "expected 'host port', got only '%s'", tok[0]);
	if (c->npaths == MP_MAX_PATHS)
		return fail(err, "more than %d bridges", MP_MAX_PATHS);

	struct config_path *p = &c->paths[c->npaths];
	memset(p, 0, sizeof(*p));
	if (parse_host(tok[0], p->host))
		return fail(err, "bad host '%s'", tok[0]);
	if (parse_uint(tok[1], 1, 65535, &port))
		return fail(err, "port must be 1..65535, got '%s'", tok[1]);
	p->port = (uint16_t)port;
	p->weight = 1;
	p->line = c->lineno;
	for (int i = 2; i < n; i++)
		if (parse_option(p, tok[i], &seen, err))
			return -1;
	if (p->name[0]) {
		const struct config_path *other = find_name(c, p->name);
		if (other)
			return fail(err, "name '%s' already used on line %u",
				    p->name, other->line);
	} else {
		/* A default name must not take one given explicitly elsewhere. */
		for (unsigned k = c->npaths; !p->name[0] || find_name(c, p->name); k++)
			snprintf(p->name, sizeof(p->name), "path%u", k);
	}
	c->npaths++;
	return 0;
}

int config_finish(struct config *c, char err[static CONFIG_ERR_MAX])
{
	if (c->npaths == 0) {
		snprintf(err, CONFIG_ERR_MAX, "no bridges defined");
		return -1;
	}
	uint64_t max_bps = 0;
	for (unsigned i = 0; i < c->npaths; i++) {
		if (!c->paths[i].rate_bps || c->paths[i].has_weight)
			return 0;
		if (c->paths[i].rate_bps > max_bps)
			max_bps = c->paths[i].rate_bps;
	}
	for (unsigned i = 0; i < c->npaths; i++) {
		uint64_t w = c->paths[i].rate_bps * CONFIG_WEIGHT_MAX / max_bps;
		c->paths[i].weight = w ? (unsigned)w : 1;
	}
	return 0;
}

int config_load(struct config *c, const char *path)
{
	char err[CONFIG_ERR_MAX];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		/* Nothing can run without it: an error, not a warning. */
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	config_init(c);
	/* getline, not fgets: the true length, so a NUL byte is seen. */
	while ((len = getline(&line, &cap, f)) >= 0) {
		if (config_feed(c, line, (size_t)len, err)) {
			log_error("%s:%u: %s", path, c->lineno, err);
			rc = -1;
			break;
		}
	}
	if (!rc && ferror(f)) {
		log_error("%s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(f);
	if (!rc && config_finish(c, err)) {
		log_error("%s: %s", path, err);
		rc = -1;
	}
	return rc;
}

/* snprintf that appends and never runs past the end of out. */
static void append(char *out, size_t outlen, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append(char *out, size_t outlen, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= outlen)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out + *used, outlen - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}

/* " rate=R" in the largest unit the rate reaches, trailing zeros of the
 * fraction dropped (1500000 -> 1.5mbit, 21000000000 -> 21gbit, 8001 ->
 * 8.001kbit): parse_rate takes it back to the same bit/s. */
/* " KEY=RATE", in the largest unit the rate reaches, so that it parses
 * back to the same figure. */
static void print_rate(char *out, size_t outlen, size_t *used, const char *key, uint64_t bps)
{
	size_t u = 0;
	int decimals = 0;

	while (bps < rate_units[u].bps)
		u++;		/* the last unit is 1 bit/s */
	for (uint64_t m = rate_units[u].bps; m > 1; m /= 10)
		decimals++;
	unsigned long long whole = bps / rate_units[u].bps, frac = bps % rate_units[u].bps;
	if (!frac) {
		append(out, outlen, used, "%s%llu%s", key, whole, rate_units[u].name);
		return;
	}
	for (; frac % 10 == 0; frac /= 10)
		decimals--;
	append(out, outlen, used, "%s%llu.%0*llu%s", key, whole, decimals, frac,
	       rate_units[u].name);
}

void config_print(const struct config *c, char *out, size_t outlen)
{
	size_t used = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < c->npaths; i++) {
		const struct config_path *p = &c->paths[i];
		int v6 = strchr(p->host, ':') != NULL;

		append(out, outlen, &used, "%s%s%s %u name=%s weight=%u",
		       v6 ? "[" : "", p->host, v6 ? "]" : "", p->port, p->name,
		       p->weight);
		if (p->bind[0])
			append(out, outlen, &used, " bind=%s", p->bind);
		if (p->sport)
			append(out, outlen, &used, " sport=%u", p->sport);
		if (p->dev[0])
			append(out, outlen, &used, " dev=%s", p->dev);
		if (p->has_mark)
			append(out, outlen, &used, " mark=%u", p->mark);
		if (p->rate_bps)
			print_rate(out, outlen, &used, " rate=", p->rate_bps);
		if (p->down_bps)
			print_rate(out, outlen, &used, " down=", p->down_bps);
		if (p->backup)
			append(out, outlen, &used, " backup");
		append(out, outlen, &used, "\n");
	}
}
