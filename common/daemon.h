/* The event loop's life as both programs run it: SIGINT/SIGTERM stop it,
 * SIGUSR1 logs the counters, SIGHUP reloads, SIGPIPE is ignored; readiness
 * and reloads are told to systemd. */
#ifndef MP_DAEMON_H
#define MP_DAEMON_H

#include "cli.h"
#include "crypto.h"
#include "noise.h"

struct ev_loop;

typedef void (*daemon_stats_fn)(const void *ctx);

typedef void (*daemon_reload_fn)(void *ctx);

/* What SIGHUP does while daemon_run runs (without it, SIGHUP is logged
 * and ignored: never the default, which kills). */
void daemon_on_reload(daemon_reload_fn fn, void *ctx);

/* Runs the loop until a stop signal; then logs the counters once more. */
void daemon_run(struct ev_loop *loop, daemon_stats_fn log_stats, const void *ctx);

/* Tells the supervisor that started us (systemd's Type=notify: the
 * datagram "READY=1", "RELOADING=1", "STOPPING=1", ... to the AF_UNIX
 * socket $NOTIFY_SOCKET, abstract if it starts with '@'). Nothing without
 * $NOTIFY_SOCKET. daemon_run sends READY=1 before the loop runs and
 * STOPPING=1 on a stop signal. Returns 0, or -1 after logging why. */
int daemon_notify(const char *state);
/* Around a reload (SIGHUP): daemon_notify_reloading() before the config is
 * read again, daemon_notify("READY=1") once it is in force or refused, so
 * that `systemctl reload` returns when the reload is over. */
int daemon_notify_reloading(void);

/* --genkey: writes the key file. Returns the exit status (0 or 1). */
int daemon_genkey(const char *path);
/* --pubkey: prints the X25519 public key of the private key in path ("-":
 * standard input), base64 and a newline, on standard output, as `wg
 * pubkey`. Returns the exit status (0 or 1). */
int daemon_pubkey(const char *path);
/* --key-file: loads the key into *m. Returns 0, or -1 after logging why.
 * Without a key, says once what that means. */
int daemon_load_key(const struct cli_common *c, struct crypto_master *m,
		    const struct crypto_master **key);
/* Per-client keys: --key-file is this side's X25519 private key; its pair
 * into kp. Returns 0, or -1 after logging why. */
int daemon_load_identity(const char *path, struct noise_keypair *kp);
/* SIGHUP: reads --key-file again into *m, the running key, for the
 * sessions that agree keys from now on (a session keeps the keys it
 * agreed). On failure logs why and leaves *m as it was. Without a key
 * file, nothing (a reload cannot turn encryption on or off). */
void daemon_reload_key(const struct cli_common *c, struct crypto_master *m);
/* --user: gives up root for that user (and its group) for good, once the
 * sockets are open. Returns 0, or -1 after logging why. */
int daemon_drop_privileges(const char *user);

#endif
