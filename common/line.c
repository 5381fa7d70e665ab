/* Splitting a settings line into tokens (see line.h). Pure: no I/O, no
 * allocation, so both parsers stay fuzzable line by line. */
#include "line.h"

#include <string.h>

#include "util.h"

int line_split(const char *line, size_t len, char *buf, size_t cap, char *tok[],
	       int max, char *err, size_t errlen)
{
	char *hash, *save = NULL;
	int n = 0;

	if (len && line[len - 1] == '\n')
		len--;
	if (len >= cap)
		return errorf(err, errlen, "line longer than %zu bytes", cap - 1);
	if (memchr(line, '\0', len))
		return errorf(err, errlen, "NUL byte in line");
	memcpy(buf, line, len);
	buf[len] = '\0';
	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	for (char *t = strtok_r(buf, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (n == max)
			return LINE_TOO_MANY;
		tok[n++] = t;
	}
	return n;
}
