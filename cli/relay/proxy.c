/* proxy: CONNECT tunnels through the relay; see proxy.h. */
#include "proxy.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "route.h"

#define CONNECT_TIMEOUT_MS 15000
#define SPLICE_CHUNK 16384

/* Wait until fd is readable; false when stop_fd is, or on error. */
static bool wait_in(int fd, int stop_fd, int timeout_ms)
{
	struct pollfd pf[2] = { { fd, POLLIN, 0 }, { stop_fd, POLLIN, 0 } };
	int r;
	do
		r = poll(pf, 2, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0 && pf[1].revents == 0 && pf[0].revents != 0;
}

enum proxy_first proxy_first_bytes(const char *p, size_t n)
{
	static const char connect[] = "CONNECT ";
	size_t k = n < sizeof(connect) - 1 ? n : sizeof(connect) - 1;
	if (n > 0 && (unsigned char)p[0] == 0x16)
		return FIRST_TLS;
	if (k > 0 && memcmp(p, connect, k) != 0)
		return FIRST_HTTP;
	return k == sizeof(connect) - 1 ? FIRST_CONNECT : FIRST_MORE;
}

bool proxy_intercepts(const struct config *cfg, const struct tunnel_target *t)
{
	return t->port == 443 && route_lookup_host(cfg, t->host, strlen(t->host)) != PROVIDER_NONE;
}

enum proxy_first proxy_first(int fd, int stop_fd)
{
	char first[8];
	for (;;) {
		ssize_t n = recv(fd, first, sizeof(first), MSG_PEEK);
		enum proxy_first kind = n > 0 ? proxy_first_bytes(first, (size_t)n) : FIRST_MORE;
		if (kind != FIRST_MORE)
			return kind;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return FIRST_NONE;
		/* Nothing yet, or the start of "CONNECT ": wait for more. */
		if (n > 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		} else if (!wait_in(fd, stop_fd, -1)) {
			return FIRST_NONE;
		}
	}
}

int proxy_read_head(int fd, int stop_fd, struct tunnel_target *t, char *head, size_t size,
		    size_t *len)
{
	long long deadline = clock_mono_ms() + CONNECT_TIMEOUT_MS;
	for (;;) {
		ssize_t n = recv(fd, head, size, MSG_PEEK);
		if (n > 0) {
			enum tunnel_result r = tunnel_parse(head, (size_t)n, t);
			if (r == TUNNEL_NOT)
				return -1;
			if (r == TUNNEL_CONNECT) {
				/* Take the head only: what follows is the program's TLS. */
				ssize_t got = recv(fd, head, t->head_len, 0);
				if (got != (ssize_t)t->head_len)
					return -1;
				*len = t->head_len;
				return 0;
			}
			if ((size_t)n == size)
				return -1;	/* a head longer than we take */
		} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			return -1;
		}
		long long left = deadline - clock_mono_ms();
		if (left <= 0)
			return -1;
		/* More of the head is to come; MSG_PEEK gave what there was. */
		struct timespec ts = { 0, 2000000 };
		if (n > 0)
			nanosleep(&ts, NULL);
		else if (!wait_in(fd, stop_fd, (int)left))
			return -1;
	}
}

/* Write all of (p, n), waiting while the socket is full; false on failure. */
static bool send_all(int fd, const char *p, size_t n, int stop_fd)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return false;
		struct pollfd pf[2] = { { fd, POLLOUT, 0 }, { stop_fd, POLLIN, 0 } };
		if (poll(pf, 2, CONNECT_TIMEOUT_MS) <= 0 || pf[1].revents)
			return false;
	}
	return true;
}

void proxy_answer(int fd, const char *status)
{
	char line[200];
	int n = snprintf(line, sizeof(line), "HTTP/1.1 %s\r\n%s\r\n", status,
			 strncmp(status, "200", 3) == 0 ? "" : "Content-Length: 0\r\nConnection: close\r\n");
	if (n > 0)
		send_all(fd, line, (size_t)n, -1);
}

/* A TCP connection to host:port, non-blocking, within the timeout; or -1. */
static int dial(const char *host, unsigned short port, int stop_fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char service[8];
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		int err = errno, soerr = 0;
		socklen_t sl = sizeof(soerr);
		struct pollfd pf[2] = { { fd, POLLOUT, 0 }, { stop_fd, POLLIN, 0 } };
		if (err == EINPROGRESS && poll(pf, 2, CONNECT_TIMEOUT_MS) > 0 &&
		    pf[1].revents == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
		    soerr == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Copy both ways until one side has closed and all it sent is delivered. */
static void splice_both(int a, int b, int stop_fd)
{
	char ab[SPLICE_CHUNK], ba[SPLICE_CHUNK];
	size_t ab_len = 0, ab_off = 0, ba_len = 0, ba_off = 0;
	bool a_eof = false, b_eof = false;
	/* A side that has closed, all it sent delivered, ends the tunnel. */
	while (!(a_eof && ab_len == 0) && !(b_eof && ba_len == 0)) {
		struct pollfd pf[3] = {
			{ a, (short)((ab_len == 0 && !a_eof ? POLLIN : 0) | (ba_len ? POLLOUT : 0)), 0 },
			{ b, (short)((ba_len == 0 && !b_eof ? POLLIN : 0) | (ab_len ? POLLOUT : 0)), 0 },
			{ stop_fd, POLLIN, 0 },
		};
		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pf[2].revents)
			return;
		if (ab_len == 0 && !a_eof && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = recv(a, ab, sizeof(ab), 0);
			if (n > 0)
				ab_len = (size_t)n, ab_off = 0;
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				a_eof = true;
		}
		if (ba_len == 0 && !b_eof && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = recv(b, ba, sizeof(ba), 0);
			if (n > 0)
				ba_len = (size_t)n, ba_off = 0;
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				b_eof = true;
		}
		if (ab_len) {
			ssize_t n = send(b, ab + ab_off, ab_len - ab_off, MSG_NOSIGNAL);
			if (n > 0 && (ab_off += (size_t)n) == ab_len)
				ab_len = 0;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return;
		}
		if (ba_len) {
			ssize_t n = send(a, ba + ba_off, ba_len - ba_off, MSG_NOSIGNAL);
			if (n > 0 && (ba_off += (size_t)n) == ba_len)
				ba_len = 0;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return;
		}
	}
}

void proxy_tunnel(int fd, int stop_fd, const struct tunnel_target *t, const char *upstream,
		  const char *head, size_t len)
{
	int out;
	if (upstream) {
		/* The program's own proxy: it gets the CONNECT as it was, and answers it. */
		char host[256];
		const char *colon = strrchr(upstream, ':');
		size_t hl = colon ? (size_t)(colon - upstream) : 0;
		if (colon == NULL || hl == 0 || hl >= sizeof(host)) {
			proxy_answer(fd, "502 Bad Gateway");
			return;
		}
		memcpy(host, upstream, hl);
		host[hl] = '\0';
		if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
		out = dial(host, (unsigned short)atoi(colon + 1), stop_fd);
		if (out < 0 || !send_all(out, head, len, stop_fd)) {
			if (out >= 0)
				close(out);
			proxy_answer(fd, "502 Bad Gateway");
			return;
		}
	} else {
		out = dial(t->host, t->port, stop_fd);
		if (out < 0) {
			proxy_answer(fd, "502 Bad Gateway");
			return;
		}
		proxy_answer(fd, "200 Connection established");
	}
	splice_both(fd, out, stop_fd);
	close(out);
}
