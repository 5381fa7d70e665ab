/* The client lines of mpserver's config, parsed strictly. What a line
 * means at run time (sessions, handshakes, routes) is mpserver's
 * (mpserver/clients.c); this file only builds and checks the table. */
#include "peers.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto.h"
#include "util.h"

#define fail(err, ...) errorf(err, PEERS_ERR_MAX, __VA_ARGS__)

void peers_init(struct peers *ps)
{
	ps->n = 0;
}

static int is_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PEER_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* 1 if the first bits of a and b are equal. */
static int same_bits(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes))
		return 0;
	return !rest || !((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rest)));
}

static int host_bits_zero(const struct ip_prefix *p)
{
	unsigned max = p->addr.family == 4 ? 32 : 128;

	for (unsigned bit = p->len; bit < max; bit++)
		if (p->addr.a[bit / 8] & (0x80 >> (bit % 8)))
			return 0;
	return 1;
}

static int overlap(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->addr.family == b->addr.family &&
	       same_bits(a->addr.a, b->addr.a, a->len < b->len ? a->len : b->len);
}

int peer_allows_prefix(const struct ip_prefix *pf, const struct ip_addr *a)
{
	return pf->addr.family == a->family && same_bits(pf->addr.a, a->a, pf->len);
}

int peer_allows(const struct peer *p, const struct ip_addr *a)
{
	for (unsigned i = 0; i < p->nallowed; i++)
		if (peer_allows_prefix(&p->allowed[i], a))
			return 1;
	return 0;
}

long peers_route(const struct peers *ps, const struct ip_addr *a)
{
	long best = -1;
	unsigned best_len = 0;

	for (unsigned i = 0; i < ps->n; i++)
		for (unsigned j = 0; j < ps->p[i].nallowed; j++) {
			const struct ip_prefix *pf = &ps->p[i].allowed[j];

			if (pf->addr.family == a->family && same_bits(pf->addr.a, a->a, pf->len) &&
			    (best < 0 || pf->len > best_len)) {
				best = (long)i;
				best_len = pf->len;
			}
		}
	return best;
}

/* allowed-ips=CIDR[,CIDR...] into p. */
static int parse_allowed(struct peer *p, const char *list, char *err)
{
	char buf[PEER_ALLOWED_MAX * 44 + 1], text[48], was[48];
	char *save = NULL;
	size_t n = strlen(list);

	if (n == 0 || n >= sizeof(buf))
		return fail(err, "allowed-ips: expected CIDR[,CIDR...] (at most %d)",
			    PEER_ALLOWED_MAX);
	if (list[0] == ',' || list[n - 1] == ',' || strstr(list, ",,"))
		return fail(err, "allowed-ips: an empty prefix in '%s'", list);
	memcpy(buf, list, n + 1);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct ip_prefix pf;

		if (p->nallowed == PEER_ALLOWED_MAX)
			return fail(err, "allowed-ips: more than %d prefixes", PEER_ALLOWED_MAX);
		if (ip_parse_prefix(tok, &pf))
			return fail(err, "allowed-ips: '%.60s' is not an address/prefix", tok);
		if (!host_bits_zero(&pf))
			return fail(err, "allowed-ips: '%.60s' has address bits set past /%u",
				    tok, pf.len);
		for (unsigned i = 0; i < p->nallowed; i++)
			if (overlap(&p->allowed[i], &pf))
				return fail(err, "allowed-ips: %s/%u overlaps %s/%u",
					    ip_ntop(&pf.addr, text), pf.len,
					    ip_ntop(&p->allowed[i].addr, was), p->allowed[i].len);
		p->allowed[p->nallowed++] = pf;
	}
	return 0;
}

static int parse_option(struct peer *p, const char *opt, int *seen_ips, int *seen_psk,
			char *err)
{
	if (!strncmp(opt, "allowed-ips=", 12)) {
		if ((*seen_ips)++)
			return fail(err, "allowed-ips given twice");
		return parse_allowed(p, opt + 12, err);
	}
	if (!strncmp(opt, "psk-file=", 9)) {
		size_t n = strlen(opt + 9);

		if ((*seen_psk)++)
			return fail(err, "psk-file given twice");
		if (n == 0 || n > PEER_PATH_MAX)
			return fail(err, "psk-file: expected a path of 1..%d bytes", PEER_PATH_MAX);
		memcpy(p->psk_file, opt + 9, n + 1);
		return 0;
	}
	return fail(err, "unknown client option '%.40s' (allowed-ips=, psk-file=)", opt);
}

