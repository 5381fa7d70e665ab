/*
 * sockbuf: gives another process's UDP sockets the buffers it would have set
 * itself, for test/netns. Debian 12's wireguard-go (0.0.20220316) leaves its
 * sockets at the kernel default (net.core.rmem_default, 208 KiB), and
 * net.core.rmem_default cannot be set inside a network namespace; wireguard-go
 * since 0.0.20230223 sets 7 MiB with SO_RCVBUFFORCE/SO_SNDBUFFORCE itself.
 *
 *   sockbuf PID BYTES
 *       for every AF_INET/AF_INET6 datagram socket PID holds: a duplicate of
 *       it (pidfd_getfd, Linux 5.6+, CAP_SYS_PTRACE over PID), then
 *       SO_RCVBUFFORCE and SO_SNDBUFFORCE to BYTES (CAP_NET_ADMIN). The
 *       socket is shared, so the sizes are PID's. Prints one line per socket
 *       with the sizes the kernel reports; exit 0 if at least one was set,
 *       1 if PID holds none (yet), 2 on an error.
 *
 * It changes nothing but the two sizes, and reads nothing but /proc/PID/fd.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int number(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int opt(int fd, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, name, &v, &len) ? -1 : v;
}

/* fd (ours) is an IPv4/IPv6 datagram socket: 1; another kind: 0 */
static int udp_socket(int fd)
{
	int domain = opt(fd, SO_DOMAIN);

	return opt(fd, SO_TYPE) == SOCK_DGRAM && (domain == AF_INET || domain == AF_INET6);
}

int main(int argc, char **argv)
{
	long pid, bytes;

	if (argc != 3 || number(argv[1], 1, 4194304, &pid) ||
	    number(argv[2], 1, 1L << 30, &bytes)) {
		fprintf(stderr, "usage: sockbuf PID BYTES\n");
		return 2;
	}
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	DIR *d = opendir(dir);
	if (pidfd < 0 || !d) {
		fprintf(stderr, "sockbuf: process %ld: %s\n", pid, strerror(errno));
		return 2;
	}
	int set = 0, rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		long target;
		if (number(de->d_name, 0, 1L << 30, &target))
			continue;	/* ".", ".." */
		int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)target, 0);
		if (fd < 0) {
			if (errno == EBADF)
				continue;	/* closed since readdir */
			fprintf(stderr, "sockbuf: fd %ld of %ld: %s\n", target, pid, strerror(errno));
			rc = 2;
			break;
		}
		if (udp_socket(fd)) {
			int v = (int)bytes;
			if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) ||
			    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v))) {
				fprintf(stderr, "sockbuf: fd %ld of %ld: %s\n", target, pid, strerror(errno));
				rc = 2;
			} else {
				printf("fd %ld: rcvbuf %d sndbuf %d\n", target, opt(fd, SO_RCVBUF),
				       opt(fd, SO_SNDBUF));
				set++;
			}
		}
		close(fd);
	}
	closedir(d);
	close(pidfd);
	return rc ? rc : set ? 0 : 1;
}
