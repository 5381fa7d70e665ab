/*
 * udpblast: the measuring instruments for mprelay's benchmark (bench/run.py),
 * all on 127.0.0.1, all batched so that they are not what gets measured.
 *
 *   sink PORT [--duration S] [--echo] [--report-json]
 *       receives (recvmmsg, 64 per call), counts packets and bytes, and checks
 *       each datagram's 16-byte prefix (sender id, sequence) for losses,
 *       duplicates and reordering per sender; --echo sends every datagram
 *       back to where it came from (sendmmsg). Ends after S seconds or on
 *       SIGTERM/SIGINT with one report line.
 *   send PORT --size B --duration S [--rate PPS] [--batch N] [--report-json]
 *       sends B-byte datagrams (prefix: random sender id, sequence from 0)
 *       with sendmmsg, N per call: as fast as possible, or paced to PPS by a
 *       token bucket.
 *   relay LISTEN_PORT TARGET_PORT
 *       the reference "plain batched UDP relay" mprelay is measured against:
 *       recvmmsg 32 at a time, forwarded with one sendmmsg from a socket
 *       connected to the target; replies go back to the last client address.
 *       No per-packet syscall, no copy besides the kernel's.
 *   ping PORT --rate PPS --count N --size B [--report-json]
 *       timestamped datagrams to an echoing path; reports RTT percentiles.
 *   sessions PORT --count N --rate PPS --duration S --size B [--report-json]
 *       N sockets, each its own source port (so its own mprelay session),
 *       take turns sending to PORT, paced to PPS in all; the echoes must come
 *       back to the socket that sent them. Reports how many sockets were
 *       answered and the fewest replies any one got.
 *
 * It owns nothing of mprelay's and parses nothing but its own prefix. The
 * prefix is big endian: bytes 0..7 sender id, 8..15 sequence; ping adds its
 * send time (monotonic ns) in bytes 16..23. Rates are over the time packets
 * were actually moving: for the sink, first to last packet received.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	PREFIX_BYTES = 16,		/* sender id + sequence */
	PING_MIN_BYTES = 24,		/* prefix + send time */
	DGRAM_MAX_BYTES = 65507,	/* largest UDP payload over IPv4 */
	RX_SLOT_BYTES = 65536,		/* one receive buffer: any datagram fits */
	SINK_BATCH = 64,
	RELAY_BATCH = 32,
	SEND_BATCH_DEFAULT = 32,
	SEND_BATCH_MAX = 1024,
	RELAY_DRAIN_ROUNDS = 8,		/* batches per wakeup per direction */
	SOCKBUF_BYTES = 8 << 20,
	WAKEUP_MS = 100,		/* how often a blocked loop checks the clock */
	SENDERS_MAX = 64,		/* senders the sink tracks individually */
	DUP_WINDOW_PKTS = 1 << 16,	/* sequence span the dup check remembers */
	PING_COUNT_MAX = 10000000,
	PING_LINGER_MS = 1000,		/* wait for stragglers after the last send */
	PACE_QUANTUM_US = 200,		/* a paced sender sends this much at once */
	SESSIONS_MAX = 10000,		/* sockets of one `sessions` run */
	SESSIONS_LINGER_MS = 500,	/* wait for echoes after the last send */
	EPOLL_BATCH = 64,
};

#define NS_PER_S 1000000000ull
#define RATE_MAX_PPS 100000000ull
#define DURATION_MAX_S 1e6

static volatile sig_atomic_t stop_requested;

/* ---- small helpers ------------------------------------------------------ */

static _Noreturn void usage(void)
{
	fputs("usage: udpblast sink PORT [--duration S] [--echo] [--report-json]\n"
	      "       udpblast send PORT --size B --duration S [--rate PPS] [--batch N]"
	      " [--report-json]\n"
	      "       udpblast relay LISTEN_PORT TARGET_PORT\n"
	      "       udpblast ping PORT --rate PPS --count N --size B [--report-json]\n"
	      "       udpblast sessions PORT --count N --rate PPS --duration S --size B"
	      " [--report-json]\n"
	      "All traffic is to and from 127.0.0.1. Datagrams start with a 16-byte\n"
	      "prefix (sender id, sequence), so send needs B >= 16 and ping B >= 24.\n",
	      stderr);
	exit(2);
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "udpblast: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / NS_PER_S),
		.tv_nsec = (long)(deadline_ns % NS_PER_S),
	};

	while (!stop_requested &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* No SA_RESTART: a blocked recvmmsg/poll returns EINTR and the loop ends. */
static void install_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static uint64_t random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		die("getrandom");
	return v;
}

static double rate_per_s(uint64_t count, uint64_t elapsed_ns)
{
	return elapsed_ns ? (double)count * NS_PER_S / (double)elapsed_ns : 0.0;
}

static double mbit_per_s(uint64_t bytes, uint64_t elapsed_ns)
{
	return rate_per_s(bytes, elapsed_ns) * 8.0 / 1e6;
}

static void put_prefix(uint8_t *p, uint64_t sender_id, uint64_t seq)
{
	uint64_t id_be = htobe64(sender_id), seq_be = htobe64(seq);

	memcpy(p, &id_be, 8);
	memcpy(p + 8, &seq_be, 8);
}

