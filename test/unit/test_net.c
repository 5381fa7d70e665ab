/* Unit tests of common/net.c's send list on real loopback sockets: every
 * datagram arrives whole, once, in order, with its path byte, whether it
 * went out merged into a UDP GSO send or alone; and a socket that refuses
 * GSO still gets everything through, one datagram at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

enum { DATA_BYTES = 70000 };

static uint8_t data[NET_SENDLIST_MAX][2000];
static struct sendlist list;		/* large: not on the stack */

struct pair {
	int tx, rx;
	struct mp_addr rx_addr;
};

static struct pair pair_open(int connect_tx)
{
	struct mp_addr a = { .len = sizeof(a.u.in) };
	struct pair p;
	socklen_t len = sizeof(a.u.in);

	a.u.in.sin_family = AF_INET;
	a.u.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p.rx = net_udp_bind(&a);
	assert_true(p.rx >= 0);
	assert_int_equal(getsockname(p.rx, &a.u.sa, &len), 0);
	p.rx_addr = a;
	p.tx = net_udp_socket(AF_INET);
	assert_true(p.tx >= 0);
	if (connect_tx)
		assert_int_equal(connect(p.tx, &a.u.sa, a.len), 0);
	return p;
}

static void pair_close(struct pair *p)
{
	close(p->tx);
	close(p->rx);
}

/* Datagram i is (path byte) + len_i bytes of i*31+j. */
static void fill(unsigned i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		data[i][j] = (uint8_t)(i * 31 + j);
}

/* Receives exactly n datagrams and checks each against what was queued. */
static void expect(int fd, unsigned n, const size_t *lens, const int *paths)
{
	static uint8_t buf[DATA_BYTES];

	for (unsigned i = 0; i < n; i++) {
		ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t off = paths[i] == SENDLIST_NO_PATH ? 0 : 1;
		if (got < 0)
			fail_msg("datagram %u of %u missing: %s", i, n, strerror(errno));
		assert_int_equal((size_t)got, off + lens[i]);
		if (off)
			assert_int_equal(buf[0], paths[i]);
		assert_memory_equal(buf + off, data[i], lens[i]);
	}
	/* and nothing more */
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
}

static void queue(struct pair *p, unsigned n, const size_t *lens, const int *paths,
		  int connected)
{
	for (unsigned i = 0; i < n; i++) {
		fill(i, lens[i]);
		sendlist_add(&list, connected ? NULL : &p->rx_addr, paths[i], data[i], lens[i], NULL);
	}
}

/* Runs of equal lengths, a run longer than a GSO send may hold, lengths
 * that change mid-way, a last shorter datagram, path bytes and none. */
static void test_sendlist_runs(void **state)
{
	static size_t lens[200];
	static int paths[200];
	unsigned n = 0;

	(void)state;
	for (unsigned i = 0; i < 100; i++, n++) {	/* 100 x 1200: runs of 54 and 46 */
		lens[n] = 1200;
		paths[n] = 2;
	}
	for (unsigned i = 0; i < 5; i++, n++) {		/* 5 singles of changing length */
		lens[n] = 100 + i;
		paths[n] = 1;
	}
	for (unsigned i = 0; i < 70; i++, n++) {	/* 70 x 64: 64 + 6 */
		lens[n] = 64;
		paths[n] = 0;
	}
	lens[n] = 10;					/* shorter last */
	paths[n++] = 0;
	for (int connected = 0; connected < 2; connected++) {
		struct pair p = pair_open(connected);

		memset(&list, 0, sizeof(list));
		queue(&p, n, lens, paths, connected);
		assert_int_equal(sendlist_flush(p.tx, &list), n);
		assert_int_equal(list.n, 0);
		expect(p.rx, n, lens, paths);
		/* GSO is on in this kernel (4.18+): most went out merged */
		assert_false(list.gso_off);
		assert_true(list.gso_segments >= 150);
		pair_close(&p);
	}
}

static void test_sendlist_no_path(void **state)
{
	size_t lens[40];
	int paths[40];
	struct pair p = pair_open(1);

	(void)state;
	for (unsigned i = 0; i < N_ELEMS(lens); i++) {
		lens[i] = i < 30 ? 1400 : 7;
		paths[i] = SENDLIST_NO_PATH;
	}
	memset(&list, 0, sizeof(list));
	queue(&p, N_ELEMS(lens), lens, paths, 1);
	assert_int_equal(sendlist_flush(p.tx, &list), N_ELEMS(lens));
	expect(p.rx, N_ELEMS(lens), lens, paths);
	assert_int_equal(list.gso_sends, 2);
	assert_int_equal(list.gso_segments, 40);
	pair_close(&p);
}

/* A socket without UDP checksums cannot do GSO (the kernel says EINVAL):
 * the run goes out one datagram at a time, and runs of that length or
 * longer are not tried again. */
static void test_sendlist_gso_refused(void **state)
{
	size_t lens[20];
	int paths[20];
	int one = 1;
	struct pair p = pair_open(1);

	(void)state;
	assert_int_equal(setsockopt(p.tx, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)), 0);
	for (unsigned i = 0; i < N_ELEMS(lens); i++) {
		lens[i] = 500;
		paths[i] = 3;
	}
	for (int round = 0; round < 2; round++) {
		memset(&list, 0, sizeof(list));
		if (round)
			list.gso_refused_len = 501;
		queue(&p, N_ELEMS(lens), lens, paths, 1);
		assert_int_equal(sendlist_flush(p.tx, &list), N_ELEMS(lens));
		expect(p.rx, N_ELEMS(lens), lens, paths);
		assert_int_equal(list.gso_refused_len, 501);	/* path byte + 500 */
		assert_int_equal(list.gso_sends, 0);
	}
	pair_close(&p);
}

/* A datagram the kernel refuses alone (too long for UDP) is skipped, and
 * the ones around it still go. */
static void test_sendlist_refused_one(void **state)
{
	size_t lens[] = { 300, 300, 65600, 300, 300 };
	int paths[] = { 1, 1, 1, 1, 1 };
	size_t got_lens[] = { 300, 300, 300, 300 };
	struct pair p = pair_open(1);
	static uint8_t big[65600];

	(void)state;
	memset(&list, 0, sizeof(list));
	for (unsigned i = 0; i < N_ELEMS(lens); i++) {
		unsigned slot = i < 2 ? i : i - 1;
		if (i == 2) {
			sendlist_add(&list, NULL, 1, big, sizeof(big), NULL);
			continue;
		}
		fill(slot, lens[i]);
		sendlist_add(&list, NULL, paths[i], data[slot], lens[i], NULL);
	}
	assert_int_equal(sendlist_flush(p.tx, &list), 4);
	expect(p.rx, 4, got_lens, paths);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sendlist_runs),
		cmocka_unit_test(test_sendlist_no_path),
		cmocka_unit_test(test_sendlist_gso_refused),
		cmocka_unit_test(test_sendlist_refused_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
