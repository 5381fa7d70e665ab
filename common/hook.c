/* Runs event scripts with posix_spawn (no shell: arguments are passed as
 * they are, so a path name cannot inject a command) and reaps them from
 * the caller's timer with waitpid(WNOHANG). The programs start no other
 * children, so waiting for any child is waiting for ours. */
#include "hook.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"

extern char **environ;

void hook_init(struct hook *h, const char *script)
{
	memset(h, 0, sizeof(*h));
	h->script = script;
}

void hook_run(struct hook *h, const char *const args[])
{
	char *argv[HOOK_MAX_ARGS + 2];
	posix_spawnattr_t attr;
	sigset_t none;
	unsigned n = 0;
	pid_t pid;
	int err;

	if (!h->script)
		return;
	if (h->running >= HOOK_MAX_RUNNING) {
		if (!h->skipped++)
			log_warnx("path script %s: %u still running, event %s not run",
				  h->script, h->running, args[0]);
		return;
	}
	argv[n++] = (char *)(uintptr_t)h->script;
	for (; args[n - 1] && n <= HOOK_MAX_ARGS; n++)
		argv[n] = (char *)(uintptr_t)args[n - 1];
	argv[n] = NULL;
	/* The child starts with default signal dispositions and nothing
	 * blocked, whatever the daemon set up for itself. */
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	sigset_t all;
	sigfillset(&all);
	posix_spawnattr_setsigdefault(&attr, &all);
	err = posix_spawn(&pid, h->script, NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (err) {
		h->failed++;
		log_warnx("path script %s: %s", h->script, strerror(err));
		return;
	}
	h->running++;
	h->started++;
}

void hook_reap(struct hook *h)
{
	int status;
	pid_t pid;

	while (h->running && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
		h->running--;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			h->failed++;
			log_warnx("path script %s (pid %d) failed: %s %d", h->script,
				  (int)pid, WIFEXITED(status) ? "exit" : "signal",
				  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		}
	}
}
