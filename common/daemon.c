/* Signal handling around ev_run, shared by mpclient and mpserver. */
#include "daemon.h"

#include <ev.h>
#include <signal.h>

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
	ev_signal sigint, sigterm, sigusr1;

	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&sigint, on_stop, SIGINT);
	ev_signal_init(&sigterm, on_stop, SIGTERM);
	ev_signal_init(&sigusr1, on_usr1, SIGUSR1);
	sigusr1.data = &hook;
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigusr1);
	ev_run(loop, 0);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	ev_signal_stop(loop, &sigusr1);
	log_stats(ctx);
}
