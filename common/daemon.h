/* The event loop's life as both programs run it: SIGINT/SIGTERM stop it,
 * SIGUSR1 logs the counters, SIGPIPE is ignored. */
#ifndef MP_DAEMON_H
#define MP_DAEMON_H

struct ev_loop;

typedef void (*daemon_stats_fn)(const void *ctx);

/* Runs the loop until a stop signal; then logs the counters once more. */
void daemon_run(struct ev_loop *loop, daemon_stats_fn log_stats, const void *ctx);

#endif
