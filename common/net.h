/* Addresses, UDP sockets and batched I/O. A loop-owned `batch` receives up
 * to NET_BATCH datagrams with one recvmmsg; a `sendlist` collects outgoing
 * datagrams (each as a 1-byte path id plus the shared packet bytes) and
 * flushes them with sendmmsg. */
#ifndef MP_NET_H
#define MP_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tunables.h"
#include "wire.h"

struct mp_addr {
	socklen_t len;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
};

/* Resolves host (name or literal; NULL or "" = any) and port. With
 * numeric set, names are refused. Returns 0 or -1 with a reason in err. */
int net_resolve(const char *host, uint16_t port, int numeric,
		struct mp_addr *out, char *err, size_t errlen);
const char *net_ntop(const struct mp_addr *a, char buf[static NET_ADDRSTR]);
int net_addr_equal(const struct mp_addr *a, const struct mp_addr *b);
uint64_t net_addr_hash(const struct mp_addr *a);

/* Non-blocking, close-on-exec UDP socket with large buffers; IPv6 sockets
 * are dual-stack. Returns the fd or -1 (errno set). */
int net_udp_socket(int family);
/* Sends one datagram with DF set and the kernel's path MTU ignored (a
 * path MTU probe: too big must mean lost, not fragmented), then puts the
 * socket back to the default. Returns what send/sendto returned. */
ssize_t net_send_df(int fd, const void *buf, size_t len, const struct mp_addr *dest);
/* net_udp_socket + bind; logs and returns -1 on failure. */
int net_udp_bind(const struct mp_addr *addr);

/* A receive batch: slot i's bytes start at buf[i] + headroom. */
struct batch {
	struct mmsghdr msg[NET_BATCH];
	struct iovec iov[NET_BATCH];
	struct mp_addr from[NET_BATCH];
	uint8_t *buf[NET_BATCH];
	size_t headroom, cap;		/* the iovecs' current layout */
	int used;			/* slots the last receive filled */
};

/* Allocates the slots once (each MP_BUF_LEN + headroom + trailer room). */
int batch_init(struct batch *b);
void batch_free(struct batch *b);
/* recvmmsg into the slots at offset headroom with at most cap bytes each.
 * Returns the count (0 when nothing is waiting) or -1 with errno set. */
int batch_recv(int fd, struct batch *b, size_t headroom, size_t cap);
/* Whether a receive error is the peer's ICMP error reported on a connected
 * socket (the bridge or target refused): worth counting, then read on. */
int net_peer_unreachable(int err);

/* What the kernel did with the datagrams of one sender (a path, a link):
 * counted by sendlist_flush, each datagram once. */
struct tx_count {
	uint64_t pkts, bytes;		/* taken */
	uint64_t fail;			/* refused */
};

/* Zeroed, a send list is empty and may try UDP GSO. */
struct sendlist {
	unsigned n;
	struct mmsghdr msg[NET_SENDLIST_MAX];
	struct iovec iov[NET_SENDLIST_MAX][2];	/* [1] is {NULL, 0} when unused */
	struct tx_count *count[NET_SENDLIST_MAX];	/* NULL: not counted */
	uint8_t sent[NET_SENDLIST_MAX];	/* the kernel took it (during a flush) */
	/* what sendlist_flush hands the kernel: runs merged into GSO sends */
	struct mmsghdr out[NET_SENDLIST_MAX];
	unsigned out_first[NET_SENDLIST_MAX], out_count[NET_SENDLIST_MAX];
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
	} ctl[NET_SENDLIST_MAX];
	int gso_off;			/* this socket refused GSO: never again */
	size_t gso_refused_len;		/* segments this long or longer fail (0: none) */
	uint64_t gso_sends, gso_segments;	/* how much went out merged */
};

enum { SENDLIST_NO_PATH = -1 };

/* Queues one datagram to dest (NULL on a connected socket): the path id
 * byte (unless SENDLIST_NO_PATH), then len bytes at data. The same data
 * may be queued for several paths: only the first byte differs. What
 * becomes of it is counted in *count at the flush (NULL: nowhere). */
void sendlist_add(struct sendlist *s, const struct mp_addr *dest, int path,
		  const uint8_t *data, size_t len, struct tx_count *count);
/* Sends everything queued, skipping datagrams the kernel refuses (ICMP
 * errors on connected sockets, full buffers); runs of equal-length
 * datagrams to one destination go out as one UDP GSO send each, where the
 * kernel takes it (else one by one, as before); returns how many went out
 * and empties the list, having counted each datagram in its tx_count. */
unsigned sendlist_flush(int fd, struct sendlist *s);

/* Copies of datagrams whose own buffer does not outlive the call that
 * hands them over (the reorder buffer's slots), kept until the send list
 * they are queued on is flushed. Whoever fills it flushes when it is full
 * and then empties it. */
struct stage {
	unsigned used;
	uint8_t buf[NET_STAGE_SLOTS][NET_STAGE_BYTES];
};

#endif