static void get_prefix(const uint8_t *p, uint64_t *sender_id, uint64_t *seq)
{
	uint64_t id_be, seq_be;

	memcpy(&id_be, p, 8);
	memcpy(&seq_be, p + 8, 8);
	*sender_id = be64toh(id_be);
	*seq = be64toh(seq_be);
}

/* ---- sockets ------------------------------------------------------------ */

static void set_buffer(int fd, int force_opt, int opt)
{
	int bytes = SOCKBUF_BYTES;

	/* FORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

static struct sockaddr_in loopback(uint16_t port)
{
	return (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
}

static int udp_socket(int nonblock_flag)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | nonblock_flag, 0);

	if (fd < 0)
		die("socket");
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	return fd;
}

static int udp_bound(uint16_t port, int nonblock_flag)
{
	struct sockaddr_in a = loopback(port);
	int fd = udp_socket(nonblock_flag);

	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		die("bind 127.0.0.1");
	return fd;
}

static int udp_connected(uint16_t port, int nonblock_flag)
{
	struct sockaddr_in a = loopback(port);
	int fd = udp_socket(nonblock_flag);

	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect 127.0.0.1");
	return fd;
}

static void set_timeout_ms(int fd, int opt, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)))
		die("setsockopt timeout");
}

/* An error a UDP socket reports and then forgets: the next call works. */
static bool transient_error(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR ||
	       err == ECONNREFUSED || err == ENOBUFS || err == EHOSTUNREACH;
}

/* Sends msgs[0..n): one sendmmsg when all goes well; a datagram the kernel
 * refuses is skipped. Returns how many went out. */
static unsigned send_all(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
	unsigned done = 0, sent = 0;

	while (done < n) {
		int k = sendmmsg(fd, msgs + done, n - done, flags);
		if (k < 0) {
			if (!transient_error(errno))
				die("sendmmsg");
			if (errno != EINTR)
				done++;
			continue;
		}
		done += (unsigned)k;
		sent += (unsigned)k;
	}
	return sent;
}

/* ---- receive batches ---------------------------------------------------- */

/* n slots of RX_SLOT_BYTES for recvmmsg, and a send list over the same
 * buffers so that a received batch goes out again without a copy. */
struct rx_batch {
	unsigned n;
	uint8_t *bufs;
	struct mmsghdr *rx_msg, *tx_msg;
	struct iovec *rx_iov, *tx_iov;
	struct sockaddr_in *from;
	struct sockaddr_in dest;	/* for TX_TO_DEST */
};

/* Where rx_batch_prepare_tx sends the received datagrams. */
enum tx_dest {
	TX_CONNECTED,			/* the socket's peer */
	TX_TO_DEST,			/* b->dest, all of them */
	TX_BACK_TO_SENDER,		/* each back where it came from */
};

static void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count, size);

	if (!p)
		die("calloc");
	return p;
}

static struct rx_batch *rx_batch_new(unsigned n)
{
	struct rx_batch *b = xcalloc(1, sizeof(*b));

	b->n = n;
	b->bufs = xcalloc(n, RX_SLOT_BYTES);
	b->rx_msg = xcalloc(n, sizeof(*b->rx_msg));
	b->tx_msg = xcalloc(n, sizeof(*b->tx_msg));
	b->rx_iov = xcalloc(n, sizeof(*b->rx_iov));
	b->tx_iov = xcalloc(n, sizeof(*b->tx_iov));
	b->from = xcalloc(n, sizeof(*b->from));
	for (unsigned i = 0; i < n; i++) {
		b->rx_iov[i] = (struct iovec){ b->bufs + (size_t)i * RX_SLOT_BYTES,
					       RX_SLOT_BYTES };
		b->rx_msg[i].msg_hdr.msg_iov = &b->rx_iov[i];
		b->rx_msg[i].msg_hdr.msg_iovlen = 1;
		b->tx_msg[i].msg_hdr.msg_iov = &b->tx_iov[i];
		b->tx_msg[i].msg_hdr.msg_iovlen = 1;
	}
	return b;
}

static void rx_batch_free(struct rx_batch *b)
{
	free(b->bufs);
	free(b->rx_msg);
	free(b->tx_msg);
	free(b->rx_iov);
	free(b->tx_iov);
	free(b->from);
	free(b);
}

/* recvmmsg into the slots, with the senders' addresses in b->from if
 * want_from. Returns the count, 0 when nothing (or only a forgettable
 * error) was there. */
static int rx_batch_recv(int fd, struct rx_batch *b, int flags, bool want_from)
{
	for (unsigned i = 0; i < b->n; i++) {
		b->rx_msg[i].msg_hdr.msg_name = want_from ? &b->from[i] : NULL;
		b->rx_msg[i].msg_hdr.msg_namelen = want_from ? sizeof(b->from[i]) : 0;
	}
	int n = recvmmsg(fd, b->rx_msg, b->n, flags, NULL);
	if (n < 0) {
		if (!transient_error(errno))
			die("recvmmsg");
		return 0;
	}
	return n;
}