/* What only the whole table can tell: repeated names and keys, prefixes
 * that two clients claim. */
static int check_against(const struct peers *ps, const struct peer *p, char *err)
{
	char a[48], b[48];

	for (unsigned i = 0; i < ps->n; i++) {
		const struct peer *q = &ps->p[i];

		if (!strcmp(q->name, p->name))
			return fail(err, "client '%s' already defined on line %u", p->name, q->line);
		if (noise_key_equal(q->pub, p->pub))
			return fail(err, "this key is client '%s''s already (line %u)", q->name,
				    q->line);
		for (unsigned j = 0; j < p->nallowed; j++)
			for (unsigned k = 0; k < q->nallowed; k++)
				if (overlap(&p->allowed[j], &q->allowed[k]))
					return fail(err, "allowed-ips %s/%u overlaps %s/%u of "
						    "client '%s' (line %u)",
						    ip_ntop(&p->allowed[j].addr, a),
						    p->allowed[j].len,
						    ip_ntop(&q->allowed[k].addr, b),
						    q->allowed[k].len, q->name, q->line);
	}
	return 0;
}

int peers_add(struct peers *ps, const char *const *arg, unsigned nargs, unsigned line,
	      char err[static PEERS_ERR_MAX])
{
	char why[CRYPTO_ERR_MAX];
	struct peer *p;
	int seen_ips = 0, seen_psk = 0;

	if (nargs < PEER_ARGS_MIN || nargs > PEER_ARGS_MAX)
		return fail(err, "client: expected NAME PUBKEY [allowed-ips=CIDR,...] "
			    "[psk-file=FILE]");
	if (ps->n == PEERS_MAX)
		return fail(err, "more than %d clients", PEERS_MAX);
	p = &ps->p[ps->n];
	memset(p, 0, sizeof(*p));
	p->line = line;
	if (!is_name(arg[0]))
		return fail(err, "client: a name is 1..%d of [A-Za-z0-9._-], got '%.40s'",
			    PEER_NAME_MAX, arg[0]);
	strcpy(p->name, arg[0]);
	if (noise_pubkey_parse(arg[1], strlen(arg[1]), p->pub, why, sizeof(why)))
		return fail(err, "client '%s': %s", p->name, why);
	for (unsigned i = 2; i < nargs; i++)
		if (parse_option(p, arg[i], &seen_ips, &seen_psk, err))
			return -1;
	if (check_against(ps, p, err))
		return -1;
	ps->n++;
	return 0;
}

int peers_load_psks(struct peers *ps, char err[static PEERS_ERR_MAX])
{
	char why[CRYPTO_ERR_MAX];

	for (unsigned i = 0; i < ps->n; i++) {
		struct peer *p = &ps->p[i];

		if (p->psk_file[0] && crypto_key_load(p->psk_file, p->psk, why))
			return fail(err, "client '%s' (line %u): %s", p->name, p->line, why);
	}
	return 0;
}

void peers_print(const struct peers *ps, char *out, size_t outlen)
{
	size_t used = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < ps->n && used < outlen; i++) {
		const struct peer *p = &ps->p[i];
		char key[NOISE_PUBKEY_B64_LEN + 1], a[48];
		int k;

		noise_pubkey_format(p->pub, key);
		k = snprintf(out + used, outlen - used, "client %s %s", p->name, key);
		for (unsigned j = 0; j < p->nallowed && k >= 0 && used + (size_t)k < outlen; j++)
			k += snprintf(out + used + k, outlen - used - (size_t)k, "%s%s/%u",
				      j ? "," : " allowed-ips=", ip_ntop(&p->allowed[j].addr, a),
				      p->allowed[j].len);
		if (k >= 0 && used + (size_t)k < outlen)
			k += snprintf(out + used + k, outlen - used - (size_t)k, "%s%s\n",
				      p->psk_file[0] ? " psk-file=" : "", p->psk_file);
		if (k < 0)
			break;
		used += (size_t)k;
	}
}

void peers_wipe(struct peers *ps)
{
	for (unsigned i = 0; i < ps->n; i++)
		OPENSSL_cleanse(ps->p[i].psk, sizeof(ps->p[i].psk));
}
