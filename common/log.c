/* Human-readable stderr logging with a level: "mpserver[123] warn: ...".
 * Owns formatting, the level filter, and the one limit on lines that the
 * network can cause (log_net). */
#include "tunables.h"
#include "log.h"
#include "ratelimit.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "mprelay";
static enum log_level log_level_now = LOG_INFO;

void log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level_now = level;
}

void log_set_level(enum log_level level) { log_level_now = level; }
enum log_level log_get_level(void) { return log_level_now; }

static void emit(enum log_level level, const char *tag, int errnum,
		 const char *fmt, va_list ap)
{
	char msg[1024];
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	if (level > log_level_now)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (errnum)
		fprintf(stderr, "%s.%03ld %s[%d] %s: %s: %s\n", stamp,
			ts.tv_nsec / 1000000, log_prog, (int)getpid(), tag, msg,
			strerror(errnum));
	else
		fprintf(stderr, "%s.%03ld %s[%d] %s: %s\n", stamp,
			ts.tv_nsec / 1000000, log_prog, (int)getpid(), tag, msg);
}

#define LOG_BODY(level, tag, errnum)          \
	do {                                  \
		va_list ap;                   \
		va_start(ap, fmt);            \
		emit(level, tag, errnum, fmt, ap); \
		va_end(ap);                   \
	} while (0)

void log_warn(const char *fmt, ...) { int e = errno; LOG_BODY(LOG_WARN, "warn", e); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_WARN, "warn", 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_INFO, "info", 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_DEBUG, "debug", 0); }
void log_error(const char *fmt, ...) { LOG_BODY(LOG_ERROR, "error", 0); }

void log_net(enum log_level level, const char *fmt, ...)
{
	static struct ratelimit limit;
	static uint64_t held;
	uint64_t now_ms = mono_ms();

	if (level > log_level_now)
		return;
	if (!limit.per_s)
		ratelimit_init(&limit, LOG_NET_PER_S, LOG_NET_BURST, now_ms);
	if (!ratelimit_allow(&limit, now_ms)) {
		held++;
		return;
	}
	if (held) {
		log_warnx("%llu log lines caused by packets were held back (more than "
			  "%d a second)", (unsigned long long)held, LOG_NET_PER_S);
		held = 0;
	}
	LOG_BODY(level, level <= LOG_WARN ? "warn" : level == LOG_INFO ? "info" : "debug", 0);
}

void fatal(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_ERROR, "fatal", e);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_ERROR, "fatal", 0);
	exit(1);
}

int errorf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}