/* Points the send list at the n received datagrams, lengths as received. */
static void rx_batch_prepare_tx(struct rx_batch *b, int n, enum tx_dest dest)
{
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &b->tx_msg[i].msg_hdr;
		b->tx_iov[i] = (struct iovec){ b->rx_iov[i].iov_base,
					       b->rx_msg[i].msg_len };
		h->msg_name = dest == TX_BACK_TO_SENDER ? &b->from[i]
			    : dest == TX_TO_DEST ? &b->dest : NULL;
		h->msg_namelen = dest == TX_CONNECTED ? 0 : sizeof(struct sockaddr_in);
	}
}

/* ---- options ------------------------------------------------------------ */

enum {
	OPT_DURATION = 1 << 0,
	OPT_SIZE = 1 << 1,
	OPT_RATE = 1 << 2,
	OPT_BATCH = 1 << 3,
	OPT_COUNT = 1 << 4,
	OPT_ECHO = 1 << 5,
	OPT_JSON = 1 << 6,
};

struct opts {
	unsigned seen;			/* OPT_* given */
	uint16_t port[2];
	double duration_s;
	uint64_t size_bytes, rate_pps, batch, count;
};

static uint64_t parse_u64(const char *s, uint64_t min, uint64_t max)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		usage();
	return v;
}

static double parse_seconds(const char *s)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0 && v <= DURATION_MAX_S))
		usage();
	return v;
}

static void parse_option(struct opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 'd':
		o->duration_s = parse_seconds(arg);
		o->seen |= OPT_DURATION;
		return;
	case 's':
		o->size_bytes = parse_u64(arg, 1, DGRAM_MAX_BYTES);
		o->seen |= OPT_SIZE;
		return;
	case 'r':
		o->rate_pps = parse_u64(arg, 1, RATE_MAX_PPS);
		o->seen |= OPT_RATE;
		return;
	case 'b':
		o->batch = parse_u64(arg, 1, SEND_BATCH_MAX);
		o->seen |= OPT_BATCH;
		return;
	case 'c':
		o->count = parse_u64(arg, 1, PING_COUNT_MAX);
		o->seen |= OPT_COUNT;
		return;
	case 'e':
		o->seen |= OPT_ECHO;
		return;
	case 'j':
		o->seen |= OPT_JSON;
		return;
	}
	usage();
}

/* argv[0] is the mode; options and ports may come in any order. */
static void parse_args(struct opts *o, int argc, char **argv, int nports)
{
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "echo", no_argument, NULL, 'e' },
		{ "report-json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		parse_option(o, opt, optarg);
	if (argc - optind != nports)
		usage();
	for (int i = 0; i < nports; i++)
		o->port[i] = (uint16_t)parse_u64(argv[optind + i], 1, 65535);
}

/* ---- sink: per-sender sequence tracking --------------------------------- */

struct sender_track {
	uint64_t id;
	uint64_t lowest_seq, highest_seq;
	uint64_t unique_pkts, dup_pkts, reordered_pkts;
	uint64_t too_old_pkts;		/* behind the window: not judged */
	uint64_t *seen_bits;		/* DUP_WINDOW_PKTS bits by seq */
};

struct sink {
	int fd;
	bool echo;
	uint64_t pkts, bytes, short_pkts, untracked_pkts;
	uint64_t first_ns, last_ns;
	struct sender_track senders[SENDERS_MAX];
	unsigned nsenders;
	struct sender_track *last_sender;
};

enum { WINDOW_WORDS = DUP_WINDOW_PKTS / 64 };

static bool test_and_set_seen(struct sender_track *t, uint64_t seq)
{
	uint64_t bit = seq % DUP_WINDOW_PKTS, mask = 1ull << (bit % 64);
	uint64_t *word = &t->seen_bits[bit / 64];
	bool was_set = *word & mask;

	*word |= mask;
	return was_set;
}

static void clear_seen(struct sender_track *t, uint64_t seq)
{
	uint64_t bit = seq % DUP_WINDOW_PKTS;

	t->seen_bits[bit / 64] &= ~(1ull << (bit % 64));
}

/* Moves the window's head to seq, forgetting what falls out of it. */
static void advance_window(struct sender_track *t, uint64_t seq)
{
	if (seq - t->highest_seq >= DUP_WINDOW_PKTS)
		memset(t->seen_bits, 0, WINDOW_WORDS * sizeof(uint64_t));
	else
		for (uint64_t s = t->highest_seq + 1; s <= seq; s++)
			clear_seen(t, s);
	t->highest_seq = seq;
}

static void track_seq(struct sender_track *t, uint64_t seq)
{
	if (seq < t->lowest_seq)
		t->lowest_seq = seq;
	if (seq > t->highest_seq || !t->unique_pkts) {	/* ahead, or the first */
		advance_window(t, seq);
		test_and_set_seen(t, seq);
		t->unique_pkts++;
	} else if (t->highest_seq - seq >= DUP_WINDOW_PKTS) {
		t->too_old_pkts++;
	} else if (test_and_set_seen(t, seq)) {
		t->dup_pkts++;
	} else {
		t->unique_pkts++;
		t->reordered_pkts++;
	}
}

/* The sender's tracker, a new one on first sight; NULL when SENDERS_MAX
 * are already tracked. */
