/* Socket plumbing: resolution, formatting, socket options, and the batched
 * recvmmsg/sendmmsg wrappers, which also merge runs of equal datagrams to
 * one destination into UDP GSO sends (one trip down the stack for up to 64
 * datagrams). Knows nothing of the protocol. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/udp.h>
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

static void set_pmtudisc(int fd, int probe)
{
	int v4 = probe ? IP_PMTUDISC_PROBE : IP_PMTUDISC_WANT;
	int v6 = probe ? IPV6_PMTUDISC_PROBE : IPV6_PMTUDISC_WANT;

	/* One of the two applies (dual-stack sockets take both). */
	setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v4, sizeof(v4));
	setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6, sizeof(v6));
}

ssize_t net_send_df(int fd, const void *buf, size_t len, const struct mp_addr *dest)
{
	ssize_t n;

	set_pmtudisc(fd, 1);
	n = dest ? sendto(fd, buf, len, MSG_DONTWAIT, &dest->u.sa, dest->len)
		 : send(fd, buf, len, MSG_DONTWAIT);
	set_pmtudisc(fd, 0);
	return n;
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
		  const uint8_t *data, size_t len, struct tx_count *count)
{
	unsigned i = s->n++;

	s->count[i] = count;
	struct iovec *iov = s->iov[i];
	int k = 0;

	if (path != SENDLIST_NO_PATH)
		iov[k++] = (struct iovec){ (void *)(uintptr_t)&path_ids[path], 1 };
	iov[k++] = (struct iovec){ (void *)(uintptr_t)data, len };
	/* Always two iovecs, the second maybe empty: then the iovecs of a run
	 * of datagrams lie end to end, ready for one GSO send. */
	if (k == 1)
		iov[1] = (struct iovec){ NULL, 0 };
	s->msg[i].msg_hdr = (struct msghdr){
		.msg_name = dest ? (void *)(uintptr_t)&dest->u : NULL,
		.msg_namelen = dest ? dest->len : 0,
		.msg_iov = iov,
		.msg_iovlen = 2,
	};
}

static size_t msg_bytes(const struct sendlist *s, unsigned i)
{
	return s->iov[i][0].iov_len + s->iov[i][1].iov_len;
}

/* How many datagrams from i on can go out as one GSO send: the same
 * destination, the same length, within the kernel's limits. */
static unsigned run_length(const struct sendlist *s, unsigned i)
{
	size_t len = msg_bytes(s, i);
	unsigned k = 1;

	if (s->gso_off || (s->gso_refused_len && len >= s->gso_refused_len))
		return 1;
	while (i + k < s->n && k < NET_GSO_SEGMENTS_MAX &&
	       (k + 1) * len <= NET_GSO_BYTES_MAX &&
	       s->msg[i + k].msg_hdr.msg_name == s->msg[i].msg_hdr.msg_name &&
	       msg_bytes(s, i + k) == len)
		k++;
	return k;
}

/* Fills s->out: one entry per datagram, or per run of k datagrams sent as
 * one buffer that the kernel cuts into k datagrams (UDP_SEGMENT). */
static unsigned merge_runs(struct sendlist *s)
{
	unsigned nout = 0;

	for (unsigned i = 0, k; i < s->n; i += k, nout++) {
		k = run_length(s, i);
		s->out_first[nout] = i;
		s->out_count[nout] = k;
		s->out[nout].msg_hdr = s->msg[i].msg_hdr;
		if (k == 1)
			continue;
		struct msghdr *h = &s->out[nout].msg_hdr;
		h->msg_iovlen = 2 * (size_t)k;
		h->msg_control = s->ctl[nout].buf;
		h->msg_controllen = sizeof(s->ctl[nout].buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(h);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		uint16_t seg = (uint16_t)msg_bytes(s, i);
		memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	}
	return nout;
}

/* Sends msg[first..first+n) one datagram each, skipping refused ones. */
static unsigned send_each(int fd, struct sendlist *s, unsigned first, unsigned n)
{
	unsigned done = 0, sent = 0;

	while (done < n) {
		int k = sendmmsg(fd, s->msg + first + done, n - done, MSG_DONTWAIT);
		if (k < 0) {
			if (errno != EINTR)
				done++;		/* this one is refused: skip it */
			continue;
		}
		memset(s->sent + first + done, 1, (unsigned)k);
		done += (unsigned)k;
		sent += (unsigned)k;
	}
	return sent;
}

/* A GSO send failed with err. Either the socket cannot do GSO at all
 * (kernel without it, IPsec, no UDP checksums), or the segments are longer
 * than the route's MTU, which only a fragmented datagram carries: learn
 * which, and send the run one datagram at a time. Anything else (a full
 * buffer, an ICMP error) is the same failure for every datagram of it. */
static unsigned gso_refused(int fd, struct sendlist *s, unsigned o, int err)
{
	unsigned first = s->out_first[o], k = s->out_count[o];
	size_t len = msg_bytes(s, first);

	if (err == EINVAL || err == EMSGSIZE) {
		if (!s->gso_refused_len || len < s->gso_refused_len)
			s->gso_refused_len = len;
	} else if (err == EIO || err == ENOPROTOOPT || err == EOPNOTSUPP) {
		s->gso_off = 1;
	} else {
		return 0;
	}
	return send_each(fd, s, first, k);
}

/* Each datagram once in its sender's counters: taken or refused. */
static void count_sent(struct sendlist *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct tx_count *c = s->count[i];
		if (!c)
			continue;
		if (s->sent[i]) {
			c->pkts++;
			c->bytes += msg_bytes(s, i);
		} else {
			c->fail++;
		}
	}
}

unsigned sendlist_flush(int fd, struct sendlist *s)
{
	unsigned nout = merge_runs(s), done = 0, sent = 0;

	memset(s->sent, 0, s->n);
	while (done < nout) {
		int n = sendmmsg(fd, s->out + done, nout - done, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (s->out_count[done] > 1)
				sent += gso_refused(fd, s, done, errno);
			done++;		/* refused: skip it */
			continue;
		}
		for (unsigned j = done; j < done + (unsigned)n; j++) {
			sent += s->out_count[j];
			memset(s->sent + s->out_first[j], 1, s->out_count[j]);
			if (s->out_count[j] > 1) {
				s->gso_sends++;
				s->gso_segments += s->out_count[j];
			}
		}
		done += (unsigned)n;
	}
	count_sent(s);
	s->n = 0;
	return sent;
}
