/* Names and formatting of the drop counters. */
#include "stats.h"

#include <stdio.h>

const char *stats_drop_name(int reason)
{
	static const char *const names[DROP_MAX] = {
		[DROP_UNKNOWN_SESSION] = "unknown_session",
		[DROP_DUP] = "duplicate",
		[DROP_OLD] = "too_old",
		[DROP_STALE_EPOCH] = "stale_epoch",
		[DROP_OVERSIZE] = "oversize",
		[DROP_SESSION_LIMIT] = "session_limit",
		[DROP_SEND_FAIL] = "send_fail",
		[DROP_BAD_TAG] = "bad_tag",
		[DROP_BAD_HANDSHAKE] = "bad_handshake",
		[DROP_KEYS_WAIT] = "keys_wait",
		[DROP_RATE_LIMITED] = "rate_limited",
		[DROP_BAD_PROBE] = "bad_probe",
		[DROP_PACED] = "paced",
	};

	return reason < WIRE_ERR_MAX ? wire_err_name((enum wire_err)reason)
				     : names[reason];
}

size_t stats_format_drops(const struct drops *d, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (int r = 1; r < DROP_MAX && used < len; r++) {
		int n = snprintf(buf + used, len - used, " drop_%s=%llu",
				 stats_drop_name(r), (unsigned long long)d->n[r]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return used < len ? used : len - 1;
}