static struct sender_track *find_sender(struct sink *s, uint64_t id, uint64_t seq)
{
	if (s->last_sender && s->last_sender->id == id)
		return s->last_sender;
	for (unsigned i = 0; i < s->nsenders; i++)
		if (s->senders[i].id == id)
			return s->last_sender = &s->senders[i];
	if (s->nsenders == SENDERS_MAX)
		return NULL;
	struct sender_track *t = &s->senders[s->nsenders++];
	*t = (struct sender_track){ .id = id, .lowest_seq = seq, .highest_seq = seq };
	t->seen_bits = xcalloc(WINDOW_WORDS, sizeof(uint64_t));
	return s->last_sender = t;
}

static void sink_account(struct sink *s, const uint8_t *pkt, size_t len)
{
	uint64_t id, seq;

	s->pkts++;
	s->bytes += len;
	if (len < PREFIX_BYTES) {
		s->short_pkts++;
		return;
	}
	get_prefix(pkt, &id, &seq);
	struct sender_track *t = find_sender(s, id, seq);
	if (t)
		track_seq(t, seq);
	else
		s->untracked_pkts++;
}

/* ---- sink: loop and report ---------------------------------------------- */

struct sink_totals {
	uint64_t unique_pkts, dup_pkts, reordered_pkts, too_old_pkts, lost_pkts;
};

static struct sink_totals sink_totals(const struct sink *s)
{
	struct sink_totals t = { 0 };

	for (unsigned i = 0; i < s->nsenders; i++) {
		const struct sender_track *st = &s->senders[i];
		uint64_t span = st->highest_seq - st->lowest_seq + 1;
		uint64_t arrived = st->unique_pkts + st->too_old_pkts;
		t.unique_pkts += st->unique_pkts;
		t.dup_pkts += st->dup_pkts;
		t.reordered_pkts += st->reordered_pkts;
		t.too_old_pkts += st->too_old_pkts;
		t.lost_pkts += span > arrived ? span - arrived : 0;
	}
	return t;
}

static void sink_report(const struct sink *s, bool json)
{
	struct sink_totals t = sink_totals(s);
	uint64_t active_ns = s->pkts > 1 ? s->last_ns - s->first_ns : 0;
	double pps = rate_per_s(s->pkts, active_ns);
	double mbps = mbit_per_s(s->bytes, active_ns);

	printf("udpblast sink pkts=%" PRIu64 " bytes=%" PRIu64 " dups=%" PRIu64
	       " pps=%.0f mbps=%.1f lost=%" PRIu64 " reordered=%" PRIu64
	       " senders=%u active_s=%.3f\n",
	       s->pkts, s->bytes, t.dup_pkts, pps, mbps, t.lost_pkts,
	       t.reordered_pkts, s->nsenders, (double)active_ns / NS_PER_S);
	if (json)
		printf("{\"tool\":\"udpblast\",\"mode\":\"sink\",\"pkts\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"unique\":%" PRIu64 ",\"dups\":%" PRIu64
		       ",\"lost\":%" PRIu64 ",\"reordered\":%" PRIu64
		       ",\"too_old\":%" PRIu64 ",\"short\":%" PRIu64
		       ",\"untracked\":%" PRIu64 ",\"senders\":%u,\"active_s\":%.6f"
		       ",\"pps\":%.1f,\"mbps\":%.3f,\"echo\":%s}\n",
		       s->pkts, s->bytes, t.unique_pkts, t.dup_pkts, t.lost_pkts,
		       t.reordered_pkts, t.too_old_pkts, s->short_pkts,
		       s->untracked_pkts, s->nsenders, (double)active_ns / NS_PER_S,
		       pps, mbps, s->echo ? "true" : "false");
	fflush(stdout);
}

static void sink_batch(struct sink *s, struct rx_batch *b, int n)
{
	uint64_t t_ns = now_ns();

	if (!s->pkts)
		s->first_ns = t_ns;
	s->last_ns = t_ns;
	for (int i = 0; i < n; i++)
		sink_account(s, b->rx_iov[i].iov_base, b->rx_msg[i].msg_len);
	if (s->echo) {
		rx_batch_prepare_tx(b, n, TX_BACK_TO_SENDER);
		send_all(s->fd, b->tx_msg, (unsigned)n, MSG_DONTWAIT);
	}
}

static int run_sink(const struct opts *o)
{
	struct sink *s = xcalloc(1, sizeof(*s));
	struct rx_batch *b = rx_batch_new(SINK_BATCH);
	uint64_t deadline_ns = o->seen & OPT_DURATION
		? now_ns() + (uint64_t)(o->duration_s * NS_PER_S) : UINT64_MAX;

	s->fd = udp_bound(o->port[0], 0);
	s->echo = o->seen & OPT_ECHO;
	/* Blocking receive, one syscall per batch; the timeout lets the loop
	 * see the clock when nothing arrives. */
	set_timeout_ms(s->fd, SO_RCVTIMEO, WAKEUP_MS);
	while (!stop_requested && now_ns() < deadline_ns) {
		int n = rx_batch_recv(s->fd, b, MSG_WAITFORONE, s->echo);
		if (n > 0)
			sink_batch(s, b, n);
	}
	sink_report(s, o->seen & OPT_JSON);
	for (unsigned i = 0; i < s->nsenders; i++)
		free(s->senders[i].seen_bits);
	close(s->fd);
	rx_batch_free(b);
	free(s);
	return 0;
}

/* ---- send --------------------------------------------------------------- */

