/* Signal handling around ev_run, shared by mpclient and mpserver. */
#include "daemon.h"

#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

struct stats_hook {
	daemon_stats_fn fn;
	const void *ctx;
};

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: shutting down", w->signum);
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
	if (reload.fn)
		reload.fn(reload.ctx);
	else
		log_info("SIGHUP: nothing to reload");
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
	ev_run(loop, 0);
	ev_signal_stop(loop, &sighup);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	ev_signal_stop(loop, &sigusr1);
	log_stats(ctx);
}

int daemon_genkey(const char *path)
{
	char err[CRYPTO_ERR_MAX];

	if (crypto_key_generate(path, err)) {
		log_error("%s", err);
		return 1;
	}
	printf("wrote a new key to %s (mode 0600): copy it to the other side\n", path);
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
