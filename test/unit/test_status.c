/* Unit tests of common/status.c: a real libev loop stepped by the test and
 * real UNIX-socket clients. Documents must arrive byte for byte (small, and
 * big ones streamed through many buffers; a piece too big for a buffer cuts
 * the document short, without its final newline), the ninth simultaneous
 * client is closed at once, early leavers
 * and silent clients cost nothing lasting, and the socket file is handled:
 * stale replaced, live or foreign refused, removed on close. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "status.h"
#include "util.h"

#define DOC_MAX_BYTES (2 * 1024 * 1024)
#define WAIT_MS 5000		/* generous: the CPUs are shared */
#define ITEM_BYTES 100		/* one array element of the document */

struct doc {
	size_t items;		/* document size, in ITEM_BYTES elements */
	unsigned calls;		/* fill calls so far */
	size_t huge_at;		/* 1..items: this element is bigger than a buffer */
};

static struct ev_loop *loop;
static char dir[64], path[128];
static char want[DOC_MAX_BYTES];
static char got[DOC_MAX_BYTES];

/* Elements of exactly ITEM_BYTES bytes, each naming its index, so that a
 * lost, repeated or reordered piece shows in the comparison. One piece per
 * element; *pos is the next element's index + 1. */
static int fill(void *ctx, struct json *j, uint64_t *pos)
{
	static char huge[STATUS_CHUNK_BYTES + 1];
	struct doc *d = ctx;
	char item[ITEM_BYTES];
	struct json_mark m;

	d->calls++;
	if (*pos == 0) {
		json_piece_begin(j, &m);
		json_obj_begin(j);
		json_kv_str(j, "program", "test_status");
		json_kv_u64(j, "items", d->items);
		json_kv_arr_begin(j, "data");
		if (!json_piece_end(j, &m))
			return status_full(j);
		*pos = 1;
	}
	for (; *pos <= d->items; ++*pos) {
		size_t i = *pos - 1;

		snprintf(item, sizeof(item), "%08zu", i);
		memset(item + 8, 'a' + (int)(i % 26), sizeof(item) - 8 - 3);
		item[sizeof(item) - 3] = '\0';
		json_piece_begin(j, &m);
		if (*pos == d->huge_at) {
			memset(huge, 'h', sizeof(huge) - 1);
			json_str(j, huge);
		} else {
			json_str(j, item);	/* +2 quotes +1 comma = ITEM_BYTES */
		}
		if (!json_piece_end(j, &m))
			return status_full(j);
	}
	json_piece_begin(j, &m);
	json_arr_end(j);
	json_obj_end(j);
	return json_piece_end(j, &m) ? 1 : status_full(j);
}

/* The exact bytes a client must receive for d. */
static size_t expected(struct doc *d)
{
	struct doc copy = *d;
	struct json j;
	uint64_t pos = 0;
	ssize_t n;

	json_init(&j, want, sizeof(want) - 1);
	assert_int_equal(fill(&copy, &j, &pos), 1);
	n = json_finish(&j);
	assert_true(n > 0);
	want[n] = '\n';
	return (size_t)n + 1;
}

static void step(void)
{
	ev_run(loop, EVRUN_NOWAIT);
	usleep(200);
}

