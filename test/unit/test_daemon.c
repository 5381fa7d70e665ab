/* daemon_notify: systemd's readiness datagrams, to a socket path or an
 * abstract name in $NOTIFY_SOCKET, exactly as sent; nothing without it,
 * and a refusal, not a crash, for a name that cannot be a socket. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/* A datagram socket bound to name ('@' = abstract), receiving without
 * waiting. */
static int listener(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_true(len < sizeof(sun.sun_path));
	memcpy(sun.sun_path, name, len);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sun,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
	return fd;
}

static ssize_t take(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void test_notify_path_and_abstract(void **state)
{
	char path[64], name[64], buf[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mprelay_test_notify_%d", (int)getpid());
	unlink(path);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(daemon_notify("READY=1"), 0);
	assert_int_equal(take(fd, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "READY=1");
	close(fd);
	unlink(path);

	snprintf(name, sizeof(name), "@mprelay_test_notify_%d", (int)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(daemon_notify("STOPPING=1"), 0);
	assert_int_equal(take(fd, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "STOPPING=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_notify_reloading_carries_the_time(void **state)
{
	char name[64], buf[256];
	unsigned long long usec;
	struct timespec ts;
	uint64_t before, after;
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@mprelay_test_reload_%d", (int)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	assert_int_equal(daemon_notify_reloading(), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	after = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	assert_true(take(fd, buf, sizeof(buf)) > 0);
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
	assert_true(usec >= before && usec <= after);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_notify_without_or_with_a_bad_socket(void **state)
{
	char longname[200];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(daemon_notify("READY=1"), 0);	/* not under systemd */
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(daemon_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/name", 1);
	assert_int_equal(daemon_notify("READY=1"), -1);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);		/* longer than sun_path */
	assert_int_equal(daemon_notify("READY=1"), -1);
	setenv("NOTIFY_SOCKET", "/nonexistent/mprelay/notify", 1);
	assert_int_equal(daemon_notify("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_path_and_abstract),
		cmocka_unit_test(test_notify_reloading_carries_the_time),
		cmocka_unit_test(test_notify_without_or_with_a_bad_socket),
	};

	log_init("test_daemon", LOG_QUIET);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