/* Each datagram is two iovecs: its own 16-byte prefix and a body shared by
 * the whole batch, so a batch costs 16 bytes per datagram to prepare. */
struct blaster {
	int fd;
	uint64_t sender_id, next_seq;
	unsigned batch;
	uint8_t (*prefix)[PREFIX_BYTES];
	struct iovec (*iov)[2];
	struct mmsghdr *msg;
	uint8_t *body;
	uint64_t sent_pkts, sent_bytes, failed_pkts;
	size_t size_bytes;
};

static void blaster_init(struct blaster *bl, const struct opts *o)
{
	size_t body_bytes = o->size_bytes - PREFIX_BYTES;

	bl->fd = udp_connected(o->port[0], 0);
	/* A full send buffer blocks at most this long, then counts a failure. */
	set_timeout_ms(bl->fd, SO_SNDTIMEO, WAKEUP_MS);
	bl->sender_id = random_u64();
	bl->batch = o->seen & OPT_BATCH ? (unsigned)o->batch : SEND_BATCH_DEFAULT;
	bl->size_bytes = o->size_bytes;
	bl->prefix = xcalloc(bl->batch, sizeof(*bl->prefix));
	bl->iov = xcalloc(bl->batch, sizeof(*bl->iov));
	bl->msg = xcalloc(bl->batch, sizeof(*bl->msg));
	bl->body = xcalloc(1, body_bytes + 1);
	memset(bl->body, 0xa5, body_bytes);
	for (unsigned i = 0; i < bl->batch; i++) {
		bl->iov[i][0] = (struct iovec){ bl->prefix[i], PREFIX_BYTES };
		bl->iov[i][1] = (struct iovec){ bl->body, body_bytes };
		bl->msg[i].msg_hdr.msg_iov = bl->iov[i];
		bl->msg[i].msg_hdr.msg_iovlen = body_bytes ? 2 : 1;
	}
}

static void blaster_free(struct blaster *bl)
{
	close(bl->fd);
	free(bl->prefix);
	free(bl->iov);
	free(bl->msg);
	free(bl->body);
}

static void blaster_send(struct blaster *bl, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		put_prefix(bl->prefix[i], bl->sender_id, bl->next_seq++);
	unsigned sent = send_all(bl->fd, bl->msg, n, 0);
	bl->sent_pkts += sent;
	bl->sent_bytes += (uint64_t)sent * bl->size_bytes;
	bl->failed_pkts += n - sent;
}

static void blast_unpaced(struct blaster *bl, uint64_t end_ns)
{
	while (!stop_requested && now_ns() < end_ns)
		blaster_send(bl, bl->batch);
}

/* Token bucket: tokens accrue at rate_pps, at most one batch is banked; a
 * wakeup sends about PACE_QUANTUM_US worth (1..batch datagrams). */
static void blast_paced(struct blaster *bl, uint64_t rate_pps, uint64_t end_ns)
{
	double quantum = (double)rate_pps * PACE_QUANTUM_US / 1e6;
	unsigned per_wakeup = quantum < 1 ? 1 : quantum > bl->batch
		? bl->batch : (unsigned)quantum;
	double tokens = per_wakeup, ns_per_token = (double)NS_PER_S / (double)rate_pps;
	uint64_t last_ns = now_ns();

	while (!stop_requested && last_ns < end_ns) {
		if (tokens < per_wakeup) {
			sleep_until_ns(last_ns + (uint64_t)((per_wakeup - tokens) * ns_per_token));
			uint64_t t_ns = now_ns();
			tokens += (double)(t_ns - last_ns) / ns_per_token;
			last_ns = t_ns;
			if (tokens > bl->batch)
				tokens = bl->batch;
			continue;
		}
		blaster_send(bl, per_wakeup);
		tokens -= per_wakeup;
	}
}

static int run_send(const struct opts *o)
{
	struct blaster bl = { 0 };

	if (o->size_bytes < PREFIX_BYTES)
		usage();
	blaster_init(&bl, o);
	uint64_t start_ns = now_ns();
	uint64_t end_ns = start_ns + (uint64_t)(o->duration_s * NS_PER_S);
	if (o->seen & OPT_RATE)
		blast_paced(&bl, o->rate_pps, end_ns);
	else
		blast_unpaced(&bl, end_ns);
	uint64_t elapsed_ns = now_ns() - start_ns;
	double pps = rate_per_s(bl.sent_pkts, elapsed_ns);
	double mbps = mbit_per_s(bl.sent_bytes, elapsed_ns);

	printf("udpblast send pkts=%" PRIu64 " bytes=%" PRIu64 " pps=%.0f mbps=%.1f"
	       " failed=%" PRIu64 " secs=%.3f\n", bl.sent_pkts, bl.sent_bytes, pps,
	       mbps, bl.failed_pkts, (double)elapsed_ns / NS_PER_S);
	if (o->seen & OPT_JSON)
		printf("{\"tool\":\"udpblast\",\"mode\":\"send\",\"pkts\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"secs\":%.6f"
		       ",\"pps\":%.1f,\"mbps\":%.3f}\n", bl.sent_pkts, bl.sent_bytes,
		       bl.failed_pkts, (double)elapsed_ns / NS_PER_S, pps, mbps);
	blaster_free(&bl);
	return 0;
}

/* ---- relay -------------------------------------------------------------- */

