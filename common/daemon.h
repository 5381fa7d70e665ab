/* The event loop's life as both programs run it: SIGINT/SIGTERM stop it,
 * SIGUSR1 logs the counters, SIGHUP reloads, SIGPIPE is ignored. */
#ifndef MP_DAEMON_H
#define MP_DAEMON_H

#include "cli.h"
#include "crypto.h"

struct ev_loop;

typedef void (*daemon_stats_fn)(const void *ctx);

typedef void (*daemon_reload_fn)(void *ctx);

/* What SIGHUP does while daemon_run runs (without it, SIGHUP is logged
 * and ignored: never the default, which kills). */
void daemon_on_reload(daemon_reload_fn fn, void *ctx);

/* Runs the loop until a stop signal; then logs the counters once more. */
void daemon_run(struct ev_loop *loop, daemon_stats_fn log_stats, const void *ctx);

/* --genkey: writes the key file. Returns the exit status (0 or 1). */
int daemon_genkey(const char *path);
/* --key-file: loads the key into *m. Returns 0, or -1 after logging why.
 * Without a key, says once what that means. */
int daemon_load_key(const struct cli_common *c, struct crypto_master *m,
		    const struct crypto_master **key);
/* SIGHUP: reads --key-file again into *m, the running key, for the
 * sessions that agree keys from now on (a session keeps the keys it
 * agreed). On failure logs why and leaves *m as it was. Without a key
 * file, nothing (a reload cannot turn encryption on or off). */
void daemon_reload_key(const struct cli_common *c, struct crypto_master *m);
/* --user: gives up root for that user (and its group) for good, once the
 * sockets are open. Returns 0, or -1 after logging why. */
int daemon_drop_privileges(const char *user);

#endif
