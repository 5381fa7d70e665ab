/* Runs the --up/--down programs: a fork and exec with arguments, never a
 * shell, so that nothing in a device name or address is ever interpreted.
 * Runs synchronously: only at start and at exit, never on the packet path. */
#include "updown.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

static void child(const char *prog, const char *event, const char *dev,
		  const char *mtu, const char *const *addrs, unsigned naddrs)
{
	const char *argv[3 + CLI_TUN_MAX_ADDRS + 1];
	char joined[CLI_TUN_MAX_ADDRS * 48] = "";
	unsigned n = 0;

	argv[n++] = prog;
	argv[n++] = dev;
	argv[n++] = mtu;
	for (unsigned i = 0; i < naddrs && i < CLI_TUN_MAX_ADDRS; i++) {
		argv[n++] = addrs[i];
		if (i)
			strncat(joined, " ", sizeof(joined) - strlen(joined) - 1);
		strncat(joined, addrs[i], sizeof(joined) - strlen(joined) - 1);
	}
	argv[n] = NULL;
	setenv("MPRELAY_EVENT", event, 1);
	setenv("MPRELAY_DEV", dev, 1);
	setenv("MPRELAY_MTU", mtu, 1);
	setenv("MPRELAY_ADDRS", joined, 1);
	execv(prog, (char *const *)(void *)argv);
	fprintf(stderr, "--%s %s: %s\n", event, prog, strerror(errno));
	_exit(127);
}

int updown_run(const char *prog, const char *event, const char *dev, unsigned mtu,
	     const char *const *addrs, unsigned naddrs)
{
	char mtu_str[16];
	int status;
	pid_t pid;

	snprintf(mtu_str, sizeof(mtu_str), "%u", mtu);
	pid = fork();
	if (pid < 0) {
		log_warn("--%s %s: fork", event, prog);
		return -1;
	}
	if (pid == 0)
		child(prog, event, dev, mtu_str, addrs, naddrs);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			log_warn("--%s %s: waitpid", event, prog);
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("--%s %s %s %s: done", event, prog, dev, mtu_str);
		return 0;
	}
	if (WIFEXITED(status))
		log_error("--%s %s: exited with status %d", event, prog, WEXITSTATUS(status));
	else
		log_error("--%s %s: killed by signal %d", event, prog, WTERMSIG(status));
	return -1;
}