static int client(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Reads what is there now into buf at *len. 1 at end of file, -errno on
 * error, 0 if more may come. */
static int read_some(int fd, char *buf, size_t cap, size_t *len)
{
	for (;;) {
		ssize_t n = recv(fd, buf + *len, cap - *len, MSG_DONTWAIT);

		if (n > 0) {
			*len += (size_t)n;
			assert_true(*len < cap);
			continue;
		}
		if (n == 0)
			return 1;
		return errno == EAGAIN ? 0 : -errno;
	}
}

/* Steps the loop and reads until end of file; returns bytes read. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	uint64_t end = mono_ms() + WAIT_MS;
	size_t len = 0;
	int rc;

	while ((rc = read_some(fd, buf, cap, &len)) == 0) {
		assert_true(mono_ms() < end);
		step();
	}
	assert_int_equal(rc, 1);
	return len;
}

static struct status_counters counters(struct status *s)
{
	struct status_counters n;

	status_get_counters(s, &n);
	return n;
}

static void wait_active(struct status *s, unsigned active)
{
	uint64_t end = mono_ms() + WAIT_MS;

	do {
		step();
		assert_true(mono_ms() < end);
	} while (counters(s).active != active);
}

static struct status *open_ok(struct doc *d)
{
	char err[STATUS_ERR_MAX] = "";
	struct status *s = status_open(loop, path, fill, d, err);

	if (!s)
		fail_msg("status_open: %s", err);
	return s;
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/test_status.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/status.sock", dir);
	loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(loop);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	ev_loop_destroy(loop);
	return 0;
}

/* calls: how many buffers the document takes: each but the last is full
 * to within one element. */
static void serve_one(size_t items, unsigned calls)
{
	struct doc d = { .items = items };
	struct status *s = open_ok(&d);
	size_t n = expected(&d);
	int fd = client();
	size_t len = read_all(fd, got, sizeof(got));

	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	assert_int_equal(d.calls, calls);
	assert_int_equal(counters(s).served, 1);
	assert_int_equal(counters(s).aborted, 0);
	assert_int_equal(counters(s).active, 0);
	close(fd);
	status_close(s);
}

static void small_document(void **state)
{
	(void)state;
	serve_one(3, 1);
}

/* 1.5 MiB, beyond the old 1 MiB limit: streamed through 64 KiB buffers,
 * each filled when the last is out. */
static void big_document(void **state)
{
	size_t items = 1536 * 1024 / ITEM_BYTES;
	size_t per_buffer = (STATUS_CHUNK_BYTES - 2) / ITEM_BYTES;

	(void)state;
	serve_one(items, (unsigned)((items + per_buffer - 1) / per_buffer));
}

/* An element that fits no buffer: what came before it arrives, then the
 * connection ends without the final newline (not valid JSON either), and
 * it is counted as cut short, not served. */
static void piece_too_big(void **state)
{
	struct doc d = { .items = 2000, .huge_at = 1500 };
	struct doc whole = { .items = 2000 };
	struct status *s = open_ok(&d);
	size_t n = expected(&whole);
	int fd = client();
	size_t len = read_all(fd, got, sizeof(got));

	(void)state;
	assert_true(len > 0 && len < n);
	assert_memory_equal(got, want, len);
	assert_true(got[len - 1] != '\n');
	assert_int_equal(counters(s).truncated, 1);
	assert_int_equal(counters(s).served, 0);
	assert_int_equal(counters(s).aborted, 1);
	close(fd);
	status_close(s);
}

/* Documents larger than the socket buffers keep 8 clients busy while they
 * do not read; the 9th is closed without a byte, the 8 then get theirs. */
static void nine_clients(void **state)
{
	struct doc d = { .items = 900 * 1024 / ITEM_BYTES };
	struct status *s = open_ok(&d);
	size_t n = expected(&d), len[STATUS_MAX_CONNS + 1] = { 0 };
	int fd[STATUS_MAX_CONNS + 1], done = 0, rc;
	static char bufs[STATUS_MAX_CONNS][DOC_MAX_BYTES / 2];
	uint64_t end = mono_ms() + WAIT_MS;

	(void)state;
	for (int i = 0; i <= STATUS_MAX_CONNS; i++)
		fd[i] = client();
	wait_active(s, STATUS_MAX_CONNS);
	while (counters(s).refused == 0) {
		assert_true(mono_ms() < end);
		step();
	}
	assert_int_equal(counters(s).refused, 1);
	assert_int_equal(counters(s).served, 0);
	/* Clients are accepted in the order they connected. */
	assert_int_equal(read_some(fd[STATUS_MAX_CONNS], got, sizeof(got),
				   &len[STATUS_MAX_CONNS]), 1);
	assert_int_equal(len[STATUS_MAX_CONNS], 0);

	while (done < STATUS_MAX_CONNS) {
		assert_true(mono_ms() < end);
		step();
		for (int i = 0; i < STATUS_MAX_CONNS; i++) {
			if (fd[i] < 0)
				continue;
			rc = read_some(fd[i], bufs[i], sizeof(bufs[i]), &len[i]);
			assert_true(rc >= 0);
			if (rc == 1) {
				assert_int_equal(len[i], n);
				assert_memory_equal(bufs[i], want, n);
				close(fd[i]);
				fd[i] = -1;
				done++;
			}
		}
	}
	assert_int_equal(counters(s).served, STATUS_MAX_CONNS);
	assert_int_equal(counters(s).active, 0);
	close(fd[STATUS_MAX_CONNS]);
	status_close(s);
}

/* Clients that leave at once, or half way through a big document: the
 * server counts them and goes on (SIGPIPE is left fatal to prove that no
 * write raises it). */
static void early_disconnect(void **state)
{
	struct doc d = { .items = 900 * 1024 / ITEM_BYTES };
	struct status *s = open_ok(&d);
	size_t n = expected(&d), len = 0;
	int fd;

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	close(client());			/* gone before accept */
	wait_active(s, 0);
	assert_int_equal(counters(s).aborted, 1);

	fd = client();
	wait_active(s, 1);
	while (len == 0) {
		assert_true(read_some(fd, got, sizeof(got), &len) == 0);
		step();
	}
	assert_true(len < n);
	close(fd);				/* gone half way */
	wait_active(s, 0);
	assert_int_equal(counters(s).aborted, 2);
	assert_int_equal(counters(s).served, 0);

	fd = client();				/* still serving */
	assert_int_equal(read_all(fd, got, sizeof(got)), n);
	assert_memory_equal(got, want, n);
	assert_int_equal(counters(s).served, 1);
	close(fd);
	status_close(s);
}

/* What a client sends is ignored, and unread input must not turn the end
 * of the document into a connection reset. */
static void client_talks(void **state)
{
	struct doc d = { .items = 50 * 1024 / ITEM_BYTES };
	struct status *s = open_ok(&d);
	size_t n = expected(&d);
	int fd;

	(void)state;
	fd = client();
	assert_int_equal(send(fd, "status\n", 7, 0), 7);
	assert_int_equal(read_all(fd, got, sizeof(got)), n);
	assert_memory_equal(got, want, n);
	close(fd);

	fd = client();				/* like socat < /dev/null */
	assert_int_equal(send(fd, "x", 1, 0), 1);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(read_all(fd, got, sizeof(got)), n);
	assert_memory_equal(got, want, n);
	close(fd);
	assert_int_equal(counters(s).served, 2);
	assert_int_equal(counters(s).aborted, 0);
	status_close(s);
}

/* A client that never reads is dropped after STATUS_TIMEOUT_MS. */
static void silent_client_times_out(void **state)
{
	struct doc d = { .items = 900 * 1024 / ITEM_BYTES };
	struct status *s = open_ok(&d);
	uint64_t start;
	size_t len = 0;
	int fd;

	(void)state;
	fd = client();
	wait_active(s, 1);
	start = mono_ms();
	wait_active(s, 0);
	assert_true(mono_ms() - start >= STATUS_TIMEOUT_MS - 100);
	assert_int_equal(counters(s).aborted, 1);
	/* What the socket buffer held, then a clean end: not the whole. */
	len = read_all(fd, got, sizeof(got));
	assert_true(len > 0);
	assert_true(len < expected(&d));
	close(fd);
	status_close(s);
}

static void socket_file(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char err[STATUS_ERR_MAX], longpath[200];
	struct doc d = { .items = 1 };
	struct status *s, *s2;
	struct stat st;
	int fd;

	(void)state;
	/* Mode 0660; removed on close. */
	s = open_ok(&d);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	/* A second instance on the same path is refused, the first serves on. */
	s2 = status_open(loop, path, fill, &d, err);
	assert_null(s2);
	assert_non_null(strstr(err, "another process is listening"));
	fd = client();
	assert_true(read_all(fd, got, sizeof(got)) > 10);
	close(fd);
	status_close(s);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* A stale socket (its owner died without unlinking) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(lstat(path, &st), 0);
	s = open_ok(&d);
	fd = client();
	assert_true(read_all(fd, got, sizeof(got)) > 10);
	close(fd);
	/* Replaced under us: close leaves the newcomer's file alone. */
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	status_close(s);

	/* Not a socket: refused, untouched. */
	s = status_open(loop, path, fill, &d, err);
	assert_null(s);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_size, 4);
	unlink(path);

	/* Too long for sun_path: said so. */
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(status_open(loop, longpath, fill, &d, err));
	assert_non_null(strstr(err, "at most 107"));
	assert_null(status_open(loop, "", fill, &d, err));
	assert_non_null(strstr(err, "empty"));
	status_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(small_document, setup, teardown),
		cmocka_unit_test_setup_teardown(big_document, setup, teardown),
		cmocka_unit_test_setup_teardown(piece_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(nine_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(early_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(client_talks, setup, teardown),
		cmocka_unit_test_setup_teardown(silent_client_times_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(socket_file, setup, teardown),
	};

	log_init("test_status", LOG_QUIET);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
