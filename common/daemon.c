/* Signal handling around ev_run, shared by mpclient and mpserver, and what
 * a daemon tells its supervisor: systemd's readiness protocol, spoken
 * directly (one datagram), so that no libsystemd is needed. */
#include "daemon.h"

#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "noise.h"

struct stats_hook {
	daemon_stats_fn fn;
	const void *ctx;
};

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: shutting down", w->signum);
	daemon_notify("STOPPING=1");
	ev_break(loop, EVBREAK_ALL);
}

static struct {
	daemon_reload_fn fn;
	void *ctx;
} reload;

void daemon_on_reload(daemon_reload_fn fn, void *ctx)
{
	reload.fn = fn;
	reload.ctx = ctx;
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (!reload.fn) {
		log_info("SIGHUP: nothing to reload");
		return;
	}
	/* systemctl reload returns once READY=1 follows RELOADING=1: whether
	 * the new config was taken or refused (the old one runs on), the
	 * program is ready again. */
	daemon_notify_reloading();
	reload.fn(reload.ctx);
	daemon_notify("READY=1");
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	const struct stats_hook *hook = w->data;

	(void)loop;
	(void)revents;
	hook->fn(hook->ctx);
}

void daemon_run(struct ev_loop *loop, daemon_stats_fn log_stats, const void *ctx)
{
	struct stats_hook hook = { log_stats, ctx };
	ev_signal sigint, sigterm, sigusr1, sighup;

	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&sigint, on_stop, SIGINT);
	ev_signal_init(&sigterm, on_stop, SIGTERM);
	ev_signal_init(&sigusr1, on_usr1, SIGUSR1);
	sigusr1.data = &hook;
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigusr1);
	ev_signal_init(&sighup, on_hup, SIGHUP);
	ev_signal_start(loop, &sighup);
	/* Every socket is open and the loop about to run: what the supervisor
	 * starts next (the application) finds us listening. */
	daemon_notify("READY=1");
	ev_run(loop, 0);
	ev_signal_stop(loop, &sighup);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	ev_signal_stop(loop, &sigusr1);
	log_stats(ctx);
}

int daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	ssize_t n;
	int fd;

	if (!path || !*path)
		return 0;
	len = (socklen_t)strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun.sun_path)) {
		log_warnx("NOTIFY_SOCKET=%s: not a socket path or abstract name", path);
		return -1;
	}
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract: the name is exactly len bytes */
	else
		len++;			/* a path counts its NUL */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("NOTIFY_SOCKET: socket");
		return -1;
	}
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)offsetof(struct sockaddr_un, sun_path) + len);
	if (n < 0)
		log_warn("NOTIFY_SOCKET %s: cannot send %s", path, state);
	close(fd);
	return n < 0 ? -1 : 0;
}

int daemon_notify_reloading(void)
{
	char state[64];
	struct timespec ts;

	/* systemd >= 253 wants the time of the reload with it, to tell this
	 * reload from a later one; older ones ignore the field. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	return daemon_notify(state);
}

int daemon_genkey(const char *path)
{
	char err[CRYPTO_ERR_MAX];

	if (crypto_key_generate(path, err)) {
		log_error("%s", err);
		return 1;
	}
	if (!strcmp(path, "-"))		/* stdout holds the key and nothing else */
		return 0;
	printf("wrote a new key to %s (mode 0600): copy it to the other side\n", path);
	return 0;
}

int daemon_pubkey(const char *path)
{
	uint8_t priv[CRYPTO_KEY_LEN];
	char err[CRYPTO_ERR_MAX], text[NOISE_PUBKEY_B64_LEN + 1];
	struct noise_keypair kp;
	int rc;

	/* The same strict text as --key-file, from a file only its owner
	 * reads, or from a pipe. */
	rc = !strcmp(path, "-") ? crypto_key_read(STDIN_FILENO, "the key on standard input",
						  priv, err)
				: crypto_key_load(path, priv, err);
	if (rc) {
		log_error("%s", err);
		return 1;
	}
	rc = noise_keypair_from_private(&kp, priv);
	OPENSSL_cleanse(priv, sizeof(priv));
	if (rc) {
		log_error("cannot compute the public key of %s",
			  strcmp(path, "-") ? path : "standard input");
		return 1;
	}
	noise_pubkey_format(kp.pub, text);
	noise_keypair_wipe(&kp);
	if (printf("%s\n", text) < 0 || fflush(stdout)) {
		log_error("cannot write the public key: %s", strerror(errno));
		return 1;
	}
	return 0;
}

int daemon_load_key(const struct cli_common *c, struct crypto_master *m,
		    const struct crypto_master **key)
{
	uint8_t raw[CRYPTO_KEY_LEN];
	char err[CRYPTO_ERR_MAX];
	int rc;

	*key = NULL;
	if (!c->key_file) {
		log_warnx("no --key-file: packets are checked for damage but not "
			  "authenticated or encrypted; anyone who can reach the "
			  "relay can use it");
		return 0;
	}
	if (crypto_key_load(c->key_file, raw, err)) {
		log_error("%s", err);
		return -1;
	}
	rc = crypto_master_init(m, raw);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (rc) {
		log_error("cannot derive keys from %s", c->key_file);
		return -1;
	}
	*key = m;
	return 0;
}

int daemon_load_identity(const char *path, struct noise_keypair *kp)
{
	uint8_t priv[CRYPTO_KEY_LEN];
	char err[CRYPTO_ERR_MAX];
	int rc;

	if (crypto_key_load(path, priv, err)) {
		log_error("%s", err);
		return -1;
	}
	rc = noise_keypair_from_private(kp, priv);
	OPENSSL_cleanse(priv, sizeof(priv));
	if (rc)
		log_error("cannot compute the key pair of %s", path);
	return rc ? -1 : 0;
}

void daemon_reload_key(const struct cli_common *c, struct crypto_master *m)
{
	uint8_t raw[CRYPTO_KEY_LEN];
	char err[CRYPTO_ERR_MAX];
	struct crypto_master next;

	if (!c->key_file)
		return;
	if (crypto_key_load(c->key_file, raw, err)) {
		log_error("%s; the running key stays", err);
		return;
	}
	int rc = crypto_master_init(&next, raw);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (rc) {
		log_error("cannot derive keys from %s; the running key stays", c->key_file);
		return;
	}
	if (memcmp(&next, m, sizeof(next))) {
		*m = next;
		log_info("%s: a new key, for the sessions that agree keys from now on",
			 c->key_file);
	}
	crypto_master_wipe(&next);
}

int daemon_drop_privileges(const char *user)
{
	struct passwd *pw;

	if (!user)
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		log_error("--user %s: no such user", user);
		return -1;
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_warn("--user %s: cannot switch to uid %u", user, (unsigned)pw->pw_uid);
		return -1;
	}
	/* For good: getting root back must be impossible. */
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_error("--user %s: could regain root; refusing to run", user);
		return -1;
	}
	log_info("running as %s (uid %u, gid %u)", user, (unsigned)pw->pw_uid,
		 (unsigned)pw->pw_gid);
	return 0;
}
