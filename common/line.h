/* One line of a settings file (config.c's bridge list, optfile.c's
 * options), split into tokens the same way for both: the line is bounded,
 * may not hold a NUL byte, '#' starts a comment, and tokens are separated
 * by spaces, tabs or CRs. What the tokens mean is the caller's. */
#ifndef MP_LINE_H
#define MP_LINE_H

#include <stddef.h>

/* line_split's result when the line has more than max tokens: the caller
 * names what there are too many of. */
#define LINE_TOO_MANY (-2)

/* Copies line[0..len) (a trailing newline dropped) into buf[cap] and splits
 * it there into tok[0..max). Returns the number of tokens (0: a blank or
 * comment line), LINE_TOO_MANY, or -1 with the reason in err[errlen] (a
 * line longer than cap - 1 bytes, or a NUL byte). */
int line_split(const char *line, size_t len, char *buf, size_t cap, char *tok[],
	       int max, char *err, size_t errlen);

#endif
