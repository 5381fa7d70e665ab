/* Logging to stderr in families, after OpenBSD's daemons: log_warn adds the
 * errno text, log_warnx does not; fatal/fatalx exit and are only used before
 * the event loop runs. Nothing on the packet path logs per packet; what a
 * packet can make happen goes through log_net, which is rate-limited. */
#ifndef MP_LOG_H
#define MP_LOG_H

enum log_level { LOG_QUIET = 0, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For lines that a packet from the network can cause (a session made, a
 * path heard or moved, a peer restart): at most LOG_NET_PER_S a second,
 * LOG_NET_BURST at once; how many were held back is said with the next
 * line that goes out. */
void log_net(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