struct relay {
	int listen_fd, target_fd;
	struct sockaddr_in client;	/* replies go here */
	bool have_client;
	struct rx_batch *b;
	uint64_t up_pkts, down_pkts, dropped_pkts;
};

/* One batch client -> target. Returns how many datagrams were received. */
static int relay_up(struct relay *r)
{
	struct rx_batch *b = r->b;
	int n = rx_batch_recv(r->listen_fd, b, MSG_DONTWAIT, true);

	if (n <= 0)
		return n;
	r->client = b->from[n - 1];
	r->have_client = true;
	rx_batch_prepare_tx(b, n, TX_CONNECTED);
	unsigned sent = send_all(r->target_fd, b->tx_msg, (unsigned)n, MSG_DONTWAIT);
	r->up_pkts += sent;
	r->dropped_pkts += (unsigned)n - sent;
	return n;
}

/* One batch target -> the last client. */
static int relay_down(struct relay *r)
{
	struct rx_batch *b = r->b;
	int n = rx_batch_recv(r->target_fd, b, MSG_DONTWAIT, false);

	if (n <= 0)
		return n;
	if (!r->have_client) {
		r->dropped_pkts += (unsigned)n;
		return n;
	}
	b->dest = r->client;
	rx_batch_prepare_tx(b, n, TX_TO_DEST);
	unsigned sent = send_all(r->listen_fd, b->tx_msg, (unsigned)n, MSG_DONTWAIT);
	r->down_pkts += sent;
	r->dropped_pkts += (unsigned)n - sent;
	return n;
}

static void relay_drain(struct relay *r, int (*direction)(struct relay *))
{
	for (int round = 0; round < RELAY_DRAIN_ROUNDS && !stop_requested; round++)
		if (direction(r) < RELAY_BATCH)
			return;
}

