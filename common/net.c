/* Socket plumbing: resolution, formatting, socket options, and the batched
 * recvmmsg/sendmmsg wrappers. Knows nothing of the protocol. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int net_resolve(const char *host, uint16_t port, int numeric,
		struct mp_addr *out, char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0),
	};
	struct addrinfo *res;
	char portstr[8];
	int rc;

	if (!host || !*host) {
		memset(out, 0, sizeof(*out));
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_addr = in6addr_any;
		out->u.in6.sin6_port = htons(port);
		out->len = sizeof(out->u.in6);
		return 0;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	memset(out, 0, sizeof(*out));
	memcpy(&out->u, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

const char *net_ntop(const struct mp_addr *a, char buf[static NET_ADDRSTR])
{
	char host[INET6_ADDRSTRLEN];

	if (a->u.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->u.in.sin_addr, host, sizeof(host));
		snprintf(buf, NET_ADDRSTR, "%s:%u", host, ntohs(a->u.in.sin_port));
	} else if (a->u.sa.sa_family == AF_INET6) {
		const struct in6_addr *v6 = &a->u.in6.sin6_addr;
		/* Show dual-stack peers as the IPv4 addresses they are. */
		if (IN6_IS_ADDR_V4MAPPED(v6))
			inet_ntop(AF_INET, &v6->s6_addr[12], host, sizeof(host));
		else
			inet_ntop(AF_INET6, v6, host, sizeof(host));
		snprintf(buf, NET_ADDRSTR, IN6_IS_ADDR_V4MAPPED(v6) ? "%s:%u" : "[%s]:%u",
			 host, ntohs(a->u.in6.sin6_port));
	} else {
		snprintf(buf, NET_ADDRSTR, "?");
	}
	return buf;
}

int net_addr_equal(const struct mp_addr *a, const struct mp_addr *b)
{
	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return 0;
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in.sin_port == b->u.in.sin_port &&
		       a->u.in.sin_addr.s_addr == b->u.in.sin_addr.s_addr;
	if (a->u.sa.sa_family == AF_INET6)
		return a->u.in6.sin6_port == b->u.in6.sin6_port &&
		       a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
		       !memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16);
	return 0;
}

uint64_t net_addr_hash(const struct mp_addr *a)
{
	uint64_t h = a->u.sa.sa_family;

	if (a->u.sa.sa_family == AF_INET) {
		h = h << 16 ^ a->u.in.sin_port;
		h = h << 32 ^ a->u.in.sin_addr.s_addr;
	} else if (a->u.sa.sa_family == AF_INET6) {
		uint64_t w[2];
		memcpy(w, &a->u.in6.sin6_addr, 16);
		h = (h << 16 ^ a->u.in6.sin6_port) ^ w[0] * 0x9e3779b97f4a7c15u ^ w[1];
	}
	return h;
}

static void set_buffer(int fd, int force_opt, int opt)
{
	int bytes = NET_SOCKBUF_BYTES;

	/* FORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

int net_udp_socket(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int off = 0;

	if (fd < 0)
		return -1;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	return fd;
}

int net_udp_bind(const struct mp_addr *addr)
{
	char str[NET_ADDRSTR];
	int fd = net_udp_socket(addr->u.sa.sa_family);

	if (fd < 0) {
		log_warn("socket");
		return -1;
	}
	if (bind(fd, &addr->u.sa, addr->len)) {
		log_warn("bind %s", net_ntop(addr, str));
		close(fd);
		return -1;
	}
	return fd;
}

int batch_init(struct batch *b)
{
	memset(b, 0, sizeof(*b));
	b->cap = SIZE_MAX;	/* no layout yet: the first batch_recv sets it */
	for (int i = 0; i < NET_BATCH; i++) {
		b->buf[i] = malloc(MP_BUF_LEN + MP_HDR_LEN + MP_MAX_TRAILER);
		if (!b->buf[i]) {
			batch_free(b);
			return -1;
		}
		b->msg[i].msg_hdr = (struct msghdr){
			.msg_name = &b->from[i].u,
			.msg_namelen = sizeof(b->from[i].u),
			.msg_iov = &b->iov[i],
			.msg_iovlen = 1,
		};
	}
	return 0;
}

void batch_free(struct batch *b)
{
	for (int i = 0; i < NET_BATCH; i++) {
		free(b->buf[i]);
		b->buf[i] = NULL;
	}
}

int batch_recv(int fd, struct batch *b, size_t headroom, size_t cap)
{
	/* The message headers were built once (batch_init); the kernel only
	 * writes msg_namelen, msg_flags and msg_len, and the iovecs change
	 * only when a caller with another layout uses the batch. */
	if (headroom != b->headroom || cap != b->cap) {
		for (int i = 0; i < NET_BATCH; i++)
			b->iov[i] = (struct iovec){ b->buf[i] + headroom, cap };
		b->headroom = headroom;
		b->cap = cap;
	}
	for (int i = 0; i < b->used; i++) {
		b->msg[i].msg_hdr.msg_namelen = sizeof(b->from[i].u);
		b->msg[i].msg_hdr.msg_flags = 0;
	}
	int n = recvmmsg(fd, b->msg, NET_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		b->used = 0;
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	}
	b->used = n;
	for (int i = 0; i < n; i++)
		b->from[i].len = b->msg[i].msg_hdr.msg_namelen;
	return n;
}

int net_peer_unreachable(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
}

/* Path ids as bytes that outgoing iovecs can point at. */
static const uint8_t path_ids[MP_MAX_PATHS] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

void sendlist_add(struct sendlist *s, const struct mp_addr *dest, int path,
		  const uint8_t *data, size_t len)
{
	unsigned i = s->n++;
	struct iovec *iov = s->iov[i];
	int k = 0;

	if (path != SENDLIST_NO_PATH)
		iov[k++] = (struct iovec){ (void *)(uintptr_t)&path_ids[path], 1 };
	iov[k++] = (struct iovec){ (void *)(uintptr_t)data, len };
	s->msg[i].msg_hdr = (struct msghdr){
		.msg_name = dest ? (void *)(uintptr_t)&dest->u : NULL,
		.msg_namelen = dest ? dest->len : 0,
		.msg_iov = iov,
		.msg_iovlen = (size_t)k,
	};
}

unsigned sendlist_flush(int fd, struct sendlist *s)
{
	unsigned done = 0, sent = 0;

	while (done < s->n) {
		int n = sendmmsg(fd, s->msg + done, s->n - done, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			done++;		/* this one is refused: skip it */
			continue;
		}
		done += (unsigned)n;
		sent += (unsigned)n;
	}
	s->n = 0;
	return sent;
}
