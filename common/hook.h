/* Event scripts (--path-script): FILE runs with the event and its details
 * as arguments, in its own process, never waited for on the packet path.
 * At most HOOK_MAX_RUNNING run at once; an event beyond that is counted and
 * logged, not queued (a script that hangs must not pile up processes). */
#ifndef MP_HOOK_H
#define MP_HOOK_H

#include <stdint.h>

#include "tunables.h"

struct hook {
	const char *script;		/* NULL = none */
	unsigned running;
	uint64_t started, failed, skipped;
};

void hook_init(struct hook *h, const char *script);
/* Runs script with args (NULL-terminated, at most HOOK_MAX_ARGS). */
void hook_run(struct hook *h, const char *const args[]);
/* Reaps scripts that have finished; call from a periodic timer. */
void hook_reap(struct hook *h);

#endif
