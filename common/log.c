/* Human-readable stderr logging with a level: "mpserver[123] warn: ...".
 * Owns formatting, the level filter, and the one limit on lines that the
 * network can cause (log_net). Under systemd, when stderr is the journal's
 * stream, each line starts with its syslog priority ("<3>" error, "<4>"
 * warning, "<6>" info, "<7>" debug: sd-daemon(3)), which journald strips
 * and keeps, so that `journalctl -p err` finds the errors. */
#include "tunables.h"
#include "log.h"
#include "ratelimit.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "mprelay";
static enum log_level log_level_now = LOG_INFO;
static int log_journal;		/* stderr is the journal: <N> prefixes */

/* systemd sets JOURNAL_STREAM=DEVICE:INODE when it connects stderr to the
 * journal; a process that inherited the variable but writes elsewhere
 * (a shell redirect, a pipe) must not prefix, so stderr is compared with
 * it, as systemd.exec(5) advises. */
static int stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char extra;

	if (!v || sscanf(v, "%llu:%llu%c", &dev, &ino, &extra) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level_now = level;
	log_journal = stderr_is_journal();
}

/* The syslog priority of a level (<syslog.h>'s LOG_ERR .. LOG_DEBUG,
 * whose names clash with ours). */
static int priority(enum log_level level)
{
	switch (level) {
	case LOG_ERROR: return 3;
	case LOG_WARN: return 4;
	case LOG_INFO: return 6;
	default: return 7;
	}
}

void log_set_level(enum log_level level) { log_level_now = level; }
enum log_level log_get_level(void) { return log_level_now; }

static void emit(enum log_level level, const char *tag, int errnum,
		 const char *fmt, va_list ap)
{
	char msg[1024];
	char stamp[32], prio[8] = "";
	struct timespec ts;
	struct tm tm;

	if (level > log_level_now)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (log_journal)
		snprintf(prio, sizeof(prio), "<%d>", priority(level));
	if (errnum)
		fprintf(stderr, "%s%s.%03ld %s[%d] %s: %s: %s\n", prio, stamp,
			ts.tv_nsec / 1000000, log_prog, (int)getpid(), tag, msg,
			strerror(errnum));
	else
		fprintf(stderr, "%s%s.%03ld %s[%d] %s: %s\n", prio, stamp,
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
