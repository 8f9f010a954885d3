/*
 * writeloop: the write() hot path, for bench/run.
 *
 *     writeloop MODE COUNT [SIZE]
 *
 * Does COUNT write()s of SIZE bytes (default 64) and prints one line:
 * "MODE COUNT SIZE NS_PER_WRITE". Only the loop is timed (CLOCK_MONOTONIC),
 * not start-up, so the figure is the per-call cost of write() as the
 * program sees it, with or without librespan.so preloaded.
 *
 *   devnull     write() to /dev/null
 *   socketpair  write() on one end of an AF_UNIX socketpair, read() on the
 *               other after each write (so the buffer never fills)
 *   tcp         the same on a loopback TCP connection: connect() and the
 *               first write() go through the library's egress audit, the
 *               rest take its fast path
 *
 * The loop is the function run_loop, so that callgrind can count just it:
 *     valgrind --tool=callgrind --collect-atstart=no --toggle-collect=run_loop
 * Exit status 0 on success, 1 on a failed call, 2 on usage.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static int die(const char *what)
{
	perror(what);
	return 1;
}

/* Keep the loop out of main so callgrind can toggle on it. */
__attribute__((noinline)) static int run_loop(int wfd, int rfd, long count,
					     char *buf, size_t size)
{
	for (long i = 0; i < count; i++) {
		if (write(wfd, buf, size) != (ssize_t)size)
			return -1;
		if (rfd >= 0) {
			size_t got = 0;
			while (got < size) {
				ssize_t r = read(rfd, buf + got, size - got);
				if (r <= 0)
					return -1;
				got += (size_t)r;
			}
		}
	}
	return 0;
}

/* A connected loopback TCP pair: *wfd from connect(), *rfd from accept(). */
static int tcp_pair(int *wfd, int *rfd)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(l, 1) != 0 || getsockname(l, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	*wfd = socket(AF_INET, SOCK_STREAM, 0);
	if (*wfd < 0 || connect(*wfd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	*rfd = accept(l, NULL, NULL);
	if (*rfd < 0)
		return -1;
	setsockopt(*wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: writeloop devnull|socketpair|tcp COUNT [SIZE]\n");
		return 2;
	}
	const char *mode = argv[1];
	long count = strtol(argv[2], NULL, 10);
	size_t size = argc == 4 ? strtoul(argv[3], NULL, 10) : 64;
	if (count <= 0 || size == 0 || size > 65536) {
		fprintf(stderr, "writeloop: bad COUNT or SIZE\n");
		return 2;
	}
	char *buf = calloc(1, size);
	int wfd = -1, rfd = -1;
	if (buf == NULL)
		return die("calloc");
	if (strcmp(mode, "devnull") == 0) {
		wfd = open("/dev/null", O_WRONLY);
		if (wfd < 0)
			return die("open /dev/null");
	} else if (strcmp(mode, "socketpair") == 0) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			return die("socketpair");
		wfd = sv[0];
		rfd = sv[1];
	} else if (strcmp(mode, "tcp") == 0) {
		if (tcp_pair(&wfd, &rfd) != 0)
			return die("tcp loopback pair");
	} else {
		fprintf(stderr, "writeloop: unknown mode %s\n", mode);
		return 2;
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run_loop(wfd, rfd, count, buf, size) != 0)
		return die("write/read");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("%s %ld %zu %.1f\n", mode, count, size, ns / (double)count);
	free(buf);
	return 0;
}
