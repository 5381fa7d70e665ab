/* The metrics server's request parser (http.h, http_parse): pure, so the
 * fuzzer takes it alone. It decides as early as it can: a request line
 * that is wrong is refused before the headers arrive, a byte that can never
 * be valid (NUL, a lone CR or LF) at once, and nothing after the empty line
 * is looked at, so the verdict on a prefix that is final stays final. */
#include "http.h"

#include <string.h>

#define METHOD_MAX_BYTES 16

/* RFC 9110 5.6.2 token characters. */
static int tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value's bytes: visible ASCII, space, tab, and obs-text. */
static int vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The end of the line starting at p (the CR of its CRLF), or NULL if a
 * CR or LF stands alone or the line does not end before end. */
static const char *line_end(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p == '\r')
			return p + 1 < end && p[1] == '\n' ? p : NULL;
		if (*p == '\n')
			return NULL;
	}
	return NULL;
}

/* The request line: METHOD SP TARGET SP VERSION. */
static enum http_verdict request_line(const char *p, const char *eol)
{
	static const char metrics[] = "/metrics";
	const char *m = p, *t, *v, *q;
	size_t tlen, plen;

	while (p < eol && tchar((unsigned char)*p))
		p++;
	if (p == m || p - m > METHOD_MAX_BYTES || p == eol || *p != ' ')
		return HTTP_BAD_REQUEST;
	t = ++p;
	while (p < eol && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == t || *t != '/' || p == eol || *p != ' ')
		return HTTP_BAD_REQUEST;
	tlen = (size_t)(p - t);
	v = ++p;
	if (eol - v != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' ||
	    v[6] != '.' || v[7] < '0' || v[7] > '9')
		return HTTP_BAD_REQUEST;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return HTTP_BAD_VERSION;
	if (t - 1 - m != 3 || memcmp(m, "GET", 3))
		return HTTP_BAD_METHOD;
	/* A query string is allowed and ignored. */
	q = memchr(t, '?', tlen);
	plen = q ? (size_t)(q - t) : tlen;
	if (plen != sizeof(metrics) - 1 || memcmp(t, metrics, plen))
		return HTTP_NOT_FOUND;
	return HTTP_OK;
}

static int header_line(const char *p, const char *eol)
{
	const char *name = p;

	while (p < eol && tchar((unsigned char)*p))
		p++;
	if (p == name || p == eol || *p != ':')
		return -1;
	for (p++; p < eol; p++)
		if (!vchar((unsigned char)*p))
			return -1;
	return 0;
}

enum http_verdict http_parse(const char *buf, size_t len)
{
	const char *end = buf + len, *p = buf, *eol;
	enum http_verdict v;

	if (len > HTTP_REQUEST_MAX_BYTES)
		return HTTP_TOO_LARGE;
	eol = line_end(p, end);
	if (!eol)
		goto incomplete;
	v = request_line(p, eol);
	if (v == HTTP_BAD_REQUEST || v == HTTP_BAD_VERSION)
		return v;	/* known bad: no need to wait for the rest */
	for (p = eol + 2; ; p = eol + 2) {
		eol = line_end(p, end);
		if (!eol)
			goto incomplete;
		if (eol == p)
			return v;	/* the empty line: complete */
		if (header_line(p, eol) < 0)
			return HTTP_BAD_REQUEST;
	}
incomplete:
	/* A lone CR or LF, or a NUL anywhere, can never become valid. */
	for (const char *q = p; q < end; q++)
		if (!*q || (*q == '\n' && (q == buf || q[-1] != '\r')) ||
		    (*q == '\r' && q + 1 < end && q[1] != '\n'))
			return HTTP_BAD_REQUEST;
	return len >= HTTP_REQUEST_MAX_BYTES ? HTTP_TOO_LARGE : HTTP_MORE;
}