static int run_relay(const struct opts *o)
{
	struct relay r = {
		.listen_fd = udp_bound(o->port[0], SOCK_NONBLOCK),
		.target_fd = udp_connected(o->port[1], SOCK_NONBLOCK),
		.b = rx_batch_new(RELAY_BATCH),
	};

	while (!stop_requested) {
		struct pollfd p[2] = { { r.listen_fd, POLLIN, 0 }, { r.target_fd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[0].revents)
			relay_drain(&r, relay_up);
		if (p[1].revents)
			relay_drain(&r, relay_down);
	}
	fprintf(stderr, "udpblast relay up=%" PRIu64 " down=%" PRIu64 " dropped=%" PRIu64 "\n",
		r.up_pkts, r.down_pkts, r.dropped_pkts);
	rx_batch_free(r.b);
	close(r.listen_fd);
	close(r.target_fd);
	return 0;
}

/* ---- ping --------------------------------------------------------------- */

struct pinger {
	int fd;
	uint64_t sender_id, count;
	size_t size_bytes;
	uint8_t *tx_buf, *rx_buf;
	uint64_t *rtt_ns;		/* one per distinct reply */
	uint64_t *replied_bits;		/* by sequence */
	uint64_t sent, received, dups, foreign;
};

static void ping_send_one(struct pinger *pg)
{
	uint64_t t_be = htobe64(now_ns());

	put_prefix(pg->tx_buf, pg->sender_id, pg->sent);
	memcpy(pg->tx_buf + PREFIX_BYTES, &t_be, 8);
	if (send(pg->fd, pg->tx_buf, pg->size_bytes, MSG_DONTWAIT) < 0 &&
	    !transient_error(errno))
		die("send");
	pg->sent++;
}

static void ping_take_reply(struct pinger *pg, size_t len, uint64_t recv_ns)
{
	uint64_t id, seq, t_be;

	if (len < PING_MIN_BYTES) {
		pg->foreign++;
		return;
	}
	get_prefix(pg->rx_buf, &id, &seq);
	if (id != pg->sender_id || seq >= pg->sent) {
		pg->foreign++;
		return;
	}
	uint64_t *word = &pg->replied_bits[seq / 64], mask = 1ull << (seq % 64);
	if (*word & mask) {
		pg->dups++;
		return;
	}
	*word |= mask;
	memcpy(&t_be, pg->rx_buf + PREFIX_BYTES, 8);
	pg->rtt_ns[pg->received++] = recv_ns - be64toh(t_be);
}

static void ping_drain(struct pinger *pg)
{
	for (;;) {
		ssize_t len = recv(pg->fd, pg->rx_buf, RX_SLOT_BYTES, MSG_DONTWAIT);
		if (len < 0) {
			if (!transient_error(errno))
				die("recv");
			if (errno != ECONNREFUSED)
				return;
			continue;
		}
		ping_take_reply(pg, (size_t)len, now_ns());
	}
}

/* Waits for replies until until_ns (or a signal). */
static void ping_wait(struct pinger *pg, uint64_t until_ns)
{
	uint64_t t_ns;

	while (!stop_requested && (t_ns = now_ns()) < until_ns) {
		struct pollfd p = { pg->fd, POLLIN, 0 };
		int timeout_ms = (int)((until_ns - t_ns + 999999) / 1000000);
		int k = poll(&p, 1, timeout_ms);
		if (k < 0 && errno != EINTR)
			die("poll");
		if (k > 0)
			ping_drain(pg);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_us(const uint64_t *sorted_ns, uint64_t n, double pct)
{
	if (!n)
		return 0.0;
	uint64_t rank = (uint64_t)(pct / 100.0 * (double)n + 0.5);
	rank = rank ? rank - 1 : 0;
	return (double)sorted_ns[rank < n ? rank : n - 1] / 1e3;
}

static void ping_report(struct pinger *pg, bool json)
{
	qsort(pg->rtt_ns, pg->received, sizeof(*pg->rtt_ns), cmp_u64);
	double p50 = percentile_us(pg->rtt_ns, pg->received, 50);
	double p90 = percentile_us(pg->rtt_ns, pg->received, 90);
	double p99 = percentile_us(pg->rtt_ns, pg->received, 99);
	double max = percentile_us(pg->rtt_ns, pg->received, 100);

	printf("udpblast ping sent=%" PRIu64 " received=%" PRIu64 " p50_us=%.1f"
	       " p90_us=%.1f p99_us=%.1f max_us=%.1f dups=%" PRIu64 "\n",
	       pg->sent, pg->received, p50, p90, p99, max, pg->dups);
	if (json)
		printf("{\"tool\":\"udpblast\",\"mode\":\"ping\",\"sent\":%" PRIu64
		       ",\"received\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"foreign\":%" PRIu64
		       ",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
		       pg->sent, pg->received, pg->dups, pg->foreign, p50, p90, p99, max);
}

static int run_ping(const struct opts *o)
{
	if (o->size_bytes < PING_MIN_BYTES)
		usage();
	struct pinger pg = {
		.fd = udp_connected(o->port[0], SOCK_NONBLOCK),
		.sender_id = random_u64(),
		.count = o->count,
		.size_bytes = o->size_bytes,
		.tx_buf = xcalloc(1, o->size_bytes),
		.rx_buf = xcalloc(1, RX_SLOT_BYTES),
		.rtt_ns = xcalloc(o->count, sizeof(uint64_t)),
		.replied_bits = xcalloc(o->count / 64 + 1, sizeof(uint64_t)),
	};
	uint64_t interval_ns = NS_PER_S / o->rate_pps, next_ns = now_ns();

	while (!stop_requested && pg.sent < pg.count) {
		ping_wait(&pg, next_ns);
		ping_send_one(&pg);
		next_ns += interval_ns;
	}
	ping_wait(&pg, now_ns() + (uint64_t)PING_LINGER_MS * 1000000);
	ping_report(&pg, o->seen & OPT_JSON);
	close(pg.fd);
	free(pg.tx_buf);
	free(pg.rx_buf);
	free(pg.rtt_ns);
	free(pg.replied_bits);
	return 0;
}

/* ---- sessions ----------------------------------------------------------- */

/* Datagram k goes out on socket k % N, so an echo's sequence number says
 * which socket must get it back: one that arrives elsewhere is misrouted. */
struct sessions {
	int epfd;
	unsigned n;
	int *fds;
	uint64_t *replies;		/* per socket */
	uint64_t sender_id, sent, send_failed, received, misrouted, foreign;
	size_t size_bytes;
	uint8_t *tx_buf;
	struct rx_batch *b;
};

static void raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want + 16)
		return;
	rl.rlim_cur = rl.rlim_max < want + 16 ? rl.rlim_max : want + 16;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static void sessions_open(struct sessions *ss, const struct opts *o)
{
	ss->n = (unsigned)o->count;
	raise_nofile(ss->n);
	ss->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ss->epfd < 0)
		die("epoll_create1");
	ss->fds = xcalloc(ss->n, sizeof(*ss->fds));
	ss->replies = xcalloc(ss->n, sizeof(*ss->replies));
	for (unsigned i = 0; i < ss->n; i++) {
		struct sockaddr_in a = loopback(o->port[0]);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		/* default buffers: a thousand 8 MiB buffers would be 8 GiB */
		if (fd < 0)
			die("socket (raise ulimit -n?)");
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
			die("connect 127.0.0.1");
		if (epoll_ctl(ss->epfd, EPOLL_CTL_ADD, fd, &ev))
			die("epoll_ctl");
		ss->fds[i] = fd;
	}
	ss->sender_id = random_u64();
	ss->size_bytes = o->size_bytes;
	ss->tx_buf = xcalloc(1, o->size_bytes);
	memset(ss->tx_buf, 0x5a, o->size_bytes);
	ss->b = rx_batch_new(SINK_BATCH);
}

static void sessions_send_one(struct sessions *ss)
{
	int fd = ss->fds[ss->sent % ss->n];

	put_prefix(ss->tx_buf, ss->sender_id, ss->sent);
	ss->sent++;
	if (send(fd, ss->tx_buf, ss->size_bytes, MSG_DONTWAIT) < 0) {
		if (!transient_error(errno))
			die("send");
		ss->send_failed++;
	}
}

static void sessions_take(struct sessions *ss, unsigned idx, const uint8_t *pkt, size_t len)
{
	uint64_t id, seq;

	if (len < PREFIX_BYTES) {
		ss->foreign++;
		return;
	}
	get_prefix(pkt, &id, &seq);
	if (id != ss->sender_id || seq >= ss->sent) {
		ss->foreign++;
		return;
	}
	if (seq % ss->n != idx) {
		ss->misrouted++;
		return;
	}
	ss->received++;
	ss->replies[idx]++;
}

/* Drains whatever is ready, waiting at most timeout_ms. */
static void sessions_poll(struct sessions *ss, int timeout_ms)
{
	struct epoll_event ev[EPOLL_BATCH];
	int k = epoll_wait(ss->epfd, ev, EPOLL_BATCH, timeout_ms);

	if (k < 0 && errno != EINTR)
		die("epoll_wait");
	for (int e = 0; e < k; e++) {
		unsigned idx = ev[e].data.u32;
		int n;

		while ((n = rx_batch_recv(ss->fds[idx], ss->b, MSG_DONTWAIT, false)) > 0)
			for (int i = 0; i < n; i++)
				sessions_take(ss, idx, ss->b->rx_iov[i].iov_base,
					      ss->b->rx_msg[i].msg_len);
	}
}

static void sessions_report(const struct sessions *ss, double secs, bool json)
{
	uint64_t min_replies = UINT64_MAX;
	unsigned answered = 0;

	for (unsigned i = 0; i < ss->n; i++) {
		answered += ss->replies[i] > 0;
		if (ss->replies[i] < min_replies)
			min_replies = ss->replies[i];
	}
	printf("udpblast sessions sessions=%u answered=%u min_replies=%" PRIu64
	       " sent=%" PRIu64 " received=%" PRIu64 " misrouted=%" PRIu64
	       " send_failed=%" PRIu64 " secs=%.3f\n", ss->n, answered, min_replies,
	       ss->sent, ss->received, ss->misrouted, ss->send_failed, secs);
	if (json)
		printf("{\"tool\":\"udpblast\",\"mode\":\"sessions\",\"sessions\":%u"
		       ",\"answered\":%u,\"min_replies\":%" PRIu64 ",\"sent\":%" PRIu64
		       ",\"received\":%" PRIu64 ",\"misrouted\":%" PRIu64
		       ",\"foreign\":%" PRIu64 ",\"send_failed\":%" PRIu64
		       ",\"secs\":%.6f}\n", ss->n, answered, min_replies, ss->sent,
		       ss->received, ss->misrouted, ss->foreign, ss->send_failed, secs);
	fflush(stdout);
}

static int run_sessions(const struct opts *o)
{
	struct sessions ss = { 0 };

	if (o->size_bytes < PREFIX_BYTES || o->count > SESSIONS_MAX)
		usage();
	sessions_open(&ss, o);
	double ns_per_pkt = (double)NS_PER_S / (double)o->rate_pps;
	uint64_t start_ns = now_ns(), t_ns = start_ns;
	uint64_t end_ns = start_ns + (uint64_t)(o->duration_s * NS_PER_S);

	/* Every socket sends once first, however low the rate: each is a
	 * session from the start. Then the pace holds over the whole run. */
	while (!stop_requested && (t_ns = now_ns()) < end_ns) {
		uint64_t due = (uint64_t)((double)(t_ns - start_ns) / ns_per_pkt) + 1;
		if (due < ss.n)
			due = ss.n;
		while (ss.sent < due && !stop_requested)
			sessions_send_one(&ss);
		sessions_poll(&ss, 1);
	}
	double secs = (double)(now_ns() - start_ns) / NS_PER_S;
	uint64_t linger_end_ns = now_ns() + (uint64_t)SESSIONS_LINGER_MS * 1000000;
	while (!stop_requested && now_ns() < linger_end_ns)
		sessions_poll(&ss, 10);
	sessions_report(&ss, secs, o->seen & OPT_JSON);
	for (unsigned i = 0; i < ss.n; i++)
		close(ss.fds[i]);
	close(ss.epfd);
	rx_batch_free(ss.b);
	free(ss.fds);
	free(ss.replies);
	free(ss.tx_buf);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

struct mode {
	const char *name;
	int nports;
	unsigned allowed, required;	/* OPT_* */
	int (*run)(const struct opts *);
};

static const struct mode modes[] = {
	{ "sink", 1, OPT_DURATION | OPT_ECHO | OPT_JSON, 0, run_sink },
	{ "send", 1, OPT_SIZE | OPT_DURATION | OPT_RATE | OPT_BATCH | OPT_JSON,
	  OPT_SIZE | OPT_DURATION, run_send },
	{ "relay", 2, 0, 0, run_relay },
	{ "ping", 1, OPT_RATE | OPT_COUNT | OPT_SIZE | OPT_JSON,
	  OPT_RATE | OPT_COUNT | OPT_SIZE, run_ping },
	{ "sessions", 1, OPT_COUNT | OPT_RATE | OPT_DURATION | OPT_SIZE | OPT_JSON,
	  OPT_COUNT | OPT_RATE | OPT_DURATION | OPT_SIZE, run_sessions },
};

int main(int argc, char **argv)
{
	struct opts o = { 0 };

	if (argc < 2)
		usage();
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const struct mode *m = &modes[i];
		if (strcmp(argv[1], m->name))
			continue;
		parse_args(&o, argc - 1, argv + 1, m->nports);
		if ((o.seen & ~m->allowed) || (o.seen & m->required) != m->required)
			usage();
		install_stop_signals();
		return m->run(&o);
	}
	usage();
}
